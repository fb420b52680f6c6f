//! The real binary, run as a user runs it: the README's command, every failure's exit code and
//! message, and the files a run leaves.

use std::path::Path;
use std::process::{Command, Output};

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).args(args).current_dir(dir).output().expect("the binary runs")
}

fn shakespeare() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tinyshakespeare.txt").display().to_string()
}

/// Exit code 2, a message on stderr that contains `needle`, and no panic.
fn rejects(dir: &Path, args: &[&str], needle: &str) {
    let out = overfit(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: exit code; stderr: {err}");
    assert!(err.contains(needle), "{args:?}: stderr does not mention {needle:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE") && !err.contains("internal error"),
        "{args:?}: {err}"
    );
}

#[test]
fn the_readme_run_command_memorizes_the_embedded_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("all 432 windows memorized"), "{stdout}");
    let run = dir.path().join("runs/id-1");
    for f in ["config.json", "summary.txt", "metrics.jsonl", "checkpoint.bin", "report.json", "curves.svg"] {
        assert!(run.join(f).metadata().map(|m| m.len() > 0).unwrap_or(false), "{f}");
    }
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["stopped"], "memorized");
    assert_eq!(report["memorized"], 432);

    // Greedy generation from the memorized model recites the corpus.
    let ck = run.join("checkpoint.bin").display().to_string();
    let corpus = include_str!("../../train/src/corpus.txt");
    let out = overfit(
        dir.path(),
        &["generate", "--checkpoint", &ck, "--prompt", &corpus[..32], "--bytes", "200", "--greedy", "--only-new"],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end_matches('\n'), &corpus[32..232]);
}

#[test]
fn json_mode_prints_exactly_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train", "--steps", "3", "--json"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["steps"], 3);
    assert_eq!(v["stopped"], "max_steps");
    assert!(dir.path().join("runs/id-1").exists());
}

#[test]
fn summary_of_gpt2_small_and_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["summary", "--preset", "gpt2-small"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Total params: 124,439,808"));
    let out = overfit(dir.path(), &["summary"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("1/128.5") && s.contains("1/76.3"), "{s}");
}

#[test]
fn bad_data_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty.txt"), "").unwrap();
    std::fs::write(d.join("short.txt"), "0123456789").unwrap();
    rejects(d, &["train", "--data", "missing.txt"], "missing.txt: cannot read the data file: no such file");
    rejects(d, &["train", "--data", "."], "is a directory");
    rejects(d, &["train", "--data", "empty.txt"], "empty");
    rejects(d, &["train", "--data", "short.txt"], "at least 33 bytes");
    rejects(d, &["train", "--data", &shakespeare(), "--samples", "2000000"], "--samples");
    rejects(d, &["train", "--val-fraction", "1.5"], "--val-fraction");
    rejects(d, &["train", "--val-fraction", "0.999"], "--val-fraction");
}

