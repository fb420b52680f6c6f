//! `overfit study`: the research log's questions, answered with seeds and 95% intervals.
//!
//! The study is a plan of ordinary run folders, made by `sweep::plan` and run by
//! `runner::run_all` (so `--jobs` runs several at once, finished runs are skipped and interrupted
//! ones resumed), in two phases:
//! 1. `tune`: every head and causal variant at every learning rate of [`budget::LRS`] on the log's
//!    432 windows; each keeps the rate that memorizes them in the fewest epochs (mean over seeds).
//! 2. every experiment, each variant at its own rate: `memorize` (the log's runs), `bottleneck-k`,
//!    `conv-kernel`, `tied-depth`, `combined` (ideas 1+2+3), `length` (flatten against causal as
//!    L grows) and `generalisation` (growing subsets, held-out bits at the last position).
//!
//! Then the statistics over seeds (`results::stat`), the baselines computed from the same bytes
//! (`baselines`), `results.md`, `results.json` and the figures. [`budget::Budget`] sizes it all.

pub mod baselines;
pub mod budget;
mod figures;
pub mod plan;
pub mod stats;
mod tables;

use serde::Serialize;
use stats::{CellRuns, Done, GenChoice};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use train::error::{Error, Result};
use train::runner::{self, ObserverFactory};

/// What to study, and where.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// The text (None: the embedded corpus).
    pub data: Option<PathBuf>,
    /// Every experiment in miniature (the test of the study).
    pub quick: bool,
    pub out: PathBuf,
    /// Runs at once.
    pub jobs: usize,
    /// Run only shard K of N (1-based) of each phase; a phase goes on once every shard's share of
    /// it is finished, in the same `out`.
    pub shard: Option<(usize, usize)>,
}

impl StudyOptions {
    /// `out` defaults to `study/<the data file's stem>` (`embedded` without a file), with
    /// `-quick` appended for a quick study.
    pub fn new(
        data: Option<PathBuf>,
        quick: bool,
        out: Option<PathBuf>,
        jobs: usize,
        shard: Option<(usize, usize)>,
    ) -> StudyOptions {
        let stem = data.as_ref().and_then(|p| p.file_stem()).map_or("embedded".into(), |s| s.to_string_lossy());
        let default = Path::new("study").join(if quick { format!("{stem}-quick") } else { stem.to_string() });
        StudyOptions { data, quick, out: out.unwrap_or(default), jobs, shard }
    }
}

/// One run of the study, as `study --json` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct RunDone {
    pub experiment: &'static str,
    pub cell: String,
    pub seed: u64,
    pub dir: PathBuf,
    pub skipped: bool,
}

/// What a study did: every run done, of how many planned so far (an interrupted study has
/// fewer; the same command continues it).
#[derive(Clone, Debug, Serialize)]
pub struct Finished {
    pub out: PathBuf,
    pub planned: usize,
    pub runs: Vec<RunDone>,
    /// A shard that finished its share of a phase and waits for the other shards' (run it again
    /// once they have).
    pub waiting: bool,
}

impl Finished {
    pub fn complete(&self) -> bool {
        self.runs.len() == self.planned
    }
    fn add(&mut self, planned: usize, cells: &[CellRuns]) {
        self.planned += planned;
        for c in cells {
            self.runs.extend(c.runs.iter().map(|d| RunDone {
                experiment: c.cell.experiment.name(),
                cell: c.cell.name.clone(),
                seed: d.seed,
                dir: d.dir.clone(),
                skipped: d.skipped,
            }));
        }
    }
}

