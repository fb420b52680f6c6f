//! Safetensors from other tools (SPEC §4, "Transformers interchange"): unknown metadata keys are
//! ignored with a warning naming them, and a file with no metadata has its config inferred from the
//! tensor shapes, with model flags for what shapes cannot tell.

use heads::HeadKind;
use heads::{ModelConfig, Positions};
use safetensors::tensor::{SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use train::{Checkpoint, Error, Session, TrainConfig};
use weights::{export, import, Imported, PartialConfig};

/// A small model whose sizes all differ (V, L, d, N, h, F), so that no inferred field can be
/// taken from the wrong tensor by chance.
fn small(head: &str) -> ModelConfig {
    ModelConfig {
        vocab_size: 257,
        seq_length: 8,
        d_model: 16,
        num_blocks: 2,
        num_heads: 4,
        d_ff: 24,
        head: head.parse().unwrap(),
        ..ModelConfig::default()
    }
}

/// The six heads, sinusoidal positions (where L must come from the head's shapes), and causal with
/// an output bias.
fn every_variant() -> Vec<ModelConfig> {
    let sinusoidal = |c: ModelConfig| ModelConfig { positions: Positions::Sinusoidal, ..c };
    vec![
        small("flatten"),
        ModelConfig { bottleneck: 5, ..small("bottleneck") },
        ModelConfig { reduce: 4, ..small("td-dense") },
        ModelConfig { reduce: 2, kernel: 5, ..small("conv") },
        small("tied"),
        small("causal"),
        ModelConfig { output_bias: true, ..small("causal") },
        sinusoidal(small("flatten")),
        sinusoidal(ModelConfig { reduce: 2, kernel: 5, ..small("conv") }),
        sinusoidal(small("tied")),
    ]
}

/// A fresh checkpoint of `model`, exported to `dir/name` by `overfit export`'s code.
fn exported(dir: &Path, name: &str, model: &ModelConfig) -> (Checkpoint, PathBuf) {
    let mut c = TrainConfig::default_run();
    c.model = model.clone();
    let ck = Session::new(c).unwrap().checkpoint();
    let path = dir.join(name);
    export(&ck, &path).unwrap();
    (ck, path)
}

/// Rewrites the metadata of a safetensors file with `edit`, as another tool would write it (None:
/// no metadata at all), keeping every tensor as it is.
fn edit_metadata(path: &Path, edit: impl FnOnce(&mut Option<HashMap<String, String>>)) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone();
    edit(&mut metadata);
    let tensors: Vec<(String, TensorView<'_>)> = st.tensors();
    std::fs::write(path, safetensors::tensor::serialize(tensors, metadata).unwrap()).unwrap();
}

fn heads(h: usize) -> PartialConfig {
    PartialConfig { num_heads: Some(h), ..PartialConfig::default() }
}

/// The same names, shapes and bits, in the same order.
fn assert_same_tensors(a: &Checkpoint, b: &Checkpoint, what: &str) {
    assert_eq!(a.params.len(), b.params.len(), "{what}");
    for (x, y) in a.params.iter().zip(&b.params) {
        assert_eq!((&x.name, &x.shape), (&y.name, &y.shape), "{what}");
        let bits = |t: &[f32]| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(bits(&x.data) == bits(&y.data), "{what}: {} differs", x.name);
    }
}

fn usage_flag(e: &Error) -> &str {
    match e {
        Error::Usage { flag, .. } => flag,
        other => panic!("not a usage error: {other}"),
    }
}

#[test]
fn an_unknown_metadata_key_is_ignored_with_a_warning_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = small("conv");
    let (ck, path) = exported(dir.path(), "w.safetensors", &model);
    edit_metadata(&path, |m| {
        let m = m.as_mut().unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&m["config"]).unwrap();
        config["sinusoid_layout"] = "interleaved".into();
        m.insert("config".into(), config.to_string());
        m.insert("exporter".into(), "another tool".into());
        m.insert("format".into(), "pt".into());
    });
    let Imported { checkpoint, warnings } = import(&path, &PartialConfig::default()).unwrap();
    assert_eq!(checkpoint.config.model, model);
    assert_same_tensors(&ck, &checkpoint, "unknown key");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("'exporter'")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("'sinusoid_layout'")), "{warnings:?}");
}