#[test]
fn arbitrary_binary_bytes_train() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(dir.path().join("blob.bin"), bytes).unwrap();
    let out = overfit(dir.path(), &["train", "--data", "blob.bin", "--steps", "5", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn impossible_configs_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rejects(d, &["train", "--d-model", "0"], "--d-model");
    rejects(d, &["train", "--num-heads", "3"], "--num-heads");
    rejects(d, &["train", "--head", "td-dense", "--reduce", "32"], "--reduce");
    rejects(d, &["train", "--head", "conv", "--reduce", "3"], "--reduce");
    rejects(d, &["train", "--head", "conv", "--kernel", "4"], "--kernel");
    rejects(d, &["train", "--vocab-size", "200"], "--vocab-size");
    rejects(d, &["train", "--head", "dense"], "flatten, bottleneck, td-dense, conv, tied, causal");
    rejects(d, &["train", "--preset", "huge"], "seed-id4, small, medium");
    rejects(d, &["train", "--lr", "-1"], "--lr");
    rejects(d, &["train", "--batch-size", "0"], "--batch-size");
    // 82 billion head parameters: refused before anything is allocated (any machine under 1.3 TB).
    rejects(d, &["train", "--preset", "gpt2-xl", "--head", "flatten"], "needs about");
    std::fs::write(d.join("typo.json"), r#"{"sead": 3}"#).unwrap();
    rejects(d, &["train", "--config", "typo.json"], "unknown field `sead`");
}

#[test]
fn a_partial_config_file_fills_in_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.json"),
        r#"{"seed": 7, "steps": 2, "epochs": null, "until_memorized": false, "model": {"head": "tied"}}"#,
    )
    .unwrap();
    let out = overfit(dir.path(), &["train", "--config", "c.json", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/id-1/config.json")).unwrap()).unwrap();
    assert_eq!(c["seed"], 7);
    assert_eq!(c["model"]["head"], "tied");
    assert_eq!(c["model"]["d_model"], 16);
}

#[test]
fn damaged_checkpoints_are_refused_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(overfit(d, &["train", "--steps", "2", "--quiet"]).status.success());
    let good = std::fs::read(d.join("runs/id-1/checkpoint.bin")).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    std::fs::write(d.join("flipped.bin"), &flipped).unwrap();
    std::fs::write(d.join("truncated.bin"), &good[..good.len() - 100]).unwrap();
    let mut magic = good.clone();
    magic[0] = b'X';
    std::fs::write(d.join("magic.bin"), &magic).unwrap();
    let mut version = good.clone();
    version[8] = 99;
    std::fs::write(d.join("version.bin"), &version).unwrap();
    std::fs::write(d.join("text.bin"), "hello, I am not a checkpoint").unwrap();
    std::fs::write(d.join("existing.safetensors"), "keep me").unwrap();
    for (file, needle) in [
        ("flipped.bin", "checksum"),
        ("truncated.bin", "truncated"),
        ("magic.bin", "not an overfit checkpoint"),
        ("version.bin", "version 99"),
        ("text.bin", "not an overfit checkpoint"),
        ("missing.bin", "no such file"),
    ] {
        rejects(d, &["eval", "--checkpoint", file], needle);
        rejects(d, &["export", "--checkpoint", file, "--out", "existing.safetensors"], needle);
        rejects(d, &["train", "--resume", file], needle);
    }
    assert_eq!(std::fs::read(d.join("existing.safetensors")).unwrap(), b"keep me");
    // A failed import leaves an existing output as it was.
    std::fs::write(d.join("existing.bin"), "keep me too").unwrap();
    rejects(d, &["import", "--weights", "text.bin", "--out", "existing.bin"], "is not a safetensors file");
    assert_eq!(std::fs::read(d.join("existing.bin")).unwrap(), b"keep me too");
}

#[test]
fn resume_refuses_contradicting_flags_and_continues_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(overfit(d, &["train", "--steps", "10", "--quiet"]).status.success());
    rejects(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--d-model", "32"], "--d-model");
    rejects(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--head", "tied"], "--head");
    rejects(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--seed", "3"], "--seed");
    let out = overfit(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--steps", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"], 20);
    assert!(!d.join("runs/id-2").exists(), "a resume continues in its own run folder");
}

#[test]
fn a_diverging_run_stops_with_exit_1_and_advice() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train", "--lr", "1e30", "--steps", "50", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("diverged") && err.contains("--lr"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stopped"], "diverged");
}

