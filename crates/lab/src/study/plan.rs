//! The study's experiments as cells: one configuration each (a head or causal variant at its
//! learning rate, and the value the experiment varies), run once per seed by `sweep::plan`.

use super::budget::Budget;
use super::StudyOptions;
use crate::sweep::{self, Grid};
use heads::HeadKind;
use serde::Serialize;
use serde_json::Value;
use train::error::Result;
use train::runner::RunSpec;
use train::settings::{Overrides, Sources};

/// What the study compares: a head, or one of the causal head's variants (SPEC §4) that take
/// apart what makes it win: targets at every position, a readout without a matrix, the tying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Variant {
    /// The name of its folders and plots.
    pub name: &'static str,
    /// How the command line says it.
    pub flags: &'static str,
    pub head: HeadKind,
    pub untied: bool,
    /// `--loss-positions last`.
    pub last_only: bool,
}

const fn head(name: &'static str, head: HeadKind) -> Variant {
    Variant { name, flags: name, head, untied: false, last_only: false }
}

/// Every head of SPEC §1 and §4, then the causal variants.
pub const VARIANTS: [Variant; 10] = [
    head("flatten", HeadKind::Flatten),
    head("bottleneck", HeadKind::Bottleneck),
    head("td-dense", HeadKind::TdDense),
    head("conv", HeadKind::Conv),
    head("tied", HeadKind::Tied),
    head("rnn", HeadKind::Rnn),
    head("last", HeadKind::Last),
    head("causal", HeadKind::Causal),
    Variant { name: "causal-untied", flags: "causal --untied", untied: true, ..head("", HeadKind::Causal) },
    Variant {
        name: "causal-last",
        flags: "causal --loss-positions last",
        last_only: true,
        ..head("", HeadKind::Causal)
    },
];

impl Variant {
    pub fn named(name: &str) -> Option<Variant> {
        VARIANTS.iter().copied().find(|v| v.name == name)
    }

    /// The flags that make this variant.
    fn overrides(&self) -> Overrides {
        let mut f = Overrides::new();
        f.insert("head".into(), self.head.name().into());
        if self.untied {
            f.insert("untied".into(), true.into());
        }
        if self.last_only {
            f.insert("loss_positions".into(), "last".into());
        }
        f
    }

    /// Trained on every position (targets `b[i+1..i+L+1]`), so its validation figure at the last
    /// position is measured by the study on the window heads' windows.
    pub fn per_position(&self) -> bool {
        self.head == HeadKind::Causal && !self.last_only
    }
}

/// The experiments, in the order their runs are started (the longest first, so that two jobs
/// finish together).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Experiment {
    Tune,
    GenTune,
    Length,
    Generalisation,
    EqualSteps,
    Matched,
    Combined,
    Memorize,
    TiedDepth,
    ConvKernel,
    BottleneckK,
}

impl Experiment {
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Tune => "tune",
            Experiment::GenTune => "gen-tune",
            Experiment::EqualSteps => "equal-steps",
            Experiment::Matched => "matched",
            Experiment::Length => "length",
            Experiment::Generalisation => "generalisation",
            Experiment::Combined => "combined",
            Experiment::Memorize => "memorize",
            Experiment::TiedDepth => "tied-depth",
            Experiment::ConvKernel => "conv-kernel",
            Experiment::BottleneckK => "bottleneck-k",
        }
    }
}

/// One configuration, run once per seed.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub experiment: Experiment,
    /// Its folder under `runs/<experiment>/`.
    pub name: String,
    pub variant: Variant,
    /// The value the experiment varies (lr, k, K, N, L, training windows).
    pub x: f64,
    pub lr: f64,
    /// Every flag beside the seed-id4 preset's values.
    pub flags: Overrides,
    pub seeds: Vec<u64>,
}

