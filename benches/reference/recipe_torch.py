"""The nanoGPT CPU Shakespeare recipe, byte-level, in PyTorch: the other side of overfit's

  overfit train --data ../shared/data/tinyshakespeare.txt --head causal --seq-length 64 --d-model 128 \\
    --num-blocks 4 --num-heads 4 --d-ff 512 --batch-size 12 --steps 2000 --optimizer adamw --lr 1e-3 \\
    --weight-decay 0.1 --warmup 100 --clip 1.0 --val-fraction 0.1 --seed 0

  python3 benches/reference/recipe_torch.py --data ../shared/data/tinyshakespeare.txt [--steps 2000] \\
    [--threads 2] [--seed 0] [--eval-every 100]

Prints one JSON line on stdout (progress on stderr). benches/reference/recipe_compare.py runs both
sides and prints BENCHMARKS.md's table.

Everything follows overfit's definitions (crates/train/src in the main tree):
- Data (data.rs): the file's bytes; validation is the tail from floor(len·0.9); a training window
  is b[i..i+L] with targets b[i+1..i+L+1], for every i with i+L+1 <= the split (no window crosses
  into validation). Order: each epoch is a seeded random permutation of every window start
  (torch.randperm), cut into batches of 12, the last batch of an epoch possibly short; sampling
  without replacement, as overfit's seeded shuffle (not its exact order: a different RNG).
- Model: Model of torch_reference.py (SPEC §1, head causal, learned positions, SPEC's init),
  seeded by torch.manual_seed(seed).
- Optimizer (optim.rs): AdamW, betas 0.9/0.999, eps 1e-8; decoupled weight decay only on the
  weights of Linear (and Conv1d) layers, as overfit's `decay: true` (crates/layers/src/lib.rs) —
  never on biases, LayerNorm or embeddings; learning rate lr·(step+1)/warmup for step < warmup,
  then constant; clip_grad_norm_ to --clip before the update.
- Evaluation (eval.rs, trainer.rs): every --eval-every steps and at the last step, the loss on an
  evenly spaced sample of non-overlapping (stride L) training windows and of validation windows,
  max(128, int(0.1 · 3 · eval_every · batch / 2)) of each (180 for this recipe: eval_starts of
  data.rs, window j of n candidates at j·n/cap); batches of 64 windows, no graph. At the end one
  full pass over every non-overlapping validation window (up to 65536): `final_val_loss`, the
  figure overfit reports as `val_loss`.

Timing: `wall_seconds` runs from the start of reading the data file to the end of the final pass,
so it excludes the Python interpreter's start, `import torch` and the import of torch._dynamo that
the first optimizer of a process triggers (done before the clock starts; `import_seconds` shows
these imports' time, which the process's own wall time adds). overfit's `wall_seconds` starts after its data is mapped
and its model built (a few milliseconds here; this script's `setup_seconds` shows its own share).
`train_seconds` is the time in training steps (batch gathering included), `eval_seconds` the time
in evaluations (periodic and final).
"""
import time

_T_PROCESS = time.perf_counter()  # before the imports: `import_seconds` below

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_reference import Model  # noqa: E402

# The first optimizer built in a process imports torch._dynamo (about 900 modules, 1.5–2 s here):
# import time, not training time, so it is paid here, before the clock starts.
torch.optim.AdamW([nn.Parameter(torch.zeros(1))])

RECIPE = dict(
    vocab_size=257, head="causal", positions="learned", output_bias=False, bottleneck=16, reduce=8, kernel=3,
    seq_length=64, d_model=128, num_blocks=4, num_heads=4, d_ff=512,
)
BATCH, LR, WEIGHT_DECAY, WARMUP, CLIP, VAL_FRACTION = 12, 1e-3, 0.1, 100, 1.0, 0.1
# eval.rs
EVAL_SHARE, STEP_COST_IN_FORWARDS, MIN_SAMPLE, FINAL_EVAL_MAX, EVAL_BATCH = 0.1, 3.0, 128, 1 << 16, 64


