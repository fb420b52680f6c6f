//! results.md (every table of REPORT.md) and results.json, from the cells' runs and the
//! baselines. Every figure is a statistic over seeds with a 95% interval inside its range
//! (`results::bounded`) and n.

use super::baselines::{self, Baseline, Data};
use super::budget::Budget;
use super::plan::{Experiment, VARIANTS};
use super::stats::{self, CellRuns, GenChoice};
use super::StudyOptions;
use crate::results::Stat;
use serde::Serialize;
use train::error::Result;
use train::provenance::DataInfo;

/// What the study's two tunings chose: rates to memorize (`tune`) and for validation loss
/// (`gen-tune`), with their runs.
pub struct Tuning<'a> {
    pub memorize: &'a [CellRuns],
    pub lrs: &'a [(&'static str, f64)],
    pub gen: &'a [CellRuns],
    pub gen_lrs: &'a [(&'static str, GenChoice)],
}

/// Everything the tables and figures read.
#[derive(Serialize)]
pub struct Study<'a> {
    pub data: DataInfo,
    pub budget: &'a Budget,
    /// The learning rate each variant was given by the memorization tuning.
    pub lrs: Vec<(&'static str, f64)>,
    pub tuning: &'a [CellRuns],
    /// The generalisation tuning: its runs and each variant's choice.
    pub gen_tuning: &'a [CellRuns],
    pub gen_lrs: Vec<(&'static str, GenChoice)>,
    pub cells: &'a [CellRuns],
    /// Per generalisation subset: unigram and n-gram baselines, chosen on validation, on the test
    /// targets.
    pub baselines: Vec<Baseline>,
    /// (L, windows, the most of them any model can memorize).
    pub ambiguity_caps: Vec<(usize, usize, usize)>,
}

impl<'a> Study<'a> {
    pub fn new(budget: &'a Budget, data: &Data, tuning: Tuning<'a>, cells: &'a [CellRuns]) -> Result<Study<'a>> {
        let l = heads::ModelConfig::default().seq_length;
        let sizes = cells.iter().filter(|c| c.cell.experiment == Experiment::Generalisation).map(|c| c.cell.x as usize);
        let mut sizes: Vec<usize> = sizes.collect();
        sizes.sort();
        sizes.dedup();
        let held_out = (budget.val_fraction, budget.test_fraction);
        let baselines = sizes
            .iter()
            .map(|&n| baselines::baseline(data, l, n, held_out, budget.max_order))
            .collect::<Result<Vec<_>>>()?;
        let mut lengths: Vec<usize> =
            cells.iter().filter_map(|c| c.runs.first()).map(|d| d.config.model.seq_length).collect();
        lengths.push(l);
        lengths.sort();
        lengths.dedup();
        let caps =
            lengths.iter().map(|&l| (l, budget.windows, baselines::ambiguity_cap(data.bytes(), l, budget.windows)));
        Ok(Study {
            data: data.info.clone(),
            budget,
            lrs: tuning.lrs.to_vec(),
            tuning: tuning.memorize,
            gen_tuning: tuning.gen,
            gen_lrs: tuning.gen_lrs.to_vec(),
            cells,
            baselines,
            ambiguity_caps: caps.collect(),
        })
    }

    pub fn of(&self, e: Experiment) -> impl Iterator<Item = &CellRuns> {
        self.cells.iter().filter(move |c| c.cell.experiment == e)
    }

    pub fn cap(&self, l: usize) -> usize {
        self.ambiguity_caps.iter().find(|c| c.0 == l).map_or(self.budget.windows, |c| c.2)
    }

    pub fn lr(&self, name: &str) -> f64 {
        self.lrs.iter().find(|(n, _)| *n == name).map_or(f64::NAN, |p| p.1)
    }
}

/// results.md and results.json.
pub fn write(o: &StudyOptions, s: &Study<'_>) -> Result<()> {
    std::fs::create_dir_all(&o.out).map_err(|e| train::Error::io(format!("creating {}", o.out.display()), e))?;
    let json = serde_json::to_string_pretty(&json(s)).expect("serializable") + "\n";
    train::fsutil::write_atomic(&o.out.join("results.json"), json.as_bytes())?;
    let md = [header(o, s), tuning(s), memorize(s), bottleneck(s), kernel(s), depth(s), combined(s), length(s)]
        .into_iter()
        .chain(generalisation(s))
        .collect::<Vec<_>>()
        .join("\n");
    train::fsutil::write_atomic(&o.out.join("results.md"), md.as_bytes())
}

/// A number in `d` decimals.
pub fn num(x: f64, d: usize) -> String {
    format!("{x:.d$}")
}

/// point [lo, hi] in `d` decimals; the point alone for one run; – for none (`Stat::show`).
pub fn ci(s: &Stat, d: usize) -> String {
    s.show(|x| num(x, d))
}

pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio as 1/x below one, else as it is.
pub fn ratio(r: Option<f64>) -> String {
    match r {
        None => "none (no head parameters)".into(),
        Some(r) if r < 1.0 && r > 0.0 => format!("1/{:.1}", 1.0 / r),
        Some(r) => format!("{r:.2}"),
    }
}

/// Runs that memorized every window, of n, and how many diverged.
fn memorized_cell(c: &CellRuns) -> String {
    let (m, d) = (stats::memorized_runs(&c.runs), stats::diverged_runs(&c.runs));
    let diverged = if d > 0 { format!(" ({d} diverged)") } else { String::new() };
    format!("{m}/{}{diverged}", c.runs.len())
}

/// Epochs to memorize: the Kaplan–Meier median [interval], "≥ cap" when fewer than half the runs
/// memorized, and how many stopped at the cap.
fn epochs_cell(c: &CellRuns) -> String {
    ci(&c.epochs(), 1)
}

fn table(head: &[&str]) -> String {
    format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()))
}

