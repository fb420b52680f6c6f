//! `overfit capacity` through the real binary: `--quick --json` conforms to SPEC §5 and says it
//! is not converged, one point is one command, `--certify` pairs every point with its 2× run, bad
//! values exit 2 naming their flag, a rerun trains nothing, and a sharded plan (tuning included)
//! gives the same points as the whole.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).arg("capacity").args(args).current_dir(dir).output().expect("runs")
}

fn capacity(dir: &Path, args: &[&str]) -> Value {
    let out = overfit(dir, &[args, &["--json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn num(v: &Value, field: &str) -> f64 {
    v[field].as_f64().unwrap_or_else(|| panic!("{field} is not a number in {v}"))
}

fn int(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

/// Every report.json under `dir` and when it was written.
fn reports(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "report.json") {
                found.insert(p.clone(), e.metadata().unwrap().modified().unwrap());
            }
        }
    }
    found
}

#[test]
fn quick_json_conforms_to_section_5_says_not_converged_and_a_rerun_trains_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let v = capacity(dir.path(), &["--quick", "--heads", "causal,flatten", "--jobs", "2"]);
    let heads = v["heads"].as_object().expect("heads is an object");
    assert_eq!(heads.keys().collect::<Vec<_>>(), ["causal", "flatten"]);
    for (name, h) in heads {
        assert_eq!(h["converged"], Value::Bool(false), "{name}: --quick is never converged");
        assert!(h["ci95"].is_null() || h["ci95"].as_array().is_some_and(|c| c.len() == 2), "{name}");
        let points = h["points"].as_array().expect("points");
        assert_eq!(points.len(), 2 * 2 * 3, "{name}: 2 sizes × 2 dataset sizes × 3 seeds");
        for p in points {
            let per_sample = if name == "causal" { 32.0 } else { 1.0 };
            let (n, bits, data) = (num(p, "n"), num(p, "memorized_bits"), num(p, "dataset_bits"));
            assert_eq!(data, 8.0 * n * per_sample, "{name}: {p}");
            // 150 steps store next to nothing on the largest datasets (flatten sees them for
            // half an epoch), and may store less than nothing; never more than the data holds.
            assert!(bits <= data, "{name}: {p}");
            let clipped = num(p, "memorized_bits_clipped");
            assert!(clipped >= bits - 1e-9 * bits && clipped <= data, "{name}: clipping only raises the sum: {p}");
            assert_eq!(int(p, "steps"), 150, "{name}: every run takes the quick budget");
            assert!(num(p, "lr") > 0.0);
            let (params, nonemb, head) = (int(p, "params"), int(p, "nonembedding_params"), int(p, "head_params"));
            assert!(nonemb < params && nonemb >= head, "{name}: {p}");
            assert!(p["memorized_bits_2x"].is_null() && p["certified"].is_null(), "no --certify: both null: {p}");
            // Bits per position, recomputed from the final weights: L of them for causal, summing
            // over the samples to the memorized bits of the training evaluation; none for a window head.
            match p["bits_by_position"].as_array() {
                Some(by) if name == "causal" => {
                    assert_eq!(by.len(), 32, "{p}");
                    let total = by.iter().map(|b| b.as_f64().unwrap()).sum::<f64>() * n;
                    assert!((total - bits).abs() < 1e-6 * bits.abs().max(1.0), "{name}: {total} against {bits}");
                }
                None if name != "causal" => {}
                other => panic!("{name}: bits_by_position {other:?}"),
            }
        }
    }
    let out = dir.path().join("capacity-quick");
    let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
    assert!(md.contains("NOT CONVERGED (`--quick`)"), "{md}");
    // The same command again, as a table: it trains nothing (the report.json files are the same
    // files, untouched) and the table says the figures are not converged.
    let before = reports(&out);
    assert!(before.len() >= 24 + 12, "24 grid runs and 2 heads × 2 sizes × 3 rates of tuning: {} runs", before.len());
    let again = overfit(dir.path(), &["--quick", "--heads", "causal,flatten", "--jobs", "2"]);
    assert!(again.status.success());
    let table = String::from_utf8_lossy(&again.stdout);
    assert!(table.contains("NOT CONVERGED (`--quick`)") && table.contains("**NO**"), "{table}");
    assert_eq!(reports(&out), before, "a rerun rewrote a finished run");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("capacity.json")).unwrap()).unwrap();
    assert_eq!((int(&json, "runs_trained"), int(&json, "runs_skipped")), (0, before.len() as u64));
}

