//! Hugging Face transformers' GPT-2 (SPEC §4, "Transformers interchange"). A `causal` overfit model
//! with learned positions and no output bias *is* a `GPT2LMHeadModel`: pre-LayerNorm blocks, tanh
//! GELU, LayerNorm eps 1e-5, logits through the tied token embedding. Only the names and two
//! layouts differ, and both are easy to get wrong silently:
//! - GPT-2's `Conv1D` stores a weight as `[in, out]`, the transpose of a Linear's `[out, in]`;
//! - `attn.c_attn` is q, k and v concatenated on its output axis (`[d, 3d]`, bias `[3d]`).
//!
//! [`one_to_one`] lists every other correspondence once, for both directions.

use super::{Tensor, Tensors, CONFIG_FILE, WEIGHTS_FILE};
use heads::{ModelConfig, Positions, BYTE_VOCAB, SPECIAL_TOKEN};
use serde_json::{json, Value};
use std::path::Path;
use train::checkpoint::{Checkpoint, SavedTensor};
use train::error::{Error, Result};

use super::infer::PartialConfig;

/// The prefix of `GPT2LMHeadModel`'s transformer tensors (a bare `GPT2Model`, and older GPT-2
/// checkpoints, have none).
pub(super) const PREFIX: &str = "transformer.";

/// Why `model` cannot be written as a `GPT2LMHeadModel`; empty when it can. The one rule of
/// `export --format hf`.
pub fn not_gpt2(model: &ModelConfig) -> Vec<String> {
    // Every field by name: one added to ModelConfig (an untied output, a loss on some positions
    // only…) does not compile until this rule decides whether a GPT-2 can hold it.
    let ModelConfig {
        vocab_size,
        seq_length: _,
        d_model: _,
        num_blocks: _,
        num_heads: _,
        d_ff: _,
        head,
        bottleneck: _,
        reduce: _,
        kernel: _,
        positions,
        output_bias,
        rnn_hidden: _,
        untied,
        // Which positions trained is how it was taught, not what it computes: a GPT-2 still.
        loss_positions: _,
    } = model;
    let mut why = Vec::new();
    if *head != heads::HeadKind::Causal {
        why.push(format!(
            "its head is {head}, and only causal (logits at every position through the tied tok_emb) is a GPT-2"
        ));
    }
    if *positions == Positions::Sinusoidal {
        why.push(
            "it has sinusoidal positions, and GPT-2's wpe is a learned table: written there, the fixed sinusoids \
             would be trained by transformers, silently another model, so overfit does not write them (train \
             with --positions learned)"
                .into(),
        );
    }
    if *output_bias {
        why.push("it has an output bias (--output-bias), and GPT2LMHeadModel's lm_head has none".into());
    }
    if *untied {
        why.push(
            "it reads out through a Linear of its own (--untied) with a bias, and GPT2LMHeadModel's lm_head has none"
                .into(),
        );
    }
    if *vocab_size != BYTE_VOCAB {
        why.push(format!(
            "its vocabulary is {vocab_size}: the interchange is byte-level, vocab_size {BYTE_VOCAB}, as import requires"
        ));
    }
    why
}

/// How an overfit tensor is stored in GPT-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Same,
    /// A Linear `[out, in]` as a `Conv1D` `[in, out]`.
    Transposed,
}

/// Every tensor that maps one to one: (overfit name, GPT-2 name without [`PREFIX`], layout). The
/// rest is `attn.c_attn` (q, k, v fused) and the tied `lm_head.weight`.
fn one_to_one(num_blocks: usize) -> Vec<(String, String, Layout)> {
    use Layout::{Same, Transposed};
    let mut pairs = vec![
        ("tok_emb.weight".to_string(), "wte.weight".to_string(), Same),
        ("pos_emb.weight".to_string(), "wpe.weight".to_string(), Same),
    ];
    for i in 0..num_blocks {
        for (ours, theirs, layout) in [
            ("ln1.weight", "ln_1.weight", Same),
            ("ln1.bias", "ln_1.bias", Same),
            ("attn.o.weight", "attn.c_proj.weight", Transposed),
            ("attn.o.bias", "attn.c_proj.bias", Same),
            ("ln2.weight", "ln_2.weight", Same),
            ("ln2.bias", "ln_2.bias", Same),
            ("ffn.fc1.weight", "mlp.c_fc.weight", Transposed),
            ("ffn.fc1.bias", "mlp.c_fc.bias", Same),
            ("ffn.fc2.weight", "mlp.c_proj.weight", Transposed),
            ("ffn.fc2.bias", "mlp.c_proj.bias", Same),
        ] {
            pairs.push((format!("blocks.{i}.{ours}"), format!("h.{i}.{theirs}"), layout));
        }
    }
    pairs.push(("ln_f.weight".into(), "ln_f.weight".into(), Same));
    pairs.push(("ln_f.bias".into(), "ln_f.bias".into(), Same));
    pairs
}

