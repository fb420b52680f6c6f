"""overfit ⇄ Hugging Face transformers GPT-2 (SPEC §4, "Transformers interchange"), against the real library.

  python3 benches/reference/hf_check.py                  # trains a small causal model first (50 steps)
  python3 benches/reference/hf_check.py --checkpoint runs/id-3/checkpoint.bin

Trains nothing in transformers. Both directions:
  1. overfit → transformers: `overfit export --format hf`, then `GPT2LMHeadModel.from_pretrained` must report no
     missing, unexpected or mismatched weights, give `overfit eval`'s loss on the same windows (relative 1e-5)
     and `overfit generate --greedy`'s continuation;
  2. transformers → overfit: a `GPT2LMHeadModel` from a `GPT2Config(vocab_size=257, …)` with seeded random weights,
     `save_pretrained`, `overfit import --weights DIR`, and the same two checks.
Prints a short report; exits 1 on any mismatch. Needs torch and transformers (benches/reference/requirements.txt),
no network: models are built from a config, never downloaded.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

transformers.utils.logging.disable_progress_bar()

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
REL_TOL = 1e-5
failures = []


def run(bin_, *args):
    out = subprocess.run([bin_, *map(str, args)], capture_output=True)
    if out.returncode != 0:
        sys.exit(f"overfit {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr.decode()}")
    return out.stdout


def check(what, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}")
    if not ok:
        failures.append(what)


def overfit_loss(bin_, ck, data, samples):
    """`overfit eval` on the first `samples` training windows: for a causal head, the mean over every position."""
    return json.loads(run(bin_, "eval", "--checkpoint", ck, "--data", data, "--samples", samples, "--json"))["loss"]


def torch_loss(model, text, seq_length, samples):
    """The same windows: window i is text[i:i+L], its targets text[i+1:i+L+1], the mean over all B·L targets."""
    ids = torch.tensor([list(text[i : i + seq_length + 1]) for i in range(samples)])
    with torch.no_grad():
        logits = model(ids[:, :-1]).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).double(), ids[:, 1:].reshape(-1)).item()


def overfit_greedy(bin_, ck, prompt, n):
    out = run(bin_, "generate", "--checkpoint", ck, "--prompt", prompt.decode(), "--bytes", n, "--greedy", "--only-new")
    return out[:-1]  # generate ends its output with a newline


def torch_greedy(model, prompt, n, seq_length):
    """overfit's greedy rule: the model reads the last L bytes, and the next byte is the argmax over byte values
    0..=255 (never the special token 256) at the last position."""
    ctx, out = list(prompt[-seq_length:]), []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ctx])).logits[0, -1, :256]
            b = int(torch.argmax(logits))
            out.append(b)
            ctx = (ctx + [b])[-seq_length:]
    return bytes(out)


def compare(what, bin_, ck, model, text, data, seq_length, samples, prompt, n):
    a, b = overfit_loss(bin_, ck, data, samples), torch_loss(model, text, seq_length, samples)
    rel = abs(a - b) / abs(a)
    check(f"{what}: loss on {samples} windows of {seq_length}", rel <= REL_TOL, f"overfit {a:.7f}, transformers {b:.7f} (rel {rel:.1e})")
    g1, g2 = overfit_greedy(bin_, ck, prompt, n), torch_greedy(model, prompt, n, seq_length)
    same = g1 == g2
    check(f"{what}: greedy {n} bytes", same, f"{g1[:40]!r}…" + ("" if same else f" ≠ {g2[:40]!r}…"))


def load(dir_):
    model, info = GPT2LMHeadModel.from_pretrained(dir_, output_loading_info=True)
    bad = {k: sorted(v) for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    check("from_pretrained: no missing, unexpected or mismatched weights", not bad and not info.get("error_msgs"), bad or "none")
    return model.eval()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="an overfit checkpoint of a causal model (default: train one)")
    p.add_argument("--bin", default=os.environ.get("OVERFIT_BIN", ROOT / "target" / "release" / "overfit"))
    p.add_argument("--data", default=DATA)
    p.add_argument("--samples", type=int, default=256, help="windows the loss is compared on")
    p.add_argument("--bytes", type=int, default=120, help="greedy bytes compared (more than L: the window slides)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    text = Path(a.data).read_bytes()
    prompt = text[:40]
    torch.manual_seed(a.seed)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, data {Path(a.data).name}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ck = a.checkpoint
        if ck is None:
            run(a.bin, "train", "--preset", "small", "--head", "causal", "--steps", 50, "--data", a.data,
                "--seed", a.seed, "--runs-dir", tmp / "runs", "--quiet")
            ck = tmp / "runs" / "id-1" / "checkpoint.bin"
            print(f"trained {ck.name}: overfit train --preset small --head causal --steps 50")

        # 1. overfit → transformers.
        run(a.bin, "export", "--checkpoint", ck, "--format", "hf", "--out", tmp / "hf")
        c = GPT2Config.from_pretrained(tmp / "hf")
        print(f"-- overfit → transformers: L {c.n_positions}, d {c.n_embd}, N {c.n_layer}, h {c.n_head}, F {c.n_inner}")
        model = load(tmp / "hf")
        compare("export", a.bin, ck, model, text, a.data, c.n_positions, a.samples, prompt, a.bytes)

        # 2. transformers → overfit: every tensor random (no zero bias or unit LayerNorm to hide a swap), and
        # large enough that the greedy choices are not near ties.
        config = GPT2Config(vocab_size=257, n_positions=48, n_embd=32, n_layer=3, n_head=4, n_inner=80,
                            activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=256, eos_token_id=256)
        theirs = GPT2LMHeadModel(config).eval()
        with torch.no_grad():
            for name, t in theirs.named_parameters():
                t.copy_((1.0 if "ln_" in name and name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(t))
        theirs.save_pretrained(tmp / "hf2")
        run(a.bin, "import", "--weights", tmp / "hf2", "--out", tmp / "back.bin")
        print(f"-- transformers → overfit: save_pretrained of a random GPT2LMHeadModel, L 48, d 32, N 3, h 4, F 80")
        compare("import", a.bin, tmp / "back.bin", theirs, text, a.data, 48, a.samples, prompt, a.bytes)
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
