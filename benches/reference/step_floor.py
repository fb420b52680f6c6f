"""What stands between overfit's one-thread step and issue 23's targets, from its own profile.

For every workload of `compare_torch.py --workloads grid`, it runs `overfit bench --profile` on
one thread (CPU time per op kind, forward and backward) and takes the step's FLOPs from PyTorch's
FlopCounterMode on the same model (`torch_reference.py time`: matmuls and attention, forward and
backward). It then asks: if every product and the whole of attention ran at the machine's f32
peak, and every other op kept the time it takes now, what % of peak would the step reach? That
ceiling is the most any faster product kernel can give; a target above it needs the other ops'
passes over memory (layer norm, residual adds, GELU, cross-entropy's exponentials, the GRU's
slices) fused away or made faster.

  cargo build --release -p cli
  python3 benches/reference/step_floor.py [--peak-gflops G] [--steps 400] [--rounds 3]

The peak is `cargo bench -p tensor --bench peak` on one thread, measured here unless given. Pause
other work on the machine first: the profile is CPU time, but a busy neighbour slows memory too.
"""
import argparse
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from compare_torch import BIN, REF, measured_peak, run, workloads  # noqa: E402

# Op kinds that are products (or contain them): their time can fall to FLOPs / peak at best.
PRODUCTS = ("linear", "attention", "matmul", "conv1d")
# Issue 23's targets on one thread, as % of the one-core peak.
TARGETS = {"rnn": 20}


def target(label):
    if label.startswith("seed-id4"):
        return TARGETS.get(label.split()[-1], 45)
    d = int(label.split()[1][1:])
    return 50 if d >= 32 else None


def profile(flags, steps):
    """{op kind: CPU µs per step (forward + backward)} and the total, from `bench --profile`."""
    cmd = [BIN, "bench", *flags, "--threads", "1", "--steps", str(steps), "--profile"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{done.stderr}")
    out = done.stderr + done.stdout  # the profile table is on stderr
    ops, total = {}, None
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("total"):
            total = float(parts[1])
        elif len(parts) >= 5 and not line.startswith("op ") and not line.startswith("head "):
            try:
                fwd, bwd = float(parts[-4]), float(parts[-3])
            except ValueError:
                continue
            ops[" ".join(parts[:-4])] = fwd + bwd
    if total is None:
        sys.exit(f"no profile in the output of bench {' '.join(flags)}:\n{out}")
    return ops, total


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peak-gflops", type=float, default=None)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3, help="profiles per workload; the fastest is kept")
    a = p.parse_args()
    peak = (a.peak_gflops or measured_peak(1)) * 1e9
    print(f"f32 peak on 1 thread: {peak / 1e9:.0f} GFLOP/s; CPU µs per step from `overfit bench --profile --threads 1 --steps {a.steps}`, the fastest of {a.rounds}")
    print("| workload | MFLOP | step µs | % of peak | products + attention µs | other ops µs (largest three) | ceiling % | target % |")
    print("|---|---|---|---|---|---|---|---|")
    for label, flags, _ in workloads(argparse.Namespace(workloads="grid")):
        flops = json.loads(run([sys.executable, REF, "time", *flags, "--steps", "1", "--threads", "1"]))["flops_per_step"]
        # This host moves by ±25% between sittings: the fastest of a few profiles is the one least
        # disturbed by neighbours.
        ops, total = min((profile(flags, a.steps) for _ in range(a.rounds)), key=lambda p: p[1])
        products = sum(t for k, t in ops.items() if k in PRODUCTS)
        others = {k: t for k, t in ops.items() if k not in PRODUCTS}
        rest = sum(others.values())
        largest = ", ".join(f"{k} {t:.0f}" for k, t in sorted(others.items(), key=lambda kv: -kv[1])[:3])
        now = flops / (total * 1e-6) / peak * 100
        ceiling = flops / (flops / peak + rest * 1e-6) / peak * 100
        goal = target(label)
        print(f"| {label} | {flops / 1e6:.1f} | {total:.0f} | {now:.0f}% | {products:.0f} | {rest:.0f} ({largest}) | {ceiling:.0f}% | {goal if goal else '–'} |", flush=True)


if __name__ == "__main__":
    main()
