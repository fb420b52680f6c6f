//! How a run shows while it trains: a live bar on a terminal, plain log lines otherwise (a pipe,
//! a file, a Slurm job), nothing with --quiet or --json. Every display fits 80 columns.
//! [`run_plan`] runs a whole plan this way.

use crate::error::Result;
use crate::generate::{generate, Sampling};
use crate::run::MetricsRow;
use crate::runner::{self, Outcome, RunSpec};
use crate::session::Session;
use crate::text::{log_line, report_line};
use crate::trainer::Observer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// What a run shows.
pub struct Display {
    label: String,
    bar: Option<ProgressBar>,
    /// Plain lines on stderr (when it is not a terminal, or several runs share it).
    lines: bool,
    total: Option<u64>,
    /// The head predicts every byte: log lines show the count memorized at every position too.
    per_position: bool,
    /// The last evaluation's memorized windows: (next byte right, every position right, of).
    memorized: Option<(usize, Option<usize>, usize)>,
    /// When this session started showing, and the windows trained before it: wall throughput.
    since: Option<(std::time::Instant, u64)>,
    /// Greedy samples: every N steps, continuing this prompt.
    sample: Option<(u64, Vec<u8>)>,
}

impl Display {
    /// The display for a run labelled `label`. `shared`: several runs write to stderr at once.
    pub fn new(label: &str, quiet: bool, shared: bool) -> Display {
        let tty = std::io::stderr().is_terminal() && !shared;
        Display {
            label: label.to_string(),
            bar: (!quiet && tty).then(ProgressBar::hidden),
            lines: !quiet && !tty,
            total: None,
            per_position: false,
            memorized: None,
            since: None,
            sample: None,
        }
    }

    /// Prints a greedy sample of `prompt` every `every` steps.
    pub fn with_samples(mut self, every: Option<u64>, prompt: Vec<u8>) -> Display {
        self.sample = every.filter(|&n| n > 0).map(|n| (n, prompt));
        self
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => crate::console::err(line),
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar's columns before its message: the label (8), the bar (10), "eta " and the eta (3),
/// with the spaces between; or the label, the spinner and the time elapsed (3) without a total.
const BAR_WITH_TOTAL: usize = 8 + 1 + 10 + 1 + 4 + 3 + 1;
const BAR_WITHOUT_TOTAL: usize = 8 + 1 + 1 + 1 + 3 + 1;
/// The width every display fits.
const COLUMNS: usize = 80;

/// What the bar says after its fixed columns, from the figures of the run so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BarFigures {
    /// The step, shown when the bar has no total to show progress against.
    pub step: Option<u64>,
    pub epoch: f64,
    /// The running mean of the training loss since the last metrics row.
    pub train_loss: f64,
    /// The last evaluation's memorized windows (next byte right, every position right, of).
    pub memorized: Option<(usize, Option<usize>, usize)>,
    /// Windows trained per second inside optimizer steps, and over the wall clock.
    pub in_steps: f64,
    pub overall: f64,
}

/// The bar's message in `width` columns: its parts in their order, each one dropped whole, least
/// needed first, when it does not fit (a part cut short or abbreviated would read as a riddle).
pub fn bar_message(f: &BarFigures, width: usize) -> String {
    // (priority: lower is kept first, text), in the order they are shown.
    let mut parts: Vec<(u8, String)> = Vec::new();
    if let Some(step) = f.step {
        parts.push((0, format!("step {step}")));
    }
    parts.push((4, format!("epoch {:.1}", f.epoch)));
    parts.push((1, format!("train loss {:.3}", f.train_loss)));
    if let Some((m, all, of)) = f.memorized {
        parts.push((2, format!("memorized {m}/{of}")));
        if let Some(a) = all {
            parts.push((5, format!("at every position {a}/{of}")));
        }
    }
    parts.push((3, format!("{:.0} windows/s", f.in_steps)));
    parts.push((6, format!("({:.0} with evaluation)", f.overall)));
    let mut by_priority: Vec<usize> = (0..parts.len()).collect();
    by_priority.sort_by_key(|&i| parts[i].0);
    let (mut kept, mut used) = (vec![false; parts.len()], 0);
    for i in by_priority {
        let cost = parts[i].1.chars().count() + usize::from(used > 0);
        if used + cost <= width {
            kept[i] = true;
            used += cost;
        }
    }
    parts.into_iter().zip(kept).filter(|(_, k)| *k).map(|((_, t), _)| t).collect::<Vec<_>>().join(" ")
}

impl Observer for Display {
    fn started(&mut self, s: &Session, total: Option<u64>) {
        self.total = total;
        self.per_position = s.model.config.per_position();
        self.since = Some((std::time::Instant::now(), s.samples_seen));
        if self.sample.as_ref().is_some_and(|(_, p)| p.is_empty()) {
            let l = s.config.model.seq_length;
            let first = s.corpus.bytes()[..l].to_vec();
            self.sample = self.sample.take().map(|(n, _)| (n, first));
        }
        let Some(bar) = &self.bar else { return };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        // Fits the terminal (80 columns or fewer): wide_msg is cut to the width that is left.
        // The message is built to fit (bar_message); wide_msg still cuts it on a narrower terminal.
        let template = match total {
            Some(t) => {
                bar.set_length(t);
                "{prefix:8.bold} {bar:10.cyan/blue} eta {eta:>3} {wide_msg}"
            }
            None => "{prefix:8.bold} {spinner} {elapsed:>3} {wide_msg}",
        };
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        bar.set_prefix(self.label.chars().take(8).collect::<String>());
        bar.set_position(s.step);
    }

