#!/usr/bin/env python3
"""Which rate each head and size of `overfit capacity` reports would take under `--lr-tie SHARE`,
beside the rate the report took: the tuning runs in a capacity.json are all it needs, so a report
made before the flag existed can be checked without training anything.

A rate's score is the report's: over its tuning datasets, the sum of the lower of its 1× and 2×
bits (of its 1× bits without `--certify`). The tie takes the smallest rate whose score is within
SHARE of the best. It only reads rates the report tried: where the tie's rate or the best would sit
at an end of them, the command would have tried one more, which may move the tie, and the line
says so.

  python3 scripts/tuning_tie.py --tie 0.02 capacity/causal/capacity.json capacity/main/capacity.json
"""
import argparse
import json
import math
import sys
from collections import defaultdict


def scores(report):
    """{(head, d_model): {lr: score}} from a report's tuning runs."""
    found = defaultdict(lambda: defaultdict(float))
    for t in report.get("tuning") or []:
        one, two = t.get("memorized_bits"), t.get("memorized_bits_2x")
        bits = one if not report.get("certify") else min(b if b is not None else float("-inf") for b in (one, two))
        found[(t["head"], t["d_model"])][t["lr"]] += bits if bits is not None else float("-inf")
    return found


def tied(by_rate, tie):
    """The best rate (the largest among equals) and the smallest rate whose score is within `tie`
    of the best (the best itself without a tie, or when every rate diverged)."""
    best = max(by_rate.values())
    top = max(lr for lr, s in by_rate.items() if s == best)
    if tie == 0 or not math.isfinite(best):
        return top, top
    return top, min(lr for lr, s in by_rate.items() if s >= best - tie * abs(best))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tie", type=float, required=True, help="the share of --lr-tie, e.g. 0.02")
    ap.add_argument("reports", nargs="+", help="capacity.json files")
    args = ap.parse_args()
    if not 0.0 <= args.tie < 1.0:
        ap.error(f"--tie: {args.tie} is not a share in [0, 1)")
    print(f"| report | head | d | rate taken | rate under a {100 * args.tie:g}% tie | scores (share of the best) |")
    print("|---|---|---|---|---|---|")
    for path in args.reports:
        try:
            report = json.load(open(path))
        except (OSError, ValueError) as e:
            sys.exit(f"tuning_tie.py: {path}: {e}")
        taken = {(c["head"], c["d_model"]): c["lr"] for c in report.get("lrs") or []}
        for (head, d), by_rate in sorted(scores(report).items()):
            top, lr = tied(by_rate, args.tie)
            rates = sorted(by_rate)
            ends = (rates[0], rates[-1])
            edge = " (at an end: one more rate would be tried)" if lr in ends or top in ends else ""
            best = max(by_rate.values())
            shares = ", ".join(f"{r:g}: {by_rate[r] / best:.3f}" for r in rates)
            took = f"{taken[(head, d)]:g}" if (head, d) in taken else "—"
            print(f"| `{path}` | {head} | {d} | {took} | {lr:g}{edge} | {shares} |")


if __name__ == "__main__":
    main()
