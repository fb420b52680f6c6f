//! No run lost or mixed (issue 21), with the real binary: a reader that goes away, two processes
//! on one run folder, a checkpoint resumed where it does not belong, numbers that are not numbers,
//! an interrupt that arrives twice, and `eval` of a whole file.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test; `OVERFIT_BIN` runs these tests against another build (e.g. an older
/// commit's, to see that each test fails there).
fn bin() -> Command {
    Command::new(std::env::var("OVERFIT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_overfit").to_string()))
}

fn overfit(dir: &Path, args: &[&str]) -> Output {
    bin().args(args).current_dir(dir).output().expect("the binary runs")
}

/// A running binary, killed when dropped: a test that fails must not leave a run training (it
/// would hold what the test's process held, and a million-step run never ends).
struct Running(Option<Child>);

impl Running {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }
    fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }
    fn output(mut self) -> Output {
        self.0.take().expect("running").wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(dir: &Path, args: &[&str]) -> Running {
    let child = bin().args(args).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    Running(Some(child.expect("starts")))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Exit 2, and stderr names `needle`.
fn refused(out: &Output, needle: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    err
}

fn wait_for(path: &Path) {
    let t0 = Instant::now();
    while !path.exists() || std::fs::metadata(path).unwrap().len() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn shakespeare() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tinyshakespeare.txt");
    assert!(p.exists(), "the tests read {}", p.display());
    p.canonicalize().unwrap().display().to_string()
}

/// A run's report.json without what differs between any two runs (times, memory, provenance,
/// its folder).
fn report_sans_times(p: &Path) -> Value {
    let mut r = read_json(p);
    for k in [
        "wall_seconds",
        "eval_seconds",
        "samples_per_sec",
        "peak_rss_bytes",
        "rss_anon_bytes",
        "provenance",
        "ended",
        "run_dir",
    ] {
        r.as_object_mut().unwrap().remove(k);
    }
    r
}

#[test]
fn a_reader_that_goes_away_does_not_take_the_run_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // As `overfit train … 2>&1 | head -1`: both streams into one pipe, closed after one line.
    // 3000 rows overflow the pipe's buffer: the run must write after the reader is gone.
    let args = ["train", "--steps", "3000", "--log-every", "1", "--eval-every", "1000", "--runs-dir", "pipe"];
    let mut child = spawn(d, &args);
    let mut first = String::new();
    BufReader::new(child.child().stderr.take().unwrap()).read_line(&mut first).unwrap(); // the reader is dropped here
    drop(child.child().stdout.take());
    let status = child.child().wait().unwrap();
    assert_eq!(status.code(), Some(0), "killed by SIGPIPE? {status:?}");
    let report = read_json(&d.join("pipe/id-1/report.json"));
    assert_eq!(report["steps"], 3000);
    assert!(d.join("pipe/id-1/checkpoint.bin").exists());
    // A printer still ends quietly on a closed pipe (no panic message, no backtrace).
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' summary --preset gpt2-small | true", bin().get_program().to_string_lossy()))
        .output()
        .unwrap();
    assert!(!text(&out.stderr).contains("panic") && out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn results_names_every_folder_it_skips_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(overfit(d, &["train", "--steps", "5", "--quiet", "--runs-dir", "r"]).status.success());
    assert!(overfit(d, &["train", "--steps", "5", "--quiet", "--runs-dir", "r"]).status.success());
    // id-2 loses its report (as a run killed before it wrote one); id-3 has only its config.
    std::fs::remove_file(d.join("r/id-2/report.json")).unwrap();
    std::fs::create_dir(d.join("r/id-3")).unwrap();
    std::fs::copy(d.join("r/id-1/config.json"), d.join("r/id-3/config.json")).unwrap();
    let out = overfit(d, &["results", "r", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("skipped r/id-2: no report.json: unfinished") && err.contains("--resume"), "{err}");
    assert!(err.contains("skipped r/id-3: no report.json and no checkpoint.bin"), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["skipped"].as_array().unwrap().len(), 2);
}

/// Each run folder's metrics.jsonl (times removed) and exported weights, by folder.
fn sweep_outcome(d: &Path, runs_dir: &str) -> Vec<(String, Vec<Value>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(d.join(runs_dir)).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    for p in dirs {
        let rows: Vec<Value> = std::fs::read_to_string(p.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                for k in ["samples_per_sec", "ms_per_step", "wall_seconds", "eval_seconds"] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            })
            .collect();
        let st = p.join("w.safetensors");
        let ck = p.join("checkpoint.bin");
        let o = overfit(d, &["export", "--checkpoint", ck.to_str().unwrap(), "--out", st.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        out.push((p.file_name().unwrap().to_string_lossy().to_string(), rows, std::fs::read(&st).unwrap()));
    }
    out
}

#[test]
fn two_sweeps_on_one_folder_give_what_one_sweep_gives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = |runs: &'static str| -> Vec<&'static str> {
        vec![
            "sweep",
            "--grid",
            "head=flatten,tied",
            "--seeds",
            "0,1",
            "--steps",
            "300",
            "--log-every",
            "10",
            "--runs-dir",
            runs,
            "--quiet",
        ]
    };
    let alone = overfit(d, &args("alone"));
    assert!(alone.status.success(), "{}", text(&alone.stderr));
    let (a, b) = (spawn(d, &args("both")), spawn(d, &args("both")));
    let (a, b) = (a.output(), b.output());
    assert!(a.status.success() && b.status.success(), "{}\n{}", text(&a.stderr), text(&b.stderr));
    let want = sweep_outcome(d, "alone");
    let got = sweep_outcome(d, "both");
    assert_eq!(want.len(), 4);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.0, g.0);
        assert_eq!(w.1, g.1, "{}: metrics.jsonl rows differ (interleaved?)", w.0);
        assert!(w.2 == g.2, "{}: weights differ", w.0);
    }
}

#[test]
fn a_held_run_refuses_a_resume_naming_its_holder_and_kill_9_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = spawn(d, &["train", "--steps", "1000000", "--checkpoint-every", "20", "--quiet"]);
    wait_for(&d.join("runs/id-1/checkpoint.bin"));
    let lock = std::fs::read_to_string(d.join("runs/id-1/lock")).unwrap();
    assert!(lock.contains(&format!("pid {}", child.id())) && lock.contains("on host"), "{lock}");
    let out = overfit(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--steps", "2000000", "--quiet"]);
    refused(&out, &format!("is being trained by pid {}", child.id()));
    child.child().kill().unwrap(); // SIGKILL: no chance to clean up
    child.child().wait().unwrap();
    let out = overfit(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--steps", "60", "--quiet"]);
    assert!(out.status.success(), "the kernel released the dead holder's lock: {}", text(&out.stderr));
}

#[test]
fn a_sweep_skips_a_run_another_process_holds_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sweep = ["sweep", "--grid", "head=flatten,tied", "--steps", "1000000", "--checkpoint-every", "20", "--quiet"];
    let holder = spawn(d, &sweep);
    wait_for(&d.join("runs/head=flatten,seed=0/checkpoint.bin"));
    let short = ["sweep", "--grid", "head=flatten,tied", "--steps", "1000000", "--quiet", "--json"];
    let other = spawn(d, &short);
    // The other sweep skips the held flatten run and starts on tied: stop it once it has.
    wait_for(&d.join("runs/head=tied,seed=0/metrics.jsonl"));
    for c in [&holder, &other] {
        assert!(Command::new("kill").args(["-INT", &c.id().to_string()]).status().unwrap().success());
    }
    let err = text(&other.output().stderr);
    assert!(err.contains("skipped runs/head=flatten,seed=0: being trained by pid"), "{err}");
    assert_eq!(holder.output().status.code(), Some(130), "the holder saved its run and stopped");
}

#[test]
fn a_checkpoint_resumes_only_in_its_own_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = shakespeare();
    assert!(overfit(d, &["train", "--steps", "30", "--quiet"]).status.success()); // id-1: flatten, embedded
    let causal = ["train", "--head", "causal", "--data", &data, "--samples", "2000", "--steps", "20", "--quiet"];
    assert!(overfit(d, &causal).status.success()); // id-2
    std::fs::copy(d.join("runs/id-2/checkpoint.bin"), d.join("runs/id-1/checkpoint.bin")).unwrap();
    let metrics = std::fs::read(d.join("runs/id-1/metrics.jsonl")).unwrap();
    let out = overfit(d, &["train", "--resume", "runs/id-1/checkpoint.bin", "--steps", "60", "--quiet"]);
    refused(&out, "belongs to another run than runs/id-1/config.json: its head is \"causal\"");
    assert_eq!(std::fs::read(d.join("runs/id-1/metrics.jsonl")).unwrap(), metrics, "nothing written");
    // Same config, other data: caught by the data checksum recorded in config.json.
    let run = |data: &str, runs: &str| {
        let args = ["train", "--data", data, "--samples", "500", "--steps", "10", "--quiet", "--runs-dir", runs];
        assert!(overfit(d, &args).status.success());
    };
    std::fs::write(d.join("same.txt"), std::fs::read(&data).unwrap()).unwrap();
    run("same.txt", "a");
    std::fs::write(d.join("same.txt"), "other data, other bytes. ".repeat(400)).unwrap();
    run("same.txt", "b");
    std::fs::copy(d.join("b/id-1/checkpoint.bin"), d.join("a/id-1/checkpoint.bin")).unwrap();
    let out = overfit(d, &["train", "--resume", "a/id-1/checkpoint.bin", "--steps", "20", "--quiet"]);
    refused(&out, "trained on other data");
}