/// `[rows, cols]` → `[cols, rows]`.
fn transpose(t: &Tensor) -> Tensor {
    let (rows, cols) = (t.shape[0], t.shape[1]);
    let mut data = Vec::with_capacity(t.data.len());
    for c in 0..cols {
        data.extend((0..rows).map(|r| t.data[r * cols + c]));
    }
    Tensor { shape: vec![cols, rows], data }
}

fn convert(t: Tensor, layout: Layout) -> Tensor {
    match layout {
        Layout::Same => t,
        Layout::Transposed => transpose(&t),
    }
}

/// A model's tensors under GPT-2's names (with [`PREFIX`]) and layouts. `params` must be a model
/// that [`not_gpt2`] accepts.
pub(super) fn to_gpt2(model: &ModelConfig, params: &[SavedTensor]) -> Tensors {
    let mut ours: Tensors =
        params.iter().map(|t| (t.name.clone(), Tensor { shape: t.shape.clone(), data: t.data.clone() })).collect();
    let mut out = Tensors::new();
    for (name, theirs, layout) in one_to_one(model.num_blocks) {
        let t = ours.remove(&name).expect("a causal model has every GPT-2 tensor");
        out.insert(format!("{PREFIX}{theirs}"), convert(t, layout));
    }
    let d = model.d_model;
    for i in 0..model.num_blocks {
        let mut take = |what: &str| ours.remove(&format!("blocks.{i}.attn.{what}")).expect("a block has q, k, v");
        let (wq, wk, wv, bq, bk, bv) =
            (take("q.weight"), take("k.weight"), take("v.weight"), take("q.bias"), take("k.bias"), take("v.bias"));
        // [3d, d] (out, in), q's rows first, then transposed to Conv1D's [d, 3d].
        let fused = Tensor { shape: vec![3 * d, d], data: [wq.data, wk.data, wv.data].concat() };
        out.insert(format!("{PREFIX}h.{i}.attn.c_attn.weight"), transpose(&fused));
        out.insert(
            format!("{PREFIX}h.{i}.attn.c_attn.bias"),
            Tensor { shape: vec![3 * d], data: [bq.data, bk.data, bv.data].concat() },
        );
    }
    assert!(ours.is_empty(), "tensors with no GPT-2 name: {:?}", ours.keys().collect::<Vec<_>>());
    out
}

/// A file's tensor name in the canonical form this module reads (`transformer.h.0.…`, and
/// `lm_head.weight`), whether or not the file has [`PREFIX`]; None for the attention-mask buffers
/// older checkpoints saved (`attn.bias`, `attn.masked_bias`), which hold no weights.
pub(super) fn canonical_name(name: &str) -> Option<String> {
    let bare = name.strip_prefix(PREFIX).unwrap_or(name);
    let buffer = bare
        .strip_prefix("h.")
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(i, what)| i.parse::<usize>().is_ok() && (what == "attn.bias" || what == "attn.masked_bias"));
    if buffer {
        None
    } else if bare.starts_with("lm_head.") {
        Some(bare.to_string())
    } else {
        Some(format!("{PREFIX}{bare}"))
    }
}

/// What GPT-2 tensor shapes tell (names canonical): `wte` [V, d], `wpe` [L, d], `h.{i}` for i in
/// 0..N, `h.0.mlp.c_fc.weight` [d, F]; the head is causal with learned positions and no bias.
pub(super) fn infer(s: &super::infer::Shapes) -> std::result::Result<PartialConfig, String> {
    use super::infer::{block_count, dims};
    let [v, d] = dims(s, "transformer.wte.weight")?;
    if v != BYTE_VOCAB {
        return Err(format!(
            "and its transformer.wte.weight has {v} rows: a vocabulary of {v} tokens. overfit is byte-level and \
             reads only GPT-2 models with vocab_size {BYTE_VOCAB} (bytes 0..=255 and the special token {SPECIAL_TOKEN}), \
             not another tokenizer's"
        ));
    }
    let [l, _] = dims(s, "transformer.wpe.weight")?;
    let [_, f] = dims(s, "transformer.h.0.mlp.c_fc.weight")?;
    Ok(PartialConfig {
        vocab_size: Some(v),
        seq_length: Some(l),
        d_model: Some(d),
        num_blocks: Some(block_count(s, "transformer.h.")?),
        d_ff: Some(f),
        head: Some(heads::HeadKind::Causal),
        positions: Some(Positions::Learned),
        output_bias: Some(false),
        ..PartialConfig::default()
    })
}

