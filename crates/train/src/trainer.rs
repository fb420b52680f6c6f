//! The training loop: steps, logging, evaluation, memorization checks, checkpoints, and why it
//! stopped.

use crate::error::Result;
use crate::eval::{EvalPlan, Evaluation};
use crate::run::{MetricsRow, Report, RunDir, Stopped, TestFigures};
use crate::session::{Session, StepOutcome};
use heads::accounting::LogApprox;
use heads::ParamCounts;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Hooks for a progress display; every method has a no-op default.
pub trait Observer {
    fn started(&mut self, _session: &Session, _total_steps: Option<u64>) {}
    /// After each optimizer step: the train loss (the running mean of the batches since the last
    /// metrics row), and training throughput (time inside steps only).
    fn stepped(&mut self, _session: &Session, _train_loss: f64, _samples_per_sec: f64) {}
    /// An evaluation is about to run.
    fn evaluating(&mut self, _session: &Session) {}
    /// A metrics row was written; `of` is the number of training windows evaluated.
    fn logged(&mut self, _row: &MetricsRow, _of: usize) {}
}

/// An observer that shows nothing.
pub struct Silent;
impl Observer for Silent {}

/// Rows at regular intervals: --log-every, else every epoch when an epoch is at most 100 steps,
/// else every 100 steps. (Rows at epoch ends *and* every 100 steps would average the running
/// loss over uneven spans.)
fn is_log_step(step: u64, steps_per_epoch: u64, log_every: Option<u64>) -> bool {
    step.is_multiple_of(log_every.unwrap_or(steps_per_epoch.min(100)))
}

/// Evaluate at every log row, unless --eval-every sets a cadence of its own.
fn is_eval_step(step: u64, steps_per_epoch: u64, config: &crate::TrainConfig) -> bool {
    match config.eval_every {
        Some(n) => step.is_multiple_of(n),
        None => is_log_step(step, steps_per_epoch, config.log_every),
    }
}

/// Steps between two evaluations, for sizing the evaluation sample.
fn eval_interval(s: &Session) -> u64 {
    let spe = s.steps_per_epoch();
    s.config.eval_every.or(s.config.log_every).unwrap_or(spe.min(100))
}

/// The last evaluation: training windows and, with a split, the validation loss.
#[derive(Clone, Copy, Debug)]
struct Evaluated {
    train: Evaluation,
    val: Option<f64>,
}

/// What the loop carries from step to step.
struct Progress {
    /// Losses summed since the last regular row, and their count.
    loss_sum: f64,
    loss_steps: u64,
    /// Time inside optimizer steps only, and the windows they trained: samples/s.
    step_seconds: f64,
    step_samples: u64,
    steps_done: u64,
    last: Option<Evaluated>,
    memorized_at: Option<u64>,
    /// Every evaluated training loss so far, for the plateau rule.
    eval_losses: Vec<f64>,
    /// The best validation loss so far and its step, for early stopping (best.bin holds its weights).
    best_val: Option<(f64, u64)>,
    wall_start: Instant,
    wall_before: f64,
    /// When curves.svg was last drawn.
    drawn: Option<Instant>,
}

impl Progress {
    /// A resumed run continues the running mean and the memorization record of the run it
    /// resumes, so that its metrics match an uninterrupted run's.
    fn new(s: &Session, run: &RunDir, plan: &EvalPlan) -> Progress {
        let rows: Vec<MetricsRow> = run.read_metrics().into_iter().filter(|r| r.step <= s.step).collect();
        Progress {
            loss_sum: s.pending_loss.0,
            loss_steps: s.pending_loss.1,
            step_seconds: 0.0,
            step_samples: 0,
            steps_done: 0,
            last: None,
            memorized_at: memorized_before(s, run, plan, &rows),
            eval_losses: rows.iter().filter_map(|r| r.eval_loss).collect(),
            best_val: rows.iter().fold(None, |best, r| better_val(best, r.val_loss, r.step)),
            wall_start: Instant::now(),
            wall_before: s.wall_seconds,
            drawn: None,
        }
    }

