"""numpy (OpenBLAS) float32 GFLOP/s at the shapes of benches/matmul.rs, for BENCHMARKS.md.

Run: python3 benches/reference/numpy_matmul.py   (requirements: benches/reference/requirements.txt)
Prints one line per shape: group, name, milliseconds, GFLOP/s (median of repeated timings).
"""
import time

import numpy as np

try:
    from threadpoolctl import threadpool_info

    BLAS = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} threads={i.get('num_threads')}" for i in threadpool_info())
except ImportError:  # threadpoolctl is optional: it only names the kernel numpy runs
    BLAS = "unknown (pip install threadpoolctl to see)"


def bench(f, flops, min_time=0.5):
    f()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 5:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    return t * 1e3, flops / t / 1e9


def main():
    rng = np.random.default_rng(1)
    r = lambda *s: rng.uniform(-1, 1, size=s).astype(np.float32)
    print(f"# numpy {np.__version__}, BLAS: {BLAS}")
    for n in [64, 128, 256, 512, 1024]:
        a, b = r(n, n), r(n, n)
        ms, gf = bench(lambda: a @ b, 2 * n**3)
        print(f"sgemm_square {n} {ms:.4f} ms {gf:.1f} GFLOP/s")
    for preset, ld in [("seed-id4", 512), ("small", 4096), ("medium", 16384)]:
        x, w, dy = r(32, ld), r(257, ld), r(32, 257)
        fl = 2 * 32 * ld * 257
        for name, f in [("forward", lambda: x @ w.T), ("grad_weight", lambda: dy.T @ x), ("grad_input", lambda: dy @ w)]:
            ms, gf = bench(f, fl)
            print(f"head_matmul {name}/{preset} {ms:.4f} ms {gf:.1f} GFLOP/s")
    for preset, l, d, h in [("seed-id4", 32, 16, 2), ("small", 64, 64, 4), ("medium", 128, 128, 4)]:
        bh, dh = 32 * h, d // h
        q, k, p = r(bh, l, dh), r(bh, l, dh), r(bh, l, l)
        fl = 2 * l * dh * l * bh
        ms, gf = bench(lambda: q @ k.transpose(0, 2, 1), fl)
        print(f"attention_bmm scores/{preset} {ms:.4f} ms {gf:.1f} GFLOP/s")
        ms, gf = bench(lambda: p @ k, fl)
        print(f"attention_bmm weighted_sum/{preset} {ms:.4f} ms {gf:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