#[test]
fn imported_weights_start_a_new_run_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(overfit(d, &["train", "--head", "causal", "--steps", "40", "--quiet"]).status.success());
    let o = overfit(d, &["export", "--checkpoint", "runs/id-1/checkpoint.bin", "--out", "w.safetensors"]);
    assert!(o.status.success());
    assert!(overfit(d, &["import", "--weights", "w.safetensors", "--out", "more.bin"]).status.success());
    let out = overfit(d, &["train", "--resume", "more.bin", "--steps", "10", "--quiet"]);
    refused(&out, "--init-from more.bin");
    assert!(!d.join("runs/id-2").exists(), "no run started");
    let out = overfit(d, &["train", "--init-from", "more.bin", "--d-model", "32", "--steps", "10", "--quiet"]);
    refused(&out, "--d-model");
    let out = overfit(d, &["train", "--init-from", "more.bin", "--steps", "10", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["head"].as_str(), r["steps"].as_u64()), (Some("causal"), Some(10)));
    // It starts where the weights are, not from a fresh initialisation.
    let first = |run: &str| read_json(&d.join(format!("runs/{run}/report.json")))["final_loss"].as_f64().unwrap();
    let fresh = overfit(d, &["train", "--head", "causal", "--steps", "10", "--quiet"]);
    assert!(fresh.status.success());
    assert!(first("id-2") < first("id-3") - 0.05, "{} vs fresh {}", first("id-2"), first("id-3"));
}