    fn samples_per_sec(&self) -> f64 {
        self.step_samples as f64 / self.step_seconds.max(1e-9)
    }
    fn wall(&self) -> f64 {
        self.wall_before + self.wall_start.elapsed().as_secs_f64()
    }
}

/// The step at which a resumed run had memorized its data, by the live rule of [`all_memorized`]:
/// a row counts when its evaluation covered every training window. When the evaluation sampled
/// them, the live run claimed memorization only after confirming it on all windows, which no row
/// records; its report (written when it stopped) does.
fn memorized_before(s: &Session, run: &RunDir, plan: &EvalPlan, rows: &[MetricsRow]) -> Option<u64> {
    if plan.train.len() >= s.split.train_windows {
        return rows.iter().find(|r| r.memorized == Some(plan.train.len())).map(|r| r.step);
    }
    run.read_report().and_then(|r| r.steps_to_memorize).filter(|&step| step <= s.step)
}

/// The best of (loss, step) so far after an evaluation at `step` (the earliest on ties).
fn better_val(best: Option<(f64, u64)>, val: Option<f64>, step: u64) -> Option<(f64, u64)> {
    match (best, val) {
        (Some((b, _)), Some(v)) if v < b => Some((v, step)),
        (None, Some(v)) => Some((v, step)),
        _ => best,
    }
}

/// Early stopping: keeps the weights of the best validation loss in best.bin, and says whether
/// `early_stop` steps have passed since it improved.
fn watch_val(s: &Session, run: &RunDir, p: &mut Progress, val: Option<f64>) -> Result<bool> {
    let Some(patience) = s.config.early_stop else { return Ok(false) };
    let best = better_val(p.best_val, val, s.step);
    if best != p.best_val {
        run.save_best(&s.checkpoint())?;
        p.best_val = best;
    }
    Ok(p.best_val.is_some_and(|(_, at)| s.step - at >= patience))
}

/// Trains until the config's end, memorization, divergence or `stop`, writing the run folder.
pub fn train(s: &mut Session, run: &RunDir, observer: &mut dyn Observer, stop: &AtomicBool) -> Result<Report> {
    let between = eval_interval(s) * s.config.batch_size as u64;
    let plan = EvalPlan::new(&s.split, s.config.eval_windows, between);
    let mut p = Progress::new(s, run, &plan);
    let total = s.total_steps();
    observer.started(s, total);
    if s.step == 0 {
        step_zero(s, run, &plan, &mut p, observer)?;
    }
    let stopped = loop {
        if stop.load(Ordering::SeqCst) {
            break Stopped::Interrupted;
        }
        if total.is_some_and(|t| s.step >= t) {
            break Stopped::MaxSteps;
        }
        let t0 = Instant::now();
        // A step whose loss diverges is not applied: `steps` then counts the good steps alone,
        // the same number the result line and the divergence message give.
        let (loss, windows) = s.compute_gradients();
        if diverged(s, loss) {
            break Stopped::Diverged;
        }
        let out = s.apply_gradients(loss, windows);
        if !out.loss.is_finite() {
            break Stopped::Diverged;
        }
        p.step_seconds += t0.elapsed().as_secs_f64();
        p.step_samples += out.windows as u64;
        p.steps_done += 1;
        p.loss_sum += out.loss;
        p.loss_steps += 1;
        s.pending_loss = (p.loss_sum, p.loss_steps);
        observer.stepped(s, p.loss_sum / p.loss_steps as f64, p.samples_per_sec());
        if let Some(stopped) = log_step(s, run, &plan, &mut p, &out, observer)? {
            break stopped;
        }
        if s.config.checkpoint_every > 0 && s.step.is_multiple_of(s.config.checkpoint_every) {
            run.save_checkpoint(&s.checkpoint())?;
        }
    };
    finish(s, run, &plan, p, stopped)
}

/// The most training windows a memorization is confirmed on when the evaluation samples them.
pub const CONFIRM_MAX: usize = 1 << 20;

/// A training loss this many times the run's first is divergence, once warm-up is over.
pub const DIVERGED_FACTOR: f64 = 4.0;

