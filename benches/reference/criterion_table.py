"""Prints criterion's saved results (target/criterion) as a table: benchmark, mean time, GFLOP/s.

Run after `cargo bench -p tensor --bench matmul`:  python3 benches/reference/criterion_table.py [filter]
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parents[2] / "target" / "criterion"
pattern = sys.argv[1] if len(sys.argv) > 1 else ""
for bench in sorted(root.glob("**/new/benchmark.json")):
    meta = json.loads(bench.read_text())
    name = meta["full_id"]
    if pattern not in name:
        continue
    est = json.loads((bench.parent / "estimates.json").read_text())
    ns = est["mean"]["point_estimate"]
    tp = meta.get("throughput") or {}
    elems = tp.get("Elements")
    rate = f"{elems / ns:8.1f} GFLOP/s" if elems else ""
    print(f"{name:45s} {ns / 1e3:12.2f} µs {rate}")
