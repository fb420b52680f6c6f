//! Weights ⇄ safetensors, with the SPEC's tensor names and PyTorch's layouts (Linear `[out, in]`,
//! Conv1d `[out, in, K]`) and the model config as JSON in the metadata: loadable as-is by
//! `safetensors.torch.load_file`. A causal model also goes to and comes from a Hugging Face
//! transformers GPT-2 folder ([`hf`]). Weights without a config get one inferred from their
//! shapes ([`infer`]).
//!
//! This crate is what other tools read and write. It uses `train`'s checkpoint and config, and
//! the model crates below; the `cli` (`export`, `import`) and `lab`'s benchmark use it.

use heads::{Model, ModelConfig};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use train::checkpoint::{Checkpoint, SavedTensor};
use train::config::TrainConfig;
use train::error::{Error, Result};
use train::optim::Adam;

pub mod hf;
mod infer;
pub use infer::PartialConfig;

/// The metadata key holding the model config.
pub const CONFIG_KEY: &str = "config";
/// The files of a transformers model folder.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// A tensor read from, or to be written to, a file.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

/// Tensors by name, sorted so that every message is the same from run to run.
pub(crate) type Tensors = BTreeMap<String, Tensor>;

/// Writes the checkpoint's weights (not its optimizer state) as safetensors, atomically.
pub fn export(ck: &Checkpoint, out: &Path) -> Result<()> {
    let tensors: Tensors =
        ck.params.iter().map(|t| (t.name.clone(), Tensor { shape: t.shape.clone(), data: t.data.clone() })).collect();
    // One metadata entry only: the file's bytes are then a function of the weights and config
    // alone (a second key would be written in HashMap order, different from run to run).
    let config = serde_json::to_string(&ck.config.model).expect("serializable");
    let data = serialize(&tensors, (CONFIG_KEY, config), &out.display().to_string())?;
    train::fsutil::write_atomic(out, &data)
}

/// `overfit export`: the weights of the checkpoint file `checkpoint` written to `out`, as
/// safetensors with the SPEC's names, or (with `hf`) as a transformers GPT-2 folder. Returns what
/// it wrote, in words.
pub fn export_checkpoint(checkpoint: &Path, out: &Path, hf: bool) -> Result<String> {
    let ck = Checkpoint::load(checkpoint)?;
    if hf {
        hf::export(&ck, out)?;
        Ok(format!("{0}/{CONFIG_FILE} and {0}/{WEIGHTS_FILE} (a transformers GPT2LMHeadModel)", out.display()))
    } else {
        export(&ck, out)?;
        Ok(format!("{} ({} tensors)", out.display(), ck.params.len()))
    }
}

/// The safetensors bytes of `tensors` (F32) with one metadata entry.
fn serialize(tensors: &Tensors, (key, value): (&str, String), shown: &str) -> Result<Vec<u8>> {
    let bytes: Vec<(&String, &Tensor, Vec<u8>)> =
        tensors.iter().map(|(n, t)| (n, t, t.data.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, t, b)| ((*n).clone(), TensorView::new(Dtype::F32, t.shape.clone(), b).expect("sizes agree")))
        .collect();
    let meta = HashMap::from([(key.to_string(), value)]);
    safetensors::tensor::serialize(views, Some(meta)).map_err(|e| Error::input(shown, format!("cannot serialize: {e}")))
}

/// A checkpoint read from safetensors, and what was ignored on the way (the caller shows it).
pub struct Imported {
    pub checkpoint: Checkpoint,
    pub warnings: Vec<String>,
}