fn row(cells: Vec<String>) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn header(o: &StudyOptions, s: &Study<'_>) -> String {
    let d = &s.data;
    let name = std::path::Path::new(&d.path).file_name().map_or(d.path.clone(), |n| n.to_string_lossy().to_string());
    let command = match &o.data {
        Some(_) => format!("overfit study --data {name} --jobs 2{}", if o.quick { " --quick" } else { "" }),
        None => format!("overfit study{}", if o.quick { " --quick" } else { "" }),
    };
    format!(
        "# Study results\n\nGenerated by `{command}`{}. Every row is a \
         group of run folders under `runs/<experiment>/<cell>/seed=S` (not committed); \
         `overfit results` reads them too.\n\n\
         | data | bytes | sha256 |\n|---|---|---|\n| {name} | {} | `{}` |\n\n\
         Every figure is over n seeds with a 95% interval [lo, hi] that stays in the figure's range. \
         Epochs to memorize: the Kaplan–Meier median, a run that did not memorize (or diverged) \
         censored at its cap, with the median's interval where the curve's pointwise band \
         (Greenwood) crosses 1/2; \"≥ cap (k/n at the cap)\" when fewer than half memorized, \
         \"≥\" before an upper end that is only a lower bound. Fractions: the mean with a \
         percentile bootstrap interval. Other figures (bits, epochs, times, counts): the mean with \
         its t-interval, clamped at 0. \"memorized\" means the window's next byte is the argmax \
         prediction (for causal, the last position's; not memorized_all_positions, every position \
         right).\n",
        if o.data.is_some() { " (the data file given by its path)" } else { "" },
        thousands(d.bytes),
        d.sha256
    )
}

fn tuning(s: &Study<'_>) -> String {
    let b = s.budget;
    let lrs: Vec<String> = b.lrs.iter().map(|lr| format!("lr {lr}")).collect();
    let mut head: Vec<&str> = vec!["head"];
    head.extend(lrs.iter().map(|l| l.as_str()));
    head.push("chosen lr");
    let mut md = format!(
        "\n## Learning rate per head (experiment `tune`)\n\nCriterion: fewest epochs to memorize the \
         first {} windows (seed-id4 trunk, Adam, batch 32, clip 1), mean over seeds {:?}, a run that \
         did not memorize counted at the cap of {} epochs; among rates where none memorized, the most \
         windows memorized. Each cell: epochs to memorize (Kaplan–Meier median [95% interval]), runs \
         memorized of n, mean memorized fraction at the end.\n\n{}",
        b.windows,
        b.tune_seeds,
        b.tune_epochs,
        table(&head)
    );
    for v in VARIANTS {
        let mut cells = vec![v.flags.to_string()];
        for &lr in &b.lrs {
            let c = s.tuning.iter().find(|c| c.cell.variant == v && c.cell.lr == lr);
            cells.push(c.map_or("–".into(), |c| {
                format!("{} ({}; {:.3})", epochs_cell(c), memorized_cell(c), c.fraction().mean)
            }));
        }
        cells.push(format!("**{}**", s.lr(v.name)));
        md.push_str(&row(cells));
    }
    md
}

