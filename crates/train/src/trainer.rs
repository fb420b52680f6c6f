//! The training loop: steps, logging, memorization checks, checkpoints, and why it stopped.

use crate::data::eval_starts;
use crate::error::Result;
use crate::run::{MetricsRow, Report, RunDir, Stopped};
use crate::session::{Evaluation, Session};
use heads::accounting::LogApprox;
use heads::ParamCounts;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Hooks for a progress display; every method has a no-op default.
pub trait Observer {
    fn started(&mut self, _session: &Session, _total_steps: Option<u64>) {}
    fn stepped(&mut self, _step: u64, _loss: f64, _samples_per_sec: f64) {}
    fn logged(&mut self, _row: &MetricsRow, _of: usize) {}
}

/// An observer that shows nothing.
pub struct Silent;
impl Observer for Silent {}

/// Log at every epoch's end, and at least every 100 steps (unless --log-every says otherwise).
fn is_log_step(step: u64, steps_per_epoch: u64, log_every: Option<u64>) -> bool {
    match log_every {
        Some(n) => step.is_multiple_of(n),
        None => step.is_multiple_of(steps_per_epoch) || step.is_multiple_of(100),
    }
}

/// Trains until the config's end, memorization, divergence or `stop`, writing the run folder.
pub fn train(s: &mut Session, run: &RunDir, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Report> {
    let spe = s.steps_per_epoch();
    let total = s.total_steps();
    let train_eval = eval_starts(0, s.split.train_windows, s.config.eval_windows);
    let val_eval =
        (s.split.val_windows > 0).then(|| eval_starts(s.split.val_start, s.split.val_windows, s.config.eval_windows));
    observer.started(s, total);

    // A resumed run continues the running mean and the memorization record of the run it resumes,
    // so that its metrics match an uninterrupted run's.
    let (mut loss_sum, mut loss_steps) = s.pending_loss;
    let mut step_seconds = 0.0f64; // time inside optimizer steps only, for samples/s
    let mut step_samples = 0u64;
    let mut last: Option<(Evaluation, Option<f64>)> = None;
    let mut memorized_at: Option<u64> =
        run.read_metrics().iter().find(|r| r.step <= s.step && r.memorized == train_eval.len()).map(|r| r.step);
    let wall_start = Instant::now();
    let wall_before = s.wall_seconds;

    let stopped = loop {
        if stop.load(Ordering::SeqCst) {
            break Stopped::Interrupted;
        }
        if total.is_some_and(|t| s.step >= t) {
            break Stopped::MaxSteps;
        }
        let t0 = Instant::now();
        let out = s.train_step();
        if !out.loss.is_finite() {
            break Stopped::Diverged;
        }
        step_seconds += t0.elapsed().as_secs_f64();
        step_samples += out.windows as u64;
        loss_sum += out.loss;
        loss_steps += 1;
        s.pending_loss = (loss_sum, loss_steps);
        let sps = step_samples as f64 / step_seconds.max(1e-9);
        observer.stepped(s.step, out.loss, sps);

        let at_end = total.is_some_and(|t| s.step >= t);
        let regular = is_log_step(s.step, spe, s.config.log_every);
        if regular || at_end {
            let ev = s.evaluate(&train_eval);
            let val = val_eval.as_ref().map(|v| s.evaluate(v).loss);
            s.wall_seconds = wall_before + wall_start.elapsed().as_secs_f64();
            let row = MetricsRow {
                step: s.step,
                epoch: s.step as f64 / spe as f64,
                loss: loss_sum / loss_steps.max(1) as f64,
                accuracy: ev.accuracy,
                memorized: ev.memorized,
                lr: out.lr,
                samples_per_sec: sps,
                val_loss: val,
                grad_norm: out.grad_norm,
                wall_seconds: s.wall_seconds,
            };
            run.append_metrics(&row)?;
            observer.logged(&row, ev.windows);
            // Only a regular row restarts the running mean: a row written because the run ended
            // here would not exist in a longer run, and a resume must continue the same mean.
            if regular {
                (loss_sum, loss_steps) = (0.0, 0);
                s.pending_loss = (0.0, 0);
            }
            last = Some((ev, val));
            if ev.memorized == ev.windows && memorized_at.is_none() {
                memorized_at = Some(s.step);
            }
            if s.config.until_memorized && ev.memorized == ev.windows {
                break Stopped::Memorized;
            }
        }
        if s.config.checkpoint_every > 0 && s.step.is_multiple_of(s.config.checkpoint_every) {
            s.checkpoint().save(&run.file("checkpoint.bin"))?;
        }
    };
    s.wall_seconds = wall_before + wall_start.elapsed().as_secs_f64();

    // A diverged run keeps its last good checkpoint; every other stop saves the state it reached.
    if stopped != Stopped::Diverged {
        s.checkpoint().save(&run.file("checkpoint.bin"))?;
    }
    let (ev, val) = match last {
        Some((ev, val)) if stopped != Stopped::Interrupted || ev.windows == 0 => (ev, val),
        _ => (s.evaluate(&train_eval), val_eval.as_ref().map(|v| s.evaluate(v).loss)),
    };
    let counts = ParamCounts::of(&s.params);
    let report = Report {
        head: s.config.model.head.clone(),
        params: counts,
        ratio: counts.ratio(),
        samples: s.split.train_windows,
        memorized: ev.memorized,
        epochs: s.step as f64 / spe as f64,
        steps: s.step,
        final_loss: ev.loss,
        train_accuracy: ev.accuracy,
        val_loss: val,
        bits_per_byte: val.unwrap_or(ev.loss) / std::f64::consts::LN_2,
        samples_per_sec: step_samples as f64 / step_seconds.max(1e-9),
        wall_seconds: s.wall_seconds,
        stopped,
        memorized_of: ev.windows,
        epochs_to_memorize: memorized_at.map(|st| st as f64 / spe as f64),
        steps_to_memorize: memorized_at,
        approx_ratio: LogApprox::of(&s.config.model, s.model.spec.tied).ratio,
        preset: s.config.preset.clone(),
        data: s.corpus.name(),
        seed: s.config.seed,
        run_dir: run.path.display().to_string(),
        peak_rss_bytes: crate::system::peak_rss_bytes(),
        rss_anon_bytes: crate::system::rss_anon_bytes(),
    };
    run.write_json("report.json", &report)?;
    let rows = run.read_metrics();
    crate::plot::curves(
        &run.file("curves.svg"),
        &format!("{} — head {}", run.path.display(), report.head),
        &[crate::plot::Series { label: &report.head, rows: &rows }],
    )?;
    Ok(report)
}
