//! `overfit results`: every run folder under some directories, grouped over seeds, with n, mean,
//! standard deviation and a 95% interval for every numeric report field; rendered as markdown,
//! CSV and JSON (SPEC §4), and a plot of one metric per group with error bars.
//!
//! Groups are keyed by the config fields that vary across the runs (except `seed`), or by
//! `--group-by`. Runs and groups are ordered by their config, never by folder, so the folders of
//! a sweep's shards give the same table as the unsharded sweep.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use train::error::{Error, Result};

pub mod bounded;

pub use bounded::{capped, proportion, stat, stat_in, t975, wilson, Bounds, Capped, Interval, Stat, Survival};

/// One run folder: its config (model fields flattened in) and its report.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub dir: String,
    pub config: Map<String, Value>,
    pub report: Value,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Group {
    pub key: Map<String, Value>,
    pub n: usize,
    pub metrics: BTreeMap<String, Stat>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub runs: Vec<RunRecord>,
    pub groups: Vec<Group>,
    /// Run folders left out (no report), each with its reason; `results` names them on stderr.
    pub skipped: Vec<Skipped>,
}

/// A folder `results` left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    pub dir: String,
    pub reason: String,
}

/// Every folder under `roots` (at any depth) that holds both config.json and report.json; and the
/// run folders (a config.json without a report) left out, each with its reason.
pub fn gather(roots: &[PathBuf]) -> Result<(Vec<RunRecord>, Vec<Skipped>)> {
    let (mut runs, mut skipped) = (Vec::new(), Vec::new());
    for root in roots {
        if !root.is_dir() {
            return Err(Error::input(root.display(), "is not a folder of runs"));
        }
        collect(root, &mut runs, &mut skipped)?;
    }
    runs.sort_by_key(|r: &RunRecord| (sort_key(&r.config), r.dir.clone()));
    Ok((runs, skipped))
}