impl Cell {
    /// The runs of this cell, as `sweep` plans them: `out/runs/<experiment>/<name>/seed=S`.
    pub fn specs(&self, o: &StudyOptions) -> Result<Vec<RunSpec>> {
        let dir = o.out.join("runs").join(self.experiment.name()).join(&self.name);
        let sources = Sources { preset: Some(heads::config::DEFAULT_PRESET), file: None, flags: self.flags.clone() };
        let mut specs = sweep::plan(&sources, &Grid::default(), &self.seeds, &dir)?;
        for s in &mut specs {
            s.label = format!("{}/{}/{}", self.experiment.name(), self.name, s.label);
        }
        Ok(specs)
    }
}

/// The flags every run of the study shares, and the variant's.
fn flags(o: &StudyOptions, v: Variant, lr: f64, extra: &[(&str, Value)]) -> Overrides {
    let mut f = v.overrides();
    if let Some(d) = &o.data {
        f.insert("data".into(), d.display().to_string().into());
    }
    f.insert("lr".into(), lr.into());
    // Only the final state is kept: a study is rerun, not resumed mid-run.
    f.insert("checkpoint_every".into(), 0.into());
    f.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    f
}

/// Until every one of `windows` windows is memorized, at most `epochs`.
fn memorize(windows: usize, epochs: u64) -> Vec<(&'static str, Value)> {
    vec![("samples", windows.into()), ("epochs", epochs.into()), ("until_memorized", true.into())]
}

fn cell(e: Experiment, name: String, v: Variant, x: f64, lr: f64, flags: Overrides, seeds: &[u64]) -> Cell {
    Cell { experiment: e, name, variant: v, x, lr, flags, seeds: seeds.to_vec() }
}

/// Phase 1: every variant at every learning rate on the log's 432 windows (the slow ones first).
pub fn tuning(b: &Budget, o: &StudyOptions) -> Vec<Cell> {
    let mut cells = Vec::new();
    for v in VARIANTS.iter().rev() {
        for &lr in &b.lrs {
            let f = flags(o, *v, lr, &memorize(b.windows, b.tune_epochs));
            cells.push(cell(Experiment::Tune, format!("{}/lr={lr}", v.name), *v, lr, lr, f, &b.tune_seeds));
        }
    }
    cells
}

/// The training windows the data offers at window length L, without a held-out part or with
/// (validation, test) fractions held out.
pub type WindowsAt<'a> = &'a dyn Fn(usize, Option<(f64, f64)>) -> usize;

/// Phase 2: every experiment, each variant at its tuned learning rate (`lr` to memorize, `gen_lr`
/// for validation loss). Sizes that do not fit the data (`windows_at`) are left out.
pub fn experiments(
    b: &Budget,
    o: &StudyOptions,
    lr: &dyn Fn(&str) -> f64,
    gen_lr: &dyn Fn(&str) -> f64,
    windows_at: WindowsAt<'_>,
) -> Vec<Cell> {
    let mut cells = length(b, o, lr, windows_at);
    cells.extend(generalisation(b, o, gen_lr, windows_at));
    cells.extend(matched(b, o, gen_lr, windows_at));
    cells.extend(combined(b, o));
    let s = &b.seeds;
    for v in VARIANTS {
        let f = flags(o, v, lr(v.name), &memorize(b.windows, b.memorize_epochs));
        cells.push(cell(Experiment::Memorize, v.name.into(), v, 0.0, lr(v.name), f, s));
    }
    let one = |e: Experiment, v: &str, field: &str, values: &[usize]| -> Vec<Cell> {
        let v = Variant::named(v).expect("a study variant");
        values
            .iter()
            .map(|&x| {
                let mut m = memorize(b.windows, b.memorize_epochs);
                m.push((field, x.into()));
                let name = format!("{}={x}", short(field));
                cell(e, name, v, x as f64, lr(v.name), flags(o, v, lr(v.name), &m), s)
            })
            .collect()
    };
    cells.extend(one(Experiment::TiedDepth, "tied", "num_blocks", &b.depths));
    cells.extend(one(Experiment::ConvKernel, "conv", "kernel", &b.kernels));
    cells.extend(one(Experiment::BottleneckK, "bottleneck", "bottleneck", &b.ks));
    cells
}

