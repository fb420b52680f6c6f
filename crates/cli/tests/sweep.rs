//! Sweeps and results through the real binary: the plan, skipping, --jobs, shards (by flag and by
//! Slurm's variables), and the grouped table.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn overfit(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_overfit"));
    c.args(args).current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// 2 heads × 2 learning rates × 2 seeds of short seed-id4 runs.
const GRID: &[&str] = &[
    "sweep",
    "--steps",
    "12",
    "--grid",
    "head=flatten,tied",
    "--grid",
    "lr=0.001,0.003",
    "--seeds",
    "0,1",
    "--quiet",
    "--json",
];

fn sweep(dir: &Path, runs_dir: &str, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let mut args = GRID.to_vec();
    args.extend(["--runs-dir", runs_dir]);
    args.extend(extra);
    json(&overfit(dir, &args, env))
}

/// Each run's final loss and a checksum of its exported weights, by folder name. (The checkpoint
/// itself holds wall-clock times, which differ from run to run.)
fn outcome(dir: &Path, runs_dir: &str) -> Vec<(String, String, u64)> {
    let mut rows: Vec<_> = std::fs::read_dir(dir.join(runs_dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("report.json").exists())
        .map(|p| {
            let r: Value = serde_json::from_slice(&std::fs::read(p.join("report.json")).unwrap()).unwrap();
            let (ck, st) = (p.join("checkpoint.bin"), p.join("w.safetensors"));
            let out =
                overfit(dir, &["export", "--checkpoint", ck.to_str().unwrap(), "--out", st.to_str().unwrap()], &[]);
            assert!(out.status.success());
            let bytes = std::fs::read(&st).unwrap();
            let sum = bytes.iter().fold(0u64, |h, &b| h.wrapping_mul(1_099_511_628_211).wrapping_add(b as u64));
            (p.file_name().unwrap().to_string_lossy().to_string(), r["final_loss"].to_string(), sum)
        })
        .collect();
    rows.sort();
    rows
}

/// The groups without the fields that measure time or memory (they differ on every run).
fn deterministic(groups: &Value) -> Value {
    let mut g = groups.clone();
    for group in g.as_array_mut().unwrap() {
        let m = group["metrics"].as_object_mut().unwrap();
        m.retain(|k, _| {
            !["wall_seconds", "eval_seconds", "samples_per_sec", "peak_rss_bytes", "rss_anon_bytes"]
                .contains(&k.as_str())
        });
    }
    g
}

#[test]
fn a_sweep_runs_its_plan_in_order_and_jobs_do_not_change_a_bit() {
    let dir = tempfile::tempdir().unwrap();
    let one = sweep(dir.path(), "a", &["--jobs", "1"], &[]);
    let runs = one["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 8);
    // Plan order: the first axis slowest, the seeds fastest.
    let order: Vec<(String, u64)> =
        runs.iter().map(|r| (r["head"].as_str().unwrap().into(), r["seed"].as_u64().unwrap())).collect();
    assert_eq!(order[..4].iter().map(|o| o.0.as_str()).collect::<Vec<_>>(), ["flatten"; 4]);
    assert_eq!(order.iter().map(|o| o.1).collect::<Vec<_>>(), [0, 1, 0, 1, 0, 1, 0, 1]);
    assert!(dir.path().join("a/head=flatten,lr=0.003,seed=1/report.json").exists());
    // Two at a time, one thread each: the same bits.
    sweep(dir.path(), "b", &["--jobs", "2"], &[]);
    assert_eq!(outcome(dir.path(), "a"), outcome(dir.path(), "b"));
    // A rerun skips every finished run.
    let again = overfit(
        dir.path(),
        &[GRID, &["--runs-dir", "a"]].concat().iter().copied().filter(|s| *s != "--json").collect::<Vec<_>>(),
        &[],
    );
    assert!(again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(err.matches("already done: skipped").count(), 8, "{err}");
}

/// seed-id4's batch of 32 in one micro-batch: each run's kernels split their work across the
/// threads it has (products, attention, and cross-entropy over the causal head's 1,024 rows).
/// Runs on 1, 2 and 3 threads, and two at a time on 3 threads (one each), end with the same bits.
#[test]
fn one_micro_batch_splits_across_threads_and_changes_no_bit() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["sweep", "--steps", "12", "--micro-batch", "32", "--grid", "head=flatten,causal", "--seeds", "0,1"];
    let run = |runs_dir: &str, extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--quiet", "--json", "--runs-dir", runs_dir]);
        a.extend(extra);
        let out = json(&overfit(dir.path(), &a, &[]));
        assert_eq!(out["runs"].as_array().unwrap().len(), 4);
        outcome(dir.path(), runs_dir)
    };
    let one = run("t1", &["--threads", "1"]);
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("t1/head=causal,seed=0/config.json")).unwrap()).unwrap();
    assert_eq!((config["micro_batch"].as_u64(), config["batch_size"].as_u64()), (Some(32), Some(32)), "{config}");
    assert_eq!(one, run("t2", &["--threads", "2"]), "1 thread vs 2");
    assert_eq!(one, run("t3", &["--threads", "3"]), "1 thread vs 3");
    assert_eq!(one, run("j2", &["--threads", "3", "--jobs", "2"]), "1 thread vs two runs at once");
}

