#!/usr/bin/env python3
"""Times two (or more) shell commands interleaved (A then B, then B then A, ...; with more,
the order rotates and reverses each round), so drift in the machine's load hits all alike.
Prints a Markdown table: median, p99, range, runs, and the ratio of the medians.

usage: interleave_many.py [--runs N] [--warmup W] [--bytes B] [--direct] NAME_A CMD_A NAME_B CMD_B [NAME CMD]...
  --bytes B: each run moves B bytes; the table also gives the throughput (MiB/s) of the median
             run, of the p99 run (the slow end) and the range.
  --direct:  run each command without a shell (split as a shell would, no redirections), so
             commands of a few milliseconds are not timed with bash's start-up.
"""
import argparse
import shlex
import statistics
import subprocess
import time


DIRECT = False


def run(command):
    argv = shlex.split(command) if DIRECT else ["bash", "-c", command]
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--direct", action="store_true")
    parser.add_argument("commands", nargs="+", help="NAME CMD pairs")
    args = parser.parse_args()
    if len(args.commands) < 4 or len(args.commands) % 2:
        parser.error("give at least two NAME CMD pairs")
    global DIRECT
    DIRECT = args.direct
    pairs = list(zip(args.commands[0::2], args.commands[1::2]))
    for _ in range(args.warmup):
        for _, command in pairs:
            run(command)
    times = {name: [] for name, _ in pairs}
    for i in range(args.runs):
        order = pairs[(i // 2) % len(pairs):] + pairs[:(i // 2) % len(pairs)]
        for name, command in order if i % 2 == 0 else reversed(order):
            times[name].append(run(command))
    if args.bytes:
        mib = args.bytes / (1 << 20)
        rate = lambda ms: mib / (ms / 1000)
        print("| command | median | p99 | range | MiB/s at median | MiB/s at p99 | MiB/s range | runs |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, _ in pairs:
            t = times[name]
            print(f"| {name} | {statistics.median(t):.1f} ms | {p99(t):.1f} ms | {min(t):.1f}–{max(t):.1f} ms | "
                  f"{rate(statistics.median(t)):.0f} | {rate(p99(t)):.0f} | {rate(max(t)):.0f}–{rate(min(t)):.0f} | {len(t)} |")
    else:
        print("| command | median | p99 | range | runs |")
        print("| --- | --- | --- | --- | --- |")
        for name, _ in pairs:
            t = times[name]
            print(f"| {name} | {statistics.median(t):.1f} ms | {p99(t):.1f} ms | {min(t):.1f}–{max(t):.1f} ms | {len(t)} |")
    first = pairs[0][0]
    print()
    for name, _ in pairs[1:]:
        ratio = statistics.median(times[name]) / statistics.median(times[first])
        print(f"{name} / {first}: {ratio:.2f}x (medians)  ")


if __name__ == "__main__":
    main()
