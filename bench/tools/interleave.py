#!/usr/bin/env python3
"""Times two shell commands in interleaved pairs (A then B, then B then A, ...), so drift in
the machine's load hits both alike. Prints a Markdown table: median, p99, range, runs, and the
ratio of the medians.

usage: interleave.py [--runs N] [--warmup W] [--bytes B] NAME_A CMD_A NAME_B CMD_B
  --bytes B: each run moves B bytes; the table also gives the throughput (MiB/s) of the median
             run, of the p99 run (the slow end) and the range.
"""
import argparse
import statistics
import subprocess
import time


def run(command):
    start = time.perf_counter()
    subprocess.run(["bash", "-c", command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("name_a")
    parser.add_argument("cmd_a")
    parser.add_argument("name_b")
    parser.add_argument("cmd_b")
    args = parser.parse_args()
    pairs = [(args.name_a, args.cmd_a), (args.name_b, args.cmd_b)]
    for _ in range(args.warmup):
        for _, command in pairs:
            run(command)
    times = {name: [] for name, _ in pairs}
    for i in range(args.runs):
        for name, command in pairs if i % 2 == 0 else reversed(pairs):
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
    ratio = statistics.median(times[args.name_b]) / statistics.median(times[args.name_a])
    print(f"\n{args.name_b} / {args.name_a}: {ratio:.2f}x (medians)")


if __name__ == "__main__":
    main()
