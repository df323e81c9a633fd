#!/usr/bin/env python3
"""Summarizes bench/rules-overhead.sh output: per configuration the median CPU per request, and
the median of the per-repetition ratios B/A.

Each repetition measures A and B back to back, so a ratio within one repetition cancels what the
machine was doing at the time (other guests, turbo, page cache); on a noisy 2-core VM the median
of those ratios moves less from run to run than the ratio of the two medians.

    bench/ab-summary.py FILE...
"""
import re
import statistics
import sys


def summarize(path):
    rows = []
    for line in open(path):
        m = re.match(r"(\S+) requests=(\d+).*?cpu_us_per_req=([\d.]+)", line)
        if m:
            rows.append((m.group(1), float(m.group(3))))
    names = list(dict.fromkeys(n for n, _ in rows))
    if len(names) != 2:
        return f"{path}: expected two configurations, found {names}"
    a, b = names
    xs = [v for n, v in rows if n == a]
    ys = [v for n, v in rows if n == b]
    ratios = [y / x for x, y in zip(xs, ys)]
    ma, mb = statistics.median(xs), statistics.median(ys)
    return (
        f"{path}: {a} {ma:.2f} µs, {b} {mb:.2f} µs per request (medians of {len(xs)}): {100 * (mb / ma - 1):+.1f} %;"
        f" median of paired ratios {100 * (statistics.median(ratios) - 1):+.1f} %"
        f" (each: {' '.join(f'{100 * (r - 1):+.0f}' for r in ratios)})"
    )


if __name__ == "__main__":
    for f in sys.argv[1:]:
        print(summarize(f))