fn memorize(s: &Study<'_>) -> String {
    let cell = |name: &str| s.of(Experiment::Memorize).find(|c| c.cell.variant.name == name);
    let same = match (cell("last"), cell("causal-last")) {
        (Some(a), Some(b)) => {
            let (same, of) = stats::identical_runs(a, b);
            format!(" `last` and `causal --loss-positions last` ended bit for bit alike in {same} of {of} seeds.")
        }
        _ => String::new(),
    };
    let mut md = format!(
        "\n## The log's runs: {} windows by heart (experiment `memorize`)\n\nEach head at its tuned \
         learning rate until every window is memorized, at most {} epochs; seeds {:?}. Ambiguity \
         cap: the most windows any model can memorize ({} of {} here).{same}\n\n{}",
        s.budget.windows,
        s.budget.memorize_epochs,
        s.budget.seeds,
        s.cap(32),
        s.budget.windows,
        table(&[
            "head",
            "lr",
            "head params",
            "total",
            "exact ratio",
            "log's ratio",
            "n",
            "runs memorized",
            "epochs to memorize",
            "memorized fraction at the end",
        ])
    );
    for c in s.of(Experiment::Memorize) {
        let Some(r) = c.first() else { continue };
        md.push_str(&row(vec![
            c.cell.variant.flags.into(),
            c.cell.lr.to_string(),
            thousands(r.params.head),
            thousands(r.params.total),
            ratio(r.ratio),
            log_ratio(c),
            c.runs.len().to_string(),
            memorized_cell(c),
            epochs_cell(c),
            ci(&c.fraction(), 3),
        ]));
    }
    md
}

/// The log's approximate ratio, or "—" where the log's formulas do not describe the head (a
/// head trained or read out per position has no L·d-wide matrix for them to count).
fn log_ratio(c: &CellRuns) -> String {
    use heads::HeadKind::*;
    match (c.cell.variant.head, c.first()) {
        (Flatten | Bottleneck | TdDense | Conv | Tied, Some(r)) => ratio(Some(r.approx_ratio)),
        _ => "—".into(),
    }
}

fn sweep_table(s: &Study<'_>, e: Experiment, title: &str, x: &str, note: &str) -> String {
    let mut md = format!(
        "\n## {title} (experiment `{}`)\n\n{note}\n\n{}",
        e.name(),
        table(&[
            x,
            "head params",
            "total",
            "exact ratio",
            "n",
            "runs memorized",
            "epochs to memorize",
            "memorized fraction"
        ])
    );
    for c in s.of(e) {
        let Some(r) = c.first() else { continue };
        md.push_str(&row(vec![
            format!("{}", c.cell.x),
            thousands(r.params.head),
            thousands(r.params.total),
            ratio(r.ratio),
            c.runs.len().to_string(),
            memorized_cell(c),
            epochs_cell(c),
            ci(&c.fraction(), 3),
        ]));
    }
    md
}

fn bottleneck(s: &Study<'_>) -> String {
    let note = format!(
        "flatten(H) → Linear(L·d, k) → Linear(k, V), no activation: \"flatten → k\" is one reading of \
         the log's bottleneck. lr {} (tuned at k = 16), at most {} epochs, seeds {:?}.",
        s.lr("bottleneck"),
        s.budget.memorize_epochs,
        s.budget.seeds
    );
    sweep_table(s, Experiment::BottleneckK, "The bottleneck over k", "k", &note)
}