/// The divergence rule: a non-finite loss, or, after warm-up, a loss above DIVERGED_FACTOR times
/// the first step's (a byte model starts near ln 257 = 5.5 nats; 22 nats is far worse than
/// guessing, and clipping keeps a healthy run well below it).
///
/// A capacity run (random data) is a fixed budget judged by its end, and only a non-finite loss
/// ends it: once it has stored its whole dataset, at a loss near 10⁻⁷, a single step can spike
/// past 22 nats and the next ones recover. The rule stopped such runs as diverged with negative
/// memorized bits; without it the same runs end storing every bit (capacity/PROBES.md).
fn diverged(s: &mut Session, loss: f64) -> bool {
    if !loss.is_finite() {
        return true;
    }
    if s.config.random_data {
        return false;
    }
    let first = *s.first_loss.get_or_insert(loss);
    // The step being taken is number s.step + 1 (it is counted once applied).
    s.step + 1 > s.config.warmup.max(1) && loss > DIVERGED_FACTOR * first
}

/// Writes this step's metrics row when it is due (evaluating when that is due too), and says
/// whether the run ends here because every window is memorized.
fn log_step(
    s: &mut Session,
    run: &RunDir,
    plan: &EvalPlan,
    p: &mut Progress,
    out: &StepOutcome,
    observer: &mut dyn Observer,
) -> Result<Option<Stopped>> {
    let spe = s.steps_per_epoch();
    let at_end = s.total_steps().is_some_and(|t| s.step >= t);
    let regular = is_log_step(s.step, spe, s.config.log_every);
    let evaluate = is_eval_step(s.step, spe, &s.config) || at_end;
    if !(regular || evaluate) {
        return Ok(None);
    }
    if evaluate {
        observer.evaluating(s);
    }
    let t0 = Instant::now();
    let ev = evaluate.then(|| evaluate_plan(s, plan));
    let eval_seconds = t0.elapsed().as_secs_f64();
    s.eval_seconds += eval_seconds;
    s.wall_seconds = p.wall();
    let row = MetricsRow {
        step: s.step,
        epoch: s.step as f64 / spe as f64,
        loss: p.loss_sum / p.loss_steps.max(1) as f64,
        accuracy: ev.map(|e| e.train.accuracy),
        memorized: ev.map(|e| e.train.memorized),
        memorized_all_positions: ev.map(|e| e.train.memorized_all_positions),
        eval_loss: ev.map(|e| e.train.loss),
        lr: out.lr,
        samples_per_sec: p.samples_per_sec(),
        ms_per_step: p.step_seconds * 1e3 / p.steps_done.max(1) as f64,
        val_loss: ev.and_then(|e| e.val),
        grad_norm: Some(out.grad_norm),
        wall_seconds: s.wall_seconds,
        eval_seconds,
    };
    run.append_metrics(&row)?;
    observer.logged(&row, plan.train.len());
    draw_curves(s, run, p, false)?;
    // Only a regular row restarts the running mean: a row written because the run ended or
    // evaluated here would not exist in a longer run, and a resume must continue the same mean.
    if regular {
        (p.loss_sum, p.loss_steps) = (0.0, 0);
        s.pending_loss = (0.0, 0);
    }
    let Some(ev) = ev else { return Ok(None) };
    stop_after_eval(s, run, plan, p, ev)
}

/// After an evaluation: whether the run ends here, memorized, early-stopped or on a plateau.
fn stop_after_eval(
    s: &mut Session,
    run: &RunDir,
    plan: &EvalPlan,
    p: &mut Progress,
    ev: Evaluated,
) -> Result<Option<Stopped>> {
    p.last = Some(ev);
    let all = all_memorized(s, plan, &ev.train);
    if all && p.memorized_at.is_none() {
        p.memorized_at = Some(s.step);
    }
    p.eval_losses.push(ev.train.loss);
    if all && s.config.until_memorized {
        return Ok(Some(Stopped::Memorized));
    }
    if watch_val(s, run, p, ev.val)? {
        return Ok(Some(Stopped::EarlyStopped));
    }
    Ok(s.config.until_plateau.is_some_and(|rule| rule.reached(&p.eval_losses)).then_some(Stopped::Plateau))
}

