//! How a run shows while it trains: a live bar on a terminal, plain log lines otherwise (a pipe,
//! a file, a Slurm job), nothing with --quiet or --json. Every display fits 80 columns.
//! [`run_plan`] runs a whole plan this way.

use crate::error::Result;
use crate::generate::{generate, Sampling};
use crate::results::text::{log_line, report_line};
use crate::run::MetricsRow;
use crate::runner::{self, Outcome, RunSpec};
use crate::session::Session;
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
    last: Option<MetricsRow>,
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
            last: None,
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

/// `1234.5` → "1.2k" so that the bar's counters stay narrow.
fn short(x: f64) -> String {
    if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

impl Observer for Display {
    fn started(&mut self, s: &Session, total: Option<u64>) {
        self.total = total;
        self.since = Some((std::time::Instant::now(), s.samples_seen));
        if self.sample.as_ref().is_some_and(|(_, p)| p.is_empty()) {
            let l = s.config.model.seq_length;
            let first = s.corpus.bytes()[..l].to_vec();
            self.sample = self.sample.take().map(|(n, _)| (n, first));
        }
        let Some(bar) = &self.bar else { return };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        // Fits the terminal (80 columns or fewer): wide_msg is cut to the width that is left.
        let template = match total {
            Some(t) => {
                bar.set_length(t);
                "{prefix:8.bold} {bar:12.cyan/blue} eta {eta} {wide_msg}"
            }
            None => "{prefix:8.bold} {spinner} step {pos} {elapsed} {wide_msg}",
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
            let memorized = self.last.as_ref().and_then(|r| r.memorized).map_or(String::new(), |m| format!(" mem {m}"));
            // Windows per second inside optimizer steps, and over the wall clock (evaluation included).
            bar.set_message(format!(
                "ep {:.1} loss {loss:.3}{memorized} {}/s step {} wall",
                s.step as f64 / s.steps_per_epoch() as f64,
                short(samples_per_sec),
                short(wall)
            ));
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
            crate::console::err(&log_line(&self.label, row, self.total, of));
        }
        self.last = Some(row.clone());
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