    fn stepped(&mut self, s: &Session, loss: f64, samples_per_sec: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(s.step);
            let wall =
                self.since.map_or(0.0, |(t0, n0)| (s.samples_seen - n0) as f64 / t0.elapsed().as_secs_f64().max(1e-9));
            let figures = BarFigures {
                step: self.total.is_none().then_some(s.step),
                epoch: s.step as f64 / s.steps_per_epoch() as f64,
                train_loss: loss,
                memorized: self.memorized,
                in_steps: samples_per_sec,
                overall: wall,
            };
            let fixed = if self.total.is_some() { BAR_WITH_TOTAL } else { BAR_WITHOUT_TOTAL };
            bar.set_message(bar_message(&figures, COLUMNS - fixed));
        }
        if let Some((every, prompt)) = &self.sample {
            if s.step.is_multiple_of(*every) {
                let mut out = Vec::new();
                let greedy = Sampling { greedy: true, temperature: 0.0, top_k: 0, seed: 0 };
                let _ = generate::<()>(&s.model, &s.params, prompt, 64, greedy, |b| {
                    out.push(b);
                    Ok(())
                });
                let text = String::from_utf8_lossy(&out).replace('\n', "⏎");
                self.say(&format!("{} step {}: sample: {text}", self.label, s.step));
            }
        }
    }

    fn evaluating(&mut self, _s: &Session) {
        if let Some(bar) = &self.bar {
            bar.set_message("evaluating…");
        }
    }

    fn logged(&mut self, row: &MetricsRow, of: usize) {
        if self.lines {
            crate::console::err(&log_line(&self.label, row, self.total, of, self.per_position));
        }
        // Only a row that evaluated has a count; one that did not keeps the last evaluation's.
        if let Some(m) = row.memorized {
            let all = row.memorized_all_positions.filter(|_| self.per_position);
            self.memorized = Some((m, all, of));
        }
    }
}

/// Runs a plan, `jobs` runs at a time, with a display per run (plain lines when several runs share
/// stderr) and a stop on SIGINT/SIGTERM that saves the running runs' state; then prints each run's
/// result line on stderr (with `quiet`, only those of the runs skipped as already done).
pub fn run_plan(specs: &[RunSpec], jobs: usize, quiet: bool) -> Result<Vec<Outcome>> {
    let stop = runner::stop_on_signals();
    let shared = jobs > 1;
    let factory =
        move |spec: &RunSpec| -> Box<dyn Observer + Send> { Box::new(Display::new(&spec.label, quiet, shared)) };
    let outcomes = runner::run_all(specs, jobs, &factory, stop)?;
    for o in outcomes.iter().filter(|o| !quiet || o.skipped) {
        let skipped = if o.skipped { " (already done: skipped)" } else { "" };
        crate::console::err(&format!("{}{skipped}", report_line(&o.report)));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> BarFigures {
        BarFigures {
            step: None,
            epoch: 37.4,
            train_loss: 0.2640,
            memorized: Some((106, Some(3), 480)),
            in_steps: 27_104.0,
            overall: 16_012.0,
        }
    }

    #[test]
    fn the_bar_fits_80_columns_by_dropping_whole_parts() {
        for (fixed, step) in [(BAR_WITH_TOTAL, None), (BAR_WITHOUT_TOTAL, Some(16_000))] {
            let m = bar_message(&BarFigures { step, ..figures() }, COLUMNS - fixed);
            assert!(fixed + m.chars().count() <= COLUMNS, "{m}");
            // The loss, the count and the throughput, labelled, come first.
            assert!(m.contains("train loss 0.264 memorized 106/480") && m.contains("27104 windows/s"), "{m}");
        }
        // Large figures: what does not fit is gone, and what shows is whole.
        let big = BarFigures {
            memorized: Some((106_000, Some(3_000), 480_000)),
            in_steps: 271_040.0,
            overall: 160_120.0,
            ..figures()
        };
        let m = bar_message(&big, COLUMNS - BAR_WITH_TOTAL);
        assert_eq!(m, "epoch 37.4 train loss 0.264 memorized 106000/480000", "{m}");
        // With room, everything shows, in its order.
        assert_eq!(
            bar_message(&figures(), 200),
            "epoch 37.4 train loss 0.264 memorized 106/480 at every position 3/480 27104 windows/s \
             (16012 with evaluation)"
        );
    }

    #[test]
    fn each_evaluation_updates_the_memorized_count_and_rows_without_one_keep_it() {
        let mut d = Display::new("train", true, false);
        let row = |step, memorized: Option<usize>| MetricsRow {
            step,
            epoch: 0.0,
            loss: 1.0,
            accuracy: memorized.map(|_| 0.5),
            memorized,
            memorized_all_positions: memorized,
            eval_loss: memorized.map(|_| 1.0),
            lr: 1e-3,
            samples_per_sec: 0.0,
            ms_per_step: 0.0,
            val_loss: None,
            grad_norm: None,
            wall_seconds: 0.0,
            eval_seconds: 0.0,
        };
        d.logged(&row(0, Some(1)), 432);
        assert_eq!(d.memorized, Some((1, None, 432)));
        d.logged(&row(10, Some(57)), 432);
        assert_eq!(d.memorized, Some((57, None, 432)));
        d.logged(&row(15, None), 432);
        assert_eq!(d.memorized, Some((57, None, 432)), "a row that did not evaluate keeps the count");
    }
}