/// The tensors of a GPT-2 file (names canonical) under overfit's names and layouts, for `model`.
/// A tensor missing or misshaped is named as the file names it; `lm_head.weight`, when present,
/// must be `wte` itself (tied): another output matrix is a model overfit does not have.
pub(super) fn from_gpt2(model: &ModelConfig, mut found: Tensors, shown: &str) -> Result<Tensors> {
    let (d, n) = (model.d_model, model.num_blocks);
    let (_, params) = heads::Model::<f32>::shapes_only(model)?;
    let shapes: std::collections::HashMap<&str, &Vec<usize>> =
        params.iter().map(|(_, p)| (p.name.as_str(), &p.shape)).collect();
    let mut take = |theirs: &str, shape: Vec<usize>| -> Result<Tensor> {
        let name = format!("{PREFIX}{theirs}");
        let t = found.remove(&name).ok_or_else(|| Error::input(shown, format!("tensor '{name}' is missing")))?;
        if t.shape != shape {
            let layout = if shape.len() == 2 && theirs.starts_with("h.") { " (Conv1D's [in, out])" } else { "" };
            return Err(Error::input(
                shown,
                format!("tensor '{name}' has shape {:?}; the model needs {shape:?}{layout}", t.shape),
            ));
        }
        Ok(t)
    };
    let mut ours = Tensors::new();
    for (name, theirs, layout) in one_to_one(n) {
        let mut shape = shapes[name.as_str()].clone();
        if layout == Layout::Transposed {
            shape.reverse();
        }
        ours.insert(name, convert(take(&theirs, shape)?, layout));
    }
    for i in 0..n {
        let fused = transpose(&take(&format!("h.{i}.attn.c_attn.weight"), vec![d, 3 * d])?);
        let bias = take(&format!("h.{i}.attn.c_attn.bias"), vec![3 * d])?;
        for (j, what) in ["q", "k", "v"].into_iter().enumerate() {
            let rows = fused.data[j * d * d..(j + 1) * d * d].to_vec();
            ours.insert(format!("blocks.{i}.attn.{what}.weight"), Tensor { shape: vec![d, d], data: rows });
            let b = bias.data[j * d..(j + 1) * d].to_vec();
            ours.insert(format!("blocks.{i}.attn.{what}.bias"), Tensor { shape: vec![d], data: b });
        }
    }
    if let Some(head) = found.remove("lm_head.weight") {
        let wte = &ours["tok_emb.weight"];
        let bits = |t: &Tensor| t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if head.shape != wte.shape || bits(&head) != bits(wte) {
            return Err(Error::input(
                shown,
                "lm_head.weight differs from transformer.wte.weight: an untied output matrix, which overfit's \
                 causal head does not have (its logits are H·tok_embᵀ)",
            ));
        }
    }
    if let Some(extra) = found.keys().next() {
        return Err(Error::input(shown, format!("tensor '{extra}' does not belong to a GPT-2 of this shape")));
    }
    Ok(ours)
}

/// `config.json` for `model`: a `GPT2Config` that `GPT2LMHeadModel.from_pretrained` loads as this
/// model. Dropout 0, as overfit trains; id 256 (the one special token) is bos, eos and padding.
pub(super) fn config_json(model: &ModelConfig) -> Value {
    let (l, d) = (model.seq_length, model.d_model);
    json!({
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": model.vocab_size,
        "n_positions": l,
        "n_ctx": l,
        "n_embd": d,
        "n_layer": model.num_blocks,
        "n_head": model.num_heads,
        "n_inner": model.d_ff,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "add_cross_attention": false,
        "use_cache": true,
        "bos_token_id": SPECIAL_TOKEN,
        "eos_token_id": SPECIAL_TOKEN,
        "pad_token_id": SPECIAL_TOKEN,
        "tie_word_embeddings": true,
        "dtype": "float32",
    })
}

