"""overfit against PyTorch on the nanoGPT CPU Shakespeare recipe, byte-level: whole-run wall time
(evaluation included) and final validation loss. Prints BENCHMARKS.md's table.

  cargo build --release -p cli
  python3 benches/reference/recipe_compare.py [--data ../shared/data/tinyshakespeare.txt] [--rounds 3] \\
    [--steps 2000] [--threads 2] [--bin target/release/overfit]

Each round runs overfit's command, then recipe_torch.py (the same recipe in PyTorch), each in its
own process with the same thread count; the sides alternate so that a neighbour's burst on this
shared VM does not land on one side only. Each side's median over the rounds is reported with its
spread (max − min) / median; when either spread is above 10% the machine was too noisy for the
figure, and the script says so loudly and exits 1 (after printing the table).

Wall time is each program's own figure: overfit's report.json `wall_seconds` (the training loop,
evaluations, checkpoints and the final validation pass; its data mapping and model building before
the loop take milliseconds) and recipe_torch.py's `wall_seconds` (from reading the data to the end
of the final pass, without the interpreter's start and `import torch`). The process column is the
wall time of each whole process as this script sees it (start-up, imports, writing files
included). `--steps 60 --rounds 1` is a smoke test, not a benchmark.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
TORCH_SCRIPT = ROOT / "benches" / "reference" / "recipe_torch.py"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
MAX_SPREAD = 0.10


def overfit_cmd(bin_, data, steps, threads, seed, runs_dir):
    return [
        str(bin_), "train", "--data", str(data), "--head", "causal", "--seq-length", "64", "--d-model", "128",
        "--num-blocks", "4", "--num-heads", "4", "--d-ff", "512", "--batch-size", "12", "--steps", str(steps),
        "--optimizer", "adamw", "--lr", "1e-3", "--weight-decay", "0.1", "--warmup", "100", "--clip", "1.0",
        "--val-fraction", "0.1", "--seed", str(seed), "--threads", str(threads),
        "--quiet", "--json", "--runs-dir", str(runs_dir),
    ]


def run(cmd):
    """The JSON object a command prints last on stdout, and the process's wall time."""
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed (exit {out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1]), seconds


def spread(xs):
    return (max(xs) - min(xs)) / statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "overfit"))
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    bin_, data = pathlib.Path(a.bin), pathlib.Path(a.data).resolve()
    if not bin_.is_file():
        sys.exit(f"{bin_}: no overfit binary (cargo build --release -p cli, or pass --bin)")
    if not data.is_file():
        sys.exit(f"{data}: no such data file (pass --data)")
    torch_cmd = [sys.executable, str(TORCH_SCRIPT), "--data", str(data), "--steps", str(a.steps), "--threads", str(a.threads), "--seed", str(a.seed)]

    sides = {"overfit": [], "PyTorch": []}  # per round: (wall, eval, val loss, process seconds)
    for r in range(a.rounds):
        with tempfile.TemporaryDirectory() as runs_dir:
            rep, proc = run(overfit_cmd(bin_, data, a.steps, a.threads, a.seed, runs_dir))
        sides["overfit"].append((rep["wall_seconds"], rep["eval_seconds"], rep["val_loss"], proc))
        rep, proc = run(torch_cmd)
        torch_version = rep["torch"]
        sides["PyTorch"].append((rep["wall_seconds"], rep["eval_seconds"], rep["final_val_loss"], proc))
        o, t = sides["overfit"][-1], sides["PyTorch"][-1]
        print(f"round {r + 1}/{a.rounds}: overfit {o[0]:.1f} s (val {o[2]:.4f}), PyTorch {t[0]:.1f} s (val {t[2]:.4f})", file=sys.stderr, flush=True)

    med = {k: [statistics.median(x[i] for x in v) for i in range(4)] for k, v in sides.items()}
    spreads = {k: spread([x[0] for x in v]) for k, v in sides.items()}

    def losses(v):
        ls = sorted(x[2] for x in v)
        return f"{ls[0]:.4f}" if ls[-1] - ls[0] < 5e-5 else f"{ls[0]:.4f}–{ls[-1]:.4f}"

    print(f"Recipe: causal head, L 64, d 128, 4 blocks, 4 heads, F 512, batch 12, {a.steps} steps, AdamW 1e-3 "
          f"(decay 0.1 on weight matrices), warmup 100, clip 1.0, 90/10 split, seed {a.seed}; {a.threads} threads; "
          f"PyTorch {torch_version}; median of {a.rounds} alternated rounds.\n")
    print("| side | wall time (median) | spread | of which evaluation | process wall | final val loss (nats) | bits/byte |")
    print("|---|---|---|---|---|---|---|")
    for k, v in sides.items():
        m = med[k]
        sp = f"{spreads[k]:.1%}" if a.rounds > 1 else "– (1 round)"
        print(f"| {k} | {m[0]:.1f} s | {sp} | {m[1]:.1f} s | {m[3]:.1f} s | {losses(v)} | {m[2] / 0.6931471805599453:.3f} |")
    ratio = med["overfit"][0] / med["PyTorch"][0]
    print(f"\noverfit / PyTorch wall time: {ratio:.2f} ({'overfit faster' if ratio < 1 else 'PyTorch faster'}: "
          f"{1 / ratio if ratio < 1 else ratio:.2f}×)")

    if a.rounds < 2:
        print("\n(one round: no spread, so nothing says the machine was quiet; use --rounds 3 for figures)", file=sys.stderr)
    noisy = [f"{k} {s:.1%}" for k, s in spreads.items() if s > MAX_SPREAD]
    if noisy:
        bar = "!" * 78
        print(f"\n{bar}\nNOISY MACHINE: wall-time spread above {MAX_SPREAD:.0%} ({', '.join(noisy)}).\n"
              f"These figures are not a benchmark: rerun on a quiet machine.\n{bar}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
