//! `export --format hf` and `import` of a transformers folder through the real binary: the way
//! back keeps the loss, and what GPT-2 cannot hold is refused with exit 2 and its reason.

use std::path::Path;
use std::process::{Command, Output};

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).args(args).current_dir(dir).output().expect("the binary runs")
}

/// Exit code 2, a message on stderr that contains every one of `needles`, and no panic.
fn rejects(dir: &Path, args: &[&str], needles: &[&str]) {
    let out = overfit(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: exit code; stderr: {err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: stderr does not mention {needle:?}: {err}");
    }
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{args:?}: {err}");
}

/// Trains a model with `flags` for two steps into `dir/runs/<name>/id-1`; its checkpoint's path.
fn trained(dir: &Path, name: &str, flags: &[&str]) -> String {
    let runs = format!("runs/{name}");
    let out = overfit(dir, &[&["train", "--steps", "2", "--quiet", "--runs-dir", &runs][..], flags].concat());
    assert!(out.status.success(), "{flags:?}: {}", String::from_utf8_lossy(&out.stderr));
    format!("{runs}/id-1/checkpoint.bin")
}

fn eval_loss(dir: &Path, ck: &str) -> serde_json::Value {
    let out = overfit(dir, &["eval", "--checkpoint", ck, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["loss"].clone()
}

#[test]
fn a_causal_model_goes_to_a_transformers_folder_and_back_with_the_same_loss() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck = trained(d, "causal", &["--head", "causal"]);
    let out = overfit(d, &["export", "--checkpoint", &ck, "--format", "hf", "--out", "hf"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(d.join("hf/config.json").is_file() && d.join("hf/model.safetensors").is_file());
    // The default format is still one safetensors file with the SPEC's names.
    assert!(overfit(d, &["export", "--checkpoint", &ck, "--out", "w.safetensors"]).status.success());
    assert!(d.join("w.safetensors").is_file());

    let import = |weights: &str, out: &str, flags: &[&str]| {
        let o = overfit(d, &[&["import", "--weights", weights, "--out", out][..], flags].concat());
        assert!(o.status.success(), "{weights}: {}", String::from_utf8_lossy(&o.stderr));
    };
    import("hf", "folder.bin", &[]);
    import("hf/model.safetensors", "file.bin", &["--num-heads", "2"]);
    let want = eval_loss(d, &ck);
    assert_eq!(eval_loss(d, "folder.bin"), want);
    assert_eq!(eval_loss(d, "file.bin"), want);
    rejects(d, &["import", "--weights", "hf/model.safetensors", "--out", "x.bin"], &["--num-heads", "config.json"]);
}

#[test]
fn what_gpt2_cannot_hold_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, flags, needles) in [
        ("flatten", &["--head", "flatten"][..], &["--format", "head is flatten", "only causal"][..]),
        ("sinusoidal", &["--head", "causal", "--positions", "sinusoidal"], &["--format", "sinusoidal", "learned"]),
        ("bias", &["--head", "causal", "--output-bias"], &["--format", "output bias"]),
        ("vocab", &["--head", "causal", "--vocab-size", "300"], &["--format", "vocabulary is 300", "byte-level"]),
    ] {
        let ck = trained(d, name, flags);
        rejects(d, &["export", "--checkpoint", &ck, "--format", "hf", "--out", name], needles);
        assert!(!d.join(name).exists(), "{name}: nothing written");
    }
}

#[test]
fn a_transformers_vocabulary_other_than_257_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck = trained(d, "causal", &["--head", "causal"]);
    assert!(overfit(d, &["export", "--checkpoint", &ck, "--format", "hf", "--out", "hf"]).status.success());
    // GPT-2's own vocabulary, as config.json of a model trained with its tokenizer says.
    let path = d.join("hf/config.json");
    let mut c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    c["vocab_size"] = 50257.into();
    std::fs::write(&path, c.to_string()).unwrap();
    rejects(d, &["import", "--weights", "hf", "--out", "x.bin"], &["config.json", "vocab_size is 50257", "byte-level"]);
    assert!(!d.join("x.bin").exists());
}
