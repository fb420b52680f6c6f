//! One runner for every command that trains: a plan of [`RunSpec`]s in, reports out.
//!
//! The shared work: skip a run whose folder holds a finished report of the same config, resume
//! one that was interrupted, start the rest fresh; write config.json (with provenance and resume
//! history) and summary.txt; train with an observer; stop on a signal with the state saved. With
//! `jobs > 1` several runs train at once, each on its share of the threads; every run gives the
//! same bits on any number of threads, so the results do not depend on `jobs`.
//!
//! `overfit train` goes through [`prepare`]: a fresh run in a new `id-N` folder, or a checkpoint
//! resumed in its own folder under the rules of `settings::RESUME_MAY_CHANGE`.

use crate::checkpoint::Checkpoint;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::provenance::Provenance;
use crate::run::{Report, Resumed, RunDir, Stopped};
use crate::session::Session;
use crate::settings::{self, Change, Sources};
use crate::summary::Summary;
use crate::trainer::Observer;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// One planned run: its folder, its config, and a label for displays.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    pub dir: PathBuf,
    pub config: TrainConfig,
    pub label: String,
}

/// A run's result, and whether it was already there.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub report: Report,
    pub skipped: bool,
}

/// What a run folder holds for a spec.
pub enum Found {
    /// A finished report of this very config.
    Finished(Box<Report>),
    /// A checkpoint of this config, not finished.
    Interrupted(Box<Checkpoint>),
    /// Nothing of this config.
    Nothing,
}

/// Looks in a spec's folder.
pub fn find(spec: &RunSpec) -> Found {
    let run = RunDir { path: spec.dir.clone() };
    if run.read_config().as_ref() != Some(&spec.config) {
        return Found::Nothing;
    }
    if let Some(report) = run.read_report().filter(|r| r.stopped != Stopped::Interrupted) {
        return Found::Finished(Box::new(report));
    }
    match Checkpoint::load(&run.file("checkpoint.bin")) {
        Ok(ck) if ck.config == spec.config => Found::Interrupted(Box::new(ck)),
        _ => Found::Nothing,
    }
}

/// Runs one spec: skipped when finished, resumed when interrupted, else started afresh (its folder
/// emptied first: it belongs to the plan).
pub fn run(spec: &RunSpec, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Outcome> {
    let run = RunDir { path: spec.dir.clone() };
    let session = match find(spec) {
        Found::Finished(report) => return Ok(Outcome { report: *report, skipped: true }),
        Found::Interrupted(ck) => resume_in(&run, *ck, spec.config.clone(), &[])?,
        Found::Nothing => {
            refuse_other_run(&run, &spec.config)?;
            std::fs::create_dir_all(&run.path)
                .map_err(|e| Error::io(format!("creating the run folder {}", run.path.display()), e))?;
            start_in(&run, Session::new(spec.config.clone())?)?
        }
    };
    let report = train_in(&run, session, observer, stop)?;
    Ok(Outcome { report, skipped: false })
}

/// A plan's folder that already holds a run of another config is never overwritten: that run
/// may be the only copy of hours of work. The message names the first field that differs.
fn refuse_other_run(run: &RunDir, config: &TrainConfig) -> Result<()> {
    let Some(theirs) = run.read_config() else { return Ok(()) };
    if &theirs == config {
        // This very run, killed before its first checkpoint: nothing to keep but its first rows.
        let _ = std::fs::remove_file(run.file("metrics.jsonl"));
        return Ok(());
    }
    let (a, b) =
        (serde_json::to_value(&theirs).expect("serializes"), serde_json::to_value(config).expect("serializes"));
    let flat = |v: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        let top = v.as_object().expect("an object");
        let model = top["model"].as_object().expect("an object").iter().map(|(k, v)| (k.clone(), v.clone()));
        model.chain(top.iter().filter(|(k, _)| *k != "model").map(|(k, v)| (k.clone(), v.clone()))).collect()
    };
    let field = flat(&a)
        .into_iter()
        .zip(flat(&b))
        .find(|(x, y)| x != y)
        .map_or(String::new(), |((k, x), (_, y))| format!(" ({k}: {x} there, {y} in this plan)"));
    Err(Error::input(
        run.path.display(),
        format!("holds a run of another config{field}; give another --runs-dir, or remove the folder to run it again"),
    ))
}

/// A fresh session in `run`: config.json (with provenance) and summary.txt first.
pub fn start_in(run: &RunDir, mut session: Session) -> Result<Session> {
    let provenance = Provenance::now(session.config.data.as_deref())?;
    run.write_config(&session.config, &provenance, &[])?;
    run.write("summary.txt", Summary::of(&session.config.model)?.table().as_bytes())?;
    session.provenance = Some(provenance);
    Ok(session)
}

/// A checkpoint continued in its run folder, with `changes` recorded in config.json's history.
/// The metrics after the checkpoint's step are dropped: the resumed run writes them again.
pub fn resume_in(run: &RunDir, ck: Checkpoint, config: TrainConfig, changes: &[Change]) -> Result<Session> {
    let step = ck.step;
    let what = run.file("checkpoint.bin").display().to_string();
    let mut session = Session::resume(ck, config, &what)?;
    let (provenance, mut history) = run.read_record();
    let provenance = match provenance {
        Some(p) => p,
        None => Provenance::now(session.config.data.as_deref())?,
    };
    let command = std::env::args().collect();
    history.push(Resumed { at: crate::provenance::now(), step, command, changes: changes.to_vec() });
    run.write_config(&session.config, &provenance, &history)?;
    if !run.file("summary.txt").exists() {
        run.write("summary.txt", Summary::of(&session.config.model)?.table().as_bytes())?;
    }
    run.truncate_metrics(step)?;
    session.provenance = Some(provenance);
    Ok(session)
}