/// How a cell's folder names the field it varies.
fn short(field: &str) -> &str {
    match field {
        "num_blocks" => "N",
        "kernel" => "K",
        "bottleneck" => "k",
        "seq_length" => "L",
        other => other,
    }
}

/// The log's ideas 1+2+3 together: more blocks, wider, shorter windows (flatten, as the log), at
/// the untuned rate.
fn combined(b: &Budget, o: &StudyOptions) -> Vec<Cell> {
    let (v, lr) = (VARIANTS[0], b.untuned_lr);
    b.combined
        .iter()
        .map(|t| {
            let mut m = memorize(b.windows, b.combined_epochs);
            m.extend([
                ("num_blocks", t.num_blocks.into()),
                ("d_model", t.d_model.into()),
                ("d_ff", t.d_model.into()), // run id 4 has d_ff = d_model
                ("seq_length", t.seq_length.into()),
            ]);
            let name = format!("N={},d={},L={}", t.num_blocks, t.d_model, t.seq_length);
            cell(Experiment::Combined, name, v, 0.0, lr, flags(o, v, lr, &m), &b.seeds)
        })
        .collect()
}

/// Flatten against causal as the window grows (the longest first), each at the rate tuned at
/// L = 32 (the folder names the rate: a rate is not known to carry over to every L).
fn length(b: &Budget, o: &StudyOptions, lr: &dyn Fn(&str) -> f64, windows_at: WindowsAt<'_>) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &l in b.lengths.iter().rev().filter(|&&l| windows_at(l, None) >= b.windows) {
        for name in ["flatten", "causal"] {
            let (v, rate) = (Variant::named(name).expect("a study variant"), lr(name));
            let mut m = memorize(b.windows, b.length_epochs);
            m.push(("seq_length", l.into()));
            let f = flags(o, v, rate, &m);
            cells.push(cell(
                Experiment::Length,
                format!("{name}/L={l},lr={rate}"),
                v,
                l as f64,
                rate,
                f,
                &b.length_seeds,
            ));
        }
    }
    cells
}

/// The training subsets of the generalisation experiment: `b.sizes` that fit, then every
/// training window the text has.
pub fn gen_sizes(b: &Budget, windows_at: WindowsAt<'_>) -> Vec<usize> {
    let l = heads::ModelConfig::default().seq_length;
    let all = windows_at(l, Some((b.val_fraction, b.test_fraction)));
    let mut sizes: Vec<usize> = b.sizes.iter().copied().filter(|&n| n < all).collect();
    sizes.push(all);
    sizes
}

/// The flags of a generalisation run on the first `n` windows: three splits, early stopping on
/// validation loss with the budget's patience (evaluated at least once an epoch), a cap of `steps`.
fn held_out(b: &Budget, n: usize, steps: u64, early_stop: bool) -> Vec<(&'static str, Value)> {
    let epoch = (n / train::TrainConfig::default().batch_size) as u64;
    let eval_every = if early_stop { b.eval_every.min(epoch.max(b.gen_min_eval_every)) } else { b.eval_every };
    let mut f = vec![
        ("samples", n.into()),
        ("val_fraction", b.val_fraction.into()),
        ("test_fraction", b.test_fraction.into()),
        ("steps", steps.into()),
        ("until_memorized", false.into()),
        ("eval_every", eval_every.into()),
        ("eval_windows", b.eval_windows.into()),
    ];
    if early_stop {
        f.push(("early_stop", b.gen_patience.into()));
    }
    f
}

