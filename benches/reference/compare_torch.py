"""Runs overfit and PyTorch side by side on every preset and head: the parity check, then the
training-step time of each, and prints the ratio table of BENCHMARKS.md.

  cargo build --release -p cli
  python3 benches/reference/compare_torch.py [--presets seed-id4,small,medium] [--heads ...] [--threads 2]
      [--rounds 3] [--peak-gflops G]
  python3 benches/reference/compare_torch.py --workloads grid --threads 1   # the experiments' models

Each side runs in its own process, with the same thread count, batch 32, the same config and head,
after warm-up steps. The sides alternate for --rounds rounds; the table gives each side's minimum
and median. The primary figure is overfit's % of the f32 peak measured in the same sitting; the
PyTorch ratio comes beside it. A calibration loop timed once a round shows how noisy the sitting
was, and rows where either side spread more than 10% are named at the end.

"% of peak" divides the step's FLOPs (PyTorch's FlopCounterMode on the same model: matmuls and
attention, forward and backward) by overfit's step time and by the machine's f32 FMA peak on
--threads cores, which `cargo bench -p tensor --bench peak` measures (run here unless --peak-gflops is given).
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release" / "overfit"
REF = ROOT / "benches" / "reference" / "torch_reference.py"
HEADS = ["flatten", "bottleneck", "td-dense", "conv", "tied", "causal", "rnn", "last"]
SPREAD_MAX = 0.10
STEPS = {"seed-id4": 300, "small": 30, "medium": 8}


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return out.stdout


def measured_peak(threads):
    """GFLOP/s of the f32 FMA peak on `threads` cores, from `cargo bench -p tensor --bench peak`."""
    out = subprocess.run(["cargo", "bench", "-p", "tensor", "--bench", "peak"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    best = {}
    for line in out.splitlines():  # "... f32 peak: 115 GFLOP/s on 1 thread, 230 on 2"
        if "peak:" in line:
            one = float(line.split("peak:")[1].split("GFLOP/s")[0])
            many, cores = line.rsplit(",", 1)[1].split(" on ")
            best = {1: max(best.get(1, 0), one), int(cores): max(best.get(int(cores), 0), float(many))}
    return best.get(threads) or sys.exit(f"cargo bench -p tensor --bench peak gave no figure for {threads} threads:\n{out}")


def spread(xs):
    return (max(xs) - min(xs)) / sorted(xs)[len(xs) // 2]


def median(xs):
    return sorted(xs)[len(xs) // 2]


def calibrate():
    """A fixed single-core loop, timed once a round: its spread over the sitting says how much the
    machine itself moved while the two sides were measured."""
    t0 = time.perf_counter()
    x = 0
    for i in range(2_000_000):
        x += i * i
    return (time.perf_counter() - t0) * 1e3


def workloads(a):
    """(label, bench flags, torch flags, steps) of every row: the presets × heads, or the grid
    the experiments run (issue 23): seed-id4 with every head, and the capacity sizes (L 32,
    one block, d_ff = d) with causal, tied, last and flatten."""
    rows = []
    if a.workloads == "grid":
        for head in HEADS:
            rows.append((f"seed-id4 {head}", ["--preset", "seed-id4", "--head", head], 300))
        for d in (8, 16, 32, 64):
            for head in ("causal", "tied", "last", "flatten"):
                flags = ["--preset", "seed-id4", "--head", head, "--d-model", str(d), "--d-ff", str(d)]
                rows.append((f"L32 d{d} {head}", flags, 300 if d <= 16 else 150 if d <= 32 else 60))
        return rows
    for preset in a.presets.split(","):
        for head in a.heads.split(","):
            rows.append((f"{preset} {head}", ["--preset", preset, "--head", head], STEPS.get(preset, 10)))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workloads", choices=("presets", "grid"), default="presets")
    p.add_argument("--presets", default="seed-id4,small,medium")
    p.add_argument("--heads", default=",".join(HEADS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peak-gflops", type=float, default=None)
    a = p.parse_args()
    peak = a.peak_gflops or measured_peak(a.threads)
    print(f"f32 peak on {a.threads} threads: {peak:.0f} GFLOP/s (this sitting); {a.rounds} alternated rounds per row; min / median ms")
    print("| workload | overfit % of peak (min step) | overfit ms (min / median) | PyTorch ms (min / median) | PyTorch / overfit time (medians) | parity (max grad error) | overfit peak RSS | PyTorch peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    unsteady, calibration = [], []
    for label, flags, steps in workloads(a):
        with tempfile.TemporaryDirectory() as d:
            run([BIN, "bench", *flags, "--dump-parity", d])
            parity = run([sys.executable, REF, "parity", d]).strip().splitlines()[-1]
            err = parity.split("max error ")[1].split(" ")[0]
            ok = "OK" if parity.endswith("OK") else "MISMATCH"
        # Alternate the two sides and keep each side's min and median: this machine is a shared
        # VM, and a neighbour's burst must not land on one side only.
        ours, theirs, rss_o, rss_t = [], [], 0, 0
        for _ in range(a.rounds):
            calibration.append(calibrate())
            r = json.loads(run([BIN, "bench", *flags, "--steps", str(steps), "--threads", str(a.threads), "--json"]))
            ours.append(1e3 / r["steps_per_sec"])
            rss_o = max(rss_o, r["peak_rss_bytes"] or 0)
            p = json.loads(run([sys.executable, REF, "time", *flags, "--steps", str(steps), "--threads", str(a.threads)]))
            theirs.append(p["ms_per_step"])
            rss_t = max(rss_t, p["peak_rss_bytes"])
            flops = p["flops_per_step"]
        if max(spread(ours), spread(theirs)) > SPREAD_MAX:
            unsteady.append(label)
        mib = lambda b: f"{b / 2**20:.0f} MiB"
        pct = flops / (min(ours) / 1e3) / (peak * 1e9) * 100
        print(f"| {label} | {pct:.0f}% | {min(ours):.3f} / {median(ours):.3f} | {min(theirs):.3f} / {median(theirs):.3f} | {median(theirs) / median(ours):.2f}× | {ok} ({err}) | {mib(rss_o)} | {mib(rss_t)} |", flush=True)
    print(f"\ncalibration loop over the sitting: {min(calibration):.1f}–{max(calibration):.1f} ms, spread {spread(calibration):.0%} ({len(calibration)} runs)")
    if unsteady:
        print(f"spread above {SPREAD_MAX:.0%} on one side: {', '.join(unsteady)}")


if __name__ == "__main__":
    main()
