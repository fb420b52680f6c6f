//! `overfit study`: the research log's experiments, rerunnable by anyone.
//!
//! Five experiments, each a list of ordinary runs (every one a run folder of its own):
//! - `log`: the log's runs on 432 windows — the bottleneck of run id 2, the flatten head of runs
//!   id 3/4, then td-dense, conv, tied and causal — until memorized (or a cap);
//! - `bottleneck-k`: the bottleneck head over k, to see where it stops being able to memorize;
//! - `capacity`: every head on a growing number of windows under a fixed step budget;
//! - `hyper`: the log's ideas 1–3 (num_blocks, d_model, seq_length), one at a time;
//! - `generalisation`: every head on a 90/10 split, validation bits per byte.
//!
//! Runs are named by what they vary; a run whose folder already holds a report made from the same
//! config is not redone, so an interrupted study continues where it stopped.

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::plot::{self, Line, Series};
use crate::run::{MetricsRow, Report, RunDir};
use crate::runner::RunSpec;
use heads::{HeadKind, ModelConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to study.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// The text (None: the embedded corpus).
    pub data: Option<PathBuf>,
    /// A small version of every experiment (minutes, not tens of minutes).
    pub quick: bool,
    pub seed: u64,
}

/// One planned run.
#[derive(Clone, Debug)]
pub struct Spec {
    pub experiment: &'static str,
    pub name: String,
    /// The value the experiment varies (k, windows, num_blocks …), for tables and plots.
    pub x: f64,
    pub config: TrainConfig,
}

/// One finished run, as results.json lists it.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub experiment: &'static str,
    pub name: String,
    pub x: f64,
    pub report: Report,
    /// Memorized windows per head parameter (None for a head without parameters).
    pub memorized_per_head_param: Option<f64>,
    /// Found finished in its folder, not run again.
    pub skipped: bool,
}

pub const HEADS: [HeadKind; 6] =
    [HeadKind::Bottleneck, HeadKind::Flatten, HeadKind::TdDense, HeadKind::Conv, HeadKind::Tied, HeadKind::Causal];

fn base(o: &StudyOptions) -> TrainConfig {
    let mut c = TrainConfig::default_run();
    c.data = o.data.as_ref().map(|p| p.display().to_string());
    c.samples = Some(crate::data::DEFAULT_SAMPLES);
    c.seed = o.seed;
    c.checkpoint_every = 0;
    c
}

/// Windows a file of `len` bytes offers at window length `l`.
fn windows_in(o: &StudyOptions, l: usize) -> Result<usize> {
    let len = match &o.data {
        None => crate::data::EMBEDDED_CORPUS.len(),
        Some(p) => {
            std::fs::metadata(p).map_err(|e| Error::input(p.display(), crate::data::io_reason(&e)))?.len() as usize
        }
    };
    Ok(len.saturating_sub(l))
}

