//! Accidents a long run must survive, with the real binary: interrupts, kill -9 in the middle of a
//! checkpoint write, a full or read-only disk, a diverging loss, a file of several hundred MB.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_overfit"))
}

fn overfit(dir: &Path, args: &[&str]) -> Output {
    bin().args(args).current_dir(dir).output().expect("the binary runs")
}

fn spawn(dir: &Path, args: &[&str]) -> Child {
    bin().args(args).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary starts")
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success());
}

/// Waits until `path` exists (the run has started and written something), at most 60 s.
fn wait_for(path: &Path) {
    let t0 = Instant::now();
    while !path.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The weights of a checkpoint, as `overfit export` writes them (config included): the same
/// weights give the same bytes.
fn weights(dir: &Path, ck: &str) -> Vec<u8> {
    let out = dir.join("w.safetensors");
    let o = overfit(dir, &["export", "--checkpoint", ck, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn sigint_and_sigterm_save_a_checkpoint_and_resume_reaches_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The uninterrupted reference: 1500 steps in runs/id-1.
    let args = ["train", "--steps", "1500", "--quiet", "--checkpoint-every", "0", "--log-every", "50"];
    assert!(overfit(d, &args).status.success());
    let straight = weights(d, "runs/id-1/checkpoint.bin");
    for (sig, id) in [("-INT", 2), ("-TERM", 3)] {
        let child = spawn(d, &args);
        wait_for(&d.join(format!("runs/id-{id}/metrics.jsonl")));
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{sig}: {}", String::from_utf8_lossy(&out.stderr));
        let report = json(&d.join(format!("runs/id-{id}/report.json")));
        assert_eq!(report["stopped"], "interrupted", "{sig}");
        let steps = report["steps"].as_u64().unwrap();
        assert!(steps < 1500, "{sig}: the run ended before the signal ({steps} steps)");
        // Resume to the same end: bit-identical weights.
        let ck = format!("runs/id-{id}/checkpoint.bin");
        let out = overfit(d, &["train", "--resume", &ck, "--steps", "1500", "--quiet"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(weights(d, &ck) == straight, "{sig}: resumed weights differ from the uninterrupted run's");
    }
}

#[test]
fn kill_9_during_checkpoint_writes_leaves_the_previous_checkpoint_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A checkpoint every step, of a model whose checkpoint is a few MB: the process spends much of
    // its time writing one, so random kills land inside writes.
    let args = [
        "train",
        "--preset",
        "small",
        "--d-model",
        "32",
        "--num-heads",
        "2",
        "--steps",
        "100000",
        "--checkpoint-every",
        "1",
        "--quiet",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20 {
        let child = spawn(d, &args);
        let ck = d.join(format!("runs/id-{}/checkpoint.bin", round + 1));
        wait_for(&ck);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 400));
        signal(&child, "-KILL");
        let _ = child.wait_with_output();
        let out = overfit(d, &["eval", "--checkpoint", ck.to_str().unwrap(), "--json"]);
        assert!(
            out.status.success(),
            "round {round}: checkpoint unreadable after kill -9: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_diverging_run_keeps_its_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out =
        overfit(d, &["train", "--lr", "1e30", "--clip", "0", "--steps", "50", "--checkpoint-every", "1", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stopped"], "diverged");
    // The checkpoint on disk is the state of the last step whose loss was finite.
    let e = overfit(d, &["eval", "--checkpoint", "runs/id-1/checkpoint.bin", "--json"]);
    assert!(e.status.success());
    let good_steps = report["steps"].as_u64().unwrap();
    assert!(good_steps >= 1, "diverged at once; no good step to keep");
    let ck = train::Checkpoint::load(&d.join("runs/id-1/checkpoint.bin")).unwrap();
    assert_eq!(ck.step, good_steps, "the checkpoint is the state after the last finite step");
    assert!(ck.params.iter().all(|t| t.data.iter().all(|x| x.is_finite())));
}

#[test]
fn a_read_only_runs_folder_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // /proc refuses new folders even to root.
    let out = overfit(dir.path(), &["train", "--steps", "2", "--runs-dir", "/proc/overfit-runs"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/proc/overfit-runs") && !err.contains("panicked"), "{err}");
}

/// A small tmpfs (needs root, as CI and the developers' machines run): fits one checkpoint of the
/// default model, not a second one beside it.
struct Tmpfs(std::path::PathBuf);
impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let p = dir.join("small-disk");
        std::fs::create_dir_all(&p).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", p.to_str()?])
            .status()
            .ok()?
            .success();
        ok.then_some(Tmpfs(p))
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

// Ignored by a plain `cargo test`, so that a machine that cannot mount shows it as "ignored"
// rather than as a pass; .ci/run runs it as root (`-- --ignored`), where it must mount.
#[test]
#[ignore = "mounts a small tmpfs: needs root; run with `cargo test -p cli --test robustness -- --ignored` (.ci/run does)"]
fn a_full_disk_stops_the_run_with_a_clear_error_and_the_previous_checkpoint_intact() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(dir.path(), "2600k").expect("mounting a 2.6 MB tmpfs (needs root)");
    let runs = disk.0.join("runs");
    let out = overfit(
        dir.path(),
        &["train", "--steps", "50", "--checkpoint-every", "1", "--runs-dir", runs.to_str().unwrap(), "--quiet"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No space left on device") && err.contains("checkpoint.bin"), "{err}");
    let ck = runs.join("id-1/checkpoint.bin");
    let e = overfit(dir.path(), &["eval", "--checkpoint", ck.to_str().unwrap(), "--json"]);
    assert!(e.status.success(), "the previous checkpoint must still load: {}", String::from_utf8_lossy(&e.stderr));
    let left: Vec<_> =
        std::fs::read_dir(runs.join("id-1")).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    assert!(
        !left.iter().any(|n| n.to_string_lossy().contains(".tmp-")),
        "a failed write leaves no temporary file: {left:?}"
    );
}

#[test]
fn a_file_of_several_hundred_mb_trains_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    // 400 MB, sparse: creating it costs nothing, reading it costs page-ins.
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(400 << 20).unwrap();
    let out = overfit(dir.path(), &["train", "--data", big.to_str().unwrap(), "--steps", "20", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["samples"].as_u64().unwrap(), (400 << 20) - 32);
    // What the process holds itself: no copy of the file. (Its peak RSS also counts the file's
    // pages the kernel mapped while windows were read, page cache it can drop at will.)
    let anon = report["rss_anon_bytes"].as_u64().unwrap();
    assert!(anon < 100 << 20, "anonymous memory {} MiB for a 400 MiB file", anon >> 20);
}

#[test]
fn a_data_path_through_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), "abc").unwrap();
    let out = overfit(dir.path(), &["train", "--data", "plain.txt/inside.txt"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("plain.txt/inside.txt: cannot read the data file"), "{err}");
}