/// Whether every training window is memorized, by an evaluation of the plan's training windows.
/// A sample memorized is not the data memorized: when the plan samples, a run until memorized
/// confirms it on every training window, as far as that is affordable (CONFIRM_MAX); otherwise
/// nothing is claimed, and the run ends by its count.
fn all_memorized(s: &mut Session, plan: &EvalPlan, train: &Evaluation) -> bool {
    if train.memorized != train.windows {
        return false;
    }
    if plan.train.len() >= s.split.train_windows {
        return true;
    }
    s.config.until_memorized && s.split.train_windows <= CONFIRM_MAX && {
        let t0 = Instant::now();
        let every: Vec<usize> = (0..s.split.train_windows).collect();
        let confirmed = s.evaluate(&every).memorized == s.split.train_windows;
        s.eval_seconds += t0.elapsed().as_secs_f64();
        confirmed
    }
}

/// The row before any training: where the loss starts (its `loss` is the fresh evaluation's, as
/// there is no running mean yet).
fn step_zero(
    s: &mut Session,
    run: &RunDir,
    plan: &EvalPlan,
    p: &mut Progress,
    observer: &mut dyn Observer,
) -> Result<()> {
    observer.evaluating(s);
    let t0 = Instant::now();
    let ev = evaluate_plan(s, plan);
    let eval_seconds = t0.elapsed().as_secs_f64();
    s.eval_seconds += eval_seconds;
    let row = MetricsRow {
        step: 0,
        epoch: 0.0,
        loss: ev.train.loss,
        accuracy: Some(ev.train.accuracy),
        memorized: Some(ev.train.memorized),
        memorized_all_positions: Some(ev.train.memorized_all_positions),
        eval_loss: Some(ev.train.loss),
        lr: s.lr_at(0),
        samples_per_sec: 0.0,
        ms_per_step: 0.0,
        val_loss: ev.val,
        grad_norm: None,
        wall_seconds: p.wall(),
        eval_seconds,
    };
    run.append_metrics(&row)?;
    observer.logged(&row, plan.train.len());
    p.eval_losses.push(ev.train.loss);
    watch_val(s, run, p, ev.val)?;
    Ok(())
}

/// curves.svg, redrawn as rows arrive (at most every 2 s, so a fast run is not slowed) and at
/// the end: a person can watch it.
fn draw_curves(s: &Session, run: &RunDir, p: &mut Progress, force: bool) -> Result<()> {
    if !force && p.drawn.is_some_and(|t| t.elapsed().as_secs_f64() < 2.0) {
        return Ok(());
    }
    p.drawn = Some(Instant::now());
    let title = format!("{} — head {}", run.path.display(), s.config.model.head);
    run.draw_curves(&title, s.config.model.head.name())
}

/// The periodic evaluation: the plan's training windows and its validation sample.
fn evaluate_plan(s: &Session, plan: &EvalPlan) -> Evaluated {
    let val = (!plan.val.is_empty()).then(|| s.evaluate(&plan.val).loss);
    Evaluated { train: s.evaluate(&plan.train), val }
}

/// Saves the final state, runs the final evaluation, writes report.json and curves.svg.
fn finish(s: &mut Session, run: &RunDir, plan: &EvalPlan, mut p: Progress, stopped: Stopped) -> Result<Report> {
    s.wall_seconds = p.wall();
    // A diverged run keeps its last good checkpoint; every other stop saves the state it reached.
    if stopped != Stopped::Diverged {
        run.save_checkpoint(&s.checkpoint())?;
    }
    let t0 = Instant::now();
    let best_step = restore_best(s, run, &p)?;
    let train = match p.last {
        Some(ev) if stopped != Stopped::Interrupted && best_step.is_none_or(|b| b == s.step) => ev.train,
        _ => s.evaluate(&plan.train),
    };
    // One full validation pass at the end: the run's validation figure; and the test part, read
    // once at the reported weights: nothing was chosen on it.
    let val = (!plan.final_val.is_empty()).then(|| s.evaluate(&plan.final_val));
    let test = (!plan.test.is_empty()).then(|| s.evaluate(&plan.test));
    s.eval_seconds += t0.elapsed().as_secs_f64();
    s.wall_seconds = p.wall();
    let mut report = report(s, run, &p, train, val, plan.final_val.len(), stopped);
    report.best_step = best_step;
    report.test = test.map(|t| TestFigures::of(&t));
    run.write_json("report.json", &report)?;
    draw_curves(s, run, &mut p, true)?;
    Ok(report)
}