/// Trains a prepared session to its end in `run`.
pub fn train_in(run: &RunDir, mut session: Session, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Report> {
    crate::trainer::train(&mut session, run, observer, stop)
}

/// Set by SIGINT/SIGTERM; every training loop checks it every step.
static STOP: AtomicBool = AtomicBool::new(false);

/// Catches SIGINT and SIGTERM: the first asks every running run to save a checkpoint and stop; a
/// second exits at once (130). Returns the flag the runs watch.
pub fn stop_on_signals() -> &'static AtomicBool {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: saving a checkpoint…");
    });
    &STOP
}

/// The folder and session `overfit train` trains: a fresh run of the config `sources` resolve to,
/// in the next `id-N` folder under `runs_dir`; or, with `resume`, that checkpoint continued.
pub fn prepare(sources: &Sources<'_>, resume: Option<&Path>, runs_dir: &Path) -> Result<(RunDir, Session)> {
    if let Some(path) = resume {
        return prepare_resume(path, sources, runs_dir);
    }
    let session = Session::new(settings::resolve(sources)?)?;
    let run = RunDir::create_next(runs_dir)?;
    let session = start_in(&run, session)?;
    Ok((run, session))
}

/// Continues a checkpoint in its own run folder (or, for an imported one, a new folder). Only
/// what settings::RESUME_MAY_CHANGE lists may change; a finished run needs a flag that extends it.
fn prepare_resume(path: &Path, sources: &Sources<'_>, runs_dir: &Path) -> Result<(RunDir, Session)> {
    if sources.preset.is_some() || sources.file.is_some() {
        let flag = if sources.file.is_some() { "--config" } else { "--preset" };
        return Err(Error::usage(flag, "cannot change on --resume: the checkpoint holds the run's config"));
    }
    let ck = Checkpoint::load(path)?;
    let what = path.display().to_string();
    let (config, changes) = settings::resume(&ck.config, &sources.flags, &what)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let own = RunDir { path: dir.to_path_buf() };
    let is_run_folder = own.file("config.json").exists();
    let run = if is_run_folder { own } else { RunDir::create_next(runs_dir)? };
    if let Some(report) = run.read_report().filter(|r| r.stopped != Stopped::Interrupted && is_run_folder) {
        let session = Session::resume(ck.clone(), config.clone(), &what)?;
        refuse_finished(&report, &session)?;
    }
    let session = resume_in(&run, ck, config, &changes)?;
    Ok((run, session))
}

/// A finished run resumed without a flag that takes it further is refused, with its state.
fn refuse_finished(r: &Report, s: &Session) -> Result<()> {
    let more_steps = s.total_steps().is_none_or(|t| t > r.steps);
    let past_memorized = !(r.stopped == Stopped::Memorized && s.config.until_memorized);
    if more_steps && past_memorized {
        return Ok(());
    }
    Err(Error::usage(
        "--resume",
        format!(
            "{} finished (stopped: {} at step {}, {:.1} epochs); to train on, give --steps N with N > {} \
             (or --epochs N) — it then ends at that count, not on memorization",
            r.run_dir,
            r.stopped.name(),
            r.steps,
            r.epochs,
            r.steps
        ),
    ))
}

/// Makes a display for each run of a plan.
pub type ObserverFactory<'a> = dyn Fn(&RunSpec) -> Box<dyn Observer + Send> + Sync + 'a;

/// Runs a plan, `jobs` runs at a time, and returns the outcomes in plan order (as far as the plan
/// got: an interrupt stops it after the running runs save their state; the first error stops it
/// too, after the running runs finish, and is returned).
pub fn run_all(
    specs: &[RunSpec],
    jobs: usize,
    observer: &ObserverFactory<'_>,
    stop: &AtomicBool,
) -> Result<Vec<Outcome>> {
    let jobs = jobs.clamp(1, specs.len().max(1));
    let threads = (rayon::current_num_threads() / jobs).max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<Outcome>>>> = Mutex::new((0..specs.len()).map(|_| None).collect());
    let worker = || -> Result<()> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::io("starting worker threads", std::io::Error::other(e.to_string())))?;
        loop {
            let i = next.fetch_add(1, Ordering::SeqCst);
            if i >= specs.len() || stop.load(Ordering::SeqCst) || failed.load(Ordering::SeqCst) {
                return Ok(());
            }
            let result = pool.install(|| run(&specs[i], observer(&specs[i]).as_mut(), stop));
            failed.fetch_or(result.is_err(), Ordering::SeqCst);
            results.lock().expect("no worker panics")[i] = Some(result);
        }
    };
    if jobs == 1 {
        worker()?;
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..jobs).map(|_| scope.spawn(worker)).collect();
            handles.into_iter().try_for_each(|h| h.join().expect("a worker panicked"))
        })?;
    }
    // In plan order, up to the first run that did not happen.
    results.into_inner().expect("no worker panics").into_iter().map_while(|r| r).collect()
}