#[test]
fn one_point_is_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--preset", "seed-id4", "--heads", "causal", "--data-bits", "4", "--seeds", "0", "--steps", "40"];
    let v = capacity(dir.path(), &args);
    let h = &v["heads"]["causal"];
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{points:?}");
    let p = &points[0];
    assert_eq!((int(p, "d_model"), int(p, "seed"), int(p, "steps")), (16, 0, 40));
    // 4 bits per parameter in sequences of 32 targets of 8 bits.
    let expected_n = (4.0 * num(p, "params") / 256.0).round();
    assert_eq!(num(p, "n"), expected_n);
    // The rate was tuned (4 default rates at least, on their own seed), and the point is not one of them.
    let tuning = v["tuning"].as_array().unwrap();
    assert!(tuning.len() >= 4, "{tuning:?}");
    assert!(tuning.iter().any(|t| num(t, "lr") == num(p, "lr")));
    assert!(dir.path().join("capacity/tune").is_dir() && dir.path().join("capacity/grid").is_dir());
    assert_eq!(h["converged"], Value::Bool(false), "without --certify nothing is converged");
}

#[test]
fn certify_pairs_every_point_with_its_2x_run() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--quick", "--heads", "causal", "--sizes", "8", "--lrs", "3e-3", "--seeds", "0,1", "--certify"];
    let v = capacity(dir.path(), &args);
    let h = &v["heads"]["causal"];
    assert_eq!(h["converged"], Value::Bool(false), "--quick, even certified");
    assert!(v["tuning"].as_array().unwrap().is_empty(), "one rate: no tuning");
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 2 * 2);
    let mut certified = 0;
    for p in points {
        let (one, two) = (num(p, "memorized_bits"), num(p, "memorized_bits_2x"));
        let c = p["certified"].as_bool().expect("certified is a bool under --certify");
        assert_eq!(c, (two - one).abs() < 0.02 * one, "{p}");
        certified += c as u64;
        assert_ne!(one, two, "the 2× run is a run of its own: {p}");
    }
    assert_eq!(int(h, "certified_points"), certified);
    let twice = reports(&dir.path().join("capacity-quick/grid"));
    let twice: Vec<&PathBuf> =
        twice.keys().filter(|p| p.parent().unwrap().to_string_lossy().ends_with("-2x")).collect();
    assert_eq!(twice.len(), 4);
    for r in twice {
        let report: Value = serde_json::from_str(&std::fs::read_to_string(r).unwrap()).unwrap();
        assert_eq!(int(&report, "steps"), 300, "2× of 150 steps");
    }
}

/// A 2× run is the same config as a 1× run of twice the budget: linked into that plan's folder,
/// it counts there as that plan's 1× run (known by the plan's folder, not by the path its report
/// recorded), and only the new 2× run trains.
#[cfg(unix)]
#[test]
fn a_2x_run_linked_in_as_the_1x_of_twice_the_budget_counts_as_a_1x() {
    let dir = tempfile::tempdir().unwrap();
    let point = ["--preset", "seed-id4", "--heads", "causal", "--data-bits", "2", "--seeds", "0", "--lrs", "1e-2"];
    let short = capacity(dir.path(), &[&point[..], &["--steps", "20", "--certify", "--out", "a"]].concat());
    let twice_bits = num(&short["heads"]["causal"]["points"][0], "memorized_bits_2x");
    let runs = reports(&dir.path().join("a/grid"));
    let two = runs.keys().map(|r| r.parent().unwrap()).find(|r| r.to_string_lossy().ends_with("-2x")).unwrap();
    let relative = two.strip_prefix(dir.path().join("a")).unwrap().to_string_lossy().replace("steps20", "steps40");
    let link = dir.path().join("b").join(relative.trim_end_matches("-2x"));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(two, &link).unwrap();
    let long = capacity(dir.path(), &[&point[..], &["--steps", "40", "--certify", "--out", "b"]].concat());
    let p = &long["heads"]["causal"]["points"][0];
    assert_eq!(num(p, "memorized_bits"), twice_bits, "the linked run is b's 1×: {p}");
    assert_eq!(int(p, "steps"), 40);
    assert!(p["memorized_bits_2x"].is_number(), "b's own 2× run (80 steps) pairs with it: {p}");
    assert_eq!((int(&long, "runs_trained"), int(&long, "runs_skipped")), (1, 1));
}

