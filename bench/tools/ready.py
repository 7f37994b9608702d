#!/usr/bin/env python3
"""Time to a ready workspace, in interleaved pairs: for each side, an untimed PREPARE (wait for
a warm pool to be full, say), the timed COMMAND (make it and run a first command in it), then an
untimed CLEANUP (delete it). The sides alternate A B, B A, ... so drift in load hits both.
Prints a Markdown table (median, p99, range, runs) and the ratio of the medians.

usage: ready.py [--runs N] [--warmup W] NAME_A PREPARE_A COMMAND_A CLEANUP_A NAME_B PREPARE_B COMMAND_B CLEANUP_B
"""
import argparse
import statistics
import subprocess
import time


def shell(command):
    subprocess.run(["bash", "-c", command], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def timed(command):
    start = time.perf_counter()
    shell(command)
    return (time.perf_counter() - start) * 1000


def p99(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("sides", nargs=8)
    args = parser.parse_args()
    sides = [tuple(args.sides[0:4]), tuple(args.sides[4:8])]
    times = {side[0]: [] for side in sides}

    def once(side, keep):
        name, prepare, command, cleanup = side
        shell(prepare)
        ms = timed(command)
        shell(cleanup)
        if keep:
            times[name].append(ms)

    for _ in range(args.warmup):
        for side in sides:
            once(side, False)
    for i in range(args.runs):
        for side in sides if i % 2 == 0 else reversed(sides):
            once(side, True)
    print("| command | median | p99 | range | runs |")
    print("| --- | --- | --- | --- | --- |")
    for name, *_ in sides:
        t = times[name]
        print(f"| {name} | {statistics.median(t):.1f} ms | {p99(t):.1f} ms | {min(t):.1f}–{max(t):.1f} ms | {len(t)} |")
    a, b = sides[0][0], sides[1][0]
    print(f"\n{a} / {b}: {statistics.median(times[a]) / statistics.median(times[b]):.2f}x (medians)")


if __name__ == "__main__":
    main()