/// Writes `dir/config.json` and `dir/model.safetensors`, each atomically.
pub fn export(ck: &Checkpoint, dir: &Path) -> Result<()> {
    let model = &ck.config.model;
    let why = not_gpt2(model);
    if !why.is_empty() {
        return Err(Error::usage(
            "--format",
            format!("hf writes a transformers GPT2LMHeadModel, and this model cannot be one: {}", why.join("; ")),
        ));
    }
    let shown = dir.display().to_string();
    if dir.exists() && !dir.is_dir() {
        return Err(Error::input(&shown, "is a file; --format hf writes a folder (config.json and model.safetensors)"));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating the folder {shown}"), e))?;
    let config = serde_json::to_string_pretty(&config_json(model)).expect("serializable") + "\n";
    train::fsutil::write_atomic(&dir.join(CONFIG_FILE), config.as_bytes())?;
    // `format: pt` is what transformers' loader expects of a PyTorch safetensors file.
    let weights = super::serialize(&to_gpt2(model, &ck.params), ("format", "pt".to_string()), &shown)?;
    train::fsutil::write_atomic(&dir.join(WEIGHTS_FILE), &weights)
}

/// Folds what a transformers `config.json` says into `told` (from the tensor shapes): the two must
/// agree, and the config tells what shapes cannot (n_head). A key it omits has `GPT2Config`'s
/// default, as transformers would read it. Settings that change what GPT-2 computes away from
/// overfit's model (another activation, LayerNorm eps, attention scaling) are refused.
pub(super) fn apply_config(told: &mut PartialConfig, config: &Value) -> std::result::Result<(), String> {
    let Some(c) = config.as_object() else {
        return Err("is not a JSON object".into());
    };
    refuse_other_computation(c)?;
    let whole = |key: &str, default: usize| -> std::result::Result<usize, String> {
        match c.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| format!("{key} is {v}, not a whole number")),
        }
    };
    let vocab = whole("vocab_size", 50257)?;
    if vocab != BYTE_VOCAB {
        return Err(format!(
            "vocab_size is {vocab}{}; overfit is byte-level and reads only GPT-2 models with vocab_size {BYTE_VOCAB}",
            if c.contains_key("vocab_size") { "" } else { " (GPT2Config's default, the key is absent)" }
        ));
    }
    let n_embd = whole("n_embd", 768)?;
    let fields = [
        ("n_positions", whole("n_positions", 1024)?, &mut told.seq_length),
        ("n_embd", n_embd, &mut told.d_model),
        ("n_layer", whole("n_layer", 12)?, &mut told.num_blocks),
        ("n_head", whole("n_head", 12)?, &mut told.num_heads),
        ("n_inner", whole("n_inner", 4 * n_embd)?, &mut told.d_ff),
    ];
    for (key, value, field) in fields {
        match field {
            Some(t) if *t != value => {
                return Err(format!("{key} is {value}, and the tensors say {t}"));
            }
            _ => *field = Some(value),
        }
    }
    Ok(())
}

/// The settings of a transformers config that would make GPT-2 compute something other than
/// overfit's model: another model type, activation, LayerNorm eps or attention scaling.
fn refuse_other_computation(c: &serde_json::Map<String, Value>) -> std::result::Result<(), String> {
    if let Some(t) = c.get("model_type").filter(|t| t.as_str() != Some("gpt2")) {
        return Err(format!("model_type is {t}; overfit reads GPT-2 (model_type \"gpt2\") only"));
    }
    let activation = c.get("activation_function").and_then(Value::as_str).unwrap_or("gelu_new");
    if !["gelu_new", "gelu_pytorch_tanh"].contains(&activation) {
        return Err(format!(
            "activation_function is \"{activation}\"; overfit's GELU is the tanh approximation (gelu_new)"
        ));
    }
    let eps = c.get("layer_norm_epsilon").and_then(Value::as_f64).unwrap_or(1e-5);
    if (eps - 1e-5).abs() > 1e-12 {
        return Err(format!("layer_norm_epsilon is {eps}; overfit's LayerNorm has eps 1e-5"));
    }
    for (key, overfit, default) in [
        ("scale_attn_weights", true, true),
        ("scale_attn_by_inverse_layer_idx", false, false),
        ("add_cross_attention", false, false),
    ] {
        let value = c.get(key).and_then(Value::as_bool).unwrap_or(default);
        if value != overfit {
            return Err(format!("{key} is {value}; overfit's attention needs {overfit}"));
        }
    }
    Ok(())
}