fn kernel(s: &Study<'_>) -> String {
    let td = s.of(Experiment::Memorize).find(|c| c.cell.variant.name == "td-dense");
    let k1 = s.of(Experiment::ConvKernel).find(|c| c.cell.x == 1.0);
    let same = match (td, k1) {
        (Some(td), Some(k1)) => {
            let (same, of) = stats::identical_runs(k1, td);
            format!(" K = 1 and td-dense (experiment `memorize`) ended bit for bit alike in {same} of {of} seeds.")
        }
        _ => String::new(),
    };
    let td = td.map_or(String::new(), |c| {
        format!(" For comparison td-dense (r = 8, lr {}): epochs to memorize {}.{same}", c.cell.lr, epochs_cell(c))
    });
    let note = format!(
        "conv, r = 8, kernel K; K = 1 is td-dense's form (a test checks equal logits on copied \
         weights). lr {} (tuned at K = 3), at most {} epochs, seeds {:?}.{td}",
        s.lr("conv"),
        s.budget.memorize_epochs,
        s.budget.seeds
    );
    sweep_table(s, Experiment::ConvKernel, "The conv head over its kernel", "K", &note)
}

fn depth(s: &Study<'_>) -> String {
    let note = format!(
        "tied head, num_blocks N; the log's tied ratio is 4·N/L. lr {} (tuned at N = 1), at most {} \
         epochs, seeds {:?}.",
        s.lr("tied"),
        s.budget.memorize_epochs,
        s.budget.seeds
    );
    let mut md = sweep_table(s, Experiment::TiedDepth, "Tied with more blocks", "N", &note);
    md.push_str("\n| N | blocks | head | exact ratio | log's 4·N/L |\n|---|---|---|---|---|\n");
    for c in s.of(Experiment::TiedDepth) {
        let Some(r) = c.first() else { continue };
        let b = (r.params.blocks, r.params.head);
        md.push_str(&row(vec![
            c.cell.x.to_string(),
            thousands(b.0),
            thousands(b.1),
            ratio(r.ratio),
            ratio(Some(r.approx_ratio)),
        ]));
    }
    md
}

fn combined(s: &Study<'_>) -> String {
    let mut md = format!(
        "\n## The log's ideas 1+2+3 together (experiment `combined`)\n\nflatten head, d_ff = d_model, \
         lr {} (untuned: these trunks are not the one the rates were tuned on), at most {} epochs, \
         seeds {:?}. Below L = 32 some contexts of the first {} windows are followed by different \
         bytes: the cap is the most windows any model can get right.\n\n{}",
        s.budget.untuned_lr,
        s.budget.combined_epochs,
        s.budget.seeds,
        s.budget.windows,
        table(&[
            "N, d, L",
            "total",
            "blocks",
            "head",
            "exact ratio",
            "log's ratio",
            "n",
            "cap",
            "memorized at the end",
            "runs that reached the cap",
            "epochs to reach the cap",
        ])
    );
    for c in s.of(Experiment::Combined) {
        let (Some(r), Some(d)) = (c.first(), c.runs.first()) else { continue };
        let cap = s.cap(d.config.model.seq_length);
        let memorized: Vec<f64> = c.runs.iter().map(|d| d.report.memorized as f64).collect();
        let reach: Vec<_> = c.runs.iter().map(|d| stats::capped_reach(d, cap)).collect();
        let reached = reach.iter().filter(|r| r.reached).count();
        md.push_str(&row(vec![
            c.cell.name.replace(',', ", "),
            thousands(r.params.total),
            thousands(r.params.blocks),
            thousands(r.params.head),
            ratio(r.ratio),
            ratio(Some(r.approx_ratio)),
            c.runs.len().to_string(),
            cap.to_string(),
            ci(&crate::results::stat_in(&memorized, crate::results::Bounds::Range(0.0, cap as f64)), 1),
            format!("{reached}/{}", c.runs.len()),
            ci(&crate::results::capped(&reach), 1),
        ]));
    }
    md
}