/// Reads safetensors weights into a fresh checkpoint (step 0, new optimizer state). `path` is a
/// safetensors file, or a transformers folder (its `model.safetensors`, and its `config.json` when
/// the names are GPT-2's). The config is the metadata's, else the one the tensor shapes (and that
/// config.json) tell; `flags` fill what neither tells and must agree with the rest. Every tensor of
/// that model must be there with its shape, and nothing else.
pub fn import(path: &Path, flags: &PartialConfig) -> Result<Imported> {
    let (file, config_file) = locate(path)?;
    let shown = file.display().to_string();
    let bytes = std::fs::read(&file)
        .map_err(|e| Error::input(&shown, format!("cannot read the weights: {}", train::data::io_reason(&e))))?;
    let not_safetensors = |e| Error::input(&shown, format!("is not a safetensors file: {e}"));
    let st = SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
    let scheme = scheme(st.names().into_iter());
    let mut found = Tensors::new();
    for (name, view) in st.tensors() {
        let Some(canonical) = (scheme.rename)(&name) else { continue };
        if view.dtype() != Dtype::F32 {
            return Err(Error::input(&shown, format!("tensor '{name}' is {:?}; overfit reads F32", view.dtype())));
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if found.insert(canonical.clone(), Tensor { shape: view.shape().to_vec(), data }).is_some() {
            return Err(Error::input(&shown, format!("has tensor '{canonical}' twice, with and without a prefix")));
        }
    }
    let mut extra_warnings = Vec::new();
    let config_json = match config_file {
        Some(p) if scheme.config_json.is_some() => Some(infer::ConfigJson::read(&p)?),
        Some(p) => {
            extra_warnings.push(format!("{}: not read: {shown} has overfit's names", p.display()));
            None
        }
        None => None,
    };
    let shapes: infer::Shapes = found.iter().map(|(n, t)| (n.clone(), t.shape.clone())).collect();
    let (model, mut warnings) =
        infer::resolve(header.metadata().as_ref(), &shapes, scheme, config_json.as_ref(), flags, &shown)?;
    warnings.extend(extra_warnings);
    let mut config = TrainConfig::default_run();
    config.model = model;
    config.validate().map_err(|e| Error::input(&shown, format!("gives an invalid config: {e}")))?;
    let found = (scheme.convert)(&config.model, found, &shown)?;
    let params = model_tensors(&config.model, found, &shown)?;
    Ok(Imported { checkpoint: fresh_checkpoint(config, params), warnings })
}

/// The safetensors file to read, and the config.json beside it when `path` is a folder.
fn locate(path: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    if !path.is_dir() {
        return Ok((path.to_path_buf(), None));
    }
    let weights = path.join(WEIGHTS_FILE);
    if !weights.is_file() {
        let sharded = if path.join(format!("{WEIGHTS_FILE}.index.json")).exists() {
            " (a sharded checkpoint, which overfit does not read)"
        } else {
            ""
        };
        return Err(Error::input(
            path.display(),
            format!(
                "is a folder with no {WEIGHTS_FILE}{sharded}; give a transformers GPT-2 folder ({CONFIG_FILE} and \
                 {WEIGHTS_FILE}) or a safetensors file"
            ),
        ));
    }
    let config = path.join(CONFIG_FILE);
    Ok((weights, config.is_file().then_some(config)))
}

/// The model's tensors in its order, each with the model's shape; one missing, misshaped or left
/// over is an error. Names and shapes are checked before anything is allocated for the model.
fn model_tensors(model: &ModelConfig, mut found: Tensors, shown: &str) -> Result<Vec<SavedTensor>> {
    let (_, shapes) = Model::<f32>::shapes_only(model)?;
    let mut ordered = Vec::with_capacity(shapes.len());
    for (_, p) in shapes.iter() {
        let Some(t) = found.remove(&p.name) else {
            return Err(Error::input(shown, format!("tensor '{}' is missing", p.name)));
        };
        if t.shape != p.shape {
            return Err(Error::input(
                shown,
                format!("tensor '{}' has shape {:?}; the model needs {:?}", p.name, t.shape, p.shape),
            ));
        }
        ordered.push(SavedTensor { name: p.name.clone(), shape: t.shape, data: t.data });
    }
    if let Some(extra) = found.keys().next() {
        return Err(Error::input(shown, format!("tensor '{extra}' does not belong to this model")));
    }
    Ok(ordered)
}

/// A checkpoint of these weights at step 0, with zero optimizer moments.
fn fresh_checkpoint(config: TrainConfig, params: Vec<SavedTensor>) -> Checkpoint {
    let zeros = || params.iter().map(|t| vec![0.0f32; t.data.len()]).collect::<Vec<_>>();
    let optimizer = Adam {
        kind: config.optimizer,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: config.weight_decay,
        t: 0,
        m: zeros(),
        v: zeros(),
    };
    Checkpoint {
        params,
        config,
        optimizer,
        step: 0,
        data_seed: 0,
        data_fingerprint: 0,
        samples_seen: 0,
        wall_seconds: 0.0,
        eval_seconds: 0.0,
        first_loss: None,
        pending_loss: (0.0, 0),
    }
}

/// The naming schemes a file may use, tried in order (a file with no marker is taken as overfit's):
/// overfit's, and transformers' GPT-2 (hf.rs). They live here, above both `infer` and `hf`, so that
/// neither of those imports the other.
const SCHEMES: &[infer::Scheme] = &[
    infer::Scheme {
        markers: &["tok_emb.weight"],
        described: "has no model config in its metadata",
        alone: "it has no model config in its metadata",
        rename: |name| Some(name.to_string()),
        infer: infer::overfit_names,
        convert: |_, tensors, _| Ok(tensors),
        config_json: None,
    },
    // Hugging Face transformers' GPT2LMHeadModel, and bare GPT2Model / older GPT-2 checkpoints
    // without the `transformer.` prefix.
    infer::Scheme {
        markers: &["transformer.wte.weight", "wte.weight"],
        described: "has transformers GPT-2 names",
        alone: "a GPT-2 file alone: import its folder to read n_head from config.json",
        rename: hf::canonical_name,
        infer: hf::infer,
        convert: hf::from_gpt2,
        config_json: Some(hf::apply_config),
    },
];

/// The scheme of a file with these tensor names.
fn scheme<'a>(names: impl Iterator<Item = &'a str>) -> &'static infer::Scheme {
    let names: std::collections::BTreeSet<&str> = names.collect();
    SCHEMES.iter().find(|s| s.markers.iter().any(|m| names.contains(m))).unwrap_or(&SCHEMES[0])
}
