// A live operation log that survives a reload: the lines shown and the byte offset just past
// them are kept in sessionStorage, so after a reload the panel shows what it showed and asks
// the server only for what comes after that offset (no line twice, none lost).

import { h } from './dom.js';
import { followLog, ApiError } from './api.js';

const KEEP = 256 * 1024; // characters of shown text kept across a reload

export class LogPanel {
  /// key: the sessionStorage entry (one per page and workspace); label: the region's name.
  constructor(key, label) {
    this.key = `berth.log.${key}`;
    this.element = h('pre.log', { role: 'log', tabindex: '0', 'aria-label': label });
    this.text = '';
    this.offset = 0;
    this.controller = null;
    this.pending = '';
    this.flushing = false;
  }

  /// The saved state ({name, offset, until, outcome, ...}) or null; shows the saved text.
  restore() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(this.key) || 'null');
    } catch {
      saved = null;
    }
    if (!saved) return null;
    this.text = saved.text || '';
    this.offset = saved.offset || 0;
    this.element.textContent = this.text;
    this.state = saved;
    return saved;
  }

  save(extra = {}) {
    this.state = { ...(this.state || {}), ...extra, offset: this.offset, text: this.text };
    try {
      sessionStorage.setItem(this.key, JSON.stringify(this.state));
    } catch {
      // A full storage only costs the resume.
    }
  }

  forget() {
    sessionStorage.removeItem(this.key);
    this.state = null;
  }

  reset(offset = 0) {
    this.text = '';
    this.offset = offset;
    this.element.textContent = '';
  }

  append(line) {
    this.text += `${line}\n`;
    if (this.text.length > KEEP) this.text = this.text.slice(this.text.indexOf('\n', this.text.length - KEEP) + 1);
    this.pending += `${line}\n`;
    if (!this.flushing) {
      this.flushing = true;
      requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.flushing = false;
    if (!this.pending) return;
    const stick = this.element.scrollTop + this.element.clientHeight >= this.element.scrollHeight - 8;
    this.element.append(this.pending);
    this.pending = '';
    if (stick) this.element.scrollTop = this.element.scrollHeight;
    this.save();
  }

  /// Follows from this.offset; resolves with {aborted} or {outcome} (null when the stream ended
  /// without one).
  async follow(name, { until = null } = {}) {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    let outcome = null;
    this.save({ name, until, following: true });
    try {
      await followLog(name, {
        offset: this.offset,
        until,
        signal: controller.signal,
        onLine: (line, position) => {
          this.offset = position;
          this.append(line);
        },
        onOutcome: (result) => {
          outcome = result;
        },
      });
    } finally {
      if (this.controller === controller) this.controller = null;
    }
    if (controller.signal.aborted) return { aborted: true };
    this.flush();
    this.save({ following: false, outcome });
    return { outcome };
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }
}

/// An outcome that failed, as an ApiError (for the page's error box).
export function outcomeError(outcome) {
  return new ApiError(outcome.code || 'provider_failed', outcome.message || `${outcome.operation || 'the operation'} failed`);
}
