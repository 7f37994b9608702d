// A terminal in a workspace: xterm.js over the server's WebSocket bridge to the session stream.
// Frames are binary, a type byte then the payload: i (input), r (rows, cols: u16 big-endian),
// s (signal name), q (end it now) from us; h (hello JSON), o (output), x (exit code), ! (error
// JSON) from the server. Closing the socket without q detaches: the server keeps the shell for a
// minute, and connecting with its id re-attaches and replays the last output.

import { encodeName } from './api.js';

let loading = null;

/// xterm.js is loaded once, on the first terminal (it is not part of the list page's weight).
export function loadXterm() {
  if (window.Terminal) return Promise.resolve(window.Terminal);
  if (loading) return loading;
  loading = new Promise((resolve, reject) => {
    const css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = '/vendor/xterm/xterm.css';
    document.head.append(css);
    const script = document.createElement('script');
    script.src = '/vendor/xterm/xterm.js';
    script.addEventListener('load', () => {
      if (typeof window.Terminal === 'function') resolve(window.Terminal);
      else reject(new Error('/vendor/xterm/xterm.js loaded but defines no Terminal (a browser build of xterm.js is needed)'));
    });
    script.addEventListener('error', () => reject(new Error('/vendor/xterm/xterm.js could not be loaded (is libjs-xterm installed?)')));
    document.head.append(script);
  }).catch((error) => {
    loading = null;
    throw error;
  });
  return loading;
}

const encoder = new TextEncoder();

function frame(type, payload) {
  const body = typeof payload === 'string' ? encoder.encode(payload) : payload || new Uint8Array(0);
  const bytes = new Uint8Array(body.length + 1);
  bytes[0] = type.charCodeAt(0);
  bytes.set(body, 1);
  return bytes;
}

/// Every open terminal by id, for tests and the benchmark: text() reads xterm's buffer.
window.berthTerminals = window.berthTerminals || new Map();

export class TerminalSession {
  /// container: where xterm draws; options: {id, persistent, onHello, onExit, onError, onClose}.
  constructor(container, workspace, options = {}) {
    this.container = container;
    this.workspace = workspace;
    this.options = options;
    this.id = options.id || null;
    this.persistent = !!options.persistent;
    this.ended = false;
    this.received = {};
  }

  async open() {
    const Terminal = await loadXterm();
    // The canvas renderer: xterm 3.8's DOM renderer adds <style> elements, which the dashboard's
    // CSP (style-src 'self') refuses. Screen reader mode adds xterm's accessibility tree.
    this.term = new Terminal({
      rendererType: 'canvas',
      cursorBlink: true,
      scrollback: 5000,
      fontSize: 14,
      screenReaderMode: localStorage.getItem('berth.terminal.screenReader') === 'true',
    });
    this.term.open(this.container);
    this.fit();
    const query = new URLSearchParams({ rows: String(this.term.rows), cols: String(this.term.cols) });
    if (this.id) query.set('id', this.id);
    if (this.persistent) query.set('persistent', 'true');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.socket = new WebSocket(`${scheme}//${location.host}/v1/workspaces/${encodeName(this.workspace)}/terminal?${query}`);
    this.socket.binaryType = 'arraybuffer';
    this.decoder = new TextDecoder();
    this.socket.addEventListener('message', (event) => this.receive(new Uint8Array(event.data)));
    this.socket.addEventListener('close', (event) => {
      if (!this.ended) this.options.onClose && this.options.onClose(event);
    });
    this.term.on('data', (data) => this.send('i', data));
    this.term.on('resize', ({ rows, cols }) => this.sendSize(rows, cols));
    this.resizeListener = () => this.fit();
    window.addEventListener('resize', this.resizeListener);
    return this;
  }

  receive(bytes) {
    if (!bytes.length) return;
    const type = String.fromCharCode(bytes[0]);
    const payload = bytes.subarray(1);
    this.received[type] = (this.received[type] || 0) + payload.length; // bytes by frame type, for diagnostics
    if (type === 'o') {
      this.term.write(this.decoder.decode(payload, { stream: true }));
    } else if (type === 'h') {
      const hello = JSON.parse(new TextDecoder().decode(payload));
      this.id = hello.terminal;
      this.persistent = !!hello.persistent;
      window.berthTerminals.set(this.id, this);
      this.options.onHello && this.options.onHello(hello);
    } else if (type === 'x') {
      this.ended = true;
      this.exitCode = Number(new TextDecoder().decode(payload));
      this.term.write(`\r\n[exited with code ${this.exitCode}]\r\n`);
      this.options.onExit && this.options.onExit(this.exitCode);
    } else if (type === '!') {
      this.ended = true;
      let error = { code: 'error', message: new TextDecoder().decode(payload) };
      try {
        const parsed = JSON.parse(error.message);
        error = parsed.error || parsed;
      } catch {
        // plain text
      }
      this.term.write(`\r\n[berth: ${error.message}]\r\n`);
      this.options.onError && this.options.onError(error);
    }
  }

  send(type, payload) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(frame(type, payload));
  }

  sendSize(rows, cols) {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint16(0, rows);
    new DataView(bytes.buffer).setUint16(2, cols);
    this.send('r', bytes);
  }

  fit() {
    if (this.term && this.container.offsetParent !== null && typeof this.term.fit === 'function') this.term.fit();
  }

  signal(name) {
    this.send('s', name);
  }

  focus() {
    this.term && this.term.focus();
  }

  /// The text on screen and in the scrollback, line by line.
  text() {
    const core = this.term && (this.term._core || this.term);
    const buffer = core && core.buffer;
    if (buffer && buffer.lines && typeof buffer.translateBufferLineToString === 'function') {
      const lines = [];
      for (let index = 0; index < buffer.lines.length; index++) lines.push(buffer.translateBufferLineToString(index, true));
      return lines.join('\n');
    }
    return this.container.querySelector('.xterm-accessibility-tree, .xterm-rows')?.textContent || '';
  }

  /// Leaves the shell running (the server keeps it a minute): a page left or reloaded.
  detach() {
    window.removeEventListener('resize', this.resizeListener);
    if (this.socket) this.socket.close(1000, 'detach');
    if (this.id) window.berthTerminals.delete(this.id);
  }

  /// Ends the shell now (the user closed its tab).
  close() {
    this.ended = true;
    this.send('q');
    this.detach();
    if (this.term) this.term.dispose();
  }
}
