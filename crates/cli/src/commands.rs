//! One function per command: parse what the flags say, call the `train` crate, print the result.

use crate::args::*;
use crate::progress::Display;
use heads::accounting::{fmt_ratio, thousands};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use train::runner::{self, RunSpec};
use train::settings::{self, Sources};
use train::{Checkpoint, Error, Report, Result, RunDir, Session, Stopped};

/// Set by SIGINT/SIGTERM; the training loop checks it every step.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::Train(a) => cmd_train(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Sweep(a) => cmd_sweep(a),
        Command::Results(a) => cmd_results(a),
        Command::Summary(a) => cmd_summary(a),
        Command::Generate(a) => crate::inspect::generate(a),
        Command::Eval(a) => crate::inspect::eval(a),
        Command::Export(a) => crate::inspect::export(a),
        Command::Import(a) => crate::inspect::import(a),
        Command::Bench(a) => crate::inspect::bench(a),
        Command::Study(a) => cmd_study(a),
    }
}

/// Builds the worker pool, of a fixed size if asked.
pub fn setup_threads(threads: Option<usize>) -> Result<()> {
    if threads == Some(0) {
        return Err(Error::usage("--threads", "must be at least 1"));
    }
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    // Fails only if a pool exists already (tests calling twice): keep that one.
    let _ = b.build_global();
    Ok(())
}

fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: saving a checkpoint…");
    });
}

/// The config the flags and an optional config file resolve to.
fn resolve(run: &RunArgs, head: &HeadArg) -> Result<train::TrainConfig> {
    let flags = run.overrides(head);
    settings::resolve(&Sources { preset: run.model.preset.as_deref(), file: run.config.as_deref(), flags })
}

fn cmd_train(a: TrainArgs) -> Result<u8> {
    setup_threads(a.out.threads)?;
    let (run, session) = match &a.resume {
        Some(path) => resume(path, &a)?,
        None => {
            let config = resolve(&a.run, &a.head)?;
            let session = Session::new(config)?;
            let run = RunDir::create_next(&a.out.runs_dir)?;
            let session = runner::start_in(&run, session)?;
            (run, session)
        }
    };
    install_interrupt_handler();
    let prompt = a.prompt.clone().unwrap_or_default().into_bytes();
    let mut display = Display::new("train", a.out.quiet || a.out.json, false).with_samples(a.sample_every, prompt);
    let report = runner::train_in(&run, session, &mut display, &STOP)?;
    drop(display);
    Ok(finish(&report, &a.out))
}

/// Continues a checkpoint in its own run folder (or, for an imported one, a new folder). Only
/// what settings::RESUME_MAY_CHANGE lists may change; a finished run needs a flag that extends it.
fn resume(path: &Path, a: &TrainArgs) -> Result<(RunDir, Session)> {
    if a.run.model.preset.is_some() || a.run.config.is_some() {
        let flag = if a.run.config.is_some() { "--config" } else { "--preset" };
        return Err(Error::usage(flag, "cannot change on --resume: the checkpoint holds the run's config"));
    }
    let ck = Checkpoint::load(path)?;
    let what = path.display().to_string();
    let (config, changes) = settings::resume(&ck.config, &a.run.overrides(&a.head), &what)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let own = RunDir { path: dir.to_path_buf() };
    let is_run_folder = own.file("config.json").exists();
    let run = if is_run_folder { own } else { RunDir::create_next(&a.out.runs_dir)? };
    if let Some(report) = run.read_report().filter(|r| r.stopped != Stopped::Interrupted && is_run_folder) {
        let session = Session::resume(ck.clone(), config.clone(), &what)?;
        refuse_finished(&report, &session)?;
    }
    let session = runner::resume_in(&run, ck, config, &changes)?;
    Ok((run, session))
}

/// A finished run resumed without a flag that takes it further is refused, with its state.
fn refuse_finished(r: &Report, s: &Session) -> Result<()> {
    let more_steps = s.total_steps().is_none_or(|t| t > r.steps);
    let past_memorized = !(r.stopped == Stopped::Memorized && s.config.until_memorized);
    if more_steps && past_memorized {
        return Ok(());
    }
    let state = serde_json::to_value(r.stopped).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    Err(Error::usage(
        "--resume",
        format!(
            "{} finished (stopped: {state} at step {}, {:.1} epochs); to train on, give --steps N with N > {} \
             (or --epochs N) — it then ends at that count, not on memorization",
            r.run_dir, r.steps, r.epochs, r.steps
        ),
    ))
}

/// The result line (also with --quiet), or the JSON report; the exit code.
fn finish(r: &Report, out: &OutputArgs) -> u8 {
    if out.json {
        println!("{}", serde_json::to_string(r).expect("serializable"));
    } else {
        println!("{}", report_line(r));
    }
    exit_code(r)
}

