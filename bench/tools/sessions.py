#!/usr/bin/env python3
"""Interactive and forwarded-port benchmarks for berth's session streams (issue 12), each in
interleaved rounds so drift in the machine's load hits every peer alike.

  sessions.py keys [--keys N] [--group G] NAME_A CMD_A NAME_B CMD_B
      Runs each CMD (a shell command that starts an interactive shell, e.g. `berth ssh w`,
      `docker exec -it C sh`) under its own pseudo-terminal (os.openpty, 40x120), waits for
      the shell, sets a prompt it can recognise, then times single-byte writes ('x'), each
      until the shell's echo of it is read back from the terminal. Keystrokes go in groups of
      G, the peers alternating group by group (A B, B A, ...); after each group a Ctrl-C clears
      the line and the new prompt is awaited (untimed). The first group of each is a warm-up.

  sessions.py http [--requests N] [--clients C] [--rounds R] [--path P] NAME HOST:PORT ...
      Small GETs (HTTP/1.0, a new TCP connection each, raw sockets, the whole response read to
      EOF and its status checked) against each HOST:PORT; R rounds, each peer in turn with the
      order reversed every round, N requests per peer per round spread over C client processes
      (each sequential). Per peer: requests/s per round (median, range) and the latency of
      every request (p50, p99, max).
"""
import argparse
import fcntl
import multiprocessing
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import termios
import time


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------- keystrokes

PROMPT = b"@@> "


class Terminal:
    def __init__(self, name, command):
        self.name = name
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

        def controlling_terminal():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = dict(os.environ, TERM="xterm")
        self.process = subprocess.Popen(["bash", "-c", "exec " + command], stdin=slave, stdout=slave, stderr=slave,
                                        start_new_session=True, preexec_fn=controlling_terminal, env=env)
        os.close(slave)
        os.set_blocking(self.master, False)
        self.seen = b""

    def read_some(self, deadline):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(f"{self.name}: nothing within the time limit; last output: {self.seen[-300:]!r}")
        ready, _, _ = select.select([self.master], [], [], left)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:
            data = b""
        if not data:
            raise EOFError(f"{self.name}: the terminal closed; last output: {self.seen[-300:]!r}")
        self.seen = (self.seen + data)[-4096:]
        return data

    def wait_for(self, pattern, timeout=20.0):
        deadline = time.perf_counter() + timeout
        buffer = b""
        while pattern not in buffer:
            buffer += self.read_some(deadline)
        return buffer

    def drain(self, quiet=0.3):
        while True:
            ready, _, _ = select.select([self.master], [], [], quiet)
            if not ready:
                return
            try:
                if not os.read(self.master, 65536):
                    return
            except OSError:
                return

    def start(self):
        # The first output is the shell's prompt (whatever it is); then a prompt of ours.
        deadline = time.perf_counter() + 30
        while not self.read_some(deadline):
            pass
        self.drain()
        os.write(self.master, b"PS1='@@''> '\r")
        self.wait_for(PROMPT)
        self.drain(0.2)
        # The client put its terminal in raw mode: every echo comes from the remote shell.
        if termios.tcgetattr(self.master)[3] & termios.ECHO:
            raise RuntimeError(f"{self.name}: the local terminal still echoes")

    def keystroke(self):
        """One byte written; the time until its echo is read back, in microseconds."""
        start = time.perf_counter_ns()
        os.write(self.master, b"x")
        deadline = time.perf_counter() + 10
        while b"x" not in self.read_some(deadline):
            pass
        return (time.perf_counter_ns() - start) / 1000

    def clear_line(self):
        os.write(self.master, b"\x03")
        self.wait_for(PROMPT)

    def close(self):
        try:
            self.clear_line()
            os.write(self.master, b"exit 0\r")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        os.close(self.master)
        return self.process.returncode


