//! `overfit compare`: every head (or the ones asked for) trained on the same data and seed, one
//! run folder each, then one table and one plot of their curves.

use heads::accounting::{fmt_ratio, thousands};
use heads::HeadKind;
use plot::{curves, Series};
use std::path::{Path, PathBuf};
use train::config::TrainConfig;
use train::error::Result;
use train::run::{Report, RunDir};
use train::runner::RunSpec;

/// The runs of a comparison: `base` with each head in turn (every head by default), each in the
/// next `id-N` folder under `runs_dir`. The flags only some heads take (--output-bias, --untied,
/// --loss-positions) go to those; the others compare without them.
pub fn plan(base: &TrainConfig, kinds: Option<&[HeadKind]>, runs_dir: &Path) -> Result<Vec<RunSpec>> {
    let mut specs = Vec::new();
    for &head in kinds.unwrap_or(HeadKind::ALL) {
        let mut config = base.clone();
        config.model.head = head;
        config.model.drop_flags_not_taken();
        config.validate()?;
        specs.push(RunSpec { dir: RunDir::create_next(runs_dir)?.path, config, label: head.to_string() });
    }
    Ok(specs)
}

/// What a comparison wrote beside its runs.
pub struct Written {
    /// The table, as printed.
    pub table: String,
    /// `compare-id-N.txt` (the table) and `compare-id-N.svg` (the curves), N the first run's.
    pub table_path: PathBuf,
    pub plot_path: PathBuf,
}

/// Writes the comparison's table and the plot of every run's curves under `runs_dir`.
pub fn write(specs: &[RunSpec], reports: &[Report], runs_dir: &Path) -> Result<Written> {
    let table = compare_table(reports);
    let first =
        specs.first().and_then(|s| s.dir.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stem = runs_dir.join(format!("compare-{first}"));
    let (table_path, plot_path) = (stem.with_extension("txt"), stem.with_extension("svg"));
    train::fsutil::write_atomic(&table_path, table.as_bytes())?;
    let rows: Vec<(HeadKind, Vec<plot::Point>)> =
        reports.iter().map(|r| (r.head, RunDir { path: r.run_dir.clone().into() }.read_curve())).collect();
    let series: Vec<Series<'_>> = rows.iter().map(|(h, m)| Series { label: h.name(), rows: m }).collect();
    curves(&plot_path, "overfit compare: every head on the same data and seed", &series)?;
    Ok(Written { table, table_path, plot_path })
}

/// The table `overfit compare` prints: one row per run (one per head).
pub fn compare_table(reports: &[train::Report]) -> String {
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
        "eval loss",
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
