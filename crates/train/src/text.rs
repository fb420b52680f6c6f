//! One run as text: the line a finished run prints, the note on why it stopped, a metrics row as
//! a log line, and an evaluation.

use crate::config::TrainConfig;
use crate::eval::CheckpointEval;
use crate::run::{MetricsRow, Report, Stopped};
use heads::accounting::{fmt_ratio, thousands};
use heads::words::count;

/// The line a finished run prints (also with --quiet). Its loss is the `eval loss`: a fresh
/// evaluation of the training windows at the end, not the running mean of the batches.
pub fn report_line(r: &Report) -> String {
    let memo = match r.steps_to_memorize {
        Some(st) => format!(
            "all {} memorized at step {st} ({:.1} epochs)",
            count(r.memorized_of as u64, "window"),
            r.epochs_to_memorize.unwrap_or(0.0)
        ),
        None => format!("{}/{} windows memorized", r.memorized, r.memorized_of),
    };
    // A per-position head predicts every byte of a window: say how many it knows at every one.
    let all = match r.memorized_all_positions {
        Some(a) if r.head.spec().causal_mask => format!(" ({a}/{} at every position)", r.memorized_of),
        _ => String::new(),
    };
    let val = r.val_loss.map_or(String::new(), |v| format!(", val loss {v:.4}"));
    format!(
        "{}: head {} ({} params, ratio {}): {memo}{all}; {}, {:.2} epochs, eval loss {:.4}, accuracy {:.3}{val}, {:.2} bits/byte, {:.0} samples/s in steps, {:.1} s ({:.1} s evaluating); stopped: {}",
        r.run_dir,
        r.head,
        thousands(r.params.total),
        r.ratio.map_or("none".into(), fmt_ratio),
        count(r.steps, "step"),
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
/// where an interrupted run's state is and `resume`, the whole command that continues it. None for
/// a run that ended by its count or memorized.
pub fn stop_message(r: &Report, resume: &str) -> Option<String> {
    match r.stopped {
        Stopped::Diverged => {
            let kept = if std::path::Path::new(&r.run_dir).join("checkpoint.bin").exists() {
                format!("the last good checkpoint is kept in {}/checkpoint.bin", r.run_dir)
            } else {
                "no checkpoint had been written yet".to_string()
            };
            let config = crate::run::RunDir { path: r.run_dir.clone().into() }.read_config();
            // The step that diverged was not applied: the count is the result line's.
            Some(format!(
                "error: the loss diverged after {}: the next step's loss or gradient was not finite, or its loss \
                 rose above {}× the first step's after warm-up; {kept}. Adam moves each weight by about the \
                 learning rate a step: 1e-3 (the default) suits these models; try {}.",
                count(r.steps, "step"),
                crate::trainer::DIVERGED_FACTOR,
                divergence_advice(config.as_ref())
            ))
        }
        Stopped::Interrupted => Some(format!(
            "interrupted at step {}: state saved in {}/checkpoint.bin; continue with: {resume}",
            r.steps, r.run_dir
        )),
        Stopped::Memorized | Stopped::MaxSteps | Stopped::Plateau | Stopped::EarlyStopped => None,
    }
}

/// What might keep a diverging run stable, among the flags that would change something for it:
/// a lower --lr always; a --warmup if it had none; --clip 1 only if clipping was off or looser.
fn divergence_advice(c: Option<&TrainConfig>) -> String {
    let Some(c) = c else { return "a lower --lr".to_string() };
    let mut tips = vec![format!("a --lr lower than this run's {}", c.lr)];
    if c.warmup == 0 {
        tips.push("a --warmup of a few hundred steps".to_string());
    }
    if c.clip <= 0.0 {
        tips.push("--clip 1 (this run did not clip)".to_string());
    } else if c.clip > 1.0 {
        tips.push(format!("--clip 1 (this run clipped at {})", c.clip));
    }
    match tips.len() {
        1 => tips.remove(0),
        n => format!("{}, or {}", tips[..n - 1].join(", "), tips[n - 1]),
    }
}

/// A nanoGPT-style log line: step, train loss (the running mean of the batches since the last
/// row), eval loss and memorized (a fresh evaluation), val loss, time per step, evaluation time.
/// `per_position`: the head predicts every byte, so the count at every position is shown too.
pub fn log_line(label: &str, r: &MetricsRow, total: Option<u64>, of: usize, per_position: bool) -> String {
    let of_total = total.map_or(String::new(), |t| format!("/{t}"));
    let mut s = format!("{label} step {}{of_total} | epoch {:.2}", r.step, r.epoch);
    // Step 0 has trained on nothing: its only loss is the evaluation's.
    if r.step > 0 {
        s.push_str(&format!(" | train loss {:.4}", r.loss));
    }
    if let (Some(e), Some(m)) = (r.eval_loss, r.memorized) {
        s.push_str(&format!(" | eval loss {e:.4} | memorized {m}/{of}"));
        if let (true, Some(a)) = (per_position, r.memorized_all_positions) {
            s.push_str(&format!(" ({a}/{of} at every position)"));
        }
    }
    if let Some(v) = r.val_loss {
        s.push_str(&format!(" | val loss {v:.4}"));
    }
    s.push_str(&format!(" | {:.1} ms/step", r.ms_per_step));
    if r.eval_seconds > 0.0 {
        s.push_str(&format!(" | evaluated in {:.0} ms", r.eval_seconds * 1e3));
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
        "{}: {read} of {}: eval loss {:.4} nats, {:.3} bits/byte ({:.3} at the last position), accuracy {:.3}, memorized {}/{}{}",
        e.checkpoint,
        e.data,
        e.loss,
        e.bits_per_byte,
        e.last_bits_per_byte,
        e.accuracy,
        e.memorized,
        e.samples,
        if e.per_position { format!(" ({}/{} at every position)", e.memorized_all_positions, e.samples) } else { String::new() }
    )
}