fn length(s: &Study<'_>) -> String {
    let mut md = format!(
        "\n## Flatten against causal as the window grows (experiment `length`)\n\nThe first {} windows \
         of length L, seed-id4 trunk (d = 16, N = 1), each head at the rate tuned at L = 32, until \
         memorized, at most {} epochs; seeds {:?}. ms/step: wall time per optimizer step, evaluation \
         included, on a shared machine.\n\n{}",
        s.budget.windows,
        s.budget.length_epochs,
        s.budget.length_seeds,
        table(&[
            "head",
            "L",
            "lr",
            "total params",
            "head params",
            "n",
            "runs memorized",
            "epochs to memorize",
            "memorized fraction",
            "train loss (bits, all targets)",
            "ms/step",
        ])
    );
    for c in s.of(Experiment::Length) {
        let Some(r) = c.first() else { continue };
        md.push_str(&row(vec![
            c.cell.variant.flags.into(),
            c.cell.x.to_string(),
            c.cell.lr.to_string(),
            thousands(r.params.total),
            thousands(r.params.head),
            c.runs.len().to_string(),
            memorized_cell(c),
            epochs_cell(c),
            ci(&c.fraction(), 3),
            ci(&c.stat(stats::train_bits), 3),
            ci(&c.stat(|d| Some(1e3 * d.report.wall_seconds / d.report.steps.max(1) as f64)), 1),
        ]));
    }
    md
}

fn generalisation(s: &Study<'_>) -> Vec<String> {
    let b = s.budget;
    let md = format!(
        "\n## Generalisation: growing subsets (experiments `gen-tune`, `generalisation`, `equal-steps`, \
         `matched`)\n\nThree splits of the text: the first N windows train (N from {} to every \
         training window), the next {:.0}% of the file is the validation part and the last {:.0}% the \
         test part. Everything is chosen on validation: each head's learning rate (for validation \
         loss, at the largest N, seeds {:?}), when a run stops (after {} steps without a better \
         validation loss, at most {} steps; a run that hit the cap first is counted as capped) and \
         the n-gram's order. Every figure below is read once, on the test part, at the weights of \
         the run's best validation loss: bits/byte of the prediction after a whole window (the last \
         position) on every test window, the same targets for every head and baseline. Seeds {:?}. \
         Left out: {:?}, the same function as `last` with one block.\n",
        thousands(b.sizes.first().copied().unwrap_or(0) as u64),
        b.val_fraction * 100.0,
        b.test_fraction * 100.0,
        b.gen_tune_seeds,
        b.gen_patience,
        b.gen_max_steps,
        b.gen_seeds,
        b.gen_leaves_out,
    );
    vec![
        md,
        gen_tuning(s),
        gen_baselines(s),
        by_size(s, Experiment::Generalisation, "Test bits/byte at convergence (best validation weights)", &|c| {
            c.stat(|d| d.test_last_bits)
        }),
        by_size(
            s,
            Experiment::EqualSteps,
            &format!("Test bits/byte after {} steps (the speed view)", b.equal_steps),
            &|c| c.stat(|d| d.test_last_bits),
        ),
        by_size_digits(s, Experiment::Generalisation, "Step of the best validation loss", 0, &|c| {
            c.best_step(b.gen_max_steps)
        }),
        matched(s),
    ]
}

/// The generalisation tuning: every rate's mean validation loss, and the choice.
fn gen_tuning(s: &Study<'_>) -> String {
    let mut md = format!(
        "\n### Learning rates for validation loss (`gen-tune`)\n\nMean validation loss (nats, at \
         each run's best weights) over seeds {:?}, at the largest N; a rate at an end of the range \
         is extended past it (at most twice). A causal head's loss is over every position, so \
         compare rates within a row, not across rows.\n\n{}",
        s.budget.gen_tune_seeds,
        table(&["head", "rate: validation loss", "chosen", "inside the range"])
    );
    for (name, choice) in &s.gen_lrs {
        let losses: Vec<String> = choice
            .tried
            .iter()
            .map(|&lr| {
                let c = s.gen_tuning.iter().find(|c| c.cell.variant.name == *name && c.cell.lr == lr);
                let loss = c.map(|c| c.stat(|d| (!stats::diverged(d)).then_some(d.report.val_loss?)).mean);
                format!("{lr}: {}", loss.filter(|l| l.is_finite()).map_or("diverged".into(), |l| num(l, 4)))
            })
            .collect();
        let inside = if choice.beyond.is_none() { "yes" } else { "no (at an end after the extensions)" };
        md.push_str(&row(vec![name.to_string(), losses.join(", "), choice.lr.to_string(), inside.into()]));
    }
    md
}

