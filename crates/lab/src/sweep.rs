//! `overfit sweep`: the cross product of `--grid FIELD=v1,v2,…` axes and `--seeds`, as a plan of
//! runs in a fixed order, one folder each, and the shard of it one process (or one Slurm array
//! task) runs.
//!
//! Order: the first axis varies slowest, the seeds fastest. A run's folder is named by its grid
//! point (`head=flatten,lr=0.001,seed=0`), so a rerun finds its finished runs, and the shards of a
//! sweep write exactly the folders the whole sweep would.

use serde_json::Value;
use std::path::Path;
use train::error::{Error, Result};
use train::runner::RunSpec;
use train::settings::{parse_value, resolve, Overrides, Sources};

/// The axes of a sweep, in the order given.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Grid {
    pub axes: Vec<(String, Vec<Value>)>,
}

impl Grid {
    /// Parses `FIELD=v1,v2,…` arguments (FIELD: a flag's name with `_` for `-`).
    pub fn parse(args: &[String]) -> Result<Grid> {
        let mut axes: Vec<(String, Vec<Value>)> = Vec::new();
        for arg in args {
            let Some((field, values)) = arg.split_once('=') else {
                return Err(Error::usage("--grid", format!("'{arg}' is not FIELD=v1,v2,… (e.g. lr=1e-3,3e-3)")));
            };
            let field = field.trim().replace('-', "_");
            if field == "seed" {
                return Err(Error::usage("--grid", "seeds are given with --seeds a,b,…"));
            }
            if axes.iter().any(|(f, _)| *f == field) {
                return Err(Error::usage("--grid", format!("'{field}' is given twice")));
            }
            let values: Vec<Value> = values.split(',').filter(|v| !v.is_empty()).map(parse_value).collect();
            if values.is_empty() {
                return Err(Error::usage("--grid", format!("'{field}' has no values")));
            }
            check_heads(&field, &values)?;
            axes.push((field, values));
        }
        Ok(Grid { axes })
    }

    /// Every point of the grid, in plan order (the first axis slowest).
    fn points(&self) -> Vec<Overrides> {
        self.axes.iter().fold(vec![Overrides::new()], |points, (field, values)| {
            points
                .iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(field.clone(), v.clone());
                        q
                    })
                })
                .collect()
        })
    }
}

/// A head's name is checked as the axis is read, so that a typo gets the same tip as `--head`
/// does, naming `--grid` once, rather than a merge error about a grid point.
fn check_heads(field: &str, values: &[Value]) -> Result<()> {
    if field != "head" {
        return Ok(());
    }
    for v in values {
        let name = v.as_str().map_or_else(|| v.to_string(), str::to_string);
        if name.parse::<heads::HeadKind>().is_err() {
            let help = heads::unknown_head_help(&name);
            return Err(Error::usage("--grid", format!("head={name}: unknown head '{name}'; {help}")));
        }
    }
    Ok(())
}

/// A value as a folder name shows it: strings bare, numbers as JSON writes them.
fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.replace(['/', '\\', ' '], "_")
}

/// The runs of a sweep: every grid point × every seed, each resolved like a command line that
/// adds the point's flags to the given ones (so the merge's ties see both), under `runs_dir`.
pub fn plan(sources: &Sources<'_>, grid: &Grid, seeds: &[u64], runs_dir: &Path) -> Result<Vec<RunSpec>> {
    let mut specs: Vec<RunSpec> = Vec::new();
    for point in grid.points() {
        for &seed in seeds {
            let mut o = point.clone();
            o.insert("seed".into(), seed.into());
            let name = label(&o);
            let mut flags = sources.flags.clone();
            flags.extend(o);
            let config = resolve(&Sources { flags, ..sources.clone() })
                .map_err(|e| Error::usage("--grid", format!("the point {name} is not a valid run: {e}")))?;
            if specs.iter().any(|s| s.label == name) {
                let flag = if seeds.iter().filter(|&&s| s == seed).count() > 1 { "--seeds" } else { "--grid" };
                return Err(Error::usage(
                    flag,
                    format!("two runs of the plan would share the folder {name}: give distinct values"),
                ));
            }
            specs.push(RunSpec { dir: runs_dir.join(&name), config, label: name });
        }
    }
    Ok(specs)
}