/// Runs the study (or what is left of it) and writes its results into `o.out`.
pub fn run(o: &StudyOptions, observer: &ObserverFactory<'_>, stop: &AtomicBool) -> Result<Finished> {
    let budget = budget::Budget::of(o.quick);
    let data = baselines::Data::open(o.data.as_deref())?;
    let l = heads::ModelConfig::default().seq_length;
    if data.windows_at(l, None) < budget.windows {
        return Err(Error::input(&data.info.path, format!("is too short for the study's {} windows", budget.windows)));
    }
    let mut finished = Finished { out: o.out.clone(), planned: 0, runs: Vec::new(), waiting: false };
    let windows_at = |l: usize, held: Option<(f64, f64)>| data.windows_at(l, held);
    // Phase 1: the rates, to memorize (`tune`) and for validation loss (`gen-tune`), together.
    let mut phase1 = plan::tuning(&budget, o);
    phase1.extend(plan::gen_tuning(&budget, o, &|_| budget.gen_lrs.clone(), &windows_at));
    let (planned, tuned) = execute(&phase1, o, observer, stop)?;
    finished.add(planned, &tuned);
    let (mut gen_tuned, tuned): (Vec<CellRuns>, Vec<CellRuns>) =
        tuned.into_iter().partition(|c| c.cell.experiment == plan::Experiment::GenTune);
    if finished.complete() {
        extend_gen_tuning(&budget, o, observer, stop, &windows_at, &mut gen_tuned, &mut finished)?;
    }
    if !finished.complete() {
        finished.waiting = o.shard.is_some() && !runner::interrupted();
        return Ok(finished);
    }
    let lrs: Vec<(&str, f64)> =
        plan::VARIANTS.iter().map(|v| (v.name, stats::choose_lr(&tuned, *v).unwrap_or(1e-3))).collect();
    let lr = |name: &str| lrs.iter().find(|(n, _)| *n == name).map_or(1e-3, |p| p.1);
    let gen: Vec<(&str, GenChoice)> =
        plan::VARIANTS.iter().filter_map(|v| Some((v.name, stats::choose_gen_lr(&gen_tuned, *v)?))).collect();
    let gen_lr = |name: &str| gen.iter().find(|(n, _)| *n == name).map_or(lr(name), |p| p.1.lr);
    let cells = plan::experiments(&budget, o, &lr, &gen_lr, &windows_at);
    let (planned, mut done) = execute(&cells, o, observer, stop)?;
    finished.add(planned, &done);
    if !finished.complete() {
        finished.waiting = o.shard.is_some() && !runner::interrupted();
        return Ok(finished);
    }
    for c in &mut done {
        for d in &mut c.runs {
            d.test_last_bits = stats::test_last_bits(c.cell.variant, d)?;
        }
    }
    let tuning = tables::Tuning { memorize: &tuned, lrs: &lrs, gen: &gen_tuned, gen_lrs: &gen };
    let study = tables::Study::new(&budget, &data, tuning, &done)?;
    tables::write(o, &study)?;
    figures::draw(&o.out, &study)?;
    Ok(finished)
}

/// Rates added beyond an end of the generalisation tuning's range, at most, per variant.
const MAX_EXTENSIONS: usize = 2;

/// While a variant's best validation rate is the smallest or largest tried, tries one more
/// beyond it (up to [`MAX_EXTENSIONS`] rounds), so that the chosen rate lies inside the range.
fn extend_gen_tuning(
    budget: &budget::Budget,
    o: &StudyOptions,
    observer: &ObserverFactory<'_>,
    stop: &AtomicBool,
    windows_at: plan::WindowsAt<'_>,
    gen_tuned: &mut Vec<CellRuns>,
    finished: &mut Finished,
) -> Result<()> {
    for _ in 0..MAX_EXTENSIONS {
        let beyond = |name: &str| {
            let v = plan::Variant::named(name).expect("a study variant");
            stats::choose_gen_lr(gen_tuned, v).and_then(|c| c.beyond).into_iter().collect::<Vec<f64>>()
        };
        let cells = plan::gen_tuning(budget, o, &beyond, windows_at);
        if cells.is_empty() {
            return Ok(());
        }
        let (planned, more) = execute(&cells, o, observer, stop)?;
        finished.add(planned, &more);
        gen_tuned.extend(more);
        if !finished.complete() {
            return Ok(());
        }
    }
    Ok(())
}

/// Runs the cells' runs (`jobs` at a time; only this shard's share under `--shard`) and returns
/// how many were planned, and each cell with its finished runs: this process's, and under
/// `--shard` the other shards' read from their folders.
fn execute(
    cells: &[plan::Cell],
    o: &StudyOptions,
    observer: &ObserverFactory<'_>,
    stop: &AtomicBool,
) -> Result<(usize, Vec<CellRuns>)> {
    let mut specs = Vec::new();
    let mut owner = Vec::new();
    for (i, c) in cells.iter().enumerate() {
        for (spec, seed) in c.specs(o)?.into_iter().zip(&c.seeds) {
            owner.push((i, *seed));
            specs.push(spec);
        }
    }
    let mine = match o.shard {
        Some((k, n)) => crate::sweep::shard(specs.clone(), k, n),
        None => specs.clone(),
    };
    // Outcomes leave out the runs another process holds: they are matched to specs by folder.
    let mut outcomes: std::collections::HashMap<PathBuf, runner::Outcome> =
        runner::run_all(&mine, o.jobs, observer, stop)?.into_iter().map(|r| (r.dir.clone(), r)).collect();
    let mut out: Vec<CellRuns> = cells.iter().map(|c| CellRuns { cell: c.clone(), runs: Vec::new() }).collect();
    for (spec, (i, seed)) in specs.iter().zip(&owner) {
        let (report, skipped) = match outcomes.remove(&spec.dir) {
            Some(r) => (r.report, r.skipped),
            None if o.shard.is_some() => match runner::find(spec) {
                runner::Found::Finished(r) => (*r, true),
                _ => continue,
            },
            None => continue,
        };
        if report.stopped == train::run::Stopped::Interrupted {
            continue;
        }
        let dir = spec.dir.clone();
        out[*i].runs.push(Done {
            seed: *seed,
            dir,
            skipped,
            config: spec.config.clone(),
            report,
            test_last_bits: None,
        });
    }
    Ok((specs.len(), out))
}
