//! The commands that read or write a model without training it: generate, eval, export, import,
//! bench.

use crate::args::*;
use crate::commands::setup_threads;
use std::path::Path;
use train::generate::{generate as sample, Sampling};
use train::{Checkpoint, Error, Result, TrainConfig};

/// Loads a checkpoint's model and weights.
fn load_model(path: &Path) -> Result<(Checkpoint, heads::Model<f32>, autograd::ParamSet<f32>)> {
    let ck = Checkpoint::load(path)?; // checked: config, names and shapes, before any allocation
    let (model, mut params) = heads::Model::<f32>::new(&ck.config.model, 0)?;
    Checkpoint::restore_into(&ck.params, &mut params, &path.display().to_string())?;
    Ok((ck, model, params))
}

pub fn generate(a: GenerateArgs) -> Result<u8> {
    setup_threads(None)?;
    if !(a.temperature.is_finite() && a.temperature >= 0.0) {
        return Err(Error::usage("--temperature", format!("must be 0 (greedy) or more, got {}", a.temperature)));
    }
    let (_, model, params) = load_model(&a.checkpoint)?;
    let l = model.config.seq_length;
    if !model.config.per_position() && a.prompt.len() < l {
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
    sample(&model, &params, a.prompt.as_bytes(), a.bytes, sampling, |b| {
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

pub fn eval(a: EvalArgs) -> Result<u8> {
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
        model.config.per_position(),
        samples,
        a.data.val_fraction,
        &corpus.name(),
    )?;
    let (first, count) =
        if split.val_windows > 0 { (split.val_start, split.val_windows) } else { (0, split.train_windows) };
    // Every window, up to 2^22 of them; past that, 2^22 evenly spaced ones (reported as `samples`).
    // A per-position head reads validation text in non-overlapping windows, each byte predicted
    // once, as the trainer's validation pass does; training windows all, for an exact memorized count.
    let stride = if model.config.per_position() && split.val_windows > 0 { split.seq_length } else { 1 };
    let starts = train::data::eval_starts(first, count, stride, 1 << 22);
    let ev = train::eval::evaluate(&model, &params, corpus.bytes(), &split, &starts);
    let bpb = ev.loss / std::f64::consts::LN_2;
    let part = if split.val_windows > 0 { "validation" } else { "train" };
    if a.json {
        let v = serde_json::json!({ "loss": ev.loss, "bits_per_byte": bpb, "accuracy": ev.accuracy,
            "memorized": ev.memorized, "samples": ev.windows, "split": part,
            "last_bits_per_byte": ev.last_loss / std::f64::consts::LN_2 });
        println!("{v}");
    } else {
        println!(
            "{}: {} {part} windows of {}: loss {:.4} nats, {:.3} bits/byte ({:.3} at the last position), accuracy {:.3}, memorized {}/{}",
            a.checkpoint.display(),
            ev.windows,
            corpus.name(),
            ev.loss,
            bpb,
            ev.last_loss / std::f64::consts::LN_2,
            ev.accuracy,
            ev.memorized,
            ev.windows
        );
    }
    Ok(0)
}

pub fn export(a: ExportArgs) -> Result<u8> {
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

pub fn import(a: ImportArgs) -> Result<u8> {
    if a.model.preset.is_some() {
        // A preset is a whole shape, and the file already tells most of it: give single fields.
        return Err(Error::usage(
            "--preset",
            "import takes the model's shape from the file; give only what it cannot tell, e.g. --num-heads",
        ));
    }
    let given = crate::args::given(&[&a.model, &a.head]);
    let flags: train::weights::PartialConfig = serde_json::from_value(serde_json::Value::Object(given))
        .map_err(|e| Error::usage("--num-heads", format!("not a model flag: {e}")))?;
    let imported = train::weights::import(&a.weights, &flags)?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    let ck = imported.checkpoint;
    ck.save(&a.out)?;
    eprintln!("wrote {} (head {}, {} tensors)", a.out.display(), ck.config.model.head, ck.params.len());
    Ok(0)
}

pub fn bench(a: BenchArgs) -> Result<u8> {
    setup_threads(a.threads)?;
    if a.steps == 0 {
        return Err(Error::usage("--steps", "must be at least 1"));
    }
    let mut flags = crate::args::given(&[&a.model, &a.head]);
    flags.insert("batch_size".into(), a.batch_size.into());
    flags.insert("micro_batch".into(), a.micro_batch.into());
    if let Some(d) = &a.data {
        flags.insert("data".into(), d.display().to_string().into());
    }
    let sources = train::settings::Sources { preset: a.model.preset.as_deref(), file: None, flags };
    let c: TrainConfig = train::settings::resolve(&sources)?;
    if let Some(dir) = &a.dump_parity {
        let loss = train::bench::dump_parity(TrainConfig { samples: None, ..c }, dir)?;
        eprintln!("wrote weights, batch and gradients to {} (loss {loss:.6})", dir.display());
        return Ok(0);
    }
    let r = train::bench::bench(c, a.steps, a.warmup, a.profile)?;
    if let Some(table) = &r.profile {
        eprint!("{table}");
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
