#!/usr/bin/env python3
"""Benchmark (not a test): the sidecar's memory per idle client connection.

Starts `modelflag run` alone on 127.0.0.1:18491, opens N connections (default 2000) and leaves
them idle, then has each send a partial request head; prints the VmRSS growth per connection.
Needs `ulimit -n` above N + 100.
    ulimit -n 10000; bench/idle-conn-memory.py .build/release/modelflag [N]
"""
import socket
import subprocess
import sys
import time

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/modelflag"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
proxy = subprocess.Popen([binary, "run", "--listen", "127.0.0.1:18491", "--upstream", "127.0.0.1:18492",
                          "--log-level", "warn"])
time.sleep(0.5)


def rss_kib():
    with open(f"/proc/{proxy.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])


try:
    base = rss_kib()
    conns = [socket.create_connection(("127.0.0.1", 18491)) for _ in range(n)]
    time.sleep(0.5)
    idle = rss_kib()
    for c in conns:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
    time.sleep(0.5)
    partial = rss_kib()
    print(f"base {base} KiB; {n} idle connections +{idle - base} KiB ({(idle - base) * 1024 / n:.0f} B each); "
          f"with a partial head +{partial - base} KiB ({(partial - base) * 1024 / n:.0f} B each)")
    for c in conns:
        c.close()
finally:
    proxy.terminate()
    proxy.wait()
