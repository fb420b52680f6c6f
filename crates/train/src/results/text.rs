//! Single runs as text: the line a finished run prints, the note on why it stopped, the table of
//! `overfit compare`, a metrics row as a log line, an evaluation and a benchmark.

use crate::bench::BenchResult;
use crate::eval::CheckpointEval;
use crate::run::{MetricsRow, Report, Stopped};
use heads::accounting::{fmt_ratio, thousands};

/// The line a finished run prints (also with --quiet).
pub fn report_line(r: &Report) -> String {
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
        "{}: head {} ({} params, ratio {}): {memo}; {} steps, {:.2} epochs, loss {:.4}, accuracy {:.3}{val}, {:.2} bits/byte, {:.0} samples/s in steps, {:.1} s ({:.1} s evaluating); stopped: {}",
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
        r.stopped.name(),
    )
}

/// What a run that did not end normally prints on stderr: a diverged run's error, with advice, or
/// where an interrupted run's state is. None for a run that ended by its count or memorized.
pub fn stop_message(r: &Report) -> Option<String> {
    match r.stopped {
        Stopped::Diverged => {
            let kept = if std::path::Path::new(&r.run_dir).join("checkpoint.bin").exists() {
                format!("the last good checkpoint is kept in {}/checkpoint.bin", r.run_dir)
            } else {
                "no checkpoint had been written yet".to_string()
            };
            Some(format!(
                "error: the loss diverged at step {} (it became non-finite, or rose above {}× the first step's after warm-up); {kept}. \
                 Adam moves each weight by about the learning rate a step: 1e-3 (the default) suits these models; try a lower --lr, \
                 a --warmup, or --clip 1.",
                r.steps + 1,
                crate::trainer::DIVERGED_FACTOR
            ))
        }
        Stopped::Interrupted => Some(format!(
            "interrupted at step {}: state saved in {}/checkpoint.bin; continue with --resume",
            r.steps, r.run_dir
        )),
        Stopped::Memorized | Stopped::MaxSteps | Stopped::Plateau | Stopped::EarlyStopped => None,
    }
}

/// The table `overfit compare` prints: one row per run (one per head).
pub fn compare_table(reports: &[crate::Report]) -> String {
    let val = reports.iter().any(|r| r.val_loss.is_some());
    let mut s = format!(
        "{:<11} {:>10} {:>10} {:>11} {:>11} {:>16} {:>16} {:>10} {:>9} {:>9} {:>8}{} {:>10}\n",
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
        if val { format!(" {:>9} {:>9}", "val loss", "val bpb") } else { String::new() },
        "samples/s"
    );
    for r in reports {
        let epochs = r.epochs_to_memorize.map_or("never".to_string(), |e| format!("{e:.1}"));
        let val_cols = match (val, r.val_loss) {
            (true, Some(v)) => format!(" {v:>9.4} {:>9.3}", v / std::f64::consts::LN_2),
            (true, None) => format!(" {:>9} {:>9}", "–", "–"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "{:<11} {:>10} {:>10} {:>11} {:>11} {:>16} {:>16} {:>10} {:>9} {:>9.4} {:>8.3}{val_cols} {:>10.0}\n",
            r.head,
            thousands(r.params.embeddings),
            thousands(r.params.blocks),
            thousands(r.params.head),
            thousands(r.params.total),
            r.ratio.map_or("none".into(), fmt_ratio),
            fmt_ratio(r.approx_ratio),
            format!("{}/{}", r.memorized, r.memorized_of),
            epochs,
            r.final_loss,
            r.train_accuracy,
            r.samples_per_sec
        ));
    }
    s
}

/// A nanoGPT-style log line: step, loss, evaluation, validation, time per step, evaluation time.
pub fn log_line(label: &str, r: &MetricsRow, total: Option<u64>, of: usize) -> String {
    let of_total = total.map_or(String::new(), |t| format!("/{t}"));
    let mut s = format!("{label} step {}{of_total} | epoch {:.2} | loss {:.4}", r.step, r.epoch, r.loss);
    if let (Some(e), Some(m)) = (r.eval_loss, r.memorized) {
        s.push_str(&format!(" | eval {e:.4} | memorized {m}/{of}"));
    }
    if let Some(v) = r.val_loss {
        s.push_str(&format!(" | val {v:.4}"));
    }
    s.push_str(&format!(" | {:.1} ms/step", r.ms_per_step));
    if r.eval_seconds > 0.0 {
        s.push_str(&format!(" | eval {:.0} ms", r.eval_seconds * 1e3));
    }
    s
}

/// `overfit eval`'s line.
pub fn eval_line(e: &CheckpointEval) -> String {
    let stride = if e.stride > 1 { format!(", non-overlapping (stride {})", e.stride) } else { String::new() };
    let read = if e.samples < e.windows_available {
        format!("{} of {} {} windows{stride}, evenly spaced (--max-windows)", e.samples, e.windows_available, e.split)
    } else {
        format!("{} {} windows{stride}", e.samples, e.split)
    };
    format!(
        "{}: {read} of {}: loss {:.4} nats, {:.3} bits/byte ({:.3} at the last position), accuracy {:.3}, memorized {}/{}",
        e.checkpoint,
        e.data,
        e.loss,
        e.bits_per_byte,
        e.last_bits_per_byte,
        e.accuracy,
        e.memorized,
        e.samples
    )
}

/// `overfit bench`'s line.
pub fn bench_line(r: &BenchResult) -> String {
    format!(
        "head {}: {:.1} steps/s ({:.3} ms/step), {:.0} samples/s, {:.0} tokens/s, batch {}, {} threads, peak RSS {} MiB",
        r.head,
        r.steps_per_sec,
        r.ms_per_step,
        r.samples_per_sec,
        r.tokens_per_sec,
        r.batch_size,
        r.threads,
        r.peak_rss_bytes.map_or("?".into(), |b| (b >> 20).to_string())
    )
}
