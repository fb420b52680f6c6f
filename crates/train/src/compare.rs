//! `overfit compare`: every head (or the ones asked for) trained on the same data and seed, one
//! run folder each, then one table and one plot of their curves.

use crate::config::TrainConfig;
use crate::error::Result;
use crate::plot::{curves, Series};
use crate::run::{MetricsRow, Report, RunDir};
use crate::runner::RunSpec;
use heads::HeadKind;
use std::path::{Path, PathBuf};

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
    let table = crate::results::text::compare_table(reports);
    let first =
        specs.first().and_then(|s| s.dir.file_name()).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stem = runs_dir.join(format!("compare-{first}"));
    let (table_path, plot_path) = (stem.with_extension("txt"), stem.with_extension("svg"));
    crate::fsutil::write_atomic(&table_path, table.as_bytes())?;
    let rows: Vec<(HeadKind, Vec<MetricsRow>)> =
        reports.iter().map(|r| (r.head, RunDir { path: r.run_dir.clone().into() }.read_metrics())).collect();
    let series: Vec<Series<'_>> = rows.iter().map(|(h, m)| Series { label: h.name(), rows: m }).collect();
    curves(&plot_path, "overfit compare: every head on the same data and seed", &series)?;
    Ok(Written { table, table_path, plot_path })
}
