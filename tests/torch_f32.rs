//! overfit's float32 loss and every parameter gradient against PyTorch's, for each head and causal
//! variant of the seed-id4 preset: the check of llm.c's `test_gpt2.c`, run by `cargo test`.
//!
//! `tests/data/torch_f32/<name>.safetensors` (the name starts with the head's: `causal-untied`, `rnn-g24`)
//! holds overfit's seeded initial weights moved by 0.05·N(0, 1) (SPEC names; no bias zero, no LayerNorm
//! the identity), one batch (`ids`, `targets`, int32) and PyTorch's gradients on it (`grad.<name>`), with
//! PyTorch's loss, the model config and the torch version in its metadata. To regenerate the files (after
//! `cargo build --release -p cli`):
//!
//! ```text
//! python3 benches/reference/f32_dump.py
//! ```
//!
//! Tolerances: the loss to 1e-5 relative; each gradient to `max |ours − torch| ≤ 1e-4 · max |torch|`.
//! Every check is NaN-strict: a NaN anywhere, on either side, fails.

// `!(err <= tol)` on purpose: it is true for a NaN, where `err > tol` would let one pass.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use overfit::autograd::{ParamSet, Tape};
use overfit::heads::{Model, ModelConfig};
use overfit::train::{Session, TrainConfig};
use safetensors::{Dtype, SafeTensors};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The dumps that must be there (f32_dump.py's VARIANTS: every head, and the causal variants); any
/// other `<name>.safetensors` in the folder is checked too.
const HEADS: [&str; 10] = [
    "flatten",
    "bottleneck",
    "td-dense",
    "conv",
    "tied",
    "causal",
    "causal-untied",
    "causal-loss-last",
    "rnn-g24",
    "last",
];
const LOSS_TOL: f64 = 1e-5;
const GRAD_TOL: f64 = 1e-4;
/// The largest rounding noise allowed in a gradient that is exactly zero, relative to the model's
/// largest gradient.
const NOISE_TOL: f64 = 1e-5;

#[derive(Clone, Debug)]
struct Array {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// One head's (or variant's) dump.
struct Dump {
    /// The file's name: the head's, or the head's and the variant's.
    head: String,
    config: ModelConfig,
    loss: f64,
    weights: BTreeMap<String, Array>,
    /// PyTorch's gradients, by parameter name (without the `grad.` prefix).
    grads: BTreeMap<String, Array>,
    ids: Vec<u32>,
    targets: Vec<u32>,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch_f32")
}

/// Every dump of the folder, by head; fails if one of [`HEADS`] is missing.
fn dumps() -> Vec<Dump> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/torch_f32 exists (python3 benches/reference/f32_dump.py writes it)")
        .map(|e| e.expect("readable folder").path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    paths.sort();
    let dumps: Vec<Dump> = paths.iter().map(|p| read_dump(p)).collect();
    for head in HEADS {
        assert!(dumps.iter().any(|d| d.head == head), "tests/data/torch_f32/{head}.safetensors is missing");
    }
    dumps
}

fn read_dump(path: &std::path::Path) -> Dump {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, header) = SafeTensors::read_metadata(&bytes).expect("a header");
    let meta = header.metadata().as_ref().expect("metadata");
    let config: ModelConfig = serde_json::from_str(&meta["config"]).expect("the config is overfit's JSON");
    let loss: f64 = meta["loss"].parse().expect("the loss is a float");
    let head = path.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(head.starts_with(config.head.name()), "{}: the file name and the config's head disagree", path.display());
    let (mut weights, mut grads, mut ids, mut targets) = (BTreeMap::new(), BTreeMap::new(), None, None);
    for (name, view) in st.tensors() {
        let words = view.data().chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        match view.dtype() {
            Dtype::I32 => {
                let v: Vec<u32> = words.map(|w| u32::try_from(i32::from_le_bytes(w)).expect("ids are >= 0")).collect();
                match name.as_str() {
                    "ids" => ids = Some(v),
                    "targets" => targets = Some(v),
                    _ => panic!("{}: unexpected int32 tensor {name}", path.display()),
                }
            }
            Dtype::F32 => {
                let a = Array { shape: view.shape().to_vec(), data: words.map(f32::from_le_bytes).collect() };
                match name.strip_prefix("grad.") {
                    Some(param) => grads.insert(param.to_string(), a),
                    None => weights.insert(name, a),
                };
            }
            other => panic!("{}: tensor {name} is {other:?}", path.display()),
        }
    }
    assert!(
        weights.keys().eq(grads.keys()),
        "{}: the weights and the gradients name different tensors",
        path.display()
    );
    let (ids, targets) = (ids.expect("ids"), targets.expect("targets"));
    Dump { head, config, loss, weights, grads, ids, targets }
}

/// Overwrites every parameter with the dump's weights by name: every parameter must be there with its
/// shape, and the dump must hold nothing else.
fn load_weights(dump: &Dump, params: &mut ParamSet<f32>) {
    let mut left = dump.weights.clone();
    for p in params.iter_mut() {
        let w = left.remove(&p.name).unwrap_or_else(|| panic!("{}: no weight {}", dump.head, p.name));
        assert_eq!(w.shape, p.shape, "{}: {} has the wrong shape", dump.head, p.name);
        p.value = overfit::tensor::from_vec(&p.shape, w.data);
    }
    assert!(left.is_empty(), "{}: weights that are not the model's: {:?}", dump.head, left.keys());
}

/// The largest |x|, or NaN if any entry is not finite (`f64::max` would skip a NaN).
fn max_abs(x: &[f32]) -> f64 {
    if x.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    x.iter().fold(0.0, |m, &v| if f64::from(v.abs()) > m { f64::from(v.abs()) } else { m })
}

fn check_loss(ours: f64, torch: f64) -> Result<f64, String> {
    let rel = (ours - torch).abs() / torch.abs();
    if !(rel <= LOSS_TOL) {
        return Err(format!("loss {ours} vs PyTorch's {torch} (relative difference {rel:e})"));
    }
    Ok(rel)
}

/// `max |ours − torch| ≤ GRAD_TOL · max |torch|`, entry by entry; returns the worst error relative
/// to the scale.
fn compare(ours: &Array, torch: &Array) -> Result<f64, String> {
    if ours.shape != torch.shape {
        return Err(format!("shape {:?}, PyTorch's {:?}", ours.shape, torch.shape));
    }
    let scale = max_abs(&torch.data);
    let mut worst = 0.0f64;
    for (i, (&a, &b)) in ours.data.iter().zip(&torch.data).enumerate() {
        let err = (f64::from(a) - f64::from(b)).abs();
        if !(err <= GRAD_TOL * scale) {
            return Err(format!("entry {i}: {a} vs PyTorch's {b} (tensor scale {scale:e})"));
        }
        worst = worst.max(err / scale);
    }
    Ok(worst)
}

/// A gradient whose true value is exactly zero: both sides must be rounding noise, below
/// `NOISE_TOL` of the model's largest gradient.
fn check_noise(ours: &Array, torch: &Array, model_scale: f64) -> Result<f64, String> {
    if ours.shape != torch.shape {
        return Err(format!("shape {:?}, PyTorch's {:?}", ours.shape, torch.shape));
    }
    let mut worst = 0.0f64;
    for (side, x) in [("ours", ours), ("PyTorch's", torch)] {
        let noise = max_abs(&x.data);
        if !(noise <= NOISE_TOL * model_scale) {
            return Err(format!("{side} reaches {noise:e}: not rounding noise (model scale {model_scale:e})"));
        }
        worst = worst.max(noise / model_scale);
    }
    Ok(worst)
}

/// Our loss and gradients against the dump's; `ours` gives the gradient of a parameter by name.
/// Returns every failure, one line each, and prints the worst errors.
fn check(dump: &Dump, what: &str, loss: f64, ours: impl Fn(&str) -> Array) -> Vec<String> {
    let mut failures = Vec::new();
    if let Err(e) = check_loss(loss, dump.loss) {
        failures.push(format!("{} ({what}): {e}", dump.head));
    }
    let all: Vec<f32> = dump.grads.values().flat_map(|g| g.data.iter().copied()).collect();
    let model_scale = max_abs(&all);
    let mut worst = 0.0f64;
    for (name, torch) in &dump.grads {
        // The key biases' true gradient is exactly zero: adding b to every key adds the same q·b to a
        // whole row of scores, and softmax ignores a constant shift of a row. Both sides hold float32
        // rounding noise only, so comparing them to each other would compare two noises: check instead
        // that each is noise.
        let is_key_bias = name.starts_with("blocks.") && name.ends_with(".attn.k.bias");
        let result =
            if is_key_bias { check_noise(&ours(name), torch, model_scale) } else { compare(&ours(name), torch) };
        match result {
            Ok(err) if !is_key_bias => worst = worst.max(err),
            Ok(_) => {}
            Err(e) => failures.push(format!("{} ({what}): gradient of {name}: {e}", dump.head)),
        }
    }
    println!(
        "{} ({what}): loss {loss:.7} vs {:.7}, worst gradient error {worst:.1e} of its scale",
        dump.head, dump.loss
    );
    failures
}

#[test]
fn loss_and_every_gradient_match_pytorch_in_float32() {
    let mut failures = Vec::new();
    for dump in dumps() {
        let (model, mut params) = Model::<f32>::new(&dump.config, 0).expect("a valid config");
        load_weights(&dump, &mut params);
        let mut tape = Tape::new(&params);
        let (loss, _) = model.loss(&mut tape, &dump.ids, &dump.targets);
        let value = f64::from(tape.scalar(loss));
        let mut grads: BTreeMap<String, Array> = BTreeMap::new();
        for (id, g) in tape.backward(loss).into_param_grads(&tape) {
            let p = params.get(id);
            grads.insert(p.name.clone(), Array { shape: p.shape.clone(), data: g.iter().copied().collect() });
        }
        // A parameter the loss never reached has a zero gradient.
        let ours = |name: &str| {
            grads.get(name).cloned().unwrap_or_else(|| {
                let p = params.get(params.find(name).expect("a parameter"));
                Array { shape: p.shape.clone(), data: vec![0.0; p.numel()] }
            })
        };
        failures.extend(check(&dump, "one tape", value, ours));
    }
    assert!(failures.is_empty(), "differences from PyTorch:\n{}", failures.join("\n"));
}

/// The trainer's own path: the batch split in micro-batches of 8 on two threads, each on its own tape,
/// their gradients summed (`Session::compute_gradients`). Its first batch is the one the dump holds, as
/// `overfit bench --dump-parity` drew it from a session with this config.
#[test]
fn the_trainers_micro_batches_on_two_threads_match_pytorch_too() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut failures = Vec::new();
    for dump in dumps() {
        let mut config = TrainConfig::default_run();
        config.model = dump.config.clone();
        config.samples = None;
        config.batch_size = dump.ids.len() / dump.config.seq_length;
        config.micro_batch = 8;
        let mut s = Session::new(config).expect("a valid config");
        load_weights(&dump, &mut s.params);
        let (loss, _) = pool.install(|| s.compute_gradients());
        assert!(s.batch().ids == dump.ids && s.batch().targets == dump.targets, "{}: another batch", dump.head);
        let ours = |name: &str| {
            let id = s.params.find(name).expect("a parameter");
            let p = s.params.get(id);
            let data = s.grads().get(id).map(|g| g.iter().copied().collect()).unwrap_or_else(|| vec![0.0; p.numel()]);
            Array { shape: p.shape.clone(), data }
        };
        failures.extend(check(&dump, "trainer, 4 micro-batches", loss, ours));
    }
    assert!(failures.is_empty(), "differences from PyTorch:\n{}", failures.join("\n"));
}