def eval_starts(first, count, stride, cap):
    """data.rs `eval_starts`: first, first+stride, … below first+count; all up to cap, else cap evenly spaced."""
    n = -(-count // stride)
    if n <= cap:
        return [first + j * stride for j in range(n)]
    return [first + (j * n // cap) * stride for j in range(cap)]


def learning_rate(step):
    """optim.rs `learning_rate` (0-based step): linear warmup, then constant."""
    return LR * (step + 1) / WARMUP if step < WARMUP else LR


def param_groups(model):
    """Decay exactly the tensors overfit decays: the weights of Linear and Conv1d layers."""
    decay, no_decay = [], []
    for mod_name, mod in model.named_modules():
        for name, p in mod.named_parameters(recurse=False):
            (decay if isinstance(mod, (nn.Linear, nn.Conv1d)) and name == "weight" else no_decay).append((f"{mod_name}.{name}", p))
    return decay, no_decay


def optimizer(model):
    """AdamW as overfit's `--optimizer adamw --weight-decay 0.1` (optim.rs)."""
    decay, no_decay = param_groups(model)
    return torch.optim.AdamW(
        [{"params": [p for _, p in decay], "weight_decay": WEIGHT_DECAY}, {"params": [p for _, p in no_decay], "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.999), eps=1e-8,
    )


class Data:
    """The file's bytes and its split (data.rs Split::new, a per-position head)."""

    def __init__(self, path, seq_length):
        raw = pathlib.Path(path).read_bytes()
        self.bytes = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
        self.len, L = len(raw), seq_length
        split = math.floor(self.len * (1.0 - VAL_FRACTION))
        self.train_windows, self.val_start, self.val_windows = split - L, split, self.len - split - L
        self.offsets = torch.arange(L + 1)

    def windows(self, starts):
        """ids b[i..i+L] and targets b[i+1..i+L+1] of the windows starting at `starts`."""
        w = self.bytes[torch.as_tensor(starts, dtype=torch.long)[:, None] + self.offsets].long()
        return w[:, :-1], w[:, 1:]

    def eval_plan(self, eval_every, batch):
        """eval.rs EvalPlan::new for a per-position head with a split: stride L, two splits sampled."""
        L = len(self.offsets) - 1
        sample = max(int(EVAL_SHARE * STEP_COST_IN_FORWARDS * (eval_every * batch) / 2.0), MIN_SAMPLE)
        return (
            eval_starts(0, self.train_windows, L, sample),
            eval_starts(self.val_start, self.val_windows, L, sample),
            eval_starts(self.val_start, self.val_windows, L, FINAL_EVAL_MAX),
        )


@torch.inference_mode()
def evaluate(model, data, starts):
    """(mean loss over every target, accuracy) of the windows at `starts`, 64 at a time (eval.rs)."""
    loss_sum, correct, targets = 0.0, 0, 0
    for i in range(0, len(starts), EVAL_BATCH):
        ids, tg = data.windows(starts[i:i + EVAL_BATCH])
        logits = model(ids)
        flat = tg.reshape(-1)
        loss_sum += F.cross_entropy(logits, flat, reduction="sum").item()
        correct += (logits.argmax(-1) == flat).sum().item()
        targets += flat.numel()
    return loss_sum / targets, correct / targets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=100)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)

    t_start = time.perf_counter()
    import_seconds = t_start - _T_PROCESS
    data = Data(a.data, RECIPE["seq_length"])
    plan_train, plan_val, plan_final = data.eval_plan(a.eval_every, BATCH)
    torch.manual_seed(a.seed)
    model = Model(dict(RECIPE))
    opt = optimizer(model)
    order_rng = torch.Generator().manual_seed(a.seed)
    steps_per_epoch = -(-data.train_windows // BATCH)
    setup_seconds = time.perf_counter() - t_start
    decay, no_decay = param_groups(model)
    print(
        f"{data.len} bytes: {data.train_windows} training windows, {data.val_windows} validation windows; "
        f"evaluation: {len(plan_train)} + {len(plan_val)} windows every {a.eval_every} steps, final pass {len(plan_final)}; "
        f"decayed: {len(decay)} tensors ({sum(p.numel() for _, p in decay)} values), not decayed: {len(no_decay)} "
        f"({sum(p.numel() for _, p in no_decay)})",
        file=sys.stderr,
    )

    train_seconds = eval_seconds = 0.0
    order, order_epoch = None, -1
    last = None
    for step in range(a.steps):
        t0 = time.perf_counter()
        epoch, pos = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = torch.randperm(data.train_windows, generator=order_rng), epoch
        ids, tg = data.windows(order[pos * BATCH:(pos + 1) * BATCH])
        for g in opt.param_groups:
            g["lr"] = learning_rate(step)
        opt.zero_grad(set_to_none=True)
        loss = model.loss(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        loss_value = loss.item()
        train_seconds += time.perf_counter() - t0
        if not math.isfinite(loss_value):
            sys.exit(f"step {step + 1}: the loss diverged ({loss_value})")
        done = step + 1
        if done % a.eval_every == 0 or done == a.steps:
            t0 = time.perf_counter()
            tr, acc = evaluate(model, data, plan_train)
            va, _ = evaluate(model, data, plan_val)
            eval_seconds += time.perf_counter() - t0
            last = (tr, acc)
            print(f"step {done}: batch loss {loss_value:.4f}, train sample {tr:.4f}, val sample {va:.4f}", file=sys.stderr)

    t0 = time.perf_counter()
    final_val, _ = evaluate(model, data, plan_final)
    eval_seconds += time.perf_counter() - t0
    wall = time.perf_counter() - t_start
    print(json.dumps({
        "wall_seconds": wall,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "setup_seconds": setup_seconds,
        "import_seconds": import_seconds,
        "final_val_loss": final_val,
        "final_val_bits_per_byte": final_val / math.log(2),
        "val_windows": len(plan_final),
        "final_train_sample_loss": last[0] if last else None,
        "steps": a.steps,
        "seed": a.seed,
        "torch": torch.__version__,
        "threads": a.threads,
        "order": "a seeded random permutation of every training window per epoch (without replacement)",
    }))


if __name__ == "__main__":
    main()
