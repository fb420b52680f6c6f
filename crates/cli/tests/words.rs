//! One meaning per word, and messages that finish the job (issue 22, items 1 and 2), through the
//! real binary: memorized at every position, train and eval loss, steps and plurals, divergence
//! advice, a head's typo, an interrupt's continuing command, results' unknown names, compare's
//! table.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const HEADS: &str = "flatten, bottleneck, td-dense, conv, tied, causal, rnn, last";

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).args(args).current_dir(dir).output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Runs `args`, waits until `started` exists, sends SIGINT and returns what the binary printed.
fn interrupted(dir: &Path, args: &[&str], started: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_overfit"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !started.exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "{} never appeared", started.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    out
}

/// The command an interrupt message says to run, as words.
fn continuing_command(err: &str) -> Vec<String> {
    let line = err.lines().find(|l| l.contains("continue with: ")).unwrap_or_else(|| panic!("no command: {err}"));
    let command = line.split("continue with: ").nth(1).unwrap();
    command.split_whitespace().map(|w| w.trim_matches('\'').to_string()).collect()
}

#[test]
fn a_causal_run_reports_windows_memorized_at_every_position_beside_memorized() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = overfit(d, &["train", "--head", "causal", "--steps", "40", "--log-every", "20"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = read_json(&d.join("runs/id-1/report.json"));
    let (m, all) = (report["memorized"].as_u64().unwrap(), report["memorized_all_positions"].as_u64().unwrap());
    assert!(all <= m, "every position right implies the last one right: {all} > {m}");
    let of = report["memorized_of"].as_u64().unwrap();
    let line = text(&out.stdout);
    assert!(line.contains(&format!("{m}/{of} windows memorized ({all}/{of} at every position)")), "{line}");
    let rows = std::fs::read_to_string(d.join("runs/id-1/metrics.jsonl")).unwrap();
    for row in rows.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()) {
        assert!(row["memorized_all_positions"].is_u64() == row["memorized"].is_u64(), "{row}");
    }
    let log = text(&out.stderr);
    assert!(log.contains(" at every position) |"), "{log}");
    // eval --json gives it too; for a window head it is memorized itself.
    let out = overfit(d, &["eval", "--checkpoint", "runs/id-1/checkpoint.bin", "--json"]);
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(e["memorized_all_positions"].as_u64().unwrap() <= e["memorized"].as_u64().unwrap(), "{e}");
    assert!(overfit(d, &["train", "--steps", "5", "--quiet"]).status.success());
    let window = read_json(&d.join("runs/id-2/report.json"));
    assert_eq!(window["memorized_all_positions"], window["memorized"]);
    let out = overfit(d, &["eval", "--checkpoint", "runs/id-2/checkpoint.bin", "--json"]);
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["memorized_all_positions"], e["memorized"]);
}

#[test]
fn train_loss_and_eval_loss_are_labelled_wherever_they_appear() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["train", "--steps", "20", "--log-every", "10"]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    let row = err.lines().find(|l| l.starts_with("train step 10/20")).unwrap();
    assert!(row.contains("| train loss ") && row.contains("| eval loss "), "{row}");
    assert!(!row.contains("| loss ") && !row.contains("| eval 0"), "{row}");
    let line = text(&out.stdout);
    assert!(line.contains(", eval loss ") && !line.contains(", loss "), "{line}");
    // --help says what each means.
    let help = text(&overfit(dir.path(), &["train", "--help"]).stdout);
    for word in ["train loss", "eval loss", "val loss", "bits/byte", "memorized at every position"] {
        assert!(help.contains(word), "train --help lacks {word}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for word in ["**train loss**", "**eval loss**", "**val loss**", "**bits/byte**", "**memorized**"] {
        assert!(readme.contains(word), "README lacks {word}");
    }
    assert!(readme.contains("`memorized_all_positions`"));
}

#[test]
fn a_diverged_run_counts_its_steps_as_the_result_line_does_and_advises_only_what_would_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = overfit(d, &["train", "--lr", "1e9", "--steps", "50"]);
    assert_eq!(out.status.code(), Some(1));
    let (line, err) = (text(&out.stdout), text(&out.stderr));
    let steps = read_json(&d.join("runs/id-1/report.json"))["steps"].as_u64().unwrap();
    assert_eq!(steps, 1, "{err}");
    assert!(line.contains("; 1 step, ") && !line.contains("1 steps"), "{line}");
    assert!(err.contains("diverged after 1 step:"), "{err}");
    // Clipping is on at 1 by default: --clip 1 would change nothing. There is no warm-up.
    assert!(!err.contains("--clip") && err.contains("--warmup") && err.contains("--lr"), "{err}");
    // With clipping off and a warm-up, the advice turns around.
    let out = overfit(d, &["train", "--lr", "1e9", "--steps", "50", "--clip", "0", "--warmup", "2", "--quiet"]);
    let err = text(&out.stderr);
    assert!(err.contains("--clip 1") && !err.contains("--warmup") && err.contains("--lr"), "{err}");
}