/// The n-gram baselines of each subset: validation bits per order, the order chosen on them, and
/// its test bits.
fn gen_baselines(s: &Study<'_>) -> String {
    let orders: Vec<String> =
        (1..=s.budget.max_order).map(|n| if n == 1 { "unigram".into() } else { format!("{n}-gram") }).collect();
    let mut head: Vec<&str> = vec!["training windows", "training bytes", "their entropy"];
    head.extend(orders.iter().map(|o| o.as_str()));
    head.extend(["order chosen on validation", "its test bits/byte"]);
    let mut md = format!(
        "\n### Baselines, computed from each training subset\n\nInterpolated absolute discounting \
         (D = 0.75) down to an add-one unigram. Validation bits/byte per order; the order with the \
         fewest is read once on the test targets.\n\n{}",
        table(&head)
    );
    for base in &s.baselines {
        let mut cells =
            vec![thousands(base.windows as u64), thousands(base.train_bytes as u64), num(base.train_entropy, 3)];
        cells.extend(base.bits_by_order.iter().map(|b| num(*b, 3)));
        cells.push(base.best_order.to_string());
        cells.push(num(base.test_bits, 3));
        md.push_str(&row(cells));
    }
    md
}

/// Runs of a cell that the step cap stopped before early stopping fired.
fn capped_runs(c: &CellRuns) -> usize {
    c.runs.iter().filter(|d| d.report.stopped == train::run::Stopped::MaxSteps && d.config.early_stop.is_some()).count()
}

/// A figure with its runs and, when the step cap ended some before early stopping did, how many.
fn with_n(c: &CellRuns, figure: &str) -> String {
    match capped_runs(c) {
        0 => format!("{figure} (n={})", c.runs.len()),
        k => format!("{figure} (n={}, {k} capped)", c.runs.len()),
    }
}

/// One figure of experiment `e`'s runs, heads down, subset sizes across (3 decimals).
fn by_size(s: &Study<'_>, e: Experiment, title: &str, f: &dyn Fn(&CellRuns) -> Stat) -> String {
    by_size_digits(s, e, title, 3, f)
}

fn by_size_digits(s: &Study<'_>, e: Experiment, title: &str, digits: usize, f: &dyn Fn(&CellRuns) -> Stat) -> String {
    let sizes: Vec<String> = s.baselines.iter().map(|b| format!("N = {}", thousands(b.windows as u64))).collect();
    let mut head: Vec<&str> = vec!["head", "lr"];
    head.extend(sizes.iter().map(|s| s.as_str()));
    let mut md = format!("\n### {title}\n\n{}", table(&head));
    for v in VARIANTS.iter().filter(|v| !s.budget.gen_leaves_out.contains(&v.name)) {
        let of = |n: usize| s.of(e).find(|c| c.cell.variant == *v && c.cell.x as usize == n);
        let lr = s.baselines.first().and_then(|b| of(b.windows)).map_or("–".into(), |c| c.cell.lr.to_string());
        let mut cells = vec![v.flags.to_string(), lr];
        for b in &s.baselines {
            cells.push(of(b.windows).map_or("–".into(), |c| with_n(c, &ci(&f(c), digits))));
        }
        md.push_str(&row(cells));
    }
    md
}

/// The heads at a matched total parameter count, at the largest N.
fn matched(s: &Study<'_>) -> String {
    let n = s.baselines.last().map_or(0, |b| b.windows);
    let mut md = format!(
        "\n### At a matched parameter count (`matched`, N = {})\n\nFlatten made narrower and the \
         others wider, to about the same total; each at the rate tuned for validation loss at \
         seed-id4's width.\n\n{}",
        thousands(n as u64),
        table(&["head", "d_model", "parameters", "test bits/byte", "best step"])
    );
    for c in s.of(Experiment::Matched) {
        let params = c.first().map_or("–".into(), |r| thousands(r.params.total));
        md.push_str(&row(vec![
            c.cell.variant.flags.to_string(),
            (c.cell.x as usize).to_string(),
            params,
            with_n(c, &ci(&c.stat(|d| d.test_last_bits), 3)),
            ci(&c.best_step(s.budget.gen_max_steps), 0),
        ]));
    }
    md
}