/// Every run of the study, in the order they run.
pub fn plan(o: &StudyOptions) -> Result<Vec<Spec>> {
    let q = o.quick;
    let mut specs = Vec::new();
    let until = |mut c: TrainConfig, epochs: u64| {
        c.until_memorized = true;
        c.epochs = Some(epochs);
        c.steps = None;
        c
    };
    let cap = if q { 150 } else { 1000 };
    let l = ModelConfig::default().seq_length;
    if windows_in(o, l)? < crate::data::DEFAULT_SAMPLES {
        return Err(Error::input(
            o.data.as_ref().map_or("the embedded corpus".into(), |p| p.display().to_string()),
            "is too short for the study's 432 windows",
        ));
    }

    // The log's runs on 432 windows.
    for head in HEADS {
        let mut c = until(base(o), cap);
        c.model.head = head;
        specs.push(Spec { experiment: "log", name: head.to_string(), x: 0.0, config: c });
    }
    // The bottleneck over k.
    let ks: &[usize] = if q { &[2, 16, 64] } else { &[1, 2, 4, 8, 16, 32, 64, 128] };
    for &k in ks {
        let mut c = until(base(o), cap);
        c.model.head = HeadKind::Bottleneck;
        c.model.bottleneck = k;
        specs.push(Spec { experiment: "bottleneck-k", name: format!("k{k}"), x: k as f64, config: c });
    }
    // Capacity: memorized fraction as the windows double, a fixed step budget.
    let sizes: &[usize] = if q { &[108, 432, 1728] } else { &[108, 216, 432, 864, 1728, 3456, 6912] };
    let available = windows_in(o, l)?;
    for head in HEADS {
        for &n in sizes.iter().filter(|&&n| n <= available) {
            let mut c = base(o);
            c.model.head = head;
            c.samples = Some(n);
            c.steps = Some(if q { 300 } else { 3000 });
            c.epochs = None;
            c.until_memorized = true;
            specs.push(Spec { experiment: "capacity", name: format!("{head}-n{n}"), x: n as f64, config: c });
        }
    }
    // The log's ideas 1–3, one hyperparameter at a time (flatten head, 432 windows).
    let sweeps: [(&str, &[usize]); 3] = if q {
        [("num_blocks", &[1, 4]), ("d_model", &[8, 32]), ("seq_length", &[16, 64])]
    } else {
        [("num_blocks", &[1, 2, 4, 8]), ("d_model", &[8, 16, 32, 64]), ("seq_length", &[8, 16, 32, 64])]
    };
    for (what, values) in sweeps {
        for &v in values {
            let mut c = until(base(o), cap);
            match what {
                "num_blocks" => c.model.num_blocks = v,
                "d_model" => {
                    c.model.d_model = v;
                    c.model.d_ff = v; // run id 4 has d_ff = d_model
                }
                _ => c.model.seq_length = v,
            }
            if windows_in(o, c.model.seq_length)? >= crate::data::DEFAULT_SAMPLES {
                specs.push(Spec { experiment: "hyper", name: format!("{what}-{v}"), x: v as f64, config: c });
            }
        }
    }
    // Generalisation: a 90/10 split, every head on the same trunk, plus a causal model grown to the
    // flatten model's parameter count.
    let trunk = if q { ModelConfig::preset("seed-id4")? } else { ModelConfig::preset("small")? };
    let steps = if q { 150 } else { 2000 };
    let mut gens: Vec<(String, ModelConfig)> =
        HEADS.iter().map(|&h| (h.to_string(), ModelConfig { head: h, ..trunk.clone() })).collect();
    let matched = if q {
        ModelConfig { head: HeadKind::Causal, d_model: 32, num_blocks: 4, d_ff: 128, ..trunk.clone() }
    } else {
        ModelConfig { head: HeadKind::Causal, d_model: 128, num_blocks: 5, d_ff: 512, ..trunk.clone() }
    };
    gens.push(("causal-matched".into(), matched));
    for (name, m) in gens {
        let mut c = base(o);
        c.model = m;
        c.samples = None;
        c.val_fraction = Some(0.1);
        c.steps = Some(steps);
        c.epochs = None;
        c.until_memorized = false;
        c.eval_windows = Some(if q { 1024 } else { 8192 });
        c.log_every = Some(if q { 50 } else { 250 });
        specs.push(Spec { experiment: "generalisation", name, x: 0.0, config: c });
    }
    Ok(specs)
}

/// The runs of a study as the runner takes them: `out/runs/<experiment>/<name>`.
pub fn run_specs(specs: &[Spec], out: &Path) -> Vec<RunSpec> {
    specs
        .iter()
        .map(|s| RunSpec {
            dir: out.join("runs").join(s.experiment).join(&s.name),
            config: s.config.clone(),
            label: format!("{}/{}", s.experiment, s.name),
        })
        .collect()
}

/// Writes `out/results.json`, `out/results.md` and the plots from the reports of the runs done
/// (in plan order; an interrupted study has fewer). Returns the outcomes.
pub fn write_results(specs: &[Spec], done: &[crate::runner::Outcome], out: &Path) -> Result<Vec<Outcome>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
    let outcomes: Vec<Outcome> = specs
        .iter()
        .zip(done)
        .filter(|(_, o)| o.report.stopped != crate::run::Stopped::Interrupted)
        .map(|(spec, o)| Outcome {
            experiment: spec.experiment,
            name: spec.name.clone(),
            x: spec.x,
            memorized_per_head_param: (o.report.params.head > 0)
                .then(|| o.report.memorized as f64 / o.report.params.head as f64),
            report: o.report.clone(),
            skipped: o.skipped,
        })
        .collect();
    write_tables(out, &outcomes)?;
    Ok(outcomes)
}

fn of<'a>(outcomes: &'a [Outcome], experiment: &str) -> impl Iterator<Item = &'a Outcome> {
    let e = experiment.to_string();
    outcomes.iter().filter(move |o| o.experiment == e)
}

fn fraction(r: &Report) -> f64 {
    r.memorized as f64 / r.memorized_of.max(1) as f64
}

fn fmt_epochs(r: &Report) -> String {
    r.epochs_to_memorize.map_or("not memorized".into(), |e| format!("{e:.0}"))
}