fn label(point: &Overrides) -> String {
    point.iter().map(|(f, v)| format!("{f}={}", show(v))).collect::<Vec<_>>().join(",")
}

/// The part of a sweep one process runs.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The runs of this shard (every run without one), in plan order.
    pub specs: Vec<RunSpec>,
    /// Runs in the whole plan.
    pub total: usize,
    /// (K, N): shard K of N.
    pub shard: Option<(usize, usize)>,
}

/// A sweep as the command line gives it: the config `sources` resolve to, at every `--grid` point
/// (`FIELD=v1,v2,…`) × every seed (default: the config's), under `runs_dir`; and the shard that
/// `--shard K/N` selects, or else a Slurm array's variables (read through `env`).
pub fn plan_shard(
    sources: &Sources<'_>,
    grid: &[String],
    seeds: Option<&[u64]>,
    shard_arg: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    runs_dir: &Path,
) -> Result<Sweep> {
    let base = resolve(sources)?;
    let grid = Grid::parse(grid)?;
    let seeds = seeds.map_or_else(|| vec![base.seed], <[u64]>::to_vec);
    let specs = plan(sources, &grid, &seeds, runs_dir)?;
    let shard_of = match shard_arg {
        Some(text) => Some(parse_shard(text)?),
        None => shard_from_slurm(env)?,
    };
    let total = specs.len();
    let specs = match shard_of {
        Some((k, n)) => shard(specs, k, n),
        None => specs,
    };
    Ok(Sweep { specs, total, shard: shard_of })
}

/// Shard `k` of `n` (1-based): every n-th run of the plan starting at the k-th, so that each
/// shard gets runs from every part of the grid.
pub fn shard(specs: Vec<RunSpec>, k: usize, n: usize) -> Vec<RunSpec> {
    specs.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, s)| s).collect()
}

/// The shard to run: `--shard K/N` when given, else a Slurm array task's, else None (all).
pub fn shard_of(flag: Option<&str>) -> Result<Option<(usize, usize)>> {
    match flag {
        Some(text) => parse_shard(text).map(Some),
        None => shard_from_slurm(|k| std::env::var(k).ok()),
    }
}

/// Parses `--shard K/N`.
pub fn parse_shard(text: &str) -> Result<(usize, usize)> {
    let bad = || Error::usage("--shard", format!("'{text}' is not K/N with 1 <= K <= N (e.g. 2/8)"));
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The shard a Slurm job array's task runs: K = SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN + 1,
/// N = SLURM_ARRAY_TASK_COUNT (SPEC §4); for a stepped array (`--array=1-7:2`) the task's rank,
/// K = (ID − MIN) / SLURM_ARRAY_TASK_STEP + 1. None outside an array job.
pub fn shard_from_slurm(env: impl Fn(&str) -> Option<String>) -> Result<Option<(usize, usize)>> {
    let Some(id) = env("SLURM_ARRAY_TASK_ID") else { return Ok(None) };
    let num = |name: &str, value: Option<String>| -> Result<usize> {
        let v =
            value.ok_or_else(|| Error::usage("--shard", format!("SLURM_ARRAY_TASK_ID is set but {name} is not")))?;
        v.trim().parse().map_err(|_| Error::usage("--shard", format!("{name}={v} is not a number")))
    };
    let id = num("SLURM_ARRAY_TASK_ID", Some(id))?;
    let (min, count) = (
        num("SLURM_ARRAY_TASK_MIN", env("SLURM_ARRAY_TASK_MIN"))?,
        num("SLURM_ARRAY_TASK_COUNT", env("SLURM_ARRAY_TASK_COUNT"))?,
    );
    let step = match env("SLURM_ARRAY_TASK_STEP") {
        Some(v) => num("SLURM_ARRAY_TASK_STEP", Some(v))?.max(1),
        None => 1,
    };
    let rank = id.checked_sub(min).filter(|d| d % step == 0).map(|d| d / step + 1);
    let k = rank.filter(|&k| k <= count && count > 0).ok_or_else(|| {
        Error::usage(
            "--shard",
            format!("array task {id} is not one of the {count} tasks {min}, {min}+{step}, …: give --shard K/N"),
        )
    })?;
    Ok(Some((k, count)))
}