#[test]
fn shards_gathered_give_the_whole_sweeps_table() {
    let dir = tempfile::tempdir().unwrap();
    sweep(dir.path(), "whole", &[], &[]);
    let s1 = sweep(dir.path(), "s1", &["--shard", "1/2"], &[]);
    let s2 = sweep(dir.path(), "s2", &["--shard", "2/2"], &[]);
    assert_eq!((s1["runs"].as_array().unwrap().len(), s2["runs"].as_array().unwrap().len()), (4, 4));
    let whole = json(&overfit(dir.path(), &["results", "whole", "--json"], &[]));
    let parts = json(&overfit(dir.path(), &["results", "s1", "s2", "--json"], &[]));
    assert_eq!(deterministic(&whole["groups"]), deterministic(&parts["groups"]));
    assert!(deterministic(&whole["groups"])[0]["metrics"]["final_loss"]["mean"].is_number());
    assert_eq!(whole["groups"].as_array().unwrap().len(), 4, "head × lr, seeds pooled");
    for g in whole["groups"].as_array().unwrap() {
        assert_eq!(g["n"], 2);
        let m = &g["metrics"]["final_loss"];
        let (lo, hi, mean) =
            (m["ci95"][0].as_f64().unwrap(), m["ci95"][1].as_f64().unwrap(), m["mean"].as_f64().unwrap());
        assert!(lo < mean && mean < hi, "{m}");
    }
    // The runs of both are the same runs (folders differ only by the parent).
    let names = |v: &Value| {
        let mut n: Vec<String> = v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dir"].as_str().unwrap().rsplit('/').next().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&whole), names(&parts));
}

#[test]
fn a_slurm_array_task_runs_its_shard() {
    let dir = tempfile::tempdir().unwrap();
    // Task 7 of an array 5..=8: shard 3 of 4, the plan's runs 3 and 7 (1-based).
    let env = [("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "4")];
    let v = sweep(dir.path(), "sl", &[], &env);
    let by_flag = sweep(dir.path(), "fl", &["--shard", "3/4"], &[]);
    let key = |v: &Value| -> Vec<(String, String, u64)> {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["head"].to_string(), r["final_loss"].to_string(), r["seed"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(key(&v), key(&by_flag));
    assert_eq!(key(&v).len(), 2);
    assert!(dir.path().join("sl/head=flatten,lr=0.003,seed=0/report.json").exists(), "run 3 of the plan");
    assert!(dir.path().join("sl/head=tied,lr=0.003,seed=0/report.json").exists(), "run 7 of the plan");
    // A task outside its array's range is an error naming the flag.
    let bad = overfit(
        dir.path(),
        &[GRID, &["--runs-dir", "x"]].concat(),
        &[("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_COUNT", "4")],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--shard"));
}

#[test]
fn bad_sweeps_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (&["sweep", "--grid", "lr"][..], "--grid"),
        (&["sweep", "--grid", "learning_rate=0.1"][..], "learning_rate"),
        // The flag the user typed: --grid, not --head (issue 22).
        (&["sweep", "--grid", "head=flatten,dense"][..], "--grid"),
        (&["sweep", "--grid", "d_model=abc"][..], "d_model"),
        (&["sweep", "--shard", "3/2"][..], "--shard"),
        (&["sweep", "--jobs", "0"][..], "--jobs"),
        (&["results", "nothing-here"][..], "nothing-here"),
    ] {
        let out = overfit(dir.path(), args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag) && !err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_folder_holding_another_configs_run_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let first = overfit(dir.path(), &["sweep", "--steps", "5", "--seeds", "0", "--runs-dir", "sw", "--quiet"], &[]);
    assert!(first.status.success());
    let report = dir.path().join("sw/seed=0/report.json");
    let before = std::fs::read(&report).unwrap();
    // The same folder name, another config: refused, the old run kept.
    let again = overfit(dir.path(), &["sweep", "--steps", "7", "--seeds", "0", "--runs-dir", "sw", "--quiet"], &[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{err}");
    assert!(err.contains("seed=0") && err.contains("another config") && err.contains("steps: 5 there, 7"), "{err}");
    assert_eq!(std::fs::read(&report).unwrap(), before);
}

#[test]
fn a_sweep_keeps_the_flags_given_beside_its_grid() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.txt", "b.txt"] {
        std::fs::write(dir.path().join(name), "the quick brown fox jumps over the lazy dog. ".repeat(60)).unwrap();
    }
    let v = json(&overfit(
        dir.path(),
        &[
            "sweep",
            "--samples",
            "50",
            "--steps",
            "2",
            "--grid",
            "data=a.txt,b.txt",
            "--runs-dir",
            "d",
            "--quiet",
            "--json",
        ],
        &[],
    ));
    assert!(v["runs"].as_array().unwrap().iter().all(|r| r["samples"] == 50), "{v}");
    let v = json(&overfit(
        dir.path(),
        &["sweep", "--until-memorized", "--grid", "steps=3,400", "--runs-dir", "m", "--quiet", "--json"],
        &[],
    ));
    let long = &v["runs"][1];
    assert_eq!(long["stopped"], "memorized", "--until-memorized kept beside --grid steps: {long}");
}

#[test]
fn duplicate_points_and_bad_grid_values_name_their_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["sweep", "--seeds", "0,0"][..], "--seeds"),
        (&["sweep", "--grid", "lr=1e-3,0.001"][..], "--grid"),
        (&["sweep", "--grid", "warmup=abc"][..], "warmup"),
        (&["results", ".", "--group-by", "nonexistent"][..], "--group-by"),
    ] {
        if args[0] == "results" {
            assert!(overfit(dir.path(), &["sweep", "--steps", "2", "--runs-dir", "r", "--quiet"], &[])
                .status
                .success());
        }
        let args: Vec<&str> =
            if args[0] == "results" { vec!["results", "r", "--group-by", "nonexistent"] } else { args.to_vec() };
        let out = overfit(dir.path(), &args, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn a_run_killed_before_its_first_checkpoint_is_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["sweep", "--steps", "5", "--runs-dir", "k", "--quiet"];
    assert!(overfit(dir.path(), &args, &[]).status.success());
    // What a kill -9 before the first checkpoint leaves: config.json, summary.txt, some rows.
    for f in ["report.json", "checkpoint.bin", "curves.svg"] {
        std::fs::remove_file(dir.path().join("k/seed=0").join(f)).unwrap();
    }
    let again = overfit(dir.path(), &args, &[]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let rows = std::fs::read_to_string(dir.path().join("k/seed=0/metrics.jsonl")).unwrap();
    assert_eq!(rows.lines().filter(|l| l.contains("\"step\":0,")).count(), 1, "the rows start again: {rows}");
}
