"""Runs overfit and PyTorch side by side on every preset and head: the parity check, then the
training-step time of each, and prints the ratio table of BENCHMARKS.md.

  cargo build --release -p cli
  python3 benches/reference/compare_torch.py [--presets seed-id4,small,medium] [--heads ...] [--threads 2]

Each side runs in its own process, one after the other, with the same thread count, batch 32, the
same config and head, after warm-up steps.
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
HEADS = ["flatten", "bottleneck", "td-dense", "conv", "tied", "causal"]
STEPS = {"seed-id4": 300, "small": 30, "medium": 8}


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return out.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--presets", default="seed-id4,small,medium")
    p.add_argument("--heads", default=",".join(HEADS))
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    print("| preset | head | parity (max grad error) | overfit ms/step | PyTorch ms/step | overfit / PyTorch speed | overfit peak RSS | PyTorch peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
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
            for _ in range(3):
                r = json.loads(run([BIN, "bench", "--preset", preset, "--head", head, "--steps", steps, "--threads", str(a.threads), "--json"]))
                ours.append(1e3 / r["steps_per_sec"])
                rss_o = max(rss_o, r["peak_rss_bytes"] or 0)
                p = json.loads(run([sys.executable, REF, "time", "--preset", preset, "--head", head, "--steps", steps, "--threads", str(a.threads)]))
                theirs.append(p["ms_per_step"])
                rss_t = max(rss_t, p["peak_rss_bytes"])
            o, t = sorted(ours)[1], sorted(theirs)[1]
            mib = lambda b: f"{b / 2**20:.0f} MiB"
            print(f"| {preset} | {head} | {ok} ({err}) | {o:.3f} | {t:.3f} | {t / o:.2f}× | {mib(rss_o)} | {mib(rss_t)} |", flush=True)


if __name__ == "__main__":
    main()