/// results.json: the data, the budget, the chosen learning rates, every cell with its statistics
/// and runs, and the baselines.
fn json(s: &Study<'_>) -> serde_json::Value {
    let cell = |c: &CellRuns| {
        let r = c.first();
        serde_json::json!({
            "experiment": c.cell.experiment.name(),
            "cell": c.cell.name,
            "variant": c.cell.variant.name,
            "flags": c.cell.variant.flags,
            "x": c.cell.x,
            "lr": c.cell.lr,
            "trunk": c.runs.first().map(|d| trunk(&d.config.model)),
            "params": r.map(|r| r.params),
            "ratio": r.and_then(|r| r.ratio),
            "approx_ratio": r.map(|r| r.approx_ratio),
            "n": c.runs.len(),
            "runs_memorized": stats::memorized_runs(&c.runs),
            "runs_memorized_fraction": c.runs_memorized(),
            "epochs_to_memorize": c.epochs(),
            "memorized_fraction": c.fraction(),
            "final_loss": c.stat(|d| (!stats::diverged(d)).then_some(d.report.final_loss)),
            "runs_diverged": stats::diverged_runs(&c.runs),
            "test_last_bits_per_byte": c.stat(|d| d.test_last_bits),
            "runs": c.runs.iter().map(|d| serde_json::json!({
                "seed": d.seed, "dir": d.dir, "skipped": d.skipped,
                "epochs_to_memorize": d.report.epochs_to_memorize, "epochs": d.report.epochs,
                "steps": d.report.steps, "stopped": d.report.stopped, "memorized": d.report.memorized, "memorized_of": d.report.memorized_of,
                "final_loss": d.report.final_loss, "last_bits_per_byte": d.report.last_bits_per_byte,
                "test_last_bits_per_byte": d.test_last_bits, "best_step": d.report.best_step, "wall_seconds": d.report.wall_seconds,
            })).collect::<Vec<_>>(),
        })
    };
    serde_json::json!({
        "data": s.data,
        "budget": s.budget,
        "learning_rates": s.lrs.iter().map(|(n, lr)| (n.to_string(), *lr)).collect::<std::collections::BTreeMap<_, _>>(),
        "tuning": s.tuning.iter().map(cell).collect::<Vec<_>>(),
        "gen_tuning": s.gen_tuning.iter().map(cell).collect::<Vec<_>>(),
        "gen_learning_rates": s.gen_lrs.iter().map(|(n, c)| (n.to_string(), c)).collect::<std::collections::BTreeMap<_, _>>(),
        "cells": s.cells.iter().map(cell).collect::<Vec<_>>(),
        "baselines": s.baselines,
        "ambiguity_caps": s.ambiguity_caps.iter().map(|(l, n, cap)| serde_json::json!({"seq_length": l, "windows": n, "cap": cap})).collect::<Vec<_>>(),
    })
}

/// The trunk a run really used: its preset's name when its shape is the preset's, else the
/// preset with the fields that differ.
pub fn trunk(m: &heads::ModelConfig) -> String {
    let p = heads::ModelConfig::default();
    let fields = [
        ("seq_length", m.seq_length, p.seq_length),
        ("d_model", m.d_model, p.d_model),
        ("num_blocks", m.num_blocks, p.num_blocks),
        ("num_heads", m.num_heads, p.num_heads),
        ("d_ff", m.d_ff, p.d_ff),
        ("vocab_size", m.vocab_size, p.vocab_size),
    ];
    let changed: Vec<String> = fields.iter().filter(|f| f.1 != f.2).map(|f| format!("{}={}", f.0, f.1)).collect();
    if changed.is_empty() {
        heads::config::DEFAULT_PRESET.to_string()
    } else {
        format!("{} with {}", heads::config::DEFAULT_PRESET, changed.join(", "))
    }
}
