//! Weights ⇄ safetensors, with the SPEC's tensor names and PyTorch's layouts (Linear `[out, in]`,
//! Conv1d `[out, in, K]`) and the model config as JSON in the metadata: loadable as-is by
//! `safetensors.torch.load_file`.

use crate::checkpoint::{Checkpoint, SavedTensor};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::optim::Adam;
use heads::{Model, ModelConfig};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

mod infer;
pub use infer::PartialConfig;

/// The metadata key holding the model config.
pub const CONFIG_KEY: &str = "config";

/// Writes the checkpoint's weights (not its optimizer state) as safetensors, atomically.
pub fn export(ck: &Checkpoint, out: &Path) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = ck
        .params
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone(), t.data.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).expect("sizes agree")))
        .collect();
    // One metadata entry only: the file's bytes are then a function of the weights and config
    // alone (a second key would be written in HashMap order, different from run to run).
    let mut meta = HashMap::new();
    meta.insert(CONFIG_KEY.to_string(), serde_json::to_string(&ck.config.model).expect("serializable"));
    let data = safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| Error::input(out.display(), format!("cannot serialize: {e}")))?;
    crate::fsutil::write_atomic(out, &data)
}

/// A checkpoint read from safetensors, and what was ignored on the way (the caller shows it).
pub struct Imported {
    pub checkpoint: Checkpoint,
    pub warnings: Vec<String>,
}

/// Reads safetensors weights into a fresh checkpoint (step 0, new optimizer state). The config is the
/// metadata's, else the one the tensor shapes tell; `flags` fill what neither tells and must agree
/// with the rest. Every tensor of that model must be there with its shape, and nothing else.
pub fn import(path: &Path, flags: &PartialConfig) -> Result<Imported> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::input(&shown, format!("cannot read the weights: {}", crate::data::io_reason(&e))))?;
    let not_safetensors = |e| Error::input(&shown, format!("is not a safetensors file: {e}"));
    let st = SafeTensors::deserialize(&bytes).map_err(not_safetensors)?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(not_safetensors)?;
    let mut found = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::input(&shown, format!("tensor '{name}' is {:?}; overfit reads F32", view.dtype())));
        }
        found.insert(name, view);
    }
    let shapes: infer::Shapes = found.iter().map(|(n, v)| (n.clone(), v.shape().to_vec())).collect();
    let (model, warnings) = infer::resolve(header.metadata().as_ref(), &shapes, flags, &shown)?;
    let mut config = TrainConfig::default_run();
    config.model = model;
    config.validate().map_err(|e| Error::input(&shown, format!("gives an invalid config: {e}")))?;
    let params = model_tensors(&config.model, found, &shown)?;
    Ok(Imported { checkpoint: fresh_checkpoint(config, params), warnings })
}

/// The model's tensors in its order, each with the model's shape; one missing, misshaped or left
/// over is an error. Names and shapes are checked before anything is allocated for the model.
fn model_tensors(
    model: &ModelConfig,
    mut found: BTreeMap<String, TensorView<'_>>,
    shown: &str,
) -> Result<Vec<SavedTensor>> {
    let (_, shapes) = Model::<f32>::shapes_only(model)?;
    let mut ordered = Vec::with_capacity(shapes.len());
    for (_, p) in shapes.iter() {
        let Some(view) = found.remove(&p.name) else {
            return Err(Error::input(shown, format!("tensor '{}' is missing", p.name)));
        };
        if view.shape() != p.shape.as_slice() {
            return Err(Error::input(
                shown,
                format!("tensor '{}' has shape {:?}; the model needs {:?}", p.name, view.shape(), p.shape),
            ));
        }
        ordered.push((p.name.clone(), view));
    }
    if let Some(extra) = found.keys().next() {
        return Err(Error::input(shown, format!("tensor '{extra}' does not belong to this model")));
    }
    let to_f32 =
        |v: &TensorView<'_>| v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(ordered
        .into_iter()
        .map(|(name, view)| SavedTensor { name, shape: view.shape().to_vec(), data: to_f32(&view) })
        .collect())
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
