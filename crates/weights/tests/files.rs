//! Checkpoints and safetensors files that are damaged, truncated, forged or mismatched are refused
//! with a message, never a panic; and fuzzing of the three loaders (checkpoint, safetensors, config).

use proptest::prelude::*;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use train::{Checkpoint, Session, TrainConfig};

fn checkpoint_bytes() -> Vec<u8> {
    let mut c = TrainConfig::default_run();
    c.model.seq_length = 8;
    Session::new(c).unwrap().checkpoint().to_bytes()
}

#[test]
fn a_flipped_byte_anywhere_is_detected() {
    let good = checkpoint_bytes();
    assert!(Checkpoint::from_bytes(&good, "ck").is_ok());
    // Every header byte, then positions spread over the whole payload.
    let positions: Vec<usize> =
        (0..24).chain((24..good.len()).step_by(good.len() / 997)).chain([good.len() - 1]).collect();
    for &i in &positions {
        for bit in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            let err =
                Checkpoint::from_bytes(&bad, "ck").expect_err(&format!("byte {i} flipped ({bit:#x}) was not detected"));
            assert!(err.to_string().starts_with("ck: "), "{err}");
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let good = checkpoint_bytes();
    for len in (0..good.len()).step_by(good.len() / 301) {
        assert!(Checkpoint::from_bytes(&good[..len], "ck").is_err(), "truncated to {len} bytes");
    }
}

#[test]
fn a_length_prefix_claiming_terabytes_is_refused_before_allocating() {
    // A payload whose first field (a string) claims 2^40 bytes, with a correct header and CRC, as a
    // hostile file would have: bincode's limit refuses it instead of allocating.
    let mut payload = vec![253u8]; // bincode varint: a u64 follows
    payload.extend_from_slice(&(1u64 << 40).to_le_bytes());
    payload.extend_from_slice(&[0u8; 64]);
    let mut file = Vec::new();
    file.extend_from_slice(train::checkpoint::MAGIC);
    file.extend_from_slice(&train::checkpoint::VERSION.to_le_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    file.extend_from_slice(&payload);
    let err = Checkpoint::from_bytes(&file, "forged").unwrap_err().to_string();
    assert!(err.contains("cannot be decoded"), "{err}");
}

/// The weights of a fresh default model as safetensors, after `edit` of its (name, shape, data).
fn safetensors_with(edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>), with_config: bool) -> Vec<u8> {
    let ck = Session::new(TrainConfig::default_run()).unwrap().checkpoint();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> =
        ck.params.iter().map(|t| (t.name.clone(), t.shape.clone(), t.data.clone())).collect();
    edit(&mut tensors);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), s.clone(), d.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView<'_>)> =
        bytes.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    let mut meta = HashMap::new();
    if with_config {
        meta.insert("config".to_string(), serde_json::to_string(&ck.config.model).unwrap());
    }
    safetensors::tensor::serialize(views, Some(meta)).unwrap()
}

fn import_err(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    std::fs::write(&p, bytes).unwrap();
    weights::import(&p, &Default::default()).map(|_| ()).unwrap_err().to_string()
}

#[test]
fn safetensors_with_missing_extra_or_misshaped_tensors_are_refused() {
    assert!(import_err(&safetensors_with(|t| t.retain(|(n, _, _)| n != "ln_f.bias"), true))
        .contains("'ln_f.bias' is missing"));
    assert!(import_err(&safetensors_with(|t| t.push(("head.extra".into(), vec![2], vec![0.0; 2])), true))
        .contains("'head.extra' does not belong"));
    let err = import_err(&safetensors_with(
        |t| {
            let w = t.iter_mut().find(|(n, _, _)| n == "head.out.weight").unwrap();
            w.1 = vec![512, 257]; // transposed: the PyTorch layout is [out, in] = [257, 512]
        },
        true,
    ));
    assert!(err.contains("'head.out.weight' has shape [512, 257]; the model needs [257, 512]"), "{err}");
    // No config to read, and shapes cannot tell the number of attention heads.
    assert!(import_err(&safetensors_with(|_| {}, false)).contains("--num-heads"));
    assert!(import_err(b"not safetensors at all").contains("is not a safetensors file"));
}

proptest! {
    // Fuzzing in the test suite: a fixed number of cases per run (PROPTEST_CASES raises it). Any
    // input must give Ok or a message, never a panic.
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_checkpoint_loader(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>(), fix_crc in any::<bool>()) {
        let mut bytes = CHECKPOINT.with(|c| c.clone());
        for (i, v) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        let cut = cut.index(bytes.len() + 1);
        bytes.truncate(cut.max(1));
        if fix_crc && bytes.len() > 24 {
            // Forge a consistent header so the decoder itself sees the damage.
            let n = (bytes.len() - 24) as u64;
            bytes[12..20].copy_from_slice(&n.to_le_bytes());
            let crc = crc32fast::hash(&bytes[24..]);
            bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        }
        // Whatever decodes must also be usable without a panic by what consumes checkpoints.
        if let Ok(ck) = Checkpoint::from_bytes(&bytes, "fuzz") {
            let dir = tempfile::tempdir().unwrap();
            let _ = weights::export(&ck, &dir.path().join("w.safetensors"));
            let _ = Session::resume(ck.clone(), ck.config.clone(), "fuzz");
        }
    }

    #[test]
    fn fuzz_safetensors_loader(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = SAFETENSORS.with(|c| c.clone());
        for (i, v) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let _ = weights::import(&p, &Default::default());
    }

    #[test]
    fn fuzz_safetensors_loader_without_metadata(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        // The config is then inferred from the (damaged) shapes: the same promise, no panic.
        let mut bytes = BARE_SAFETENSORS.with(|c| c.clone());
        for (i, v) in &edits {
            let i = i.index(bytes.len());
            bytes[i] = *v;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let _ = weights::import(&p, &weights::PartialConfig { num_heads: Some(2), ..Default::default() });
    }

    #[test]
    fn fuzz_config_parser(text in "\\{[ -~]{0,200}\\}", edits in proptest::collection::vec((any::<prop::sample::Index>(), "[ -~]"), 0..6)) {
        let _ = serde_json::from_str::<TrainConfig>(&text);
        let mut valid = serde_json::to_string(&TrainConfig::default_run()).unwrap().into_bytes();
        for (i, s) in &edits {
            let i = i.index(valid.len());
            valid[i] = s.as_bytes()[0];
        }
        if let Ok(c) = serde_json::from_slice::<TrainConfig>(&valid) {
            let _ = c.validate();
        }
    }
}

thread_local! {
    static CHECKPOINT: Vec<u8> = checkpoint_bytes();
    static SAFETENSORS: Vec<u8> = safetensors_with(|_| {}, true);
    static BARE_SAFETENSORS: Vec<u8> = safetensors_with(|_| {}, false);
}