#[test]
fn a_resume_claims_what_the_uninterrupted_run_claims_in_every_report_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = ["train", "--eval-windows", "4", "--quiet", "--checkpoint-every", "0"];
    let mut straight = base.to_vec();
    straight.extend(["--steps", "600", "--runs-dir", "straight"]);
    assert!(overfit(d, &straight).status.success());
    let mut half = base.to_vec();
    half.extend(["--steps", "300", "--runs-dir", "split"]);
    assert!(overfit(d, &half).status.success());
    let out = overfit(d, &["train", "--resume", "split/id-1/checkpoint.bin", "--steps", "600", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (a, b) =
        (report_sans_times(&d.join("straight/id-1/report.json")), report_sans_times(&d.join("split/id-1/report.json")));
    assert_eq!(a, b);
    assert_eq!(a["steps_to_memorize"], Value::Null, "4 sampled windows never claim the 432");
}

#[test]
fn a_resume_may_change_course_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(overfit(d, &["train", "--steps", "20", "--quiet"]).status.success());
    let ck = "runs/id-1/checkpoint.bin";
    let more = ["--lr", "0.003", "--schedule", "cosine", "--warmup", "5", "--clip", "0.5", "--eval-every", "7"];
    let mut args = vec!["train", "--resume", ck, "--steps", "40", "--quiet"];
    args.extend(more);
    let out = overfit(d, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = read_json(&d.join("runs/id-1/config.json"));
    assert_eq!(config["lr"], 0.003);
    let changed: Vec<String> = config["history"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap().to_string())
        .collect();
    for f in ["lr", "schedule", "warmup", "clip", "eval_every", "steps"] {
        assert!(changed.iter().any(|c| c == f), "{f} not in {changed:?}");
    }
    let rows = std::fs::read_to_string(d.join("runs/id-1/metrics.jsonl")).unwrap();
    let last: Value = serde_json::from_str(rows.lines().last().unwrap()).unwrap();
    assert!(last["lr"].as_f64().unwrap() < 0.003, "the new cosine decays: {last}");
    for (flag, value) in [("--seed", "3"), ("--head", "tied"), ("--batch-size", "8"), ("--d-model", "32")] {
        let out = overfit(d, &["train", "--resume", ck, "--steps", "60", flag, value]);
        refused(&out, flag);
    }
}

#[test]
fn numbers_that_are_not_numbers_and_other_bad_input_are_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (flag, value) in
        [("--lr", "nan"), ("--lr", "inf"), ("--weight-decay", "nan"), ("--min-lr", "inf"), ("--clip", "NaN")]
    {
        let out = overfit(d, &["train", "--steps", "3", flag, value, "--runs-dir", "r"]);
        refused(&out, flag);
    }
    refused(&overfit(d, &["train", "--data", "x", "--val-fraction", "nan"]), "--val-fraction");
    refused(&overfit(d, &["sweep", "--grid", "lr=nan", "--steps", "3"]), "--grid");
    assert!(!d.join("r").exists(), "nothing ran");
    let err = refused(&overfit(d, &["train", "--seq-length", "100000", "--steps", "3"]), "error: --seq-length:");
    assert!(err.contains("--batch-size") && err.contains("GiB"), "{err}");
    std::fs::write(d.join("my.txt"), "a file").unwrap();
    refused(&overfit(d, &["train", "--runs-dir", "my.txt", "--steps", "3"]), "--runs-dir");
    let out = overfit(d, &["train", "--warmup", "100000", "--steps", "3", "--quiet"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("warning: runs/id-1: --warmup 100000 is longer than the run (3 steps)"));
}

#[test]
fn an_interrupt_that_arrives_twice_at_once_still_saves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let child = spawn(d, &["train", "--steps", "1000000", "--checkpoint-every", "0", "--quiet"]);
    wait_for(&d.join("runs/id-1/metrics.jsonl"));
    // As GNU timeout and job shells do: the process, then at once its group.
    for _ in 0..2 {
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    }
    let out = child.output();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("second interrupt"), "{}", text(&out.stderr));
    assert_eq!(read_json(&d.join("runs/id-1/report.json"))["stopped"], "interrupted");
    assert!(d.join("runs/id-1/checkpoint.bin").exists());
}

