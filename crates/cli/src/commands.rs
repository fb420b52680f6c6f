//! One function per command: parse what the flags say, call the `train` crate, print the result.

use crate::args::*;
use train::progress::Display;
use train::results::{self, text, Results};
use train::runner::{self, RunSpec};
use train::settings::{self, given};
use train::system::{on_workers, setup_threads};
use train::{compare, eval, generate, sweep, weights, Checkpoint, Error, Report, Result, Stopped, TrainConfig};

pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::Train(a) => cmd_train(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Sweep(a) => cmd_sweep(a),
        Command::Results(a) => cmd_results(a),
        Command::Capacity(a) => cmd_capacity(a),
        Command::Summary(a) => cmd_summary(a),
        Command::Generate(a) => cmd_generate(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Export(a) => cmd_export(a),
        Command::Import(a) => cmd_import(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Study(a) => cmd_study(a),
    }
}

fn cmd_train(a: TrainArgs) -> Result<u8> {
    setup_threads(a.out.threads)?;
    let (run, session) = runner::prepare(&a.run.sources(&a.head), a.resume.as_deref(), &a.out.runs_dir)?;
    let stop = runner::stop_on_signals();
    let prompt = a.prompt.clone().unwrap_or_default().into_bytes();
    let mut display = Display::new("train", a.out.quiet || a.out.json, false).with_samples(a.sample_every, prompt);
    let report = on_workers(|| runner::train_in(&run, session, &mut display, stop))?;
    drop(display);
    print_json_or(a.out.json, &report, || text::report_line(&report));
    Ok(exit_code(&report))
}

/// One JSON object on stdout, or the text line.
fn print_json_or(json: bool, value: &impl serde::Serialize, text: impl FnOnce() -> String) {
    if json {
        println!("{}", serde_json::to_string(value).expect("serializable"));
    } else {
        println!("{}", text());
    }
}

/// The run's exit code, after its message if it diverged or was interrupted.
fn exit_code(r: &Report) -> u8 {
    if let Some(message) = text::stop_message(r) {
        eprintln!("{message}");
    }
    r.exit_code()
}

fn cmd_capacity(a: CapacityArgs) -> Result<u8> {
    setup_threads(None)?;
    let flags = train::capacity::CapacityFlags {
        preset: a.model.preset.clone(),
        model_flags: given(&[&a.model]),
        heads: a.heads,
        sizes: a.sizes,
        data_bits: a.data_bits,
        steps: a.steps,
        lrs: a.lrs,
        seeds: a.seeds,
        certify: a.certify,
        quick: a.quick,
        out: a.out,
        jobs: a.jobs,
        shard: a.shard,
    };
    let o = train::capacity::CapacityOptions::new(flags)?;
    let report = train::capacity::run(&o, &|specs, jobs| train::progress::run_plan(specs, jobs, a.json))?;
    train::capacity::write(&report, &o.out)?;
    print_json_or(a.json, &report, || format!("{}\nwritten to {}", report.markdown(), o.out.display()));
    Ok(if report.interrupted { 130 } else { 0 })
}

/// Runs a plan with a display per run (see `train::progress::run_plan`).
fn run_plan(specs: &[RunSpec], jobs: usize, out: &OutputArgs) -> Result<Vec<runner::Outcome>> {
    train::progress::run_plan(specs, jobs, out.quiet || out.json)
}

fn cmd_compare(a: CompareArgs) -> Result<u8> {
    setup_threads(a.out.threads)?;
    let base = settings::resolve(&a.run.sources(&HeadArg::default()))?;
    let specs = compare::plan(&base, a.heads.as_deref(), &a.out.runs_dir)?;
    let reports: Vec<Report> = run_plan(&specs, 1, &a.out)?.into_iter().map(|o| o.report).collect();
    let w = compare::write(&specs, &reports, &a.out.runs_dir)?;
    if a.out.json {
        println!("{}", serde_json::json!({ "runs": reports, "table": w.table_path, "plot": w.plot_path }));
    } else {
        print!("{}", w.table);
        println!("table: {}   plot: {}", w.table_path.display(), w.plot_path.display());
    }
    Ok(reports.iter().map(exit_code).max().unwrap_or(0))
}

fn cmd_sweep(a: SweepArgs) -> Result<u8> {
    setup_threads(a.out.threads)?;
    if a.jobs == 0 {
        return Err(Error::usage("--jobs", "must be at least 1"));
    }
    let (sources, dir) = (a.run.sources(&a.head), &a.out.runs_dir);
    let env = |k: &str| std::env::var(k).ok();
    let sw = sweep::plan_shard(&sources, &a.grid, a.seeds.as_deref(), a.shard.as_deref(), env, dir)?;
    if !a.out.quiet && !a.out.json {
        let which = sw.shard.map_or(String::new(), |(k, n)| format!(" (shard {k}/{n}: {} of them)", sw.specs.len()));
        eprintln!("sweep: {} runs{which}, {} at a time, in {}", sw.total, a.jobs, dir.display());
    }
    let reports: Vec<Report> = run_plan(&sw.specs, a.jobs, &a.out)?.into_iter().map(|o| o.report).collect();
    if a.out.json {
        println!("{}", serde_json::json!({ "runs": reports }));
    } else if reports.len() == sw.specs.len() {
        let n = reports.len();
        println!("{n} runs done in {}; gather them with: overfit results {}", dir.display(), dir.display());
    }
    let interrupted = reports.len() < sw.specs.len() || reports.iter().any(|r| r.stopped == Stopped::Interrupted);
    Ok(if interrupted { 130 } else { reports.iter().map(exit_code).max().unwrap_or(0) })
}

fn cmd_results(a: ResultsArgs) -> Result<u8> {
    let results = Results::from_dirs(&a.dirs, a.group_by.clone())?;
    let columns = results::columns_or_default(a.columns.clone());
    if let Some(dir) = &a.out {
        results.write_to(dir, &columns, &a.metric)?;
    }
    match (a.json, a.csv) {
        (true, _) => print!("{}", results.json()),
        (false, true) => print!("{}", results.csv()),
        _ => print!("{}", results.markdown(&columns)),
    }
    Ok(0)
}

fn cmd_summary(a: SummaryArgs) -> Result<u8> {
    let s = train::summary::Summary::of_flags(a.model.preset.as_deref(), &given(&[&a.model, &a.head]))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s).expect("serializable"));
    } else {
        print!("{}", s.table());
    }
    Ok(0)
}