fn collect(dir: &Path, runs: &mut Vec<RunRecord>, skipped: &mut Vec<Skipped>) -> Result<()> {
    let (config, report) = (dir.join("config.json"), dir.join("report.json"));
    if config.is_file() && report.is_file() {
        let read = |p: &Path| -> Result<Value> {
            let text = std::fs::read_to_string(p).map_err(|e| Error::input(p.display(), e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| Error::input(p.display(), format!("is not JSON: {e}")))
        };
        runs.push(RunRecord {
            dir: dir.display().to_string(),
            config: flatten_config(read(&config)?),
            report: read(&report)?,
        });
        return Ok(());
    }
    if config.is_file() {
        skipped.push(Skipped { dir: dir.display().to_string(), reason: why_unfinished(dir) });
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::input(dir.display(), e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    entries.iter().try_for_each(|p| collect(p, runs, skipped))
}

/// Why a run folder has no report. The lock is only read, never taken: taking it, even for a
/// moment, could make a run that starts at that moment skip itself.
fn why_unfinished(dir: &Path) -> String {
    let holder = std::fs::read_to_string(dir.join("lock")).unwrap_or_default();
    let checkpoint = dir.join("checkpoint.bin");
    if !holder.trim().is_empty() {
        format!("no report.json yet: its lock names {} (training, or killed while training)", holder.trim())
    } else if checkpoint.is_file() {
        format!("no report.json: unfinished; continue it with `overfit train --resume {}`", checkpoint.display())
    } else {
        "no report.json and no checkpoint.bin: it ended before its first checkpoint".to_string()
    }
}

/// The config's own fields, with the model's at the top level (as the flags name them).
fn flatten_config(v: Value) -> Map<String, Value> {
    let Value::Object(mut top) = v else { return Map::new() };
    for key in train::settings::RUN_RECORD_KEYS {
        top.remove(*key);
    }
    if let Some(Value::Object(model)) = top.remove("model") {
        top.extend(model);
    }
    top
}

fn sort_key(config: &Map<String, Value>) -> String {
    serde_json::to_string(config).expect("serializable")
}

/// The config fields that differ between runs, except the seed: the default grouping.
pub fn varying(runs: &[RunRecord]) -> Vec<String> {
    let Some(first) = runs.first() else { return Vec::new() };
    let mut fields: Vec<String> = runs.iter().flat_map(|r| r.config.keys().cloned()).collect();
    fields.sort();
    fields.dedup();
    fields.retain(|f| f != "seed" && runs.iter().any(|r| r.config.get(f) != first.config.get(f)));
    fields
}

/// Groups the runs by the values of `by`, in the order of their configs.
pub fn group(runs: &[RunRecord], by: &[String]) -> Vec<Group> {
    let mut groups: BTreeMap<String, (Map<String, Value>, Vec<&RunRecord>)> = BTreeMap::new();
    for r in runs {
        let key: Map<String, Value> =
            by.iter().map(|f| (f.clone(), r.config.get(f).cloned().unwrap_or(Value::Null))).collect();
        groups.entry(sort_key(&key)).or_insert_with(|| (key, Vec::new())).1.push(r);
    }
    groups.into_values().map(|(key, members)| Group { key, n: members.len(), metrics: metrics(&members) }).collect()
}

/// Every numeric report field (nested ones as `params.total`) over the members, each with an
/// interval inside its range (see [`bounds_of`]); the capped ones (`epochs_to_memorize`,
/// `steps_to_memorize`) count the runs that never memorized as censored at their own length.
fn metrics(members: &[&RunRecord]) -> BTreeMap<String, Stat> {
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in members {
        numeric_fields("", &r.report, &mut |name, x| values.entry(name).or_default().push(x));
    }
    let mut out: BTreeMap<String, Stat> =
        values.into_iter().map(|(name, xs)| (name.clone(), stat_in(&xs, bounds_of(&name)))).collect();
    for (field, length) in CAPPED_FIELDS {
        let xs: Vec<Capped> = members.iter().filter_map(|r| capped_value(&r.report, field, length)).collect();
        if !xs.is_empty() {
            out.insert(field.to_string(), capped(&xs));
        }
    }
    out
}

/// Report fields that a run that never got there leaves null, and the field that says how far
/// it ran: its cap.
const CAPPED_FIELDS: [(&str, &str); 2] = [("epochs_to_memorize", "epochs"), ("steps_to_memorize", "steps")];

/// A run's capped value: the field if the run got there, else censored at how far it ran.
fn capped_value(report: &Value, field: &str, length: &str) -> Option<Capped> {
    match report.get(field)? {
        Value::Number(n) => Some(Capped { value: n.as_f64()?, reached: true }),
        Value::Null => Some(Capped { value: report.get(length)?.as_f64()?, reached: false }),
        _ => None,
    }
}

/// Report fields that cannot be negative: counts, sizes, times, rates, losses and bits/byte.
const NON_NEGATIVE_FIELDS: &[&str] = &[
    "samples",
    "memorized",
    "memorized_of",
    "epochs",
    "steps",
    "final_loss",
    "val_loss",
    "bits_per_byte",
    "last_bits_per_byte",
    "samples_per_sec",
    "wall_seconds",
    "eval_seconds",
    "val_windows",
    "ratio",
    "approx_ratio",
    "seed",
    "peak_rss_bytes",
    "rss_anon_bytes",
    "dataset_bits",
];

/// The range of a report field. A field not named here (e.g. `memorized_bits`, negative for a
/// model worse than uniform) gets a plain t-interval.
pub fn bounds_of(field: &str) -> Bounds {
    if field == "train_accuracy" {
        Bounds::Fraction
    } else if field.starts_with("params.") || NON_NEGATIVE_FIELDS.contains(&field) {
        bounded::NON_NEGATIVE
    } else {
        Bounds::Real
    }
}

fn numeric_fields(prefix: &str, v: &Value, out: &mut dyn FnMut(String, f64)) {
    match v {
        Value::Number(n) => out(prefix.to_string(), n.as_f64().unwrap_or(f64::NAN)),
        Value::Object(m) if prefix != "provenance" => {
            for (k, v) in m {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                numeric_fields(&name, v, out);
            }
        }
        _ => {}
    }
}

/// The first of `asked` that is not among `valid`, as an error naming `flag`, with a tip when the
/// name is a typo of one of them, and every valid name.
fn refuse_unknown(flag: &str, what: &str, asked: &[String], valid: &[&str]) -> Result<()> {
    let Some(bad) = asked.iter().find(|a| !valid.contains(&a.as_str())) else { return Ok(()) };
    let tip = heads::words::did_you_mean(bad, valid);
    Err(Error::usage(flag, format!("'{bad}' is no {what} of these runs; {tip}valid: {}", valid.join(", "))))
}

/// The metrics a table shows unless asked for others: those present in any group.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "final_loss",
    "bits_per_byte",
    "val_loss",
    "train_accuracy",
    "memorized",
    "epochs_to_memorize",
    "steps",
    "wall_seconds",
];

/// The columns asked for, or [`DEFAULT_COLUMNS`].
pub fn columns_or_default(asked: Option<Vec<String>>) -> Vec<String> {
    asked.unwrap_or_else(|| DEFAULT_COLUMNS.iter().map(|s| s.to_string()).collect())
}

/// A number in 4 significant digits, plain for integers.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e9 {
        format!("{x:.0}")
    } else if x != 0.0 && (x.abs() >= 1e5 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        format!("{:.*}", (3 - x.abs().log10().floor() as i32).max(0) as usize, x)
    }
}