/// The checks themselves must fail on a wrong gradient: a nudge of one entry by 1e-2 of the scale, a NaN,
/// a transposed matrix, and on a NaN loss or key-bias gradient.
#[test]
fn the_comparison_catches_a_nudge_a_nan_and_a_transpose() {
    let dump = read_dump(&data_dir().join("flatten.safetensors"));
    let torch = &dump.grads["blocks.0.attn.q.weight"];
    assert_eq!(torch.shape, [16, 16], "a square matrix, so that its transpose has the same shape");
    assert!(compare(torch, torch).is_ok());

    let scale = max_abs(&torch.data);
    let i = torch.data.len() / 3;
    let mut nudged = torch.clone();
    nudged.data[i] += (1e-2 * scale) as f32;
    assert!(compare(&nudged, torch).is_err(), "one entry off by 1e-2 of the scale");

    let mut nan = torch.clone();
    nan.data[i] = f32::NAN;
    assert!(compare(&nan, torch).is_err(), "a NaN in ours");
    assert!(compare(torch, &nan).is_err(), "a NaN in PyTorch's");

    let n = torch.shape[0];
    let transposed =
        Array { shape: torch.shape.clone(), data: (0..n * n).map(|k| torch.data[k % n * n + k / n]).collect() };
    assert!(compare(&transposed, torch).is_err(), "the transpose of a square matrix");
    let out = &dump.grads["head.out.weight"];
    let (r, c) = (out.shape[0], out.shape[1]);
    let out_t = Array { shape: vec![c, r], data: (0..r * c).map(|k| out.data[k % r * c + k / r]).collect() };
    assert!(compare(&out_t, out).is_err(), "the transpose of a non-square matrix");

    assert!(check_loss(dump.loss, dump.loss).is_ok());
    assert!(check_loss(f64::NAN, dump.loss).is_err(), "a NaN loss");
    assert!(check_loss(dump.loss * (1.0 + 1e-4), dump.loss).is_err(), "a loss off by 1e-4");

    let model_scale = max_abs(&dump.grads.values().flat_map(|g| g.data.iter().copied()).collect::<Vec<_>>());
    let k_bias = &dump.grads["blocks.0.attn.k.bias"];
    assert!(check_noise(k_bias, k_bias, model_scale).is_ok());
    let mut loud = k_bias.clone();
    loud.data[0] = (1e-3 * model_scale) as f32;
    assert!(check_noise(&loud, k_bias, model_scale).is_err(), "a key-bias gradient that is not noise");
    assert!(check_noise(k_bias, &loud, model_scale).is_err(), "PyTorch's key-bias gradient not noise");
    loud.data[0] = f32::NAN;
    assert!(check_noise(&loud, k_bias, model_scale).is_err(), "a NaN key-bias gradient");
}
