"""PyTorch's float32 loss and gradients of overfit's model, one file per head or causal variant,
for `cargo test --test torch_f32` (the role of llm.c's gpt2_124M_debug_state.bin for test_gpt2.c).

  cargo build --release -p cli
  python3 benches/reference/f32_dump.py

For each entry of VARIANTS, overfit writes its seeded initial weights and its first batch (`bench
--dump-parity` with the entry's flags; the gradients it writes beside them are ignored here: the
reference is PyTorch's). Every weight is then moved by 0.05·N(0, 1) (a seeded generator), so that no
bias is zero and no LayerNorm is the identity: a gradient rule that drops a bias term or a norm's
weight shows. The model of torch_reference.py loads those weights, and
tests/data/torch_f32/<name>.safetensors receives them (same names), `ids` [B, L] and `targets` [B] or
[B, L] (int32), and every gradient as `grad.<name>`; its metadata holds `config` (overfit's JSON, as
is), `loss`, `torch` and `command`.

Requirements: benches/reference/requirements.txt (torch, safetensors, numpy).
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "release" / "overfit"
OUT = ROOT / "tests" / "data" / "torch_f32"
PRESET = "seed-id4"
# Every head and variant that tests/torch_f32.rs checks, as (file name, `overfit bench` flags): add one
# here, rerun, and the test picks its file up. The file name starts with the head's name.
VARIANTS = [
    ("flatten", ["--head", "flatten"]),
    ("bottleneck", ["--head", "bottleneck"]),
    ("td-dense", ["--head", "td-dense"]),
    ("conv", ["--head", "conv"]),
    ("tied", ["--head", "tied"]),
    ("causal", ["--head", "causal"]),
    ("causal-untied", ["--head", "causal", "--untied"]),
    # Two blocks: with one, the last position's output is the same with or without the mask (it
    # sees every position either way), so a missing mask would pass unseen.
    ("causal-loss-last", ["--head", "causal", "--loss-positions", "last", "--output-bias", "--num-blocks", "2"]),
    ("rnn-g24", ["--head", "rnn", "--rnn-hidden", "24"]),  # g = 24 != d = 16
    ("last", ["--head", "last", "--output-bias"]),
]
COMMAND = "python3 benches/reference/f32_dump.py"
JITTER = 0.05


def overfit_dump(flags, dir_):
    cmd = [str(BIN), "bench", "--preset", PRESET, *flags, "--dump-parity", dir_]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (build it with: cargo build --release -p cli):\n{out.stderr}")
    with safe_open(f"{dir_}/weights.safetensors", "pt") as f:
        config = f.metadata()["config"]
    return config, load_file(f"{dir_}/weights.safetensors"), load_file(f"{dir_}/batch.safetensors")


def save_file(tensors, path, metadata):
    """safetensors' save with the header's keys sorted: the library writes the metadata from a hash
    map, in an order that changes from run to run, and a rerun should leave the files unchanged."""
    raw = save(tensors, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8 : 8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # the data stays 8-byte aligned
    path.write_bytes(len(header).to_bytes(8, "little") + header + raw[8 + n :])


def main():
    sys.path.insert(0, str(ROOT / "benches" / "reference"))
    from torch_reference import Model

    torch.set_num_threads(1)  # one summation order: the same bytes on every rerun
    OUT.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, flags in VARIANTS:
        with tempfile.TemporaryDirectory() as d:
            config, weights, batch = overfit_dump(flags, d)
        assert name.startswith(json.loads(config)["head"]), name
        gen = torch.Generator().manual_seed(0)
        weights = {k: w + JITTER * torch.randn(w.shape, generator=gen) for k, w in sorted(weights.items())}
        model = Model(json.loads(config))
        model.load_state_dict(weights, strict=True)  # every name and shape as overfit exports them
        loss = model.loss(batch["ids"].long(), batch["targets"].long())
        loss.backward()
        tensors = {name: w.contiguous() for name, w in weights.items()}
        tensors["ids"], tensors["targets"] = batch["ids"].int(), batch["targets"].int()
        for param, p in model.named_parameters():
            tensors[f"grad.{param}"] = p.grad.detach().clone().contiguous()
        meta = {"config": config, "loss": repr(loss.item()), "torch": torch.__version__, "command": COMMAND}
        path = OUT / f"{name}.safetensors"
        save_file(tensors, path, meta)
        size = path.stat().st_size
        total += size
        print(f"{path.relative_to(ROOT)}: loss {loss.item():.6f}, {size / 1e6:.2f} MB")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
