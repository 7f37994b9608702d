#!/usr/bin/env python3
"""Round trips of GET /v1/workspaces/NAME over berth's Unix socket, on one kept-alive
connection: each asks the workspace's provider for its status, so the difference between two
servers is the cost of the call into the provider. Interleaves the servers request by request.

usage: status_rtt.py RUNS NAME_A SOCKET_A NAME_B SOCKET_B WORKSPACE
       status_rtt.py --first RUNS BERTH HOME WORKSPACE
         (restarts HOME's server RUNS times and times its first and second request: the first
          starts the provider's host process)
"""
import http.client
import socket
import statistics
import subprocess
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def timed_get(connection, workspace):
    start = time.perf_counter()
    connection.request("GET", "/v1/workspaces/" + workspace)
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
    return (time.perf_counter() - start) * 1000


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def row(name, t):
    return f"| {name} | {statistics.median(t):.3f} ms | {pct(t, 0.99):.3f} ms | {min(t):.3f}–{max(t):.3f} ms | {len(t)} |"


def interleaved(runs, name_a, socket_a, name_b, socket_b, workspace):
    connections = {name_a: UnixConnection(socket_a), name_b: UnixConnection(socket_b)}
    for name, connection in connections.items():
        for _ in range(200):
            timed_get(connection, workspace)
    times = {name_a: [], name_b: []}
    for _ in range(runs):
        for name, connection in connections.items():
            times[name].append(timed_get(connection, workspace))
    print("| server | p50 | p99 | range | requests |")
    print("| --- | --- | --- | --- | --- |")
    for name, t in times.items():
        print(row(name, t))
    extra = statistics.median(times[name_b]) - statistics.median(times[name_a])
    print(f"\nper-call overhead of the provider process (p50 difference): {extra * 1000:.0f} us")


def first_call(runs, berth, home, workspace):
    first, second = [], []
    env_home = ["env", "BERTH_HOME=" + home]
    for _ in range(runs):
        subprocess.run(env_home + [berth, "server", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(env_home + [berth, "server", "start"], check=True, stdout=subprocess.DEVNULL)
        connection = UnixConnection(home + "/berth.sock")
        first.append(timed_get(connection, workspace))
        second.append(timed_get(connection, workspace))
    print("| request after a server start | p50 | p99 | range | runs |")
    print("| --- | --- | --- | --- | --- |")
    print(row("first (starts the provider's host)", first))
    print(row("second (host running)", second))
    print(f"\nhost start-up cost (p50 difference): {statistics.median(first) - statistics.median(second):.2f} ms")


if __name__ == "__main__":
    if sys.argv[1] == "--first":
        first_call(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        interleaved(int(sys.argv[1]), *sys.argv[2:7])
