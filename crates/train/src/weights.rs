//! Weights ⇄ safetensors, with the SPEC's tensor names and PyTorch's layouts (Linear `[out, in]`,
//! Conv1d `[out, in, K]`) and the model config as JSON in the metadata: loadable as-is by
//! `safetensors.torch.load_file`.

use crate::checkpoint::{Checkpoint, SavedTensor};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::optim::Adam;
use heads::{Model, ModelConfig};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

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

/// Reads safetensors weights into a fresh checkpoint (step 0, new optimizer state), checking that
/// every tensor of the config's model is there with its shape, and nothing else.
pub fn import(path: &Path) -> Result<Checkpoint> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::input(&shown, format!("cannot read the weights: {}", crate::data::io_reason(&e))))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::input(&shown, format!("is not a safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::input(&shown, format!("is not a safetensors file: {e}")))?;
    let config_json = header.metadata().as_ref().and_then(|m| m.get(CONFIG_KEY).cloned()).ok_or_else(|| {
        Error::input(
            &shown,
            format!("has no '{CONFIG_KEY}' entry in its metadata: the model config is needed to rebuild the model"),
        )
    })?;
    let model: ModelConfig = serde_json::from_str(&config_json)
        .map_err(|e| Error::input(&shown, format!("its metadata config is not a valid model config: {e}")))?;
    let mut saved = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::input(&shown, format!("tensor '{name}' is {:?}; overfit reads F32", view.dtype())));
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        saved.push(SavedTensor { name, shape: view.shape().to_vec(), data });
    }
    let mut config = TrainConfig::default_run();
    config.model = model;
    config.validate().map_err(|e| Error::input(&shown, format!("holds an invalid config: {e}")))?;
    // Names and shapes against the model's, before anything is allocated for it.
    let (_, shapes) = Model::<f32>::shapes_only(&config.model)?;
    let mut ordered = Vec::with_capacity(shapes.len());
    for (_, p) in shapes.iter() {
        let Some(i) = saved.iter().position(|s| s.name == p.name) else {
            return Err(Error::input(&shown, format!("tensor '{}' is missing", p.name)));
        };
        let s = saved.swap_remove(i);
        if s.shape != p.shape {
            return Err(Error::input(
                &shown,
                format!("tensor '{}' has shape {:?}; the model needs {:?}", s.name, s.shape, p.shape),
            ));
        }
        ordered.push(s);
    }
    if let Some(extra) = saved.first() {
        return Err(Error::input(&shown, format!("tensor '{}' does not belong to this model", extra.name)));
    }
    let zeros = || ordered.iter().map(|t| vec![0.0f32; t.data.len()]).collect::<Vec<_>>();
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
    Ok(Checkpoint {
        params: ordered,
        config,
        optimizer,
        step: 0,
        data_seed: 0,
        data_fingerprint: 0,
        samples_seen: 0,
        wall_seconds: 0.0,
        eval_seconds: 0.0,
        pending_loss: (0.0, 0),
    })
}
