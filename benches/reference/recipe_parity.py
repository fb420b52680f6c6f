"""Checks that recipe_torch.py trains and evaluates as overfit does. About half a minute.

1. Training: from the same initial weights, on the same 12 windows every step, both sides must give
   the same loss and gradient norm for 20 steps of the recipe's AdamW (decay on weight matrices only,
   warmup, clipping).
2. Evaluation: overfit trains the recipe for 5 steps with its 90/10 split; PyTorch loads the
   exported weights and must find the same training-sample and validation-sample losses (the last
   metrics row) and the same final full-pass validation loss (report.json `val_loss`), over the same
   number of windows: the same split, the same windows, the same mean.

  python3 benches/reference/recipe_parity.py [--bin target/release/overfit] [--data ../shared/data/tinyshakespeare.txt]

For 1, `bench --dump-parity` writes overfit's seed-0 initial weights, and `train --samples 12
--batch-size 12` trains on windows 0..11 at every step (one batch an epoch: the order inside a batch
does not change its mean loss), logging every step; PyTorch loads those weights and runs
recipe_torch.py's optimizer on the same windows. Exits 1 if a training loss differs by more than
1e-5 relative, a gradient norm by more than 1e-4 (float32 sums in another order drift by ~1e-6 over
20 steps), or an evaluation loss by more than 1e-5.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from recipe_compare import DEFAULT_DATA, ROOT  # noqa: E402
from recipe_torch import BATCH, CLIP, LR, RECIPE, WEIGHT_DECAY, Data, Model, evaluate, learning_rate, optimizer  # noqa: E402

STEPS = 20
MODEL = ["--head", "causal", "--seq-length", "64", "--d-model", "128", "--num-blocks", "4", "--num-heads", "4",
         "--d-ff", "512", "--batch-size", "12", "--threads", "1"]


def run(cmd):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stderr}")
    return out.stdout


def check_evaluation(bin_, data_path):
    """Part 2: overfit's evaluation figures recomputed by recipe_torch.py's code on overfit's weights."""
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        report = json.loads(run([
            bin_, "train", *MODEL, "--data", data_path, "--steps", "5", "--optimizer", "adamw", "--lr", str(LR),
            "--weight-decay", str(WEIGHT_DECAY), "--warmup", "100", "--clip", str(CLIP), "--val-fraction", "0.1",
            "--seed", "0", "--quiet", "--json", "--runs-dir", d / "runs",
        ]))
        run([bin_, "export", "--checkpoint", d / "runs" / "id-1" / "checkpoint.bin", "--out", d / "w.safetensors"])
        weights = load_file(str(d / "w.safetensors"))
        row = [json.loads(line) for line in open(d / "runs" / "id-1" / "metrics.jsonl")][-1]
    model = Model(dict(RECIPE))
    model.load_state_dict(weights, strict=True)
    data = Data(data_path, RECIPE["seq_length"])
    plan_train, plan_val, plan_final = data.eval_plan(100, BATCH)
    worst = 0.0
    for what, starts, ours in (
        ("training sample", plan_train, row["eval_loss"]),
        ("validation sample", plan_val, row["val_loss"]),
        ("final validation pass", plan_final, report["val_loss"]),
    ):
        theirs, _ = evaluate(model, data, starts)
        worst = max(worst, abs(theirs - ours) / ours)
        print(f"{what} ({len(starts)} windows): PyTorch {theirs:.6f} overfit {ours:.6f}")
    same_count = report["val_windows"] == len(plan_final)
    if not same_count:
        print(f"final pass: overfit read {report['val_windows']} windows, recipe_torch.py {len(plan_final)}")
    ok = worst < 1e-5 and same_count
    print(f"evaluation: largest relative difference {worst:.1e} -> {'OK' if ok else 'MISMATCH'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "overfit"))
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    a = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        run([a.bin, "bench", *MODEL, "--data", a.data, "--dump-parity", d / "parity"])
        run([a.bin, "train", *MODEL, "--data", a.data, "--samples", "12", "--steps", STEPS, "--optimizer", "adamw",
             "--lr", LR, "--weight-decay", WEIGHT_DECAY, "--warmup", "100", "--clip", CLIP, "--seed", "0",
             "--log-every", "1", "--eval-every", "1000", "--quiet", "--json", "--runs-dir", d / "runs"])
        weights = load_file(str(d / "parity" / "weights.safetensors"))
        rows = [json.loads(line) for line in open(d / "runs" / "id-1" / "metrics.jsonl")]

    model = Model(dict(RECIPE))
    model.load_state_dict(weights, strict=True)
    opt = optimizer(model)
    b = pathlib.Path(a.data).read_bytes()
    w = torch.tensor([list(b[i:i + 65]) for i in range(12)])
    ids, targets = w[:, :-1], w[:, 1:]
    worst_loss = worst_norm = 0.0
    for step in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = learning_rate(step)
        opt.zero_grad(set_to_none=True)
        loss = model.loss(ids, targets)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP).item()
        opt.step()
        r = rows[step]
        assert r["step"] == step + 1
        worst_loss = max(worst_loss, abs(loss.item() - r["loss"]) / r["loss"])
        worst_norm = max(worst_norm, abs(norm - r["grad_norm"]) / r["grad_norm"])
        print(f"step {step + 1:2d}: loss PyTorch {loss.item():.6f} overfit {r['loss']:.6f}; "
              f"gradient norm PyTorch {norm:.5f} overfit {r['grad_norm']:.5f}")
    ok = worst_loss < 1e-5 and worst_norm < 1e-4
    print(f"training, {STEPS} steps: largest relative difference {worst_loss:.1e} (loss), {worst_norm:.1e} "
          f"(gradient norm) -> {'OK' if ok else 'MISMATCH'}\n")
    ok = check_evaluation(a.bin, a.data) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
