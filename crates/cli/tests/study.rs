//! `overfit study --quick` through the binary: every experiment and every head in miniature, with
//! seed statistics, computed baselines and the data's checksum, in well under five minutes; and a
//! rerun that redoes nothing.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

fn overfit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_overfit")).args(args).current_dir(dir).output().expect("the binary runs")
}

const VARIANTS: [&str; 10] =
    ["flatten", "bottleneck", "td-dense", "conv", "tied", "rnn", "last", "causal", "causal-untied", "causal-last"];
const EXPERIMENTS: [&str; 9] = [
    "memorize",
    "bottleneck-k",
    "conv-kernel",
    "tied-depth",
    "combined",
    "length",
    "generalisation",
    "equal-steps",
    "matched",
];
const FIGURES: [&str; 8] = [
    "tune.svg",
    "memorize.svg",
    "memorize_curves.svg",
    "bottleneck_k.svg",
    "conv_kernel.svg",
    "tied_depth.svg",
    "length.svg",
    "generalisation.svg",
];

fn cells<'a>(results: &'a Value, experiment: &str) -> Vec<&'a Value> {
    results["cells"].as_array().unwrap().iter().filter(|c| c["experiment"] == experiment).collect()
}

fn mean(stat: &Value) -> f64 {
    stat["mean"].as_f64().unwrap_or(f64::NAN)
}

