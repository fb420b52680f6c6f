//! One function per command: parse what the flags say, call the `train` crate, print the result.

use crate::args::*;
use heads::words::count;
use lab::results::{self, Results};
use lab::{compare, sweep};
use train::console::{err, err_raw, out, out_raw};
use train::progress::Display;
use train::runner::{self, RunSpec};
use train::settings::{self, given};
use train::system::{on_workers, setup_threads};
use train::{eval, generate, text, Checkpoint, Error, Report, Result, Stopped, TrainConfig};

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
    let start = match (&a.resume, &a.init_from) {
        (Some(path), _) => runner::Start::Resume(path),
        (None, Some(path)) => runner::Start::InitFrom(path),
        (None, None) => runner::Start::Fresh,
    };
    let (run, session) = runner::prepare(&a.run.sources(&a.head), start, &a.out.runs_dir)?;
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
        out(&serde_json::to_string(value).expect("serializable"));
    } else {
        out(&text());
    }
}

/// The run's exit code, after its message if it diverged or was interrupted (an interrupted run
/// is continued by `train --resume` on its checkpoint, whichever command started it).
fn exit_code(r: &Report) -> u8 {
    let checkpoint = std::path::Path::new(&r.run_dir).join("checkpoint.bin");
    let resume = format!("{} train --resume {}", program(), shell_word(&checkpoint.display().to_string()));
    if let Some(message) = text::stop_message(r, &resume) {
        err(&message);
    }
    r.exit_code()
}

/// This program as it was invoked (`overfit`, or `target/release/overfit`): a command printed for
/// the user to run works from where they ran this one.
fn program() -> String {
    shell_word(&std::env::args().next().unwrap_or_else(|| "overfit".into()))
}

/// This very command line, to be run again: a plan (sweep, capacity, study) skips its finished
/// runs and resumes its interrupted ones.
fn this_command() -> String {
    std::iter::once(program()).chain(std::env::args().skip(1).map(|a| shell_word(&a))).collect::<Vec<_>>().join(" ")
}

/// A word as a POSIX shell reads it back: bare when it has no special characters, else quoted.
fn shell_word(w: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:@%+".contains(c);
    if !w.is_empty() && w.chars().all(plain) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn cmd_capacity(a: CapacityArgs) -> Result<u8> {
    setup_threads(None)?;
    let flags = lab::capacity::CapacityFlags {
        preset: a.model.preset.clone(),
        model_flags: given(&[&a.model]),
        heads: a.heads,
        sizes: a.sizes,
        data_bits: a.data_bits,
        steps: a.steps,
        steps_per_size: a.steps_per_size,
        lrs: a.lrs,
        tune_data_bits: a.tune_data_bits,
        lr_tie: a.lr_tie,
        seeds: a.seeds,
        certify: a.certify,
        quick: a.quick,
        out: a.out,
        jobs: a.jobs,
        shard: a.shard,
    };
    let o = lab::capacity::CapacityOptions::new(flags)?;
    let report = lab::capacity::run(&o, &|specs, jobs| train::progress::run_plan(specs, jobs, a.json))?;
    lab::capacity::write(&report, &o.out)?;
    print_json_or(a.json, &report, || format!("{}\nwritten to {}", report.markdown(), o.out.display()));
    if report.interrupted {
        err(&format!("interrupted: continue with: {}", this_command()));
        return Ok(130);
    }
    Ok(0)
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
        out(&serde_json::json!({ "runs": reports, "table": w.table_path, "plot": w.plot_path }).to_string());
    } else {
        out_raw(&w.table);
        out(&format!("table: {}   plot: {}", w.table_path.display(), w.plot_path.display()));
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
        err(&format!("sweep: {}{which}, {} at a time, in {}", count(sw.total as u64, "run"), a.jobs, dir.display()));
    }
    let reports: Vec<Report> = run_plan(&sw.specs, a.jobs, &a.out)?.into_iter().map(|o| o.report).collect();
    if a.out.json {
        out(&serde_json::json!({ "runs": reports }).to_string());
    } else if !runner::interrupted() {
        let held = sw.specs.len() - reports.len();
        let held = if held > 0 {
            format!(" ({} held by other processes, named above, skipped)", count(held as u64, "run"))
        } else {
            String::new()
        };
        let n = count(reports.len() as u64, "run");
        out(&format!("{n} done in {}{held}; gather them with: {} results {}", dir.display(), program(), dir.display()));
    }
    let interrupted = runner::interrupted() || reports.iter().any(|r| r.stopped == Stopped::Interrupted);
    if interrupted {
        let done = reports.iter().filter(|r| r.stopped != Stopped::Interrupted).count();
        err(&format!(
            "interrupted: {done} of {} done; continue with: {}",
            count(sw.specs.len() as u64, "run"),
            this_command()
        ));
        return Ok(130);
    }
    Ok(reports.iter().map(exit_code).max().unwrap_or(0))
}