/// results.json, results.md (every table) and the plots.
fn write_tables(out: &Path, outcomes: &[Outcome]) -> Result<()> {
    let json = serde_json::to_string_pretty(&serde_json::json!({ "runs": outcomes })).expect("serializable") + "\n";
    crate::fsutil::write_atomic(&out.join("results.json"), json.as_bytes())?;
    let t = heads::accounting::thousands;
    let r = heads::accounting::fmt_ratio;
    let mut md =
        String::from("# Study results\n\nGenerated by `overfit study`; every row is a run folder under `runs/`.\n");

    md.push_str("\n## The log's runs (432 windows)\n\n| head | embeddings | blocks | head | total | exact ratio | log's ratio | memorized | epochs to memorize | steps | final loss | wall s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for o in of(outcomes, "log") {
        let p = &o.report;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {:.4} | {:.1} |\n",
            o.name,
            t(p.params.embeddings),
            t(p.params.blocks),
            t(p.params.head),
            t(p.params.total),
            p.ratio.map_or("none".into(), r),
            r(p.approx_ratio),
            p.memorized,
            p.memorized_of,
            fmt_epochs(p),
            p.steps,
            p.final_loss,
            p.wall_seconds
        ));
    }
    md.push_str("\n## The bottleneck over k (432 windows)\n\n| k | head params | memorized | epochs to memorize | final loss |\n|---|---|---|---|---|\n");
    for o in of(outcomes, "bottleneck-k") {
        let p = &o.report;
        md.push_str(&format!(
            "| {} | {} | {}/{} | {} | {:.4} |\n",
            o.x,
            t(p.params.head),
            p.memorized,
            p.memorized_of,
            fmt_epochs(p),
            p.final_loss
        ));
    }
    md.push_str("\n## Capacity (fixed step budget)\n\n| head | windows | head params | memorized | fraction | memorized per 1k head params | steps |\n|---|---|---|---|---|---|---|\n");
    for o in of(outcomes, "capacity") {
        let p = &o.report;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {} | {} |\n",
            p.head,
            o.x,
            t(p.params.head),
            p.memorized,
            fraction(p),
            o.memorized_per_head_param.map_or("–".into(), |m| format!("{:.2}", m * 1000.0)),
            p.steps
        ));
    }
    md.push_str("\n## The log's ideas 1–3 (flatten, 432 windows)\n\n| run | total params | blocks | head | exact ratio | log's ratio 4·N·d/(L·V) | memorized | epochs to memorize |\n|---|---|---|---|---|---|---|---|\n");
    for o in of(outcomes, "hyper") {
        let p = &o.report;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {}/{} | {} |\n",
            o.name,
            t(p.params.total),
            t(p.params.blocks),
            t(p.params.head),
            p.ratio.map_or("none".into(), r),
            r(p.approx_ratio),
            p.memorized,
            p.memorized_of,
            fmt_epochs(p)
        ));
    }
    md.push_str("\n## Generalisation (90/10 split)\n\n| run | total params | head params | steps | train loss | validation bits/byte |\n|---|---|---|---|---|---|\n");
    for o in of(outcomes, "generalisation") {
        let p = &o.report;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.4} | {:.3} |\n",
            o.name,
            t(p.params.total),
            t(p.params.head),
            p.steps,
            p.final_loss,
            p.bits_per_byte
        ));
    }
    crate::fsutil::write_atomic(&out.join("results.md"), md.as_bytes())?;

    // Plots.
    let metrics = |o: &Outcome| RunDir { path: o.report.run_dir.clone().into() }.read_metrics();
    let log: Vec<(String, Vec<MetricsRow>)> = of(outcomes, "log").map(|o| (o.name.clone(), metrics(o))).collect();
    if !log.is_empty() {
        let series: Vec<Series<'_>> = log.iter().map(|(n, m)| Series { label: n, rows: m }).collect();
        plot::curves(&out.join("log.svg"), "The log's runs: 432 windows, every head", &series)?;
    }
    let k: Vec<(f64, f64)> = of(outcomes, "bottleneck-k").map(|o| (o.x, fraction(&o.report))).collect();
    if !k.is_empty() {
        plot::lines(
            &out.join("bottleneck_k.svg"),
            "Bottleneck: memorized fraction of 432 windows against k",
            "k",
            "memorized fraction",
            &[Line { label: "bottleneck", points: k }],
            true,
        )?;
    }
    let cap: Vec<Line<'_>> = HEADS
        .iter()
        .map(|h| Line {
            label: h.name(),
            points: of(outcomes, "capacity")
                .filter(|o| o.report.head == *h)
                .map(|o| (o.x, fraction(&o.report)))
                .collect(),
        })
        .filter(|l| !l.points.is_empty())
        .collect();
    if !cap.is_empty() {
        plot::lines(
            &out.join("capacity.svg"),
            "Capacity: memorized fraction under a fixed step budget",
            "training windows",
            "memorized fraction",
            &cap,
            true,
        )?;
    }
    let gen: Vec<(String, Vec<MetricsRow>)> =
        of(outcomes, "generalisation").map(|o| (o.name.clone(), metrics(o))).collect();
    if !gen.is_empty() {
        let lines: Vec<Line<'_>> = gen
            .iter()
            .map(|(n, m)| Line {
                label: n,
                points: m.iter().filter_map(|r| Some((r.step as f64, r.val_loss? / std::f64::consts::LN_2))).collect(),
            })
            .collect();
        plot::lines(
            &out.join("generalisation.svg"),
            "Generalisation: validation bits per byte (90/10 split)",
            "step",
            "validation bits/byte",
            &lines,
            false,
        )?;
    }
    Ok(())
}