fn cmd_generate(a: GenerateArgs) -> Result<u8> {
    setup_threads(None)?;
    let sampling = generate::Sampling { greedy: a.greedy, temperature: a.temperature, top_k: a.top_k, seed: a.seed };
    sampling.check()?;
    let (_, model, params) = Checkpoint::load_model(&a.checkpoint)?;
    if let Some(warning) = generate::short_prompt_warning(&model.config, a.prompt.len()) {
        eprintln!("warning: {warning}");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    generate::stream(&model, &params, a.prompt.as_bytes(), a.bytes, sampling, !a.only_new, &mut out)
        .map_err(|e| Error::io("writing to stdout", e))?;
    Ok(0)
}

fn cmd_eval(a: EvalArgs) -> Result<u8> {
    setup_threads(None)?;
    let d = &a.data;
    let e = eval::evaluate_checkpoint(&a.checkpoint, d.data.as_deref(), d.samples, d.val_fraction)?;
    print_json_or(a.json, &e, || text::eval_line(&e));
    Ok(0)
}

fn cmd_export(a: ExportArgs) -> Result<u8> {
    eprintln!("wrote {}", weights::export_checkpoint(&a.checkpoint, &a.out, a.format == ExportFormat::Hf)?);
    Ok(0)
}

fn cmd_import(a: ImportArgs) -> Result<u8> {
    let flags = weights::PartialConfig::from_flags(a.model.preset.as_deref(), &given(&[&a.model, &a.head]))?;
    let imported = weights::import(&a.weights, &flags)?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let ck = imported.checkpoint;
    ck.save(&a.out)?;
    eprintln!("wrote {} (head {}, {} tensors)", a.out.display(), ck.config.model.head, ck.params.len());
    Ok(0)
}

fn cmd_bench(a: BenchArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    if a.steps == 0 {
        return Err(Error::usage("--steps", "must be at least 1"));
    }
    let flags = given(&[&a.model, &a.head]);
    let c = train::bench::config(a.model.preset.as_deref(), flags, a.batch_size, a.micro_batch, a.data.as_deref())?;
    if let Some(dir) = &a.dump_parity {
        let loss = train::bench::dump_parity(TrainConfig { samples: None, ..c }, dir)?;
        eprintln!("wrote weights, batch and gradients to {} (loss {loss:.6})", dir.display());
        return Ok(0);
    }
    let r = on_workers(|| train::bench::bench(c, a.steps, a.warmup, a.profile))?;
    if let Some(table) = &r.profile {
        eprint!("{table}");
    }
    print_json_or(a.json, &r, || text::bench_line(&r));
    Ok(0)
}

fn cmd_study(a: StudyArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    let stop = runner::stop_on_signals();
    let (quiet, shared) = (a.quiet || a.json, a.jobs > 1);
    let factory =
        move |s: &RunSpec| -> Box<dyn train::Observer + Send> { Box::new(Display::new(&s.label, quiet, shared)) };
    let o = train::study::StudyOptions::new(a.data, a.quick, a.out, a.jobs);
    let done = train::study::run(&o, &factory, stop)?;
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