#[test]
fn each_size_takes_its_own_step_budget_and_one_command_reports_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["--preset", "seed-id4", "--heads", "last", "--sizes", "4,8", "--steps-per-size", "30,50", "--lrs", "1e-2"];
    let v = capacity(dir.path(), &[&args[..], &["--data-bits", "2", "--seeds", "0"]].concat());
    let points = v["heads"]["last"]["points"].as_array().unwrap();
    let steps: Vec<(u64, u64)> = points.iter().map(|p| (int(p, "d_model"), int(p, "steps"))).collect();
    assert_eq!(steps, [(4, 30), (8, 50)]);
    assert_eq!(v["steps_per_size"], serde_json::json!([[4, 30], [8, 50]]));
    let runs = reports(&dir.path().join("capacity/grid"));
    for run in runs.keys() {
        let report: Value = serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
        let want = if run.to_string_lossy().contains("-d4-") { 30 } else { 50 };
        assert_eq!(int(&report, "steps"), want, "{}", run.display());
    }
    assert_eq!(runs.len(), 2);
}

/// One quick point of last at d 8, certified: the tuning tests compare how its rates are chosen.
const TUNING_POINT: [&str; 10] =
    ["--quick", "--heads", "last", "--sizes", "8", "--data-bits", "4", "--seeds", "0", "--certify"];

#[test]
fn under_certify_a_rate_is_tuned_on_the_lower_of_its_1x_and_2x_bits() {
    let dir = tempfile::tempdir().unwrap();
    let args = TUNING_POINT;
    let v = capacity(dir.path(), &args);
    let tuning = v["tuning"].as_array().unwrap();
    assert!(tuning.len() >= 3, "{tuning:?}");
    let score = |t: &Value| num(t, "memorized_bits").min(num(t, "memorized_bits_2x"));
    let best = tuning.iter().max_by(|a, b| score(a).total_cmp(&score(b))).unwrap();
    let chosen = num(&v["lrs"][0], "lr");
    assert_eq!(num(best, "lr"), chosen, "the rate of the best lower bound wins: {tuning:?}");
    let twice = reports(&dir.path().join("capacity-quick/tune"));
    let twice = twice.keys().filter(|p| p.parent().unwrap().to_string_lossy().ends_with("-2x")).count();
    assert_eq!(twice, tuning.len(), "every tuned rate ran at 2× too");
}

#[test]
fn tuned_on_several_datasets_a_rate_is_scored_on_its_total_over_them() {
    let dir = tempfile::tempdir().unwrap();
    let args = TUNING_POINT;
    let v = capacity(dir.path(), &[&args[..], &["--tune-data-bits", "1,6"]].concat());
    let tuning = v["tuning"].as_array().unwrap();
    let mut score: BTreeMap<String, (f64, Vec<u64>)> = BTreeMap::new();
    for t in tuning {
        let entry = score.entry(format!("{:e}", num(t, "lr"))).or_default();
        entry.0 += num(t, "memorized_bits").min(num(t, "memorized_bits_2x"));
        entry.1.push(int(t, "n"));
    }
    assert!(score.len() >= 3, "{tuning:?}");
    // n = bits/param × params / 8 (last: one target a sample): two datasets 6× apart, every rate on both.
    for (_, ns) in score.values() {
        assert_eq!(ns.len(), 2, "{tuning:?}");
        assert!(ns[1] > 5 * ns[0] && ns[1] < 7 * ns[0], "{ns:?}");
    }
    let best = score.iter().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)).unwrap().0;
    assert_eq!(best, &format!("{:e}", num(&v["lrs"][0], "lr")), "the best total wins: {score:?}");
    assert_eq!(v["tune_data_bits"], serde_json::json!([1.0, 6.0]));
    let md = std::fs::read_to_string(dir.path().join("capacity-quick/capacity.md")).unwrap();
    assert!(md.contains("summed over the datasets"), "{md}");
}

/// `--lr-tie`: rates within the share of the best score tie, and the smallest of them wins.
#[test]
fn under_a_tie_the_smallest_rate_within_the_share_of_the_best_wins() {
    let dir = tempfile::tempdir().unwrap();
    let args = TUNING_POINT;
    // A wide tie, so that on this quick model it reaches below the best rate (a 2% tie would not).
    let v = capacity(dir.path(), &[&args[..], &["--lr-tie", "0.6"]].concat());
    let tuning = v["tuning"].as_array().unwrap();
    let score = |t: &Value| num(t, "memorized_bits").min(num(t, "memorized_bits_2x"));
    let best = tuning.iter().map(score).fold(f64::NEG_INFINITY, f64::max);
    let smallest = tuning.iter().filter(|t| score(t) >= 0.4 * best).map(|t| num(t, "lr")).fold(f64::INFINITY, f64::min);
    let best_rate = num(tuning.iter().find(|t| score(t) == best).unwrap(), "lr");
    assert!(smallest < best_rate, "the tie must reach below the best rate to test anything: {tuning:?}");
    assert_eq!(num(&v["lrs"][0], "lr"), smallest, "{tuning:?}");
    assert_eq!(v["lr_tie"], serde_json::json!(0.6));
    let md = std::fs::read_to_string(dir.path().join("capacity-quick/capacity.md")).unwrap();
    assert!(md.contains("the smallest rate within 60% of the most bits stored"), "{md}");
}