fn cell(s: Option<&Stat>) -> String {
    s.map_or("–".into(), |s| s.show(num))
}

fn show_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Results {
    /// Every run folder under `dirs`, grouped by the config fields `by` (default: every field that
    /// varies, except the seed). No run folder, or a field no run has, is an error.
    pub fn from_dirs(dirs: &[PathBuf], by: Option<Vec<String>>) -> Result<Results> {
        let (runs, skipped) = gather(dirs)?;
        if runs.is_empty() {
            let first = dirs.first().map_or(String::new(), |d| d.display().to_string());
            let why: Vec<String> = skipped.iter().map(|s| format!("{} ({})", s.dir, s.reason)).collect();
            let skipped = if why.is_empty() { String::new() } else { format!("; skipped: {}", why.join("; ")) };
            return Err(Error::input(first, format!("holds no finished run (config.json and report.json){skipped}")));
        }
        let by = by.unwrap_or_else(|| varying(&runs));
        let mut fields: Vec<&str> = runs.iter().flat_map(|r| r.config.keys().map(String::as_str)).collect();
        fields.sort();
        fields.dedup();
        refuse_unknown("--group-by", "config field", &by, &fields)?;
        let groups = group(&runs, &by);
        Ok(Results { runs, groups, skipped })
    }

    /// Refuses a `--columns` name that is no numeric report field of these runs, as `--group-by`
    /// refuses a name that is no config field: a column dropped in silence looks like no data.
    pub fn check_columns(&self, asked: &[String]) -> Result<()> {
        let mut fields: Vec<&str> = self.groups.iter().flat_map(|g| g.metrics.keys().map(String::as_str)).collect();
        fields.sort();
        fields.dedup();
        refuse_unknown("--columns", "numeric report field", asked, &fields)
    }

    /// The JSON of SPEC §4, pretty, with a final newline.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serializable") + "\n"
    }

    /// Writes results.md (of `columns`), results.csv, results.json and the plot of `metric`
    /// (`metric.svg`) into `dir`.
    pub fn write_to(&self, dir: &Path, columns: &[String], metric: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        train::fsutil::write_atomic(&dir.join("results.md"), self.markdown(columns).as_bytes())?;
        train::fsutil::write_atomic(&dir.join("results.csv"), self.csv().as_bytes())?;
        train::fsutil::write_atomic(&dir.join("results.json"), self.json().as_bytes())?;
        self.plot(metric, &dir.join(format!("{metric}.svg")))
    }

    /// The metrics of `wanted` that some group has.
    fn columns(&self, wanted: &[String]) -> Vec<String> {
        wanted.iter().filter(|c| self.groups.iter().any(|g| g.metrics.contains_key(*c))).cloned().collect()
    }

    /// A markdown table: one row per group, each figure with its 95% interval (see [`Stat::show`]).
    pub fn markdown(&self, wanted: &[String]) -> String {
        let keys: Vec<String> = self.groups.first().map(|g| g.key.keys().cloned().collect()).unwrap_or_default();
        let cols = self.columns(wanted);
        let header: Vec<String> = keys.iter().cloned().chain(["n".into()]).chain(cols.iter().cloned()).collect();
        let mut s = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
        for g in &self.groups {
            let mut row: Vec<String> = keys.iter().map(|k| show_key(&g.key[k])).collect();
            row.push(g.n.to_string());
            row.extend(cols.iter().map(|c| cell(g.metrics.get(c))));
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        s.push_str(&format!(
            "\n{} in {}. [lo, hi] is a 95% interval over seeds that stays in the field's \
             range: the t-interval of the mean (clamped at 0 for losses, bits, times and counts), a \
             percentile bootstrap for train_accuracy, and for epochs and steps to memorize the \
             Kaplan–Meier median, a run that did not memorize censored at its length (\"≥\": a \
             lower bound).\n",
            heads::words::count(self.runs.len() as u64, "run"),
            heads::words::count(self.groups.len() as u64, "group")
        ));
        // The report's field names are the columns' (--columns takes them); this one says which loss.
        if cols.iter().any(|c| c == "final_loss") {
            s.push_str("final_loss is the eval loss (nats): a fresh evaluation of the training windows at the end.\n");
        }
        s
    }

    /// CSV: one row per group, every numeric field's mean, std and interval.
    pub fn csv(&self) -> String {
        let keys: Vec<String> = self.groups.first().map(|g| g.key.keys().cloned().collect()).unwrap_or_default();
        let mut metrics: Vec<&String> = self.groups.iter().flat_map(|g| g.metrics.keys()).collect();
        metrics.sort();
        metrics.dedup();
        let mut header: Vec<String> = keys.clone();
        header.push("n".into());
        for m in &metrics {
            header.extend(["mean", "std", "ci95_lo", "ci95_hi"].iter().map(|s| format!("{m}.{s}")));
        }
        let quote = |s: String| if s.contains([',', '"']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s };
        let mut out = header.into_iter().map(quote).collect::<Vec<_>>().join(",") + "\n";
        for g in &self.groups {
            let mut row: Vec<String> = keys.iter().map(|k| quote(show_key(&g.key[k]))).collect();
            row.push(g.n.to_string());
            for m in &metrics {
                let s = g.metrics.get(*m);
                let opt = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
                row.push(opt(s.map(|s| s.mean)));
                row.push(opt(s.and_then(|s| s.std)));
                row.push(opt(s.and_then(|s| s.ci95).map(|c| c[0])));
                row.push(opt(s.and_then(|s| s.ci95).map(|c| c[1])));
            }
            out.push_str(&(row.join(",") + "\n"));
        }
        out
    }

    /// One metric per group, with its 95% interval as an error bar.
    pub fn plot(&self, metric: &str, path: &Path) -> Result<()> {
        let points: Vec<(String, f64, [f64; 2])> = self
            .groups
            .iter()
            .filter_map(|g| {
                let s = g.metrics.get(metric)?;
                let label = g.key.iter().map(|(k, v)| format!("{k}={}", show_key(v))).collect::<Vec<_>>().join(" ");
                Some((label, s.point(), s.ci95.unwrap_or([s.point(), s.point()])))
            })
            .collect();
        if points.is_empty() {
            return Err(Error::usage("--metric", format!("no run has a numeric '{metric}'")));
        }
        Ok(plot::error_bars(
            path,
            &format!("{metric}: mean (median if capped) and 95% interval over seeds"),
            metric,
            &points,
        )?)
    }
}