#[test]
fn the_quick_study_covers_every_head_and_experiment_with_statistics_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let out = overfit(dir.path(), &["study", "--quick", "--quiet", "--jobs", "2", "--out", "s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(t0.elapsed().as_secs() < 300, "the quick study took {:?}", t0.elapsed());
    let s = dir.path().join("s");
    for f in FIGURES {
        let svg = std::fs::read_to_string(s.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(svg.contains("<svg") && svg.contains("95%"), "{f} has no title with its interval");
    }
    let results: Value = serde_json::from_slice(&std::fs::read(s.join("results.json")).unwrap()).unwrap();
    check_data_and_tuning(&results);
    check_cells(&results);
    check_baselines(&results);
    let md = std::fs::read_to_string(s.join("results.md")).unwrap();
    assert!(md.contains(results["data"]["sha256"].as_str().unwrap()), "results.md names the checksum");
    for heading in ["## Learning rate per head", "## The log's runs", "## Generalisation", "### Baselines"] {
        assert!(md.contains(heading), "{heading}");
    }
    assert!(md.contains("causal --loss-positions last") && md.contains("causal --untied"));

    // Finished runs are not redone.
    let again = overfit(dir.path(), &["study", "--quick", "--json", "--out", "s"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len() as u64, v["planned"].as_u64().unwrap());
    assert!(runs.iter().all(|r| r["skipped"] == true));

    sharded_gives_the_whole(dir.path(), &results);
}

/// The same study in two shards, each run again until both say it is complete: the same
/// results.json as the whole, times and folders aside.
fn sharded_gives_the_whole(dir: &Path, whole: &Value) {
    let mut done = [false, false];
    for round in 0..8 {
        let k = round % 2;
        let shard = format!("{}/2", k + 1);
        let out = overfit(dir, &["study", "--quick", "--json", "--jobs", "2", "--shard", &shard, "--out", "sharded"]);
        assert!(out.status.success(), "shard {shard}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        done[k] = v["runs"].as_array().unwrap().len() as u64 == v["planned"].as_u64().unwrap();
        assert_eq!(v["waiting"], Value::Bool(!done[k]), "shard {shard}: {v}");
        if done == [true, true] {
            break;
        }
    }
    assert_eq!(done, [true, true], "two shards, run in turn, finish the study");
    let sharded: Value = serde_json::from_slice(&std::fs::read(dir.join("sharded/results.json")).unwrap()).unwrap();
    assert_eq!(without_times(sharded), without_times(whole.clone()));
}

fn without_times(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.retain(|k, _| !["dir", "skipped", "wall_seconds", "ms_per_step"].contains(&k.as_str()));
            for x in m.values_mut() {
                *x = without_times(x.take());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| *x = without_times(x.take())),
        _ => {}
    }
    v
}

fn check_data_and_tuning(results: &Value) {
    let corpus = include_str!("../../train/src/corpus.txt");
    assert_eq!(results["data"]["bytes"].as_u64(), Some(corpus.len() as u64));
    let sha = results["data"]["sha256"].as_str().unwrap();
    assert!(sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()), "{sha}");
    let lrs: Vec<f64> = results["budget"]["lrs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let chosen = results["learning_rates"].as_object().unwrap();
    assert_eq!(chosen.len(), VARIANTS.len());
    for v in VARIANTS {
        assert!(lrs.contains(&chosen[v].as_f64().unwrap()), "{v}: the chosen lr is one of the tuned");
        let tuned: Vec<&Value> = results["tuning"].as_array().unwrap().iter().filter(|c| c["variant"] == v).collect();
        assert_eq!(tuned.len(), lrs.len(), "{v}: one tuning cell per lr");
    }
}

fn check_cells(results: &Value) {
    for e in EXPERIMENTS {
        assert!(!cells(results, e).is_empty(), "{e}");
    }
    let memorize = cells(results, "memorize");
    let names: Vec<&str> = memorize.iter().map(|c| c["variant"].as_str().unwrap()).collect();
    assert_eq!(names, VARIANTS, "every head and causal variant");
    for c in results["cells"].as_array().unwrap() {
        assert!(c["n"].as_u64().unwrap() >= 2, "{}: seeds", c["cell"]);
        let f = &c["memorized_fraction"];
        assert!(f["ci95"].is_array() && (0.0..=1.0).contains(&mean(f)), "{}: {f}", c["cell"]);
    }
    for c in memorize {
        assert_eq!(c["trunk"], "seed-id4", "{}", c["cell"]);
    }
    let wide = cells(results, "combined").into_iter().find(|c| c["cell"] == "N=2,d=32,L=16").unwrap();
    assert_eq!(wide["trunk"], "seed-id4 with seq_length=16, d_model=32, num_blocks=2, d_ff=32");
    for c in cells(results, "generalisation") {
        let bits = mean(&c["test_last_bits_per_byte"]);
        assert!(bits > 0.5 && bits < 20.0, "{}: {bits}", c["cell"]);
        for r in c["runs"].as_array().unwrap() {
            let stopped = r["stopped"].as_str().unwrap();
            assert!(["early_stopped", "max_steps"].contains(&stopped), "{}: {stopped}", c["cell"]);
            assert!(r["best_step"].as_u64().unwrap() <= r["steps"].as_u64().unwrap(), "{r}");
        }
    }
    check_gen_tuning(results);
    // One block: `last` and `causal --loss-positions last` are the same function, trained alike.
    let loss = |v: &str| mean(&cells(results, "memorize").iter().find(|c| c["variant"] == v).unwrap()["final_loss"]);
    assert_eq!(loss("last"), loss("causal-last"));
    assert_ne!(loss("last"), loss("causal"));
}

/// The rate of every generalisation variant was tuned for validation loss and lies strictly inside
/// the rates tried (or the tuning says it is still at an end).
fn check_gen_tuning(results: &Value) {
    let chosen = results["gen_learning_rates"].as_object().unwrap();
    assert_eq!(chosen.len(), VARIANTS.len() - 1, "every variant but causal-last");
    for (v, c) in chosen {
        let tried: Vec<f64> = c["tried"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        let lr = c["lr"].as_f64().unwrap();
        let inside = tried.first().unwrap() < &lr && &lr < tried.last().unwrap();
        assert!(inside || !c["beyond"].is_null(), "{v}: {lr} at an end of {tried:?} without a flag");
        let runs = results["gen_tuning"].as_array().unwrap().iter().filter(|t| t["variant"] == v.as_str()).count();
        assert_eq!(runs, tried.len(), "{v}: one tuning cell per rate tried");
    }
}

fn check_baselines(results: &Value) {
    let sizes = cells(results, "generalisation").into_iter().map(|c| c["x"].as_f64().unwrap() as u64);
    let sizes = sizes.collect::<std::collections::BTreeSet<_>>().len();
    let max_order = results["budget"]["max_order"].as_u64().unwrap() as usize;
    let baselines = results["baselines"].as_array().unwrap();
    assert_eq!(baselines.len(), sizes);
    for b in baselines {
        let orders = b["bits_by_order"].as_array().unwrap();
        assert_eq!(orders.len(), max_order);
        let best = b["best_bits"].as_f64().unwrap();
        let fewest = orders.iter().map(|x| x.as_f64().unwrap()).fold(f64::INFINITY, f64::min);
        assert!(best == fewest && best > 0.5, "the order is chosen on validation: {b}");
        let test = b["test_bits"].as_f64().unwrap();
        assert!(test > 0.5 && test < 9.0 && b["test_targets"].as_u64().unwrap() > 0, "{b}");
        let entropy = b["train_entropy"].as_f64().unwrap();
        assert!(entropy > 1.0 && entropy <= 8.0, "{b}");
    }
}