def keys(args):
    terminals = [Terminal(args.name_a, args.cmd_a), Terminal(args.name_b, args.cmd_b)]
    for t in terminals:
        t.start()
    times = {t.name: [] for t in terminals}
    groups = (args.keys + args.group - 1) // args.group
    for index in range(groups + 1):  # group 0: warm-up
        for t in terminals if index % 2 == 0 else reversed(terminals):
            for _ in range(args.group):
                rtt = t.keystroke()
                if index:
                    times[t.name].append(rtt)
            t.clear_line()
    codes = [t.close() for t in terminals]
    print("| client (under a pty) | median | p99 | range | keystrokes |")
    print("| --- | --- | --- | --- | --- |")
    for t in terminals:
        v = times[t.name]
        print(f"| {t.name} | {statistics.median(v) / 1000:.3f} ms | {pct(v, 0.99) / 1000:.3f} ms | "
              f"{min(v) / 1000:.3f}–{max(v) / 1000:.3f} ms | {len(v)} |")
    a, b = (statistics.median(times[t.name]) for t in terminals)
    print(f"\n{args.name_b} / {args.name_a}: {b / a:.2f}x (medians); exit codes after `exit`: {codes[0]}, {codes[1]}")


# ---------------------------------------------------------------------------------- http

def one_get(host, port, request):
    start = time.perf_counter_ns()
    with socket.create_connection((host, port)) as s:
        s.sendall(request)
        response = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            response += chunk
    elapsed = (time.perf_counter_ns() - start) / 1000
    if not response.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        raise RuntimeError(f"{host}:{port}: unexpected response {response[:200]!r}")
    return elapsed


def client(job):
    host, port, request, count = job
    began = time.perf_counter()
    latencies = [one_get(host, port, request) for _ in range(count)]
    return began, time.perf_counter(), latencies


def batch(pool, host, port, request, total, clients):
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    results = pool.map(client, [(host, port, request, n) for n in share])
    began = min(r[0] for r in results)
    ended = max(r[1] for r in results)
    return total / (ended - began), [l for r in results for l in r[2]]


def http(args):
    peers = []
    rest = args.peers
    if len(rest) % 2:
        sys.exit("http: NAME HOST:PORT pairs")
    for i in range(0, len(rest), 2):
        host, port = rest[i + 1].rsplit(":", 1)
        peers.append((rest[i], host, int(port)))
    request = f"GET {args.path} HTTP/1.0\r\nHost: bench\r\nUser-Agent: berth-bench\r\n\r\n".encode()
    rates = {p[0]: [] for p in peers}
    latencies = {p[0]: [] for p in peers}
    with multiprocessing.Pool(args.clients) as pool:
        for name, host, port in peers:  # warm-up
            batch(pool, host, port, request, min(50, args.requests), args.clients)
        for r in range(args.rounds):
            for name, host, port in peers if r % 2 == 0 else reversed(peers):
                rate, lat = batch(pool, host, port, request, args.requests, args.clients)
                rates[name].append(rate)
                latencies[name].extend(lat)
    print(f"| peer ({args.clients} client{'s' if args.clients > 1 else ''}, new connection per GET) | requests/s, median of rounds | "
          f"range of rounds | latency p50 | p99 | max | requests |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, _, _ in peers:
        r, l = rates[name], latencies[name]
        print(f"| {name} | {statistics.median(r):,.0f} | {min(r):,.0f}–{max(r):,.0f} | {statistics.median(l) / 1000:.3f} ms | "
              f"{pct(l, 0.99) / 1000:.3f} ms | {max(l) / 1000:.3f} ms | {len(l)} |")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    k = sub.add_parser("keys")
    k.add_argument("--keys", type=int, default=400)
    k.add_argument("--group", type=int, default=20)
    for arg in ("name_a", "cmd_a", "name_b", "cmd_b"):
        k.add_argument(arg)
    h = sub.add_parser("http")
    h.add_argument("--requests", type=int, default=500)
    h.add_argument("--clients", type=int, default=1)
    h.add_argument("--rounds", type=int, default=4)
    h.add_argument("--path", default="/index.html")
    h.add_argument("peers", nargs="+")
    args = parser.parse_args()
    keys(args) if args.what == "keys" else http(args)


if __name__ == "__main__":
    main()