#[test]
fn one_is_singular() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = overfit(d, &["sweep", "--grid", "lr=1e-3", "--steps", "1", "--runs-dir", "sw"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("sweep: 1 run,"), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("1 run done"), "{}", text(&out.stdout));
    let out = overfit(d, &["results", "sw"]);
    assert!(text(&out.stdout).contains("1 run in 1 group."), "{}", text(&out.stdout));
}

#[test]
fn a_misspelt_head_gets_a_tip_and_the_heads_naming_its_flag_once() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag, typo, tip) in [
        (&["train", "--head", "flaten"][..], "--head", "flaten", "flatten"),
        (&["compare", "--heads", "flatten,tide"][..], "--heads", "tide", "tied"),
        (&["capacity", "--heads", "casual"][..], "--heads", "casual", "causal"),
        (&["sweep", "--grid", "head=flaten"][..], "--grid", "flaten", "flatten"),
    ] {
        let out = overfit(dir.path(), args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("did you mean `{tip}`?")) && err.contains(HEADS), "{args:?}: {err}");
        assert!(err.contains(typo), "{args:?}: {err}");
        assert_eq!(err.matches(flag).count(), 1, "{args:?} names {flag} other than once: {err}");
        assert!(err.matches("--head").count() <= 1, "{args:?} names a flag twice: {err}");
    }
}

#[test]
fn a_misspelt_preset_gets_the_same_tip() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["summary", "--preset", "smal"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--preset: unknown preset 'smal'; did you mean `small`? allowed: seed-id4, small"), "{err}");
}

#[test]
fn an_interrupt_prints_the_command_that_continues_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = interrupted(d, &["train", "--steps", "4000", "--quiet"], &d.join("runs/id-1/metrics.jsonl"));
    let command = continuing_command(&text(&out.stderr));
    let bin = env!("CARGO_BIN_EXE_overfit");
    assert_eq!(command, [bin, "train", "--resume", "runs/id-1/checkpoint.bin"]);
    assert!(read_json(&d.join("runs/id-1/report.json"))["steps"].as_u64().unwrap() < 4000);
    // That very command finishes the run.
    let out = Command::new(&command[0]).args(&command[1..]).current_dir(d).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = read_json(&d.join("runs/id-1/report.json"));
    assert_eq!((report["stopped"].as_str(), report["steps"].as_u64()), (Some("max_steps"), Some(4000)));
    // A sweep is continued by the same command line.
    let args = ["sweep", "--grid", "lr=1e-3,2e-3", "--steps", "100000", "--runs-dir", "sw", "--quiet"];
    let out = interrupted(d, &args, &d.join("sw/lr=0.001,seed=0/metrics.jsonl"));
    let command = continuing_command(&text(&out.stderr));
    assert_eq!(command[0], bin);
    assert_eq!(command[1..], args);
}

#[test]
fn results_refuses_an_unknown_column_as_it_refuses_an_unknown_group_listing_the_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = overfit(d, &["sweep", "--grid", "lr=1e-3,2e-3", "--steps", "2", "--runs-dir", "sw", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (flag, bad, tip, listed) in [
        ("--columns", "bogus", None, "final_loss"),
        ("--columns", "final_los", Some("final_loss"), "steps"),
        ("--group-by", "hed", Some("head"), "d_model"),
    ] {
        let out = overfit(d, &["results", "sw", flag, bad]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}: {err}");
        assert!(err.contains(flag) && err.contains(&format!("'{bad}'")) && err.contains(listed), "{err}");
        if let Some(tip) = tip {
            assert!(err.contains(&format!("did you mean `{tip}`?")), "{err}");
        }
    }
    let out = overfit(d, &["results", "sw", "--columns", "final_loss,steps"]);
    assert!(out.status.success() && text(&out.stdout).starts_with("| lr | n | final_loss | steps |"));
}

#[test]
fn compares_table_puts_every_number_under_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let out = overfit(dir.path(), &["compare", "--heads", "flatten,bottleneck,causal", "--steps", "2", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let table: Vec<&str> = stdout.lines().take_while(|l| !l.starts_with("table:")).collect();
    assert_eq!(table.len(), 4, "{stdout}");
    let width = table[0].chars().count();
    // Every column but the first is right-aligned: it ends where its header ends, in every row.
    let header = table[0].replace("log's ratio", "log's_ratio").replace("eval loss", "eval_loss");
    let c: Vec<char> = header.chars().collect();
    let ends: Vec<usize> = (1..c.len()).filter(|&i| c[i - 1] != ' ' && c[i] == ' ').skip(1).chain([c.len()]).collect();
    assert_eq!(ends.len(), 11, "{header}");
    for row in &table[1..] {
        let r: Vec<char> = row.chars().collect();
        assert_eq!(r.len(), width, "{stdout}");
        for &e in &ends {
            assert!(r[e - 1] != ' ' && r.get(e).is_none_or(|&x| x == ' '), "a value off its column at {e}:\n{stdout}");
        }
    }
}
