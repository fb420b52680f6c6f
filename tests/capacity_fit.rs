//! `scripts/capacity_fit.py`, which joins capacity reports from several commands, against what it
//! must print: on a committed report, the command's own per-head figure and embedding split (an
//! independent implementation of the same fits); on made-up reports built from known rates, the
//! trunk/head split those rates give; a seed without a plateau at every size is left out of the
//! per-head figure; and a size found in two reports joins their seeds when it is one measurement
//! (same rate, steps and plateau datasets, no seed in common) and is refused otherwise; and `--svg`
//! draws each plateau and each lower bound with the figures the tables print.
//!
//! The script needs python3, which the machine has: without it the tests fail, unless
//! OVERFIT_SKIP_PYTHON=1 is set, and then each says that it skipped.

mod common;

use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The script's output on these reports (None: python3 missing, and the test skips).
fn fit(reports: &[&Path]) -> Option<Output> {
    common::python_script("capacity_fit.py", reports)
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// "m [lo, hi]" as the script and capacity.md print a mean and its interval.
fn printed(mean: f64, ci: &Value) -> String {
    format!("{mean:.2} [{:.2}, {:.2}]", ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap())
}

#[test]
fn on_a_committed_report_the_script_prints_the_commands_own_figures() {
    let report = Path::new(ROOT).join("capacity/causal/capacity.json");
    let Some(out) = fit(&[&report]) else { return };
    let text = stdout(&out);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let causal = &v["heads"]["causal"];
    let head = printed(causal["bits_per_param"].as_f64().unwrap(), &causal["ci95"]);
    assert!(text.contains(&format!("causal: {head} bits per parameter")), "{head} in:\n{text}");
    for part in ["embedding", "other"] {
        let s = &v["embedding_split"][part];
        let line = format!("{} bits per {part} parameter", printed(s["mean"].as_f64().unwrap(), &s["ci95"]));
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
}

/// A report with one head's sizes, each (params, embedding params, head params, capacity of seeds
/// 0, 1, …; NaN where that seed has no plateau).
fn report(dir: &Path, name: &str, head: &str, sizes: &[(u64, u64, u64, &[f64])]) -> std::path::PathBuf {
    let sizes: Vec<Value> = sizes
        .iter()
        .map(|&(params, embedding, head_params, caps)| {
            let by_seed: serde_json::Map<String, Value> = caps
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.is_nan())
                .map(|(seed, &c)| (seed.to_string(), json!(c)))
                .collect();
            json!({"params": params, "nonembedding_params": params - embedding, "head_params": head_params,
                   "capacity_by_seed": by_seed})
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, json!({"heads": {head: {"sizes": sizes}}}).to_string()).unwrap();
    path
}

#[test]
fn the_trunk_head_split_recovers_known_rates_and_a_size_in_two_reports_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Per seed, capacity = α·trunk + β·head exactly, with α and β differing per seed.
    let (alpha, beta) = ([2.9, 3.0, 3.1], [2.5, 2.7, 2.9]);
    let cap = |trunk: f64, head: f64| [0, 1, 2].map(|s| alpha[s] * trunk + beta[s] * head);
    // Two window models without a head layer and one with (4,620 parameters, as tied's at d 12).
    let last = report(
        dir.path(),
        "last.json",
        "last",
        &[(2792, 2200, 0, &cap(2792.0, 0.0)), (4476, 3300, 0, &cap(4476.0, 0.0))],
    );
    let tied = report(dir.path(), "tied.json", "tied", &[(9096, 3300, 4620, &cap(4476.0, 4620.0))]);
    let Some(out) = fit(&[&last, &tied]) else { return };
    let text = stdout(&out);
    // Means 3.00 and 2.70; the 95% t half-widths over 3 seeds: 4.303 · sd / √3, sd 0.1 and 0.2.
    assert!(text.contains("3.00 [2.75, 3.25] bits per trunk parameter, over 3 seeds"), "{text}");
    assert!(text.contains("2.70 [2.20, 3.20] bits per head parameter, over 3 seeds"), "{text}");
    assert!(text.contains("trunk/head, seed 1: 3 sizes, trunk 3.000, head 2.700, largest residual 0.0%"), "{text}");

    let Some(twice) = fit(&[&last, &last]) else { return };
    let err = String::from_utf8_lossy(&twice.stderr);
    assert!(!twice.status.success() && err.contains("last at 2792 parameters has a plateau in both"), "{err}");
    assert!(err.contains("(seeds 0, 1, 2 in both)"), "{err}");
}

/// Capacity per parameter changes with size: a seed measured at some sizes only would pull the
/// head's mean toward them, so it is left out, and said to be.
#[test]
fn the_per_head_figure_counts_only_the_seeds_with_a_plateau_at_every_size() {
    let dir = tempfile::tempdir().unwrap();
    // Seeds 0 and 1 store 2.5 and 2.7 bits per parameter at the small size, 2.9 and 3.1 at the large
    // one; seed 2 has the small size only. Counted, it would pull the mean down to (2.7+2.9+2.5)/3.
    let causal = report(
        dir.path(),
        "causal.json",
        "causal",
        &[(1000, 800, 0, &[2500.0, 2700.0, 2500.0]), (2000, 1400, 0, &[5800.0, 6200.0])],
    );
    let Some(out) = fit(&[&causal]) else { return };
    let text = stdout(&out);
    // Seed means 2.7 and 2.9: mean 2.80, half-width 12.706 · 0.1414 / √2 = 1.27.
    let line = "causal: 2.80 [1.53, 4.07] bits per parameter, sizes: 2, seeds: 2 (left out, not at every size: seed 2)";
    assert!(text.contains(line), "{line} in:\n{text}");

    // Seeds at disjoint sizes: no per-head figure, and the line says why.
    let disjoint = report(
        dir.path(),
        "disjoint.json",
        "causal",
        &[(1000, 800, 0, &[2500.0]), (2000, 1400, 0, &[f64::NAN, 6200.0])],
    );
    let Some(out) = fit(&[&disjoint]) else { return };
    let text = stdout(&out);
    let line = "causal: no seed has a plateau at all 2 sizes (left out, not at every size: seeds 0, 1)";
    assert!(text.contains(line), "{line} in:\n{text}");
}

/// A third seed run later, with the first two's rate and budget, is the same measurement: its
/// plateau joins theirs. A seed in both reports, or another rate, is two measurements: refused.
#[test]
fn a_later_seed_at_the_same_protocol_joins_the_size_and_anything_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = report(dir.path(), "first.json", "causal", &[(1000, 800, 0, &[2500.0, 2700.0])]);
    let later = report(dir.path(), "later.json", "causal", &[(1000, 800, 0, &[f64::NAN, f64::NAN, 3000.0])]);
    let Some(out) = fit(&[&first, &later]) else { return };
    let text = stdout(&out);
    // Seeds 2.5, 2.7, 3.0: mean 2.733, sd 0.2517, half-width 4.303 · 0.2517 / √3 = 0.625.
    let line = "causal: 2.73 [2.11, 3.36] bits per parameter, sizes: 1, seeds: 3";
    assert!(text.contains(line), "{line} in:\n{text}");
    // Joined, the size's capacity over the three seeds: 2,733 ± 4.303 · 251.7 / √3 = [2,108, 3,359].
    assert!(text.contains("| 0: 2,500, 1: 2,700, 2: 3,000 | 2,733 [2,108, 3,359] |"), "{text}");

    let mut other_rate: Value = serde_json::from_str(&std::fs::read_to_string(&later).unwrap()).unwrap();
    other_rate["heads"]["causal"]["sizes"][0]["lr"] = json!(0.01);
    std::fs::write(&later, other_rate.to_string()).unwrap();
    let Some(out) = fit(&[&first, &later]) else { return };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("(rate, steps or plateau datasets differ)"), "{err}");
}

