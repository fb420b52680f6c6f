//! `scripts/tuning_tie.py`, which reads which rate `--lr-tie` would take from a report's tuning
//! runs: on the committed report where the most bits took a rate that then collapsed, and on a
//! made-up report whose tie reaches the smallest rate tried.
//!
//! The script needs python3, which the machine has: without it the tests fail, unless
//! OVERFIT_SKIP_PYTHON=1 is set, and then each says that it skipped.

mod common;

use serde_json::json;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The script's output with `--tie share` on these reports (None: python3 missing, the test skips).
fn tie(share: &str, reports: &[&Path]) -> Option<Output> {
    let args: Vec<&OsStr> =
        [OsStr::new("--tie"), OsStr::new(share)].into_iter().chain(reports.iter().map(|p| p.as_os_str())).collect();
    common::python_script("tuning_tie.py", &args)
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_causal_d16s_two_dataset_tuning_a_2_percent_tie_takes_0_03_for_0_09() {
    let report = Path::new(ROOT).join("capacity/probes/causal-d16-lr9e-2/capacity.json");
    let Some(out) = tie("0.02", &[&report]) else { return };
    let text = stdout(&out);
    assert!(text.contains("| causal | 16 | 0.09 | 0.03 | "), "{text}");
    // Without a tie the script takes what the command took.
    let Some(out) = tie("0", &[&report]) else { return };
    assert!(stdout(&out).contains("| causal | 16 | 0.09 | 0.09 | "));
}

#[test]
fn a_tie_reaching_the_smallest_rate_says_one_more_would_be_tried() {
    let dir = tempfile::tempdir().unwrap();
    // Two datasets per rate, certified: the score is the sum of the lower of 1× and 2×.
    let run = |lr: f64, one: f64, two: f64| json!({"head": "last", "d_model": 8, "lr": lr, "memorized_bits": one, "memorized_bits_2x": two});
    let tuning = [
        run(1e-3, 50.0, 49.0),
        run(1e-3, 50.0, 60.0),
        run(3e-3, 50.0, 51.0),
        run(3e-3, 51.0, 51.0),
        run(1e-2, 30.0, 52.0),
        run(1e-2, 60.0, 60.0),
    ];
    // Scores 99, 101, 90: the most bits takes 0.003; a 2% tie reaches 0.001, the smallest tried.
    let report = json!({"certify": true, "tuning": tuning, "lrs": [{"head": "last", "d_model": 8, "lr": 3e-3}]});
    let path = dir.path().join("capacity.json");
    std::fs::write(&path, report.to_string()).unwrap();
    let Some(out) = tie("0.02", &[&path]) else { return };
    let text = stdout(&out);
    assert!(text.contains("| last | 8 | 0.003 | 0.001 (at an end: one more rate would be tried) |"), "{text}");
    assert!(text.contains("0.001: 0.980, 0.003: 1.000, 0.01: 0.891"), "{text}");
    let Some(out) = tie("0.01", &[&path]) else { return };
    assert!(stdout(&out).contains("| last | 8 | 0.003 | 0.003 | "));
}
