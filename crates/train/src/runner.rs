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
use crate::lock::RunLock;
use crate::provenance::Provenance;
use crate::run::{Record, Report, Resumed, RunDir, Stopped};
use crate::session::Session;
use crate::settings::{self, Change, Sources};
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
    /// The spec's folder (as planned: a finished report's own `run_dir` may name it otherwise).
    pub dir: PathBuf,
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
/// emptied first: it belongs to the plan). `None` when another process is training it: that run is
/// named on stderr and left alone (SPEC §5), never waited on and never written to.
pub fn run(spec: &RunSpec, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Option<Outcome>> {
    let run = RunDir { path: spec.dir.clone() };
    crate::run::create_runs_dir(&run.path)?;
    let lock = match RunLock::try_take(&run)? {
        Ok(lock) => lock,
        Err(holder) => {
            crate::console::err(&format!("skipped {}: being trained by {holder}", run.path.display()));
            return Ok(None);
        }
    };
    let session = match find(spec) {
        Found::Finished(report) => return Ok(Some(Outcome { dir: spec.dir.clone(), report: *report, skipped: true })),
        Found::Interrupted(ck) => resume_in(&run, *ck, spec.config.clone(), &[])?,
        Found::Nothing => {
            refuse_other_run(&run, &spec.config)?;
            start_in(&run, Session::new(spec.config.clone())?)?
        }
    };
    let report = train_in(&run, session, observer, stop)?;
    drop(lock);
    Ok(Some(Outcome { dir: spec.dir.clone(), report, skipped: false }))
}

/// A plan's folder that already holds a run of another config is never overwritten: that run
/// may be the only copy of hours of work. The message names the first field that differs.
fn refuse_other_run(run: &RunDir, config: &TrainConfig) -> Result<()> {
    let Some(theirs) = run.read_config() else { return Ok(()) };
    if &theirs == config {
        // This very run, killed before its first checkpoint: nothing to keep but its first rows.
        run.remove_metrics();
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
    let record =
        Record { provenance: Some(provenance.clone()), history: vec![], data_fingerprint: Some(session.fingerprint) };
    run.write_config(&session.config, &record)?;
    run.write_summary(&session.config.model)?;
    session.provenance = Some(provenance);
    Ok(session)
}

/// A checkpoint continued in its run folder, with `changes` recorded in config.json's history.
/// The metrics after the checkpoint's step are dropped: the resumed run writes them again.
pub fn resume_in(run: &RunDir, ck: Checkpoint, config: TrainConfig, changes: &[Change]) -> Result<Session> {
    let step = ck.step;
    let what = run.file("checkpoint.bin").display().to_string();
    let mut session = Session::resume(ck, config, &what)?;
    let mut record = run.read_record();
    let provenance = match record.provenance.take() {
        Some(p) => p,
        None => Provenance::now(session.config.data.as_deref())?,
    };
    let command = std::env::args().collect();
    record.history.push(Resumed { at: crate::provenance::now(), step, command, changes: changes.to_vec() });
    record.provenance = Some(provenance.clone());
    record.data_fingerprint = Some(session.fingerprint);
    run.write_config(&session.config, &record)?;
    run.write_summary(&session.config.model)?;
    run.truncate_metrics(step)?;
    session.provenance = Some(provenance);
    Ok(session)
}

/// Trains a prepared session to its end in `run`, after any warnings about its config.
pub fn train_in(run: &RunDir, mut session: Session, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Report> {
    for w in session.warnings() {
        crate::console::err(&format!("warning: {}: {w}", run.path.display()));
    }
    crate::trainer::train(&mut session, run, observer, stop)
}

/// Set by SIGINT/SIGTERM; every training loop checks it every step.
static STOP: AtomicBool = AtomicBool::new(false);

/// Whether an interrupt asked the runs to stop.
pub fn interrupted() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A second signal this soon after the first is the same interrupt: GNU `timeout` and many job
/// shells signal the process and then its whole group, so one Ctrl-C or one timeout can arrive
/// twice within milliseconds, and must not throw away the checkpoint being saved.
const SAME_INTERRUPT: std::time::Duration = std::time::Duration::from_secs(1);

/// Catches SIGINT and SIGTERM: the first asks every running run to save a checkpoint and stop; a
/// second one, more than [`SAME_INTERRUPT`] later, exits at once (130). Returns the flag the runs
/// watch.
pub fn stop_on_signals() -> &'static AtomicBool {
    static FIRST: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    let _ = ctrlc::set_handler(|| {
        let mut first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
        match *first {
            None => {
                *first = Some(std::time::Instant::now());
                STOP.store(true, Ordering::SeqCst);
                crate::console::err("\ninterrupted: saving a checkpoint… (interrupt again to exit without saving)");
            }
            Some(t) if t.elapsed() < SAME_INTERRUPT => {}
            Some(_) => {
                crate::console::err("\nsecond interrupt: exiting without saving");
                std::process::exit(130);
            }
        }
    });
    &STOP
}

/// How `overfit train` starts.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// A new run of the config the flags resolve to.
    Fresh,
    /// A run continued from its checkpoint, in its own folder (`--resume`).
    Resume(&'a Path),
    /// A new run from a checkpoint's weights (`--init-from`).
    InitFrom(&'a Path),
}

/// The folder and session `overfit train` trains, with the folder locked: a fresh run of the
/// config `sources` resolve to (or of a checkpoint's weights) in the next `id-N` folder under
/// `runs_dir`; or a checkpoint continued in its own folder.
pub fn prepare(sources: &Sources<'_>, start: Start<'_>, runs_dir: &Path) -> Result<(RunDir, Session)> {
    let session = match start {
        Start::Resume(path) => return prepare_resume(path, sources),
        Start::Fresh => Session::new(settings::resolve(sources)?)?,
        Start::InitFrom(path) => {
            let ck = Checkpoint::load(path)?;
            let what = path.display().to_string();
            ck.check(&what)?;
            let mut session = Session::new(settings::init_from(&ck.config, sources, &what)?)?;
            Checkpoint::restore_into(&ck.params, &mut session.params, &what)?;
            session
        }
    };
    let run = RunDir::create_next(runs_dir)?;
    // A folder this process just created: only a process scanning for held runs could touch it.
    let lock = RunLock::take(&run)?;
    let mut session = start_in(&run, session)?;
    session.lock = Some(lock);
    Ok((run, session))
}

/// Continues a checkpoint in its own run folder, which it must belong to, under the lock of that
/// folder. Only what settings::RESUME_MAY_CHANGE lists may change; a finished run needs a flag
/// that extends it.
fn prepare_resume(path: &Path, sources: &Sources<'_>) -> Result<(RunDir, Session)> {
    if sources.preset.is_some() || sources.file.is_some() {
        let flag = if sources.file.is_some() { "--config" } else { "--preset" };
        return Err(Error::usage(flag, "cannot change on --resume: the checkpoint holds the run's config"));
    }
    let ck = Checkpoint::load(path)?;
    let what = path.display().to_string();
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let run = RunDir { path: dir.to_path_buf() };
    if !run.file("config.json").exists() {
        return Err(Error::usage(
            "--resume",
            format!(
                "{what} is not in a run folder (no config.json beside it), so there is no run to continue; \
                 to start a new run from its weights, give --init-from {what}"
            ),
        ));
    }
    let lock = RunLock::take(&run)?;
    check_belongs(&run, &ck, &what)?;
    let (config, changes) = settings::resume(&ck.config, &sources.flags, &what)?;
    if let Some(report) = run.read_report().filter(|r| r.stopped != Stopped::Interrupted) {
        let session = Session::resume(ck.clone(), config.clone(), &what)?;
        refuse_finished(&report, &session)?;
    }
    let mut session = resume_in(&run, ck, config, &changes)?;
    session.lock = Some(lock);
    Ok((run, session))
}

/// A checkpoint resumes only in the folder of its own run: same config (up to what a resume may
/// change) and same training data. Anything else would mix two runs' metrics and history in one
/// folder. The message names the first field that differs.
fn check_belongs(run: &RunDir, ck: &Checkpoint, what: &str) -> Result<()> {
    let folder = run.file("config.json").display().to_string();
    let theirs = settings::read_config_file(&run.file("config.json"))?;
    if let Some((field, here, there)) = settings::identity_difference(&theirs, &ck.config) {
        return Err(Error::input(
            what,
            format!("belongs to another run than {folder}: its {field} is {there}, the folder's is {here}"),
        ));
    }
    match run.read_record().data_fingerprint {
        Some(f) if f != ck.data_fingerprint => Err(Error::input(
            what,
            format!("belongs to another run than {folder}: it was trained on other data (its checksum differs)"),
        )),
        _ => Ok(()),
    }
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
/// too, after the running runs finish, and is returned). A run that another process holds is
/// skipped, named on stderr, and has no outcome: match outcomes to specs by `dir`.
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
    let results: Mutex<Vec<Option<Result<Option<Outcome>>>>> = Mutex::new((0..specs.len()).map(|_| None).collect());
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
    // In plan order, up to the first run that did not happen; runs held by another process left out.
    let ran: Result<Vec<Option<Outcome>>> =
        results.into_inner().expect("no worker panics").into_iter().map_while(|r| r).collect();
    Ok(ran?.into_iter().flatten().collect())
}