fn cmd_results(a: ResultsArgs) -> Result<u8> {
    let results = Results::from_dirs(&a.dirs, a.group_by.clone())?;
    if let Some(asked) = &a.columns {
        results.check_columns(asked)?;
    }
    for s in &results.skipped {
        err(&format!("skipped {}: {}", s.dir, s.reason));
    }
    let columns = results::columns_or_default(a.columns.clone());
    if let Some(dir) = &a.out {
        results.write_to(dir, &columns, &a.metric)?;
    }
    match (a.json, a.csv) {
        (true, _) => out_raw(&results.json()),
        (false, true) => out_raw(&results.csv()),
        _ => out_raw(&results.markdown(&columns)),
    }
    Ok(0)
}

fn cmd_summary(a: SummaryArgs) -> Result<u8> {
    let s = train::summary::Summary::of_flags(a.model.preset.as_deref(), &given(&[&a.model, &a.head]))?;
    if a.json {
        out(&serde_json::to_string_pretty(&s).expect("serializable"));
    } else {
        out_raw(&s.table());
    }
    Ok(0)
}

fn cmd_generate(a: GenerateArgs) -> Result<u8> {
    setup_threads(None)?;
    let sampling = generate::Sampling { greedy: a.greedy, temperature: a.temperature, top_k: a.top_k, seed: a.seed };
    sampling.check()?;
    let (_, model, params) = Checkpoint::load_model(&a.checkpoint)?;
    if let Some(warning) = generate::short_prompt_warning(&model.config, a.prompt.len()) {
        err(&format!("warning: {warning}"));
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    generate::stream(&model, &params, a.prompt.as_bytes(), a.bytes, sampling, !a.only_new, &mut stdout)
        .map_err(|e| Error::io("writing to stdout", e))?;
    Ok(0)
}

fn cmd_eval(a: EvalArgs) -> Result<u8> {
    setup_threads(None)?;
    let d = &a.data;
    let req = eval::EvalRequest {
        data: d.data.as_deref(),
        samples: d.samples,
        val_fraction: d.val_fraction,
        test_fraction: d.test_fraction,
        max_windows: a.max_windows,
        progress: true,
    };
    let e = eval::evaluate_checkpoint(&a.checkpoint, &req)?;
    print_json_or(a.json, &e, || text::eval_line(&e));
    Ok(0)
}

fn cmd_export(a: ExportArgs) -> Result<u8> {
    err(&format!("wrote {}", weights::export_checkpoint(&a.checkpoint, &a.out, a.format == ExportFormat::Hf)?));
    Ok(0)
}

fn cmd_import(a: ImportArgs) -> Result<u8> {
    let flags = weights::PartialConfig::from_flags(a.model.preset.as_deref(), &given(&[&a.model, &a.head]))?;
    let imported = weights::import(&a.weights, &flags)?;
    for w in &imported.warnings {
        err(&format!("warning: {w}"));
    }
    let ck = imported.checkpoint;
    ck.save(&a.out)?;
    err(&format!(
        "wrote {} (head {}, {})",
        a.out.display(),
        ck.config.model.head,
        count(ck.params.len() as u64, "tensor")
    ));
    Ok(0)
}

fn cmd_bench(a: BenchArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    if a.steps == 0 {
        return Err(Error::usage("--steps", "must be at least 1"));
    }
    let flags = given(&[&a.model, &a.head]);
    let c = lab::bench::config(a.model.preset.as_deref(), flags, a.batch_size, a.micro_batch, a.data.as_deref())?;
    if let Some(dir) = &a.dump_parity {
        let loss = lab::bench::dump_parity(TrainConfig { samples: None, ..c }, dir)?;
        err(&format!("wrote weights, batch and gradients to {} (loss {loss:.6})", dir.display()));
        return Ok(0);
    }
    let r = on_workers(|| lab::bench::bench(c, a.steps, a.warmup, a.profile))?;
    if let Some(table) = &r.profile {
        err_raw(table);
    }
    print_json_or(a.json, &r, || lab::bench::bench_line(&r));
    Ok(0)
}

fn cmd_study(a: StudyArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    let stop = runner::stop_on_signals();
    let (quiet, shared) = (a.quiet || a.json, a.jobs > 1);
    let factory =
        move |s: &RunSpec| -> Box<dyn train::Observer + Send> { Box::new(Display::new(&s.label, quiet, shared)) };
    let shard = sweep::shard_of(a.shard.as_deref())?;
    let o = lab::study::StudyOptions::new(a.data, a.quick, a.out, a.jobs, shard);
    let done = lab::study::run(&o, &factory, stop)?;
    if a.json {
        out(&serde_json::json!(done).to_string());
    } else if !a.quiet && done.complete() {
        out_raw(&std::fs::read_to_string(o.out.join("results.md")).unwrap_or_default());
    }
    if done.waiting {
        let planned = count(done.planned as u64, "run");
        err(&format!(
            "this shard's share of the phase is done ({} of {planned} finished); run it again once the other shards have finished theirs: {}",
            done.runs.len(),
            this_command()
        ));
        return Ok(0);
    }
    if !done.complete() {
        let planned = count(done.planned as u64, "run");
        err(&format!("interrupted: {} of {planned} done; continue with: {}", done.runs.len(), this_command()));
        return Ok(130);
    }
    Ok(0)
}
