//! The daily loop through the real binary: log lines and the live display, the result line,
//! divergence, resume history and refusal, provenance, and the README's own examples.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).args(args).current_dir(dir).output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn a_pipe_gets_plain_log_lines_and_quiet_keeps_the_result_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train", "--steps", "30", "--log-every", "10"]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("train step")).collect();
    assert_eq!(lines.len(), 4, "steps 0, 10, 20, 30: {err}");
    assert!(
        lines[1].starts_with("train step 10/30 | epoch 0.71 | train loss ") && lines[1].contains("ms/step"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("| eval loss ") && lines[1].contains("memorized"), "{}", lines[1]);
    assert!(text(&out.stdout).starts_with("runs/id-1: head flatten"));
    // --quiet: no log lines, the one result line stays.
    let out = overfit(dir.path(), &["train", "--steps", "30", "--quiet"]);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1);
    assert!(text(&out.stdout).starts_with("runs/id-2:"));
}

#[test]
fn a_terminal_gets_a_labelled_bar_in_80_columns_whose_memorized_count_follows_evaluations() {
    let dir = tempfile::tempdir().unwrap();
    // `script` gives the binary a pseudo-terminal, as a person's shell does.
    let cmd = format!("stty cols 80; {} train --steps 400 --log-every 50", env!("CARGO_BIN_EXE_overfit"));
    let out = Command::new("script").args(["-qec", &cmd, "/dev/null"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let screen = text(&out.stdout);
    // Every state the bar drew, escape sequences removed.
    let strip = |s: &str| {
        let mut o = String::new();
        let mut esc = false;
        for c in s.chars() {
            match (esc, c) {
                (false, '\u{1b}') => esc = true,
                (true, c) if c.is_ascii_alphabetic() => esc = false,
                (true, _) => {}
                (false, c) => o.push(c),
            }
        }
        o
    };
    let frames: Vec<String> =
        screen.split(['\r', '\n']).map(|f| strip(f).trim_end().to_string()).filter(|f| f.contains("eta")).collect();
    assert!(!frames.is_empty(), "no bar drawn: {screen:?}");
    let f = frames.last().unwrap();
    assert!(f.contains("train loss ") && f.contains(" windows/s") && f.contains("memorized "), "{f}");
    assert!(frames.iter().all(|f| f.chars().count() <= 80), "{frames:?}");
    // The memorized count follows the evaluations (every 50 steps) instead of staying at step 0's.
    let mut counts: Vec<&str> = frames.iter().filter_map(|f| f.split("memorized ").nth(1)?.split(' ').next()).collect();
    counts.dedup();
    assert!(counts.len() > 1, "{frames:?}");
}

#[test]
fn a_loss_far_above_the_start_is_divergence_with_sensible_advice() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train", "--lr", "1000", "--steps", "200", "--quiet"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("diverged") && err.contains("1e-3") && !err.contains("1e2"), "{err}");
    let r = read_json(&dir.path().join("runs/id-1/report.json"));
    assert_eq!(r["stopped"], "diverged");
}

#[test]
fn resume_records_its_history_and_refuses_a_finished_run_unless_extended() {
    let dir = tempfile::tempdir().unwrap();
    assert!(overfit(dir.path(), &["train", "--quiet"]).status.success());
    let ck = "runs/id-1/checkpoint.bin";
    let out = overfit(dir.path(), &["train", "--resume", ck]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("finished (stopped: memorized at step") && err.contains("--steps N"), "{err}");
    let before = read_json(&dir.path().join("runs/id-1/report.json"));
    let steps = before["steps"].as_u64().unwrap();
    // Extended: it trains on, and config.json keeps the original with the change.
    let more = (steps + 20).to_string();
    let out = overfit(dir.path(), &["train", "--resume", ck, "--steps", &more, "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = read_json(&dir.path().join("runs/id-1/config.json"));
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["step"].as_u64(), Some(steps));
    let changes = history[0]["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c[0] == "steps" && c[1].is_null() && c[2] == steps + 20), "{changes:?}");
    assert_eq!(read_json(&dir.path().join("runs/id-1/report.json"))["steps"].as_u64(), Some(steps + 20));
}

#[test]
fn a_run_folder_says_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.txt");
    std::fs::write(&data, "abcdefghij".repeat(100)).unwrap();
    let d = data.display().to_string();
    assert!(overfit(dir.path(), &["train", "--data", &d, "--steps", "3", "--quiet"]).status.success());
    let config = read_json(&dir.path().join("runs/id-1/config.json"));
    let p = &config["provenance"];
    assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));
    assert!(p["commit"].as_str().unwrap().len() >= 7, "{p}");
    assert!(p["command"].as_array().unwrap().iter().any(|a| a == "--data"), "{p}");
    assert_eq!(p["data"]["bytes"], 1000);
    // sha256 of "abcdefghij" × 100 (python3: hashlib.sha256(b"abcdefghij" * 100).hexdigest()).
    assert_eq!(p["data"]["sha256"], "c49bba59ccc72847b869b364a909a52606e91412eccdc570032df23b181fdfa9");
    let report = read_json(&dir.path().join("runs/id-1/report.json"));
    assert!(report["provenance"]["started"].as_str().unwrap().ends_with('Z'));
    assert!(report["ended"].as_str().unwrap() >= report["provenance"]["started"].as_str().unwrap());
    // A run's config.json is a config file for the next run: its record is ignored.
    let again = overfit(dir.path(), &["train", "--config", "runs/id-1/config.json", "--quiet"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn the_readmes_generate_example_recites_what_the_model_memorized() {
    let dir = tempfile::tempdir().unwrap();
    assert!(overfit(dir.path(), &["train", "--quiet"]).status.success());
    // Exactly as README.md writes it (bash, for the $(printf …) prompt).
    let readme = include_str!("../../../README.md");
    let line =
        readme.lines().find(|l| l.contains("-- generate --checkpoint runs/id-1")).expect("README has the example");
    let cmd = line.split('#').next().unwrap().replace("cargo run --release -p cli --", env!("CARGO_BIN_EXE_overfit"));
    let out = Command::new("bash").args(["-c", &cmd]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", text(&out.stderr));
    let corpus = include_str!("../../train/src/corpus.txt");
    assert!(text(&out.stdout).starts_with(&corpus[..232]), "{}", text(&out.stdout));
    assert!(out.stderr.is_empty(), "no padding warning for a full window: {}", text(&out.stderr));
}