fn gen_variants(b: &Budget) -> impl Iterator<Item = &'static Variant> + '_ {
    VARIANTS.iter().rev().filter(|v| !b.gen_leaves_out.contains(&v.name))
}

/// Phase 1 of the generalisation experiment: every variant at every rate of `lrs`, at the
/// largest N, early-stopped; the rate with the best validation loss wins.
pub fn gen_tuning(
    b: &Budget,
    o: &StudyOptions,
    lrs: &dyn Fn(&str) -> Vec<f64>,
    windows_at: WindowsAt<'_>,
) -> Vec<Cell> {
    let n = *gen_sizes(b, windows_at).last().expect("at least one size");
    let mut cells = Vec::new();
    for v in gen_variants(b) {
        for lr in lrs(v.name) {
            let f = flags(o, *v, lr, &held_out(b, n, b.gen_max_steps, true));
            cells.push(cell(Experiment::GenTune, format!("{}/lr={lr}", v.name), *v, lr, lr, f, &b.gen_tune_seeds));
        }
    }
    cells
}

/// Every variant on growing subsets (the largest first): early-stopped at its validation-tuned
/// rate (`generalisation`), and the same for exactly `equal_steps` steps (`equal-steps`).
fn generalisation(b: &Budget, o: &StudyOptions, lr: &dyn Fn(&str) -> f64, windows_at: WindowsAt<'_>) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &n in gen_sizes(b, windows_at).iter().rev() {
        for v in gen_variants(b) {
            let (rate, name) = (lr(v.name), format!("{}/windows={n}", v.name));
            let f = flags(o, *v, rate, &held_out(b, n, b.gen_max_steps, true));
            cells.push(cell(Experiment::Generalisation, name.clone(), *v, n as f64, rate, f, &b.gen_seeds));
            let f = flags(o, *v, rate, &held_out(b, n, b.equal_steps, false));
            cells.push(cell(Experiment::EqualSteps, name, *v, n as f64, rate, f, &b.gen_seeds));
        }
    }
    cells
}

/// At the largest N, heads at about the same total parameter count (`b.matched`: flatten made
/// narrower, the others wider), each at the rate tuned at seed-id4's width.
fn matched(b: &Budget, o: &StudyOptions, lr: &dyn Fn(&str) -> f64, windows_at: WindowsAt<'_>) -> Vec<Cell> {
    let n = *gen_sizes(b, windows_at).last().expect("at least one size");
    b.matched
        .iter()
        .filter_map(|&(name, d)| {
            let v = Variant::named(name)?;
            let mut extra = held_out(b, n, b.gen_max_steps, true);
            extra.extend([("d_model", d.into()), ("d_ff", d.into())]);
            let f = flags(o, v, lr(name), &extra);
            Some(cell(Experiment::Matched, format!("{name}/d={d}"), v, d as f64, lr(name), f, &b.gen_seeds))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_every(f: &[(&str, Value)]) -> u64 {
        f.iter().find(|(k, _)| *k == "eval_every").and_then(|(_, v)| v.as_u64()).expect("eval_every")
    }

    /// An early-stopped run evaluates at least once an epoch (54 steps at 1,728 windows of batch
    /// 32), at most every `eval_every` steps, never more often than `gen_min_eval_every`; a run of
    /// fixed steps keeps the plain cadence.
    #[test]
    fn early_stopped_runs_evaluate_at_least_once_an_epoch() {
        let b = Budget::of(false);
        assert_eq!(eval_every(&held_out(&b, 1728, 40_000, true)), 54);
        assert_eq!(eval_every(&held_out(&b, 6912, 40_000, true)), 216);
        assert_eq!(eval_every(&held_out(&b, 1_006_610, 40_000, true)), b.eval_every);
        assert_eq!(eval_every(&held_out(&b, 640, 40_000, true)), b.gen_min_eval_every);
        assert_eq!(eval_every(&held_out(&b, 1728, 2_000, false)), b.eval_every);
    }
}
