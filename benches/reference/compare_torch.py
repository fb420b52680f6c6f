"""Runs overfit and PyTorch side by side on every preset and head: the parity check, then the
training-step time of each, and prints the ratio table of BENCHMARKS.md.

  cargo build --release -p cli
  python3 benches/reference/compare_torch.py [--presets seed-id4,small,medium] [--heads ...] [--threads 2]
      [--rounds 3] [--peak-gflops G]

Each side runs in its own process, with the same thread count, batch 32, the same config and head,
after warm-up steps. The sides alternate for --rounds rounds; the table gives each side's median and
its spread ((max − min) / median). A machine that does not hold still makes a ratio meaningless: a
spread above 10% marks the row with "!" and the script exits with status 1 at the end.

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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--presets", default="seed-id4,small,medium")
    p.add_argument("--heads", default=",".join(HEADS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peak-gflops", type=float, default=None)
    a = p.parse_args()
    peak = a.peak_gflops or measured_peak(a.threads)
    print(f"f32 peak on {a.threads} threads: {peak:.0f} GFLOP/s; {a.rounds} alternated rounds per row, medians")
    print("| preset | head | parity (max grad error) | overfit ms/step (spread) | PyTorch ms/step (spread) | overfit / PyTorch speed | overfit % of peak | overfit peak RSS | PyTorch peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    unsteady = []
    for preset in a.presets.split(","):
        for head in a.heads.split(","):
            with tempfile.TemporaryDirectory() as d:
                run([BIN, "bench", "--preset", preset, "--head", head, "--dump-parity", d])
                parity = run([sys.executable, REF, "parity", d]).strip().splitlines()[-1]
                err = parity.split("max error ")[1].split(" ")[0]
                ok = "OK" if parity.endswith("OK") else "MISMATCH"
            steps = str(STEPS.get(preset, 10))
            # Alternate the two sides three times and keep each side's median: this machine is a
            # shared VM, and a neighbour's burst must not land on one side only.
            ours, theirs, rss_o, rss_t = [], [], 0, 0
            for _ in range(a.rounds):
                r = json.loads(run([BIN, "bench", "--preset", preset, "--head", head, "--steps", steps, "--threads", str(a.threads), "--json"]))
                ours.append(1e3 / r["steps_per_sec"])
                rss_o = max(rss_o, r["peak_rss_bytes"] or 0)
                p = json.loads(run([sys.executable, REF, "time", "--preset", preset, "--head", head, "--steps", steps, "--threads", str(a.threads)]))
                theirs.append(p["ms_per_step"])
                rss_t = max(rss_t, p["peak_rss_bytes"])
                flops = p["flops_per_step"]
            o, t = sorted(ours)[len(ours) // 2], sorted(theirs)[len(theirs) // 2]
            so, st = spread(ours), spread(theirs)
            mark = " !" if max(so, st) > SPREAD_MAX else ""
            if mark:
                unsteady.append(f"{preset}/{head}")
            mib = lambda b: f"{b / 2**20:.0f} MiB"
            pct = flops / (o / 1e3) / (peak * 1e9) * 100
            print(f"| {preset} | {head} | {ok} ({err}) | {o:.3f} ({so:.0%}){mark} | {t:.3f} ({st:.0%}){mark} | {t / o:.2f}× | {pct:.1f}% | {mib(rss_o)} | {mib(rss_t)} |", flush=True)
    if unsteady:
        sys.exit(f"the machine did not hold still: spread above {SPREAD_MAX:.0%} in {', '.join(unsteady)}; measure again on a quiet machine")


if __name__ == "__main__":
    main()