#[test]
fn export_import_round_trip_keeps_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for head in ["conv", "causal"] {
        let _ = std::fs::remove_dir_all(d.join("runs"));
        let mut args = vec!["train", "--steps", "3", "--head", head, "--quiet"];
        if head == "causal" {
            args.push("--output-bias");
        }
        assert!(overfit(d, &args).status.success());
        assert!(overfit(d, &["export", "--checkpoint", "runs/id-1/checkpoint.bin", "--out", "w.safetensors"])
            .status
            .success());
        assert!(overfit(d, &["import", "--weights", "w.safetensors", "--out", "back.bin"]).status.success());
        let a = overfit(d, &["eval", "--checkpoint", "runs/id-1/checkpoint.bin", "--json"]);
        let b = overfit(d, &["eval", "--checkpoint", "back.bin", "--json"]);
        let (a, b): (serde_json::Value, serde_json::Value) =
            (serde_json::from_slice(&a.stdout).unwrap(), serde_json::from_slice(&b.stdout).unwrap());
        assert_eq!(a["loss"], b["loss"], "{head}");
    }
}

/// Rewrites the metadata of a safetensors file as another tool would write it (None: no metadata).
fn edit_metadata(path: &Path, edit: impl FnOnce(&mut Option<std::collections::HashMap<String, String>>)) {
    use safetensors::tensor::SafeTensors;
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut metadata = header.metadata().clone();
    edit(&mut metadata);
    let tensors = SafeTensors::deserialize(&bytes).unwrap().tensors();
    std::fs::write(path, safetensors::tensor::serialize(tensors, metadata).unwrap()).unwrap();
}

#[test]
fn import_ignores_unknown_metadata_and_infers_a_missing_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(overfit(d, &["train", "--steps", "2", "--quiet"]).status.success());
    let export = ["export", "--checkpoint", "runs/id-1/checkpoint.bin", "--out"];
    for f in ["extra.safetensors", "bare.safetensors"] {
        assert!(overfit(d, &[&export[..], &[f]].concat()).status.success());
    }
    edit_metadata(&d.join("extra.safetensors"), |m| {
        let m = m.as_mut().unwrap();
        let config = m["config"].replacen('{', r#"{"sinusoid_layout":"interleaved","#, 1);
        m.insert("config".into(), config);
    });
    edit_metadata(&d.join("bare.safetensors"), |m| *m = None);
    fn import<'a>(f: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
        [&["import", "--weights", f, "--out", "back.bin"][..], flags].concat()
    }

    let out = overfit(d, &import("extra.safetensors", &[]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning:") && err.contains("sinusoid_layout"), "{err}");

    rejects(d, &import("bare.safetensors", &[]), "--num-heads");
    rejects(d, &import("bare.safetensors", &["--num-heads", "2", "--d-model", "32"]), "--d-model: 32 contradicts 16");
    rejects(d, &import("extra.safetensors", &["--num-heads", "4"]), "--num-heads: 4 contradicts 2");
    rejects(d, &import("bare.safetensors", &["--preset", "seed-id4"]), "--preset: import takes");
    let out = overfit(d, &import("bare.safetensors", &["--num-heads", "2"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eval = |ck: &str| {
        let out = overfit(d, &["eval", "--checkpoint", ck, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["loss"].clone()
    };
    assert_eq!(eval("back.bin"), eval("runs/id-1/checkpoint.bin"));
}

#[test]
fn compare_trains_every_head_and_writes_one_table_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["compare", "--steps", "3", "--quiet"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    for h in ["flatten", "bottleneck", "td-dense", "conv", "tied", "causal"] {
        assert!(table.contains(h), "{table}");
    }
    assert!(dir.path().join("runs/compare-id-1.svg").exists());
    assert!(dir.path().join("runs/compare-id-1.txt").exists());
}

#[test]
fn every_command_has_help_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    for c in ["train", "compare", "summary", "generate", "eval", "export", "import", "bench"] {
        let out = overfit(dir.path(), &[c, "--help"]);
        assert!(out.status.success());
        let h = String::from_utf8_lossy(&out.stdout);
        assert!(h.contains("Usage: overfit"), "{c}");
    }
    let h = String::from_utf8_lossy(&overfit(dir.path(), &["train", "--help"]).stdout).to_string();
    assert!(h.contains("[default: 32]") && h.contains("[default: seed-id4]"), "{h}");
}
