//! The live display of a run: an indicatif bar on stderr with loss, accuracy, memorized windows
//! and samples/s. Hidden with --quiet or --json, and whenever stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use train::{MetricsRow, Observer, Session};

pub struct Bar {
    bar: Option<ProgressBar>,
    label: String,
    memorized: String,
}

impl Bar {
    pub fn new(enabled: bool, label: &str) -> Self {
        Bar { bar: enabled.then(ProgressBar::hidden), label: label.to_string(), memorized: String::new() }
    }
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Observer for Bar {
    fn started(&mut self, s: &Session, total: Option<u64>) {
        let Some(bar) = &self.bar else { return };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        match total {
            Some(t) => {
                bar.set_length(t);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} steps  {msg}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
            }
            None => bar.set_style(
                ProgressStyle::with_template("{prefix} [{elapsed_precise}] {spinner} step {pos}  {msg}")
                    .expect("valid template"),
            ),
        }
        bar.set_position(s.step);
        bar.set_prefix(self.label.clone());
    }
    fn stepped(&mut self, step: u64, loss: f64, sps: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
            bar.set_message(format!("loss {loss:.4}{}  {sps:.0} samples/s", self.memorized));
        }
    }
    fn logged(&mut self, row: &MetricsRow, of: usize) {
        let (Some(acc), Some(memorized)) = (row.accuracy, row.memorized) else { return };
        self.memorized = format!("  acc {acc:.3}  memorized {memorized}/{of}");
        if let Some(v) = row.val_loss {
            self.memorized.push_str(&format!("  val {v:.4}"));
        }
    }
}

/// One bar for a whole study: runs done of all runs, the current run's name.
pub struct StudyBar {
    bar: Option<ProgressBar>,
}

impl StudyBar {
    pub fn new(enabled: bool) -> Self {
        StudyBar { bar: enabled.then(ProgressBar::hidden) }
    }
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl train::study::StudyObserver for StudyBar {
    fn started(&mut self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(5));
            bar.set_length(total as u64);
            bar.set_style(
                ProgressStyle::with_template("study [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} runs  {msg}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
        }
    }
    fn run_started(&mut self, index: usize, spec: &train::study::Spec) {
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64);
            bar.set_message(format!("{}/{}", spec.experiment, spec.name));
        }
    }
    fn run_done(&mut self, index: usize, _outcome: &train::study::Outcome) {
        if let Some(bar) = &self.bar {
            bar.set_position(index as u64 + 1);
        }
    }
}
