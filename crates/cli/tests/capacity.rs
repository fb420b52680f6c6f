//! `overfit capacity` through the real binary: `--quick --json` conforms to SPEC §4 for every head,
//! and a sharded grid gives the same points as the whole.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn capacity(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_overfit"))
        .arg("capacity")
        .args(["--quick", "--json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn num(v: &Value, field: &str) -> f64 {
    v[field].as_f64().unwrap_or_else(|| panic!("{field} is not a number in {v}"))
}

/// Targets a sample carries: L for the per-position heads (causal), 1 for the others.
fn targets_per_sample(head: &str) -> f64 {
    if head == "causal" {
        8.0
    } else {
        1.0
    }
}

#[test]
fn quick_json_conforms_to_the_spec_for_every_head() {
    let dir = tempfile::tempdir().unwrap();
    let v = capacity(dir.path(), &["--jobs", "2"]);
    let heads = v["heads"].as_object().expect("heads is an object");
    let all = ["flatten", "bottleneck", "td-dense", "conv", "tied", "causal", "rnn", "last"];
    assert_eq!(heads.len(), all.len(), "{:?}", heads.keys().collect::<Vec<_>>());
    for name in all {
        let h = &heads[name];
        let (bpp, ci) = (num(h, "bits_per_param"), h["ci95"].as_array().expect("ci95 is [lo, hi]"));
        let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(lo <= bpp && bpp <= hi && lo < hi, "{name}: {bpp} outside [{lo}, {hi}] (3 seeds must spread)");
        // Random bytes hold 8 bits a target; a model cannot store more than the data holds, and
        // after training it stores something.
        let points = h["points"].as_array().expect("points");
        assert_eq!(points.len(), 2 * 2 * 3, "{name}: 2 sizes × 2 dataset sizes × 3 seeds");
        for p in points {
            let (n, bits, data) = (num(p, "n"), num(p, "memorized_bits"), num(p, "dataset_bits"));
            assert_eq!(data, 8.0 * n * targets_per_sample(name), "{name}: {p}");
            assert!(bits > 0.0 && bits <= data, "{name}: {p}");
            assert!(num(p, "params") > num(p, "head_params") && p["seed"].is_u64(), "{name}: {p}");
        }
    }
    for f in ["capacity.json", "capacity.md", "capacity_curves.svg", "capacity_params.svg"] {
        assert!(dir.path().join("capacity-quick").join(f).exists(), "{f} written");
    }
}

#[test]
fn a_sharded_grid_gives_the_same_points_as_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let heads = ["--heads", "causal,td-dense"];
    let whole = capacity(dir.path(), &[heads[0], heads[1], "--out", "whole"]);
    for shard in ["1/2", "2/2"] {
        let part = capacity(dir.path(), &[heads[0], heads[1], "--out", "sharded", "--shard", shard]);
        let n: usize = part["heads"].as_object().unwrap().values().map(|h| h["points"].as_array().unwrap().len()).sum();
        assert!(n > 0 && n < 2 * 12, "shard {shard} ran {n} of the 24 grid runs");
    }
    // Gathered: every grid run is found finished in the folder, none runs again.
    let gathered = capacity(dir.path(), &[heads[0], heads[1], "--out", "sharded"]);
    assert_eq!(gathered["heads"], whole["heads"]);
}