#[test]
fn bad_values_exit_2_naming_their_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--lrs", "nan"], "--lrs"),
        (&["--lrs", "1e-3,0"], "--lrs"),
        (&["--lrs", "inf"], "--lrs"),
        (&["--lrs", ""], "--lrs"),
        (&["--tune-data-bits", "0"], "--tune-data-bits"),
        (&["--tune-data-bits", "3,nan"], "--tune-data-bits"),
        (&["--tune-data-bits", "4,6", "--lrs", "0.01"], "--tune-data-bits"),
        (&["--lr-tie", "nan"], "--lr-tie"),
        (&["--lr-tie", "1"], "--lr-tie"),
        (&["--lr-tie", "-0.01"], "--lr-tie"),
        (&["--lr-tie", "0.02", "--lrs", "0.01"], "--lr-tie"),
        (&["--data-bits", "-1"], "--data-bits"),
        (&["--data-bits", "2,inf"], "--data-bits"),
        (&["--data-bits", "0"], "--data-bits"),
        (&["--steps", "0"], "--steps"),
        (&["--steps", "-3"], "--steps"),
        (&["--sizes", "0"], "--sizes"),
        (&["--sizes", "7"], "--sizes"),
        (&["--sizes", "16", "--d-model", "16"], "--sizes"),
        (&["--seeds", ""], "--seeds"),
        (&["--jobs", "0"], "--jobs"),
        (&["--shard", "3/2"], "--shard"),
        (&["--heads", "flaten"], "--heads"),
        (&["--d-model", "0"], "--d-model"),
        (&["--steps-per-size", "10,20"], "--steps-per-size"),
        (&["--sizes", "8,16", "--steps-per-size", "10"], "--steps-per-size"),
        (&["--sizes", "8,16", "--steps-per-size", "10,0"], "--steps-per-size"),
    ];
    for (args, flag) in cases {
        let mut all = args.to_vec();
        if !args.contains(&"--heads") {
            all.extend(["--heads", "causal"]);
        }
        if !args.contains(&"--steps") {
            all.extend(["--steps", "5"]);
        }
        let out = overfit(dir.path(), &all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?} must name {flag}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing ran");
}

#[test]
fn a_sharded_plan_tuning_included_gives_the_same_points_as_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let common = ["--quick", "--heads", "causal,td-dense", "--sizes", "8", "--seeds", "0,1"];
    let whole = capacity(dir.path(), &[&common[..], &["--out", "whole"]].concat());
    // Each shard runs its share of a tuning round and waits for the other's; the rounds (and the
    // extensions of the range they plan) are the same in every shard.
    let mut rounds = 0;
    loop {
        let parts: Vec<Value> = ["1/2", "2/2"]
            .iter()
            .map(|s| capacity(dir.path(), &[&common[..], &["--out", "sharded", "--shard", s]].concat()))
            .collect();
        rounds += 1;
        if parts.iter().all(|p| p["waiting_for_tuning"] == Value::Bool(false)) {
            break;
        }
        assert!(rounds < 6, "the shards never finished tuning");
    }
    let gathered = capacity(dir.path(), &[&common[..], &["--out", "sharded"]].concat());
    assert_eq!(int(&gathered, "runs_trained"), 0, "every run was done by a shard");
    assert_eq!(gathered["heads"], whole["heads"]);
    assert_eq!(gathered["lrs"], whole["lrs"]);
}

/// The seconds after "every head in " in a text, if any.
fn quick_seconds(text: &str) -> Option<String> {
    let at = text.find("every head in ")? + "every head in ".len();
    let digits: String = text[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    (!digits.is_empty() && text[at + digits.len()..].starts_with(" s")).then_some(digits)
}

#[test]
fn readme_and_help_state_the_same_measured_quick_time() {
    let help = Command::new(env!("CARGO_BIN_EXE_overfit")).args(["capacity", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let (h, r) = (quick_seconds(&help), quick_seconds(&readme));
    assert!(h.is_some() && h == r, "--help says {h:?} s, README {r:?} s");
    assert!(help.contains("NOT converged"), "{help}");
}