#[test]
fn eval_reads_a_file_as_training_does_and_states_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = shakespeare();
    assert!(overfit(d, &["train", "--head", "causal", "--steps", "5", "--quiet"]).status.success());
    let t0 = Instant::now();
    let out = overfit(d, &["eval", "--checkpoint", "runs/id-1/checkpoint.bin", "--data", &data, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each byte predicted once: 1,115,394 bytes in windows of 32 without overlap.
    assert_eq!((v["stride"].as_u64(), v["samples"].as_u64()), (Some(32), Some(34_856)));
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
    let out =
        overfit(d, &["eval", "--checkpoint", "runs/id-1/checkpoint.bin", "--data", &data, "--max-windows", "100"]);
    assert!(text(&out.stdout).contains("100 of 34856 train windows"), "{}", text(&out.stdout));
    refused(&overfit(d, &["eval", "--checkpoint", "runs/id-1/checkpoint.bin", "--max-windows", "0"]), "--max-windows");
}

#[test]
fn early_stopping_reports_from_the_best_validation_weights() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = shakespeare();
    // A high rate on few windows overfits fast: the validation loss turns up, and the run stops.
    let args = [
        "train",
        "--data",
        &data,
        "--samples",
        "256",
        "--val-fraction",
        "0.0001",
        "--test-fraction",
        "0.002",
        "--lr",
        "0.01",
        "--steps",
        "3000",
        "--eval-every",
        "10",
        "--early-stop",
        "100",
        "--quiet",
        "--json",
    ];
    let out = overfit(d, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["stopped"], "early_stopped", "{r}");
    let (best, steps) = (r["best_step"].as_u64().unwrap(), r["steps"].as_u64().unwrap());
    assert!(steps < 3000 && steps >= best + 100, "best {best}, stopped at {steps}");
    assert!(d.join("runs/id-1/best.bin").exists());
    // The report's validation loss is that of the best row (the validation windows are few, so
    // every evaluation reads them all, as the final pass does).
    let rows = std::fs::read_to_string(d.join("runs/id-1/metrics.jsonl")).unwrap();
    let vals: Vec<(u64, f64)> = rows
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| Some((v["step"].as_u64()?, v["val_loss"].as_f64()?)))
        .collect();
    let min = vals.iter().copied().fold((0, f64::INFINITY), |b, x| if x.1 < b.1 { x } else { b });
    assert_eq!(min.0, best);
    assert!((r["val_loss"].as_f64().unwrap() - min.1).abs() < 1e-9, "{} vs {}", r["val_loss"], min.1);
    assert!(vals.last().unwrap().1 > min.1, "it stopped on a rising validation loss");
    refused(&overfit(d, &["train", "--early-stop", "100", "--steps", "10"]), "--val-fraction");
    // The test part is read once, at the best weights: `eval` of best.bin on it agrees to the bit.
    let test = &r["test"];
    assert_eq!(test["windows"].as_u64(), Some(2199), "0.2% of 1,115,394 bytes, less one window");
    let args = ["eval", "--checkpoint", "runs/id-1/best.bin", "--data", &data, "--test-fraction", "0.002", "--json"];
    let out = overfit(d, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((e["split"].as_str(), e["samples"].as_u64()), (Some("test"), Some(2199)));
    assert_eq!(e["loss"], test["loss"]);
}
