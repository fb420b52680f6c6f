//! The command line's edges, through the real binary: a head's own flags, closed pipes,
//! unbounded generation, help text.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).args(args).current_dir(dir).output().expect("the binary runs")
}

fn no_panic(err: &str) {
    assert!(!err.contains("panicked") && !err.contains("internal error"), "{err}");
}

#[test]
fn a_heads_own_flags_are_validated_only_for_that_head() {
    let dir = tempfile::tempdir().unwrap();
    // The default --reduce 8 does not divide 12, but flatten has no --reduce.
    for head in ["flatten", "bottleneck", "tied", "causal"] {
        let out = overfit(dir.path(), &["summary", "--d-model", "12", "--num-heads", "4", "--head", head, "--json"]);
        assert!(out.status.success(), "{head}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Nor an even --kernel, or a zero --bottleneck, when the head does not read them.
    let out = overfit(dir.path(), &["summary", "--head", "td-dense", "--kernel", "4", "--bottleneck", "0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The heads that do read them still refuse a bad value, naming the flag.
    for (head, flag, value) in
        [("td-dense", "--reduce", "5"), ("conv", "--kernel", "4"), ("bottleneck", "--bottleneck", "0")]
    {
        let out = overfit(dir.path(), &["summary", "--head", head, flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{head} {flag} {value}: {err}");
        assert!(err.contains(flag), "{err}");
    }
    let out = overfit(dir.path(), &["summary", "--d-model", "12", "--num-heads", "4", "--head", "conv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reduce"));
}

/// Runs the binary with stdout a pipe whose reading end is closed at once, as `… | true` does.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_overfit"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap(), err)
}

#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    for args in [&["summary", "--preset", "ctrl", "--json"][..], &["summary", "--preset", "gpt2-xl"][..]] {
        let (status, err) = into_closed_pipe(dir.path(), args);
        assert!(err.is_empty(), "{args:?}: {err}");
        // Killed by SIGPIPE as `cat` would be, or done before it noticed.
        assert!(status.signal() == Some(libc_sigpipe()) || status.success(), "{args:?}: {status:?}");
    }
}

fn libc_sigpipe() -> i32 {
    13 // SIGPIPE on Linux
}

#[test]
fn generate_streams_any_number_of_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train", "--steps", "2", "--quiet"]);
    assert!(out.status.success());
    let ck = dir.path().join("runs/id-1/checkpoint.bin").display().to_string();
    // 2^64 − 1 bytes: streamed, so the reader decides when it ends (here after 1000 bytes).
    let mut child = Command::new(env!("CARGO_BIN_EXE_overfit"))
        .args(["generate", "--checkpoint", &ck, "--bytes", "18446744073709551615", "--prompt", "ROMEO:"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = vec![0u8; 1000];
    child.stdout.as_mut().unwrap().read_exact(&mut head).unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    child.wait().unwrap();
    assert!(head.starts_with(b"ROMEO:"));
    no_panic(&err);
    // A value that is no number is refused by the parser, naming the flag.
    let out = overfit(dir.path(), &["generate", "--checkpoint", &ck, "--bytes", "1e30"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bytes"));
}

#[test]
fn generate_warns_when_a_window_heads_prompt_is_short() {
    let dir = tempfile::tempdir().unwrap();
    assert!(overfit(dir.path(), &["train", "--steps", "2", "--quiet"]).status.success());
    let ck = dir.path().join("runs/id-1/checkpoint.bin").display().to_string();
    let out = overfit(dir.path(), &["generate", "--checkpoint", &ck, "--prompt", "THE LEDGER", "--bytes", "5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(err.contains("warning") && err.contains("32 bytes") && err.contains("22 special tokens"), "{err}");
    let long = "x".repeat(32);
    let out = overfit(dir.path(), &["generate", "--checkpoint", &ck, "--prompt", &long, "--bytes", "5"]);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn generate_help_shows_each_default_once() {
    let out = overfit(Path::new("."), &["generate", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(!help.contains("[default: empty]"), "{help}");
    assert!(help.contains("[default: 200]"), "{help}");
}
