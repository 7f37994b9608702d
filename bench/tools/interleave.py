#!/usr/bin/env python3
"""Times two shell commands in interleaved pairs (A then B, then B then A, ...), so drift in
the machine's load hits both alike. Prints a Markdown table: median, p99, range, runs, and the
ratio of the medians.

usage: interleave.py [--runs N] [--warmup W] [--bytes B] [--reset-a CMD] [--reset-b CMD]
                     [--cpu NAME=PIDFILE_OR_PID]... [--json FILE] NAME_A CMD_A NAME_B CMD_B
  --bytes B: each run moves B bytes; the table also gives the throughput (MiB/s) of the median
             run, of the p99 run (the slow end) and the range.
  --reset-a/--reset-b CMD: run after each run of A (B), untimed (removing what the run made).
  --cpu NAME=PID: a process (a pid, or a file holding one) whose CPU, with every process below
             it, counts: per run, the CPU time (user + system, also of its reaped children)
             that tree used while the command ran; a column each, plus the client's own CPU
             (the timed command and what it ran, reaped). At the end, the peak resident set
             (VmHWM) of the process itself. Processes that exit unreaped during a run (a
             daemonized shim) are not counted.
  --json FILE: every sample, for other tools.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import time

TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def children_map():
    """pid -> [child pid] for every process now."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_cpu_ms(root):
    """CPU (user + system, with reaped children) of root and every live process below it."""
    kids = children_map()
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15]) * TICK_MS  # utime stime cutime cstime
        stack.extend(kids.get(pid, []))
    return total


def peak_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return f"{int(line.split()[1]) / 1024:.1f} MiB"
    except OSError:
        pass
    return "?"


def client_cpu_ms():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1000


def run(command, watched):
    before = {name: tree_cpu_ms(pid) for name, pid in watched}
    client = client_cpu_ms()
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = (time.perf_counter() - start) * 1000
    cpu = {"client": client_cpu_ms() - client}
    for name, pid in watched:
        cpu[name] = tree_cpu_ms(pid) - before[name]
    return elapsed, cpu


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def resolve(spec):
    name, _, where = spec.partition("=")
    if not where.isdigit():
        with open(where) as f:
            where = f.read().strip()
    return name, int(where)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--reset-a", default="")
    parser.add_argument("--reset-b", default="")
    parser.add_argument("--cpu", action="append", default=[])
    parser.add_argument("--json", default="")
    parser.add_argument("name_a")
    parser.add_argument("cmd_a")
    parser.add_argument("name_b")
    parser.add_argument("cmd_b")
    args = parser.parse_args()
    watched = [resolve(spec) for spec in args.cpu]
    pairs = [(args.name_a, args.cmd_a, args.reset_a), (args.name_b, args.cmd_b, args.reset_b)]

    def once(command, reset):
        result = run(command, watched)
        if reset:
            subprocess.run(["bash", "-c", reset], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return result

    for _ in range(args.warmup):
        for _, command, reset in pairs:
            once(command, reset)
    times = {name: [] for name, _, _ in pairs}
    cpus = {name: [] for name, _, _ in pairs}
    for i in range(args.runs):
        for name, command, reset in pairs if i % 2 == 0 else reversed(pairs):
            elapsed, cpu = once(command, reset)
            times[name].append(elapsed)
            cpus[name].append(cpu)
    cpu_names = ["client"] + [name for name, _ in watched] if watched else []
    cpu_heads = "".join(f" {n} CPU median |" for n in cpu_names)
    cpu_rule = " --- |" * len(cpu_names)

    def cpu_cells(name):
        return "".join(f" {statistics.median(c[n] for c in cpus[name]):.1f} ms |" for n in cpu_names)

    if args.bytes:
        mib = args.bytes / (1 << 20)
        rate = lambda ms: mib / (ms / 1000)
        print(f"| command | median | p99 | range | MiB/s at median | MiB/s at p99 | MiB/s range | runs |{cpu_heads}")
        print(f"| --- | --- | --- | --- | --- | --- | --- | --- |{cpu_rule}")
        for name, _, _ in pairs:
            t = times[name]
            print(f"| {name} | {statistics.median(t):.1f} ms | {p99(t):.1f} ms | {min(t):.1f}–{max(t):.1f} ms | "
                  f"{rate(statistics.median(t)):.0f} | {rate(p99(t)):.0f} | {rate(max(t)):.0f}–{rate(min(t)):.0f} | {len(t)} |{cpu_cells(name)}")
    else:
        print(f"| command | median | p99 | range | runs |{cpu_heads}")
        print(f"| --- | --- | --- | --- | --- |{cpu_rule}")
        for name, _, _ in pairs:
            t = times[name]
            print(f"| {name} | {statistics.median(t):.1f} ms | {p99(t):.1f} ms | {min(t):.1f}–{max(t):.1f} ms | {len(t)} |{cpu_cells(name)}")
    ratio = statistics.median(times[args.name_b]) / statistics.median(times[args.name_a])
    print(f"\n{args.name_b} / {args.name_a}: {ratio:.2f}x (medians)")
    if watched:
        print("\nPeak resident set (VmHWM) at the end: " + ", ".join(f"{name} {peak_rss(pid)}" for name, pid in watched) + ".")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times_ms": times, "cpu_ms": cpus}, f)


if __name__ == "__main__":
    main()