#[test]
fn without_metadata_the_config_is_inferred_from_the_shapes() {
    let dir = tempfile::tempdir().unwrap();
    for model in every_variant() {
        let what = format!("{} {} bias={}", model.head, model.positions, model.output_bias);
        let (ck, path) = exported(dir.path(), "w.safetensors", &model);
        edit_metadata(&path, |m| *m = None);
        let Imported { checkpoint, warnings } = import(&path, &heads(4)).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(checkpoint.config.model, model, "{what}");
        assert_same_tensors(&ck, &checkpoint, &what);
        assert!(warnings.is_empty(), "{what}: {warnings:?}");
    }
}

#[test]
fn causal_with_sinusoidal_positions_takes_l_from_seq_length() {
    // No tensor of this model has L in its shape: only the flag can tell it.
    let dir = tempfile::tempdir().unwrap();
    let model = ModelConfig { positions: Positions::Sinusoidal, ..small("causal") };
    let (ck, path) = exported(dir.path(), "w.safetensors", &model);
    edit_metadata(&path, |m| *m = None);
    let e = import(&path, &heads(4)).err().unwrap();
    assert_eq!(usage_flag(&e), "--seq-length", "{e}");
    let flags = PartialConfig { seq_length: Some(8), ..heads(4) };
    let back = import(&path, &flags).unwrap().checkpoint;
    assert_eq!(back.config.model, model);
    assert_same_tensors(&ck, &back, "causal sinusoidal");
}

#[test]
fn flags_must_fill_what_the_file_cannot_tell_and_agree_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (_, meta) = exported(dir.path(), "meta.safetensors", &small("flatten"));
    let (_, bare) = exported(dir.path(), "bare.safetensors", &small("flatten"));
    edit_metadata(&bare, |m| *m = None);
    let e = import(&bare, &PartialConfig::default()).err().unwrap();
    assert_eq!(usage_flag(&e), "--num-heads", "{e}");
    assert!(e.to_string().contains("1, 2, 4, 8, 16"), "the allowed values: {e}");
    let e = import(&bare, &PartialConfig { d_model: Some(32), ..heads(4) }).err().unwrap();
    assert_eq!(usage_flag(&e), "--d-model", "{e}");
    let e = import(&bare, &PartialConfig { head: Some(HeadKind::Tied), ..heads(4) }).err().unwrap();
    assert_eq!(usage_flag(&e), "--head", "{e}");
    let e = import(&meta, &heads(2)).err().unwrap();
    assert_eq!(usage_flag(&e), "--num-heads", "the metadata says 4: {e}");
    // Flags that agree with the file are accepted, as is a field no shape tells.
    let agree = PartialConfig { d_model: Some(16), seq_length: Some(8), ..heads(4) };
    assert!(import(&bare, &agree).is_ok());
    assert!(import(&meta, &agree).is_ok());
}

#[test]
fn shapes_that_tell_no_model_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = exported(dir.path(), "w.safetensors", &small("flatten"));
    edit_metadata(&path, |m| *m = None);
    let bytes = std::fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    // A new name for each tensor, or None to drop it.
    type Rename = fn(&str) -> Option<String>;
    let cases: [(&str, Rename, &str); 3] = [
        ("gap", |n| Some(n.replace("blocks.1.", "blocks.2.")), "no blocks.1"),
        ("no tok_emb", |n| (n != "tok_emb.weight").then(|| n.to_string()), "no tensor 'tok_emb.weight'"),
        ("no blocks", |n| (!n.starts_with("blocks.")).then(|| n.to_string()), "no blocks.{i} tensors"),
    ];
    for (what, rename, needle) in cases {
        let tensors: Vec<(String, TensorView<'_>)> =
            st.tensors().into_iter().filter_map(|(n, v)| Some((rename(&n)?, v))).collect();
        let p = dir.path().join(format!("{what}.safetensors"));
        std::fs::write(&p, safetensors::tensor::serialize(tensors, None).unwrap()).unwrap();
        let e = import(&p, &heads(4)).err().unwrap().to_string();
        assert!(e.contains(needle) && e.contains("no model config"), "{what}: {e}");
    }
}
