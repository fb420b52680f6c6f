//! One function per command.

use crate::args::*;
use crate::progress::Bar;
use heads::accounting::{fmt_ratio, thousands};
use heads::Summary;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use train::generate::{generate, Sampling};
use train::{Checkpoint, Error, Report, Result, RunDir, Session, Stopped, TrainConfig};

/// Set by SIGINT/SIGTERM; the training loop checks it every step.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(command: Command) -> Result<u8> {
    match command {
        Command::Train(a) => cmd_train(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Summary(a) => cmd_summary(a),
        Command::Generate(a) => cmd_generate(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Export(a) => cmd_export(a),
        Command::Import(a) => cmd_import(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Study(a) => cmd_study(a),
    }
}

/// Builds the worker pool, of a fixed size if asked.
fn setup_threads(threads: Option<usize>) -> Result<()> {
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

/// Trains one session into `run`, writing config.json and summary.txt first.
fn train_into(mut s: Session, run: &RunDir, show: bool, label: &str) -> Result<Report> {
    run.write_json("config.json", &s.config)?;
    run.write("summary.txt", Summary::of(&s.config.model)?.table().as_bytes())?;
    let mut bar = Bar::new(show, label);
    let report = train::train(&mut s, run, &mut bar, &STOP);
    bar.finish();
    report
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
    format!(
        "{}: head {} ({} params, ratio {}): {memo}; {} steps, {:.1} epochs, loss {:.4}, accuracy {:.3}{val}, {:.2} bits/byte, {:.0} samples/s, {:.1} s; stopped: {}",
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
        serde_json::to_value(r.stopped).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    )
}

/// Exit code for a finished run: 1 if it diverged (with advice), 130 if interrupted, else 0.
fn finish(r: &Report, lr: f64) -> u8 {
    match r.stopped {
        Stopped::Diverged => {
            let kept = if Path::new(&r.run_dir).join("checkpoint.bin").exists() {
                format!("the last good checkpoint is kept in {}/checkpoint.bin", r.run_dir)
            } else {
                "no checkpoint had been written yet".to_string()
            };
            eprintln!(
                "error: the loss diverged (NaN or infinite) at step {}; {kept}. Try a lower --lr (e.g. {:.0e}).",
                r.steps + 1,
                lr / 10.0
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

fn cmd_train(a: TrainArgs) -> Result<u8> {
    setup_threads(a.train.threads)?;
    let (session, run) = match &a.train.resume {
        Some(path) => resume(path, &a)?,
        None => {
            let config = resolve_train(&a.model, &a.data, &a.train)?;
            let session = Session::new(config)?;
            (session, RunDir::create_next(&a.train.runs_dir)?)
        }
    };
    install_interrupt_handler();
    let lr = session.config.lr;
    let show = !a.train.quiet && !a.train.json;
    let report = train_into(session, &run, show, "train")?;
    if a.train.json {
        println!("{}", serde_json::to_string(&report).expect("serializable"));
    } else if !a.train.quiet {
        println!("{}", report_line(&report));
    }
    Ok(finish(&report, lr))
}

/// Continues a checkpoint in its own run folder. Model and data flags must agree with it; only the
/// end of the run (--steps, --epochs, --until-memorized) and its logging may change.
fn resume(path: &Path, a: &TrainArgs) -> Result<(Session, RunDir)> {
    let ck = Checkpoint::load(path)?;
    let mut config = ck.config.clone();
    let mut wanted = config.model.clone();
    a.model.apply(&mut wanted);
    if wanted != config.model || a.model.preset.as_ref().is_some_and(|p| p != &config.preset) {
        let flags = a.model.given().join(", ");
        return Err(Error::usage(
            "--resume",
            format!(
                "{flags} contradict the checkpoint's model ({}); drop them to resume, or start a new run",
                path.display()
            ),
        ));
    }
    let t = &a.train;
    let contradicts = [
        (a.data.data.as_ref().map(|d| Some(d.display().to_string()) != config.data), "--data"),
        (a.data.samples.map(|n| Some(n) != config.samples), "--samples"),
        (a.data.val_fraction.map(|f| Some(f) != config.val_fraction), "--val-fraction"),
        (a.data.seed.map(|s| s != config.seed), "--seed"),
        (t.batch_size.map(|b| b != config.batch_size), "--batch-size"),
        (t.micro_batch.map(|b| b != config.micro_batch), "--micro-batch"),
        (t.lr.map(|x| x != config.lr), "--lr"),
        (t.optimizer.map(|_| true), "--optimizer"),
        (t.weight_decay.map(|w| w != config.weight_decay), "--weight-decay"),
        (t.warmup.map(|w| w != config.warmup), "--warmup"),
        (t.clip.map(|c| c != config.clip), "--clip"),
        (t.schedule.map(|_| true), "--schedule"),
        (t.config.as_ref().map(|_| true), "--config"),
    ];
    if let Some((_, flag)) = contradicts.iter().find(|(c, _)| *c == Some(true)) {
        return Err(Error::usage(
            flag,
            format!(
                "cannot change on --resume: it would not continue the same run ({}); start a new run instead",
                path.display()
            ),
        ));
    }
    if t.steps.is_some() || t.epochs.is_some() {
        if config.schedule == train::optim::Schedule::Cosine && (t.steps != config.steps || t.epochs != config.epochs) {
            return Err(Error::usage(
                "--steps",
                "a cosine schedule decays over the run's length: resume with the checkpoint's --steps/--epochs",
            ));
        }
        config.steps = t.steps;
        config.epochs = t.epochs;
        config.until_memorized = t.until_memorized;
    } else if t.until_memorized {
        config.until_memorized = true;
    }
    if let Some(c) = t.checkpoint_every {
        config.checkpoint_every = c;
    }
    if t.log_every.is_some() {
        config.log_every = t.log_every;
    }
    if t.eval_every.is_some() {
        config.eval_every = t.eval_every;
    }
    let session = Session::resume(ck.clone(), config, &path.display().to_string())?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Continue in the checkpoint's own run folder when it is one (it has the files a run writes
    // first); otherwise (an imported checkpoint, say) in a new run folder.
    let is_run_folder = dir.join("config.json").exists() && dir.join("summary.txt").exists();
    let run = if is_run_folder { RunDir { path: dir.to_path_buf() } } else { RunDir::create_next(&t.runs_dir)? };
    run.truncate_metrics(ck.step)?;
    Ok((session, run))
}

fn cmd_compare(a: CompareArgs) -> Result<u8> {
    setup_threads(a.train.threads)?;
    if a.train.resume.is_some() {
        return Err(Error::usage(
            "--resume",
            "compare starts fresh runs; resume a single run with `overfit train --resume`",
        ));
    }
    let base = resolve_train(&a.model, &a.data, &a.train)?;
    let names: Vec<String> =
        a.heads.clone().unwrap_or_else(|| heads::head_names().iter().map(|s| s.to_string()).collect());
    let mut configs = Vec::new();
    for h in &names {
        let mut c = base.clone();
        c.model.head = h.clone();
        // --output-bias goes to the heads that take one; the others compare without it.
        c.model.output_bias =
            base.model.output_bias && heads::spec(h).is_some_and(|s| s.own.contains(&heads::Own::OutputBias));
        c.validate()?;
        configs.push(c);
    }
    std::fs::create_dir_all(&a.train.runs_dir)
        .map_err(|e| Error::io(format!("creating {}", a.train.runs_dir.display()), e))?;
    install_interrupt_handler();
    let show = !a.train.quiet && !a.train.json;
    let mut reports = Vec::new();
    let mut code = 0;
    for c in configs {
        let run = RunDir::create_next(&a.train.runs_dir)?;
        let label = c.model.head.clone();
        let lr = c.lr;
        let report = train_into(Session::new(c)?, &run, show, &label)?;
        if show {
            eprintln!("{}", report_line(&report));
        }
        code = code.max(finish(&report, lr));
        reports.push(report);
        if STOP.load(Ordering::SeqCst) {
            break;
        }
    }
    let table = compare_table(&reports);
    let first = reports
        .first()
        .map(|r| Path::new(&r.run_dir).file_name().unwrap_or_default().to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = a.train.runs_dir.join(format!("compare-{first}"));
    train::fsutil::write_atomic(&stem.with_extension("txt"), table.as_bytes())?;
    let rows: Vec<(String, Vec<train::MetricsRow>)> =
        reports.iter().map(|r| (r.head.clone(), RunDir { path: r.run_dir.clone().into() }.read_metrics())).collect();
    let series: Vec<train::plot::Series<'_>> =
        rows.iter().map(|(h, m)| train::plot::Series { label: h, rows: m }).collect();
    train::plot::curves(&stem.with_extension("svg"), "overfit compare: every head on the same data and seed", &series)?;
    if a.train.json {
        println!(
            "{}",
            serde_json::json!({ "runs": reports, "table": stem.with_extension("txt"), "plot": stem.with_extension("svg") })
        );
    } else {
        print!("{table}");
        println!("table: {}   plot: {}", stem.with_extension("txt").display(), stem.with_extension("svg").display());
    }
    Ok(code)
}

fn compare_table(reports: &[Report]) -> String {
    let mut s = format!(
        "{:<11} {:>10} {:>10} {:>11} {:>11} {:>16} {:>16} {:>10} {:>9} {:>9} {:>8} {:>10}\n",
        "head",
        "embeddings",
        "blocks",
        "head",
        "total",
        "ratio",
        "log's ratio",
        "memorized",
        "epochs",
        "loss",
        "acc",
        "samples/s"
    );
    for r in reports {
        let epochs = r.epochs_to_memorize.map_or("not memorized".to_string(), |e| format!("{e:.1}"));
        s.push_str(&format!(
            "{:<11} {:>10} {:>10} {:>11} {:>11} {:>16} {:>16} {:>10} {:>9} {:>9.4} {:>8.3} {:>10.0}\n",
            r.head,
            thousands(r.params.embeddings),
            thousands(r.params.blocks),
            thousands(r.params.head),
            thousands(r.params.total),
            r.ratio.map_or("none".into(), fmt_ratio),
            fmt_ratio(r.approx_ratio),
            format!("{}/{}", r.memorized, r.memorized_of),
            if epochs.len() > 9 { "never".to_string() } else { epochs },
            r.final_loss,
            r.train_accuracy,
            r.samples_per_sec
        ));
    }
    s
}

fn cmd_summary(a: SummaryArgs) -> Result<u8> {
    let (_, config) = a.model.resolve()?;
    let s = Summary::of(&config)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s).expect("serializable"));
    } else {
        print!("{}", s.table());
    }
    Ok(0)
}

/// Loads a checkpoint's model and weights.
fn load_model(path: &Path) -> Result<(Checkpoint, heads::Model<f32>, autograd::ParamSet<f32>)> {
    let ck = Checkpoint::load(path)?; // checked: config, names and shapes, before any allocation
    let (model, mut params) = heads::Model::<f32>::new(&ck.config.model, 0)?;
    Checkpoint::restore_into(&ck.params, &mut params, &path.display().to_string())?;
    Ok((ck, model, params))
}

fn cmd_generate(a: GenerateArgs) -> Result<u8> {
    setup_threads(None)?;
    if !(a.temperature.is_finite() && a.temperature >= 0.0) {
        return Err(Error::usage("--temperature", format!("must be 0 (greedy) or more, got {}", a.temperature)));
    }
    let (_, model, params) = load_model(&a.checkpoint)?;
    let l = model.config.seq_length;
    if !model.spec.per_position && a.prompt.len() < l {
        eprintln!(
            "warning: head {} reads a window of {l} bytes and the prompt has {}: it is padded on the left with \
             {} special tokens (id 256), which this model never saw in training. Give a prompt of {l} bytes or more \
             (e.g. the first {l} bytes of the training text) for what it memorized.",
            model.config.head,
            a.prompt.len(),
            l - a.prompt.len()
        );
    }
    let sampling = Sampling { greedy: a.greedy, temperature: a.temperature, top_k: a.top_k, seed: a.seed };
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let io = |e| Error::io("writing to stdout", e);
    if !a.only_new {
        out.write_all(a.prompt.as_bytes()).map_err(io)?;
    }
    // Streamed: each byte is written as it is sampled, so any --bytes works in constant memory.
    generate(&model, &params, a.prompt.as_bytes(), a.bytes, sampling, |b| {
        out.write_all(&[b])?;
        if b == b'\n' {
            out.flush()?;
        }
        Ok(())
    })
    .map_err(io)?;
    out.write_all(b"\n").and_then(|()| out.flush()).map_err(io)?;
    Ok(0)
}

fn cmd_eval(a: EvalArgs) -> Result<u8> {
    setup_threads(None)?;
    let (ck, model, params) = load_model(&a.checkpoint)?;
    let corpus = match &a.data.data {
        Some(p) => train::data::Corpus::open(p)?,
        None => train::data::Corpus::Embedded,
    };
    let samples = a.data.samples.or(if a.data.data.is_none() { Some(train::data::DEFAULT_SAMPLES) } else { None });
    let split = train::data::Split::new(
        corpus.bytes().len(),
        ck.config.model.seq_length,
        model.spec.per_position,
        samples,
        a.data.val_fraction,
        &corpus.name(),
    )?;
    let (first, count) =
        if split.val_windows > 0 { (split.val_start, split.val_windows) } else { (0, split.train_windows) };
    // Every window, up to 2^22 of them; past that, 2^22 evenly spaced ones (reported as `samples`).
    // A per-position head reads validation text in non-overlapping windows, each byte predicted
    // once, as the trainer's validation pass does; training windows all, for an exact memorized count.
    let stride = if model.spec.per_position && split.val_windows > 0 { split.seq_length } else { 1 };
    let starts = train::data::eval_starts(first, count, stride, 1 << 22);
    let ev = train::eval::evaluate(&model, &params, corpus.bytes(), &split, &starts);
    let bpb = ev.loss / std::f64::consts::LN_2;
    if a.json {
        println!(
            "{}",
            serde_json::json!({ "loss": ev.loss, "bits_per_byte": bpb, "accuracy": ev.accuracy, "memorized": ev.memorized, "samples": ev.windows, "split": if split.val_windows > 0 { "validation" } else { "train" } })
        );
    } else {
        println!(
            "{}: {} windows of {}: loss {:.4} nats, {:.3} bits/byte, accuracy {:.3}, memorized {}/{}",
            a.checkpoint.display(),
            ev.windows,
            corpus.name(),
            ev.loss,
            bpb,
            ev.accuracy,
            ev.memorized,
            ev.windows
        );
    }
    Ok(0)
}

fn cmd_export(a: ExportArgs) -> Result<u8> {
    let ck = Checkpoint::load(&a.checkpoint)?;
    match a.format {
        ExportFormat::Overfit => {
            train::weights::export(&ck, &a.out)?;
            eprintln!("wrote {} ({} tensors)", a.out.display(), ck.params.len());
        }
        ExportFormat::Hf => {
            train::weights::hf::export(&ck, &a.out)?;
            let (config, weights) = (train::weights::CONFIG_FILE, train::weights::WEIGHTS_FILE);
            eprintln!("wrote {0}/{config} and {0}/{weights} (a transformers GPT2LMHeadModel)", a.out.display());
        }
    }
    Ok(0)
}

fn cmd_import(a: ImportArgs) -> Result<u8> {
    let m = &a.model;
    if m.preset.is_some() {
        // A preset is a whole shape, and the file already tells most of it: give single fields.
        return Err(Error::usage(
            "--preset",
            "import takes the model's shape from the file; give only what it cannot tell, e.g. --num-heads",
        ));
    }
    let flags = train::weights::PartialConfig {
        vocab_size: m.vocab_size,
        seq_length: m.seq_length,
        d_model: m.d_model,
        num_blocks: m.num_blocks,
        num_heads: m.num_heads,
        d_ff: m.d_ff,
        head: m.head.clone(),
        bottleneck: m.bottleneck,
        reduce: m.reduce,
        kernel: m.kernel,
        positions: m.positions.map(|p| match p {
            PositionsArg::Learned => heads::Positions::Learned,
            PositionsArg::Sinusoidal => heads::Positions::Sinusoidal,
        }),
        output_bias: m.output_bias.then_some(true),
    };
    let imported = train::weights::import(&a.weights, &flags)?;
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
    let (preset, model) = a.model.resolve()?;
    let mut c = TrainConfig::default_run();
    c.preset = preset;
    c.model = model;
    c.batch_size = a.batch_size;
    c.micro_batch = a.micro_batch;
    c.data = a.data.map(|d| d.display().to_string());
    if let Some(dir) = &a.dump_parity {
        c.samples = None;
        let loss = train::bench::dump_parity(c, dir)?;
        eprintln!("wrote weights, batch and gradients to {} (loss {loss:.6})", dir.display());
        return Ok(0);
    }
    let r = train::bench::bench(c, a.steps, a.warmup, a.profile)?;
    if a.profile {
        let mut rows = autograd::profile::take();
        rows.sort_by(|x, y| (y.1.forward_secs + y.1.backward_secs).total_cmp(&(x.1.forward_secs + x.1.backward_secs)));
        let total: f64 = rows.iter().map(|(_, e)| e.forward_secs + e.backward_secs).sum();
        eprintln!(
            "{:<30} {:>12} {:>12} {:>8} {:>10}",
            "op (CPU time per step)", "forward µs", "backward µs", "share", "calls/step"
        );
        for (name, e) in rows {
            let per = |s: f64| s * 1e6 / a.steps as f64;
            eprintln!(
                "{name:<30} {:>12.1} {:>12.1} {:>7.1}% {:>10.1}",
                per(e.forward_secs),
                per(e.backward_secs),
                100.0 * (e.forward_secs + e.backward_secs) / total,
                e.calls as f64 / a.steps as f64
            );
        }
        eprintln!("{:<30} {:>12.1} µs of CPU time per step", "total", total * 1e6 / a.steps as f64);
    }
    if a.json {
        println!("{}", serde_json::to_string(&r).expect("serializable"));
    } else {
        println!(
            "head {}: {:.1} steps/s ({:.3} ms/step), {:.0} samples/s, {:.0} tokens/s, batch {}, {} threads, peak RSS {} MiB",
            r.head,
            r.steps_per_sec,
            r.ms_per_step,
            r.samples_per_sec,
            r.tokens_per_sec,
            r.batch_size,
            r.threads,
            r.peak_rss_bytes.map_or("?".into(), |b| (b >> 20).to_string())
        );
    }
    Ok(0)
}

fn cmd_study(a: StudyArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    let options = train::study::StudyOptions { data: a.data.clone(), quick: a.quick, seed: a.seed };
    let specs = train::study::plan(&options)?;
    let name =
        a.data.as_ref().and_then(|p| p.file_stem()).map_or("embedded".to_string(), |s| s.to_string_lossy().to_string());
    let out =
        a.out.clone().unwrap_or_else(|| Path::new("study").join(if a.quick { format!("{name}-quick") } else { name }));
    install_interrupt_handler();
    let mut bar = crate::progress::StudyBar::new(!a.quiet && !a.json);
    let outcomes = train::study::run(&specs, &out, &mut bar, &STOP)?;
    bar.finish();
    if a.json {
        println!("{}", serde_json::json!({ "out": out, "runs": outcomes }));
    } else if !a.quiet {
        let text = std::fs::read_to_string(out.join("results.md")).unwrap_or_default();
        print!("{text}");
        println!("\nresults: {}/results.json, results.md, and the plots in {}", out.display(), out.display());
    }
    if STOP.load(Ordering::SeqCst) {
        eprintln!(
            "interrupted: {} of {} runs done; run the same command again to continue",
            outcomes.len(),
            specs.len()
        );
        return Ok(130);
    }
    Ok(0)
}