fn report_line(r: &Report) -> String {
    let memo = match r.steps_to_memorize {
        Some(st) => format!(
            "all {} windows memorized at step {st} ({:.1} epochs)",
            r.memorized_of,
            r.epochs_to_memorize.unwrap_or(0.0)
        ),
        None => format!("{}/{} windows memorized", r.memorized, r.memorized_of),
    };
    let val = r.val_loss.map_or(String::new(), |v| format!(", val loss {v:.4}"));
    let stopped = serde_json::to_value(r.stopped).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    format!(
        "{}: head {} ({} params, ratio {}): {memo}; {} steps, {:.2} epochs, loss {:.4}, accuracy {:.3}{val}, {:.2} bits/byte, {:.0} samples/s in steps, {:.1} s ({:.1} s evaluating); stopped: {stopped}",
        r.run_dir,
        r.head,
        thousands(r.params.total),
        r.ratio.map_or("none".into(), fmt_ratio),
        r.steps,
        r.epochs,
        r.final_loss,
        r.train_accuracy,
        r.bits_per_byte,
        r.samples_per_sec,
        r.wall_seconds,
        r.eval_seconds,
    )
}

/// 1 if the run diverged (with advice), 130 if interrupted, else 0.
fn exit_code(r: &Report) -> u8 {
    match r.stopped {
        Stopped::Diverged => {
            let kept = if Path::new(&r.run_dir).join("checkpoint.bin").exists() {
                format!("the last good checkpoint is kept in {}/checkpoint.bin", r.run_dir)
            } else {
                "no checkpoint had been written yet".to_string()
            };
            eprintln!(
                "error: the loss diverged at step {} (it became non-finite, or rose above {}× the first step's after warm-up); {kept}. \
                 Adam moves each weight by about the learning rate a step: 1e-3 (the default) suits these models; try a lower --lr, \
                 a --warmup, or --clip 1.",
                r.steps + 1,
                train::trainer::DIVERGED_FACTOR
            );
            1
        }
        Stopped::Interrupted => {
            eprintln!(
                "interrupted at step {}: state saved in {}/checkpoint.bin; continue with --resume",
                r.steps, r.run_dir
            );
            130
        }
        _ => 0,
    }
}

/// Runs a plan with a display per run; the outcomes' reports.
fn run_plan(specs: &[RunSpec], jobs: usize, out: &OutputArgs) -> Result<Vec<runner::Outcome>> {
    install_interrupt_handler();
    let quiet = out.quiet || out.json;
    let shared = jobs > 1;
    let factory =
        move |spec: &RunSpec| -> Box<dyn train::Observer + Send> { Box::new(Display::new(&spec.label, quiet, shared)) };
    let outcomes = runner::run_all(specs, jobs, &factory, &STOP)?;
    for o in outcomes.iter().filter(|o| !quiet || o.skipped) {
        let skipped = if o.skipped { " (already done: skipped)" } else { "" };
        eprintln!("{}{skipped}", report_line(&o.report));
    }
    Ok(outcomes)
}

fn reports(outcomes: Vec<runner::Outcome>) -> Vec<Report> {
    outcomes.into_iter().map(|o| o.report).collect()
}