/// With early stopping, the session's weights become best.bin's (the final checkpoint.bin is
/// already saved, so a resume still continues from the last step); returns the best step.
fn restore_best(s: &mut Session, run: &RunDir, p: &Progress) -> Result<Option<u64>> {
    let Some((_, step)) = p.best_val.filter(|_| s.config.early_stop.is_some()) else { return Ok(None) };
    if step != s.step {
        let best = run.load_best()?;
        crate::Checkpoint::restore_into(&best.params, &mut s.params, &run.file("best.bin").display().to_string())?;
    }
    Ok(Some(step))
}

fn report(
    s: &Session,
    run: &RunDir,
    p: &Progress,
    train: Evaluation,
    val: Option<Evaluation>,
    val_windows: usize,
    stopped: Stopped,
) -> Report {
    let reported = val.unwrap_or(train);
    // Memorized bits are only claimed from an evaluation of every training window.
    let random_and_whole = s.config.random_data && train.windows == s.split.train_windows;
    let targets = s.split.train_windows * s.split.targets_per_window;
    let counts = ParamCounts::of(&s.params);
    let spe = s.steps_per_epoch() as f64;
    Report {
        head: s.config.model.head,
        params: counts,
        ratio: counts.ratio(),
        samples: s.split.train_windows,
        memorized: train.memorized,
        memorized_all_positions: Some(train.memorized_all_positions),
        epochs: s.step as f64 / spe,
        steps: s.step,
        final_loss: train.loss,
        train_accuracy: train.accuracy,
        val_loss: val.map(|v| v.loss),
        bits_per_byte: reported.loss / std::f64::consts::LN_2,
        last_bits_per_byte: reported.last_loss / std::f64::consts::LN_2,
        samples_per_sec: p.samples_per_sec(),
        wall_seconds: s.wall_seconds,
        eval_seconds: s.eval_seconds,
        val_windows,
        stopped,
        memorized_of: train.windows,
        epochs_to_memorize: p.memorized_at.map(|st| st as f64 / spe),
        steps_to_memorize: p.memorized_at,
        approx_ratio: LogApprox::of(&s.config.model, s.model.spec.tied).ratio,
        preset: s.config.preset.clone(),
        data: s.corpus.name(),
        seed: s.config.seed,
        run_dir: run.path.display().to_string(),
        peak_rss_bytes: crate::system::peak_rss_bytes(),
        rss_anon_bytes: crate::system::rss_anon_bytes(),
        provenance: s.provenance.clone(),
        ended: Some(crate::provenance::now()),
        memorized_bits: random_and_whole.then(|| crate::eval::memorized_bits(train.loss, targets)),
        dataset_bits: random_and_whole.then_some(8.0 * targets as f64),
        best_step: None,
        test: None,
        memorized_bits_clipped: train.memorized_bits_clipped.filter(|_| random_and_whole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(random_data: bool) -> Session {
        let mut c = crate::TrainConfig::default_run();
        (c.random_data, c.samples, c.steps, c.until_memorized) = (random_data, Some(8), Some(10), false);
        Session::new(c).unwrap()
    }

    /// A loss 4× the first step's ends a run on text, not a capacity run on random data; a
    /// non-finite loss ends both.
    #[test]
    fn only_a_non_finite_loss_ends_a_capacity_run() {
        for random in [false, true] {
            let mut s = session(random);
            assert!(!diverged(&mut s, 5.5), "the first step sets the reference");
            s.step = 5;
            assert_eq!(diverged(&mut s, 30.0), !random, "a spike past 4× the first loss, random data {random}");
            assert!(diverged(&mut s, f64::NAN) && diverged(&mut s, f64::INFINITY));
        }
    }
}