/// `--svg` draws each size's plateau with its interval over seeds, and each size with a plateau in
/// no report as the most its certified points stored on one dataset (mean over seeds), a lower
/// bound: an uncertified point, however high, never raises it, and a size with a plateau in one
/// report is not also drawn as a bound from another (`--bounds`).
#[test]
fn the_figure_draws_each_plateau_with_its_interval_and_each_size_without_one_as_a_lower_bound() {
    let dir = tempfile::tempdir().unwrap();
    let causal = report(dir.path(), "causal.json", "causal", &[(1000, 800, 0, &[2500.0, 2700.0, 3000.0])]);
    // tied at 2,000 parameters has no plateau: on n 64 its certified seeds store 5,000 and 5,400
    // bits (mean 2.60 per parameter), on n 96 one certified seed 5,100 and an uncertified 9,000.
    let point = |params: u64, n: u64, seed: u64, bits: f64, certified: bool| json!({"params": params, "n": n, "seed": seed, "memorized_bits": bits, "certified": certified});
    let points = [
        point(2000, 64, 0, 5000.0, true),
        point(2000, 64, 1, 5400.0, true),
        point(2000, 96, 0, 5100.0, true),
        point(2000, 96, 1, 9000.0, false),
        point(3000, 64, 0, 8000.0, true), // tied's size with a plateau in this report: never a bound
        point(1000, 64, 0, 9999.0, true), // causal's size has a plateau in the other: never a bound
    ];
    let bounds = dir.path().join("bounds.json");
    let plateau =
        json!({"params": 3000, "nonembedding_params": 1000, "head_params": 0, "capacity_by_seed": {"0": 8000.0}});
    let heads =
        json!({"tied": {"sizes": [plateau], "points": points[..5]}, "causal": {"sizes": [], "points": points[5..]}});
    std::fs::write(&bounds, json!({ "heads": heads }).to_string()).unwrap();
    let svg = dir.path().join("per_head.svg");
    let args = [causal.as_os_str(), "--svg".as_ref(), svg.as_os_str(), "--bounds".as_ref(), bounds.as_os_str()];
    let Some(out) = common::python_script("capacity_fit.py", &args) else { return };
    stdout(&out);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    // Seeds 2.5, 2.7, 3.0 bits per parameter: 2.73 [2.11, 3.36], as the per-head line prints it.
    assert!(drawn.contains("<title>causal, 1,000 parameters: 2.73 [2.11, 3.36] bits per parameter</title>"), "{drawn}");
    assert!(drawn.contains("<title>tied, 2,000 parameters: at least 2.60 bits per parameter</title>"), "{drawn}");
    assert_eq!(drawn.matches("class=\"plateau\"").count(), 1, "{drawn}");
    assert_eq!(drawn.matches("class=\"lower-bound\"").count(), 1, "{drawn}");
    assert!(drawn.contains("3.6: Morris et al.") && drawn.contains("2.0: Allen-Zhu &amp; Li"), "{drawn}");
}