fn cmd_compare(a: CompareArgs) -> Result<u8> {
    setup_threads(a.out.threads)?;
    let base = resolve(&a.run, &HeadArg::default())?;
    let kinds = a.heads.clone().unwrap_or_else(|| heads::HeadKind::ALL.to_vec());
    let mut specs = Vec::new();
    for &head in &kinds {
        let mut config = base.clone();
        config.model.head = head;
        // --output-bias, --untied, --loss-positions go to the heads that take them; the others
        // compare without them.
        config.model.drop_flags_not_taken();
        config.validate()?;
        specs.push(RunSpec { dir: RunDir::create_next(&a.out.runs_dir)?.path, config, label: head.to_string() });
    }
    let reports = reports(run_plan(&specs, 1, &a.out)?);
    let table = train::results::compare_table(&reports);
    let first =
        specs.first().and_then(|s| s.dir.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stem = a.out.runs_dir.join(format!("compare-{first}"));
    train::fsutil::write_atomic(&stem.with_extension("txt"), table.as_bytes())?;
    let rows: Vec<(heads::HeadKind, Vec<train::MetricsRow>)> =
        reports.iter().map(|r| (r.head, RunDir { path: r.run_dir.clone().into() }.read_metrics())).collect();
    let series: Vec<train::plot::Series<'_>> =
        rows.iter().map(|(h, m)| train::plot::Series { label: h.name(), rows: m }).collect();
    train::plot::curves(&stem.with_extension("svg"), "overfit compare: every head on the same data and seed", &series)?;
    if a.out.json {
        println!(
            "{}",
            serde_json::json!({ "runs": reports, "table": stem.with_extension("txt"), "plot": stem.with_extension("svg") })
        );
    } else {
        print!("{table}");
        println!("table: {}   plot: {}", stem.with_extension("txt").display(), stem.with_extension("svg").display());
    }
    Ok(reports.iter().map(exit_code).max().unwrap_or(0))
}

fn cmd_sweep(a: SweepArgs) -> Result<u8> {
    setup_threads(a.out.threads)?;
    if a.jobs == 0 {
        return Err(Error::usage("--jobs", "must be at least 1"));
    }
    let base = resolve(&a.run, &a.head)?;
    let grid = train::sweep::Grid::parse(&a.grid)?;
    let seeds = a.seeds.clone().unwrap_or_else(|| vec![base.seed]);
    let sources = Sources {
        preset: a.run.model.preset.as_deref(),
        file: a.run.config.as_deref(),
        flags: a.run.overrides(&a.head),
    };
    let plan = train::sweep::plan(&sources, &grid, &seeds, &a.out.runs_dir)?;
    let shard = match &a.shard {
        Some(text) => Some(train::sweep::parse_shard(text)?),
        None => train::sweep::shard_from_slurm(|k| std::env::var(k).ok())?,
    };
    let total = plan.len();
    let specs = match shard {
        Some((k, n)) => train::sweep::shard(plan, k, n),
        None => plan,
    };
    if !a.out.quiet && !a.out.json {
        let which = shard.map_or(String::new(), |(k, n)| format!(" (shard {k}/{n}: {} of them)", specs.len()));
        eprintln!("sweep: {total} runs{which}, {} at a time, in {}", a.jobs, a.out.runs_dir.display());
    }
    let reports = reports(run_plan(&specs, a.jobs, &a.out)?);
    if a.out.json {
        println!("{}", serde_json::json!({ "runs": reports }));
    } else if reports.len() == specs.len() {
        println!(
            "{} runs done in {}; gather them with: overfit results {}",
            reports.len(),
            a.out.runs_dir.display(),
            a.out.runs_dir.display()
        );
    }
    let interrupted = reports.len() < specs.len() || reports.iter().any(|r| r.stopped == Stopped::Interrupted);
    Ok(if interrupted { 130 } else { reports.iter().map(exit_code).max().unwrap_or(0) })
}

fn cmd_results(a: ResultsArgs) -> Result<u8> {
    let runs = train::results::gather(&a.dirs)?;
    if runs.is_empty() {
        return Err(Error::input(a.dirs[0].display(), "holds no run folder (config.json and report.json)"));
    }
    let by = a.group_by.clone().unwrap_or_else(|| train::results::varying(&runs));
    if let Some(f) = by.iter().find(|f| !runs.iter().any(|r| r.config.contains_key(*f))) {
        return Err(Error::usage(
            "--group-by",
            format!("'{f}' is no config field of these runs (e.g. head, lr, d_model)"),
        ));
    }
    let groups = train::results::group(&runs, &by);
    let results = train::results::Results { runs, groups };
    let columns: Vec<String> =
        a.columns.clone().unwrap_or_else(|| train::results::DEFAULT_COLUMNS.iter().map(|s| s.to_string()).collect());
    let json = serde_json::to_string_pretty(&results).expect("serializable") + "\n";
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        train::fsutil::write_atomic(&dir.join("results.md"), results.markdown(&columns).as_bytes())?;
        train::fsutil::write_atomic(&dir.join("results.csv"), results.csv().as_bytes())?;
        train::fsutil::write_atomic(&dir.join("results.json"), json.as_bytes())?;
        results.plot(&a.metric, &dir.join(format!("{}.svg", a.metric)))?;
    }
    if a.json {
        print!("{json}");
    } else if a.csv {
        print!("{}", results.csv());
    } else {
        print!("{}", results.markdown(&columns));
    }
    Ok(0)
}

fn cmd_summary(a: SummaryArgs) -> Result<u8> {
    let flags = crate::args::given(&[&a.model, &a.head]);
    let preset = a.model.preset.as_deref().unwrap_or(heads::config::DEFAULT_PRESET);
    let base = train::TrainConfig { model: heads::ModelConfig::preset(preset)?, ..train::TrainConfig::default_run() };
    let config = settings::apply(base, &flags, settings::flag_of)?.model;
    config.validate()?;
    let s = heads::Summary::of(&config)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s).expect("serializable"));
    } else {
        print!("{}", s.table());
    }
    Ok(0)
}

fn cmd_study(a: StudyArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    install_interrupt_handler();
    let (quiet, shared) = (a.quiet || a.json, a.jobs > 1);
    let factory =
        move |s: &RunSpec| -> Box<dyn train::Observer + Send> { Box::new(Display::new(&s.label, quiet, shared)) };
    let o = train::study::StudyOptions::new(a.data, a.quick, a.out, a.jobs);
    let done = train::study::run(&o, &factory, &STOP)?;
    if a.json {
        println!("{}", serde_json::json!(done));
    } else if !a.quiet && done.complete() {
        print!("{}", std::fs::read_to_string(o.out.join("results.md")).unwrap_or_default());
    }
    if !done.complete() {
        eprintln!("interrupted: {} of {} runs done; the same command continues", done.runs.len(), done.planned);
        return Ok(130);
    }
    Ok(0)
}
