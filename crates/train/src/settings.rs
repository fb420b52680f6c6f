//! One config merge for every command: defaults < preset < config file < flags < a sweep's grid
//! point, and the rules of what a resume may change, written as data.
//!
//! Flags travel as [`Overrides`]: a map from a field's name (the flag's name with `_` for `-`:
//! `lr`, `head`, `d_model`) to a JSON value. The CLI serializes the flags it was given into one;
//! `sweep --grid FIELD=v1,v2` makes one per grid point. A model field (`head`, `d_model`) is found
//! in the config's `model` object, any other at the top level.

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use heads::ModelConfig;
use serde_json::{Map, Value};
use std::path::Path;

/// Given flags by field name, in the order they apply.
pub type Overrides = Map<String, Value>;

/// Where a run's config comes from.
#[derive(Clone, Debug, Default)]
pub struct Sources<'a> {
    pub preset: Option<&'a str>,
    /// A config.json (a run folder's, or written by hand; missing fields take the defaults).
    pub file: Option<&'a Path>,
    pub flags: Overrides,
}

/// The flags that were given, by config field: each group of flags serializes as a JSON object,
/// in which a flag not given is null (an absent value) or false (a switch left off), and is left out.
pub fn given(groups: &[&dyn FlagGroup]) -> Overrides {
    let mut o = Overrides::new();
    for group in groups {
        if let Value::Object(m) = group.to_json() {
            o.extend(m.into_iter().filter(|(_, v)| !v.is_null() && *v != Value::Bool(false)));
        }
    }
    o
}

/// A group of command-line flags as JSON, behind one object-safe trait (serde's Serialize is not
/// object-safe).
pub trait FlagGroup {
    fn to_json(&self) -> Value;
}

impl<T: serde::Serialize> FlagGroup for T {
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The flag a field is set by, for messages: `d_model` → `--d-model`.
pub fn flag_of(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// Keys of config.json beside the config's own fields (`--config` ignores them).
pub const RUN_RECORD_KEYS: &[&str] = &["provenance", "history", "data_fingerprint"];

/// Reads a config file: a run's config.json (its provenance and history are ignored) or a partial
/// one written by hand. Unknown fields are an error: a misspelt key must not pass silently.
pub fn read_config_file(path: &Path) -> Result<TrainConfig> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(&shown, format!("cannot read the config: {}", crate::data::io_reason(&e))))?;
    let mut value: Value =
        serde_json::from_str(&text).map_err(|e| Error::input(&shown, format!("is not valid JSON: {e}")))?;
    if let Value::Object(map) = &mut value {
        for key in RUN_RECORD_KEYS {
            map.remove(*key);
        }
    }
    serde_json::from_value(value).map_err(|e| Error::input(&shown, format!("is not a valid run config: {e}")))
}

/// The merged, validated config.
pub fn resolve(src: &Sources<'_>) -> Result<TrainConfig> {
    let mut c = match src.file {
        Some(path) => read_config_file(path)?,
        None => TrainConfig::default_run(),
    };
    if src.preset.is_some() || src.file.is_none() {
        let name = src.preset.unwrap_or(heads::config::DEFAULT_PRESET);
        c.model = ModelConfig::preset(name)?;
        c.preset = name.to_string();
    }
    let c = apply(c, &src.flags, flag_of)?;
    c.validate()?;
    Ok(c)
}

/// A model's config alone: a preset (or the default one) with model flags applied, validated as a
/// model (`overfit summary`, which involves no data and no training settings).
pub fn resolve_model(preset: Option<&str>, flags: &Overrides) -> Result<ModelConfig> {
    let preset = preset.unwrap_or(heads::config::DEFAULT_PRESET);
    let base = TrainConfig { model: ModelConfig::preset(preset)?, ..TrainConfig::default_run() };
    let model = apply(base, flags, flag_of)?.model;
    model.validate()?;
    Ok(model)
}

/// Applies overrides to a config, with the rules that tie some fields to others. `flag` names the
/// source of a field in messages (its own flag, or `--grid` for a sweep).
pub fn apply(c: TrainConfig, flags: &Overrides, flag: impl Fn(&str) -> String) -> Result<TrainConfig> {
    let mut v = serde_json::to_value(&c).expect("configs serialize");
    // A tie applies when its field changes, not when a flag repeats the config's value.
    let changes = |k: &str| flags.get(k).is_some_and(|new| lookup(&v, k) != Some(new));
    let (new_data, new_optimizer) = (changes("data"), changes("optimizer"));
    let given = |k: &str| flags.contains_key(k);
    for (field, value) in flags {
        set_field(&mut v, field, value.clone()).map_err(|m| Error::usage(flag(field), m))?;
    }
    // Another data file means every window of it, unless --samples says otherwise.
    if new_data && !given("samples") {
        v["samples"] = Value::Null;
    }
    // Switching to AdamW brings its customary decay unless one is given.
    if new_optimizer && v["optimizer"] == "adamw" && !given("weight_decay") {
        v["weight_decay"] = 0.01.into();
    }
    // A run length given replaces the default one, and ends on memorization only if asked.
    if given("steps") || given("epochs") {
        for end in ["steps", "epochs"] {
            if !given(end) {
                v[end] = Value::Null;
            }
        }
        if !given("until_memorized") {
            v["until_memorized"] = false.into();
        }
    }
    serde_json::from_value(v).map_err(|e| {
        // The flag at fault: the first whose value alone does not make a valid config.
        let fails_alone = |k: &String| {
            let mut one = serde_json::to_value(&c).expect("configs serialize");
            set_field(&mut one, k, flags[k].clone()).is_err() || serde_json::from_value::<TrainConfig>(one).is_err()
        };
        let source = flags.keys().find(|k| fails_alone(k)).map_or_else(|| "--config".to_string(), |k| flag(k));
        Error::usage(source, format!("not a valid setting: {e}"))
    })
}

/// Sets one field of a serialized config, in `model` when it is a model field.
fn set_field(config: &mut Value, field: &str, value: Value) -> std::result::Result<(), String> {
    let Value::Object(top) = config else { unreachable!("a config is an object") };
    if let Some(Value::Object(model)) = top.get_mut("model") {
        if let Some(slot) = model.get_mut(field) {
            *slot = value;
            return Ok(());
        }
    }
    match top.get_mut(field) {
        Some(slot) if field != "model" => {
            *slot = value;
            Ok(())
        }
        _ => Err(format!("'{field}' is not a setting of a run; settings: {}", field_names(top).join(", "))),
    }
}

/// Every settable field, model fields included.
fn field_names(top: &Map<String, Value>) -> Vec<String> {
    let model = top.get("model").and_then(Value::as_object).into_iter().flat_map(|m| m.keys().cloned());
    model.chain(top.keys().filter(|k| *k != "model").cloned()).collect()
}

/// Parses a value typed on the command line: JSON when it reads as JSON (numbers, true/false,
/// null), else a string (`flatten`, `adamw`).
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// What a resume may change (SPEC §5): the optimizer's hyperparameters, the schedule, the step or
/// epoch budget and the stop rules, and the logging, evaluation and checkpoint cadence. Everything
/// else (the model, its head, the data and how it is batched, the seed) would make the checkpoint
/// another run, and is refused.
pub const RESUME_MAY_CHANGE: &[&str] = &[
    "lr",
    "min_lr",
    "optimizer",
    "weight_decay",
    "warmup",
    "schedule",
    "clip",
    "steps",
    "epochs",
    "until_memorized",
    "until_plateau",
    "checkpoint_every",
    "log_every",
    "eval_every",
    "eval_windows",
    "early_stop",
];

/// One field a resume changed: (field, old value, new value).
pub type Change = (String, Value, Value);

/// The first field, outside what a resume may change, in which two configs differ: (field, a's
/// value, b's value). None when `b` continues the same run as `a`.
pub fn identity_difference(a: &TrainConfig, b: &TrainConfig) -> Option<Change> {
    let (a, b) = (serde_json::to_value(a).expect("serializes"), serde_json::to_value(b).expect("serializes"));
    let mut fields = field_names(a.as_object().expect("an object"));
    fields.retain(|f| !RESUME_MAY_CHANGE.contains(&f.as_str()));
    let field = fields.into_iter().find(|f| lookup(&a, f) != lookup(&b, f))?;
    let value = |c: &Value| lookup(c, &field).cloned().unwrap_or(Value::Null);
    Some((field.clone(), value(&a), value(&b)))
}

/// The config of a resumed run: the checkpoint's, with the flags a resume may change applied.
/// A flag that would change anything else is an error naming it, unless it repeats the
/// checkpoint's value.
pub fn resume(saved: &TrainConfig, flags: &Overrides, what: &str) -> Result<(TrainConfig, Vec<Change>)> {
    let resumed = apply(saved.clone(), flags, flag_of)?;
    if let Some((field, ..)) = identity_difference(saved, &resumed) {
        // Name the flag that was given for it, or the given flag that tied it to another.
        let culprit = if flags.contains_key(field.as_str()) {
            field.clone()
        } else {
            flags.keys().find(|k| !RESUME_MAY_CHANGE.contains(&k.as_str())).cloned().unwrap_or_else(|| field.clone())
        };
        return Err(Error::usage(
            flag_of(&culprit),
            format!(
                "cannot change on --resume: it would not continue the same run ({what}); a resume may change \
                 only {}; start a new run instead",
                RESUME_MAY_CHANGE.iter().map(|f| flag_of(f)).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let (before, after) =
        (serde_json::to_value(saved).expect("serializes"), serde_json::to_value(&resumed).expect("serializes"));
    let changes = RESUME_MAY_CHANGE
        .iter()
        .filter_map(|f| {
            let (a, b) = (lookup(&before, f)?, lookup(&after, f)?);
            (a != b).then(|| (f.to_string(), a.clone(), b.clone()))
        })
        .collect();
    Ok((resumed, changes))
}

/// The config of a new run that starts from a checkpoint's weights (`train --init-from`): the
/// checkpoint fixes the model; data, seed and training settings come from the flags and defaults
/// as for any new run. A model flag that disagrees with the checkpoint is an error naming it.
pub fn init_from(saved: &TrainConfig, src: &Sources<'_>, what: &str) -> Result<TrainConfig> {
    if src.preset.is_some() {
        return Err(Error::usage("--preset", format!("cannot be given with --init-from: {what} fixes the model")));
    }
    let mut c = resolve(src)?;
    let theirs = serde_json::to_value(&saved.model).expect("serializes");
    for (field, value) in &src.flags {
        if theirs.get(field).is_some_and(|v| v != value) {
            return Err(Error::usage(
                flag_of(field),
                format!("differs from the model of {what} ({}); --init-from keeps its model", theirs[field]),
            ));
        }
    }
    c.model = saved.model.clone();
    c.preset = saved.preset.clone();
    c.validate()?;
    Ok(c)
}

fn lookup<'a>(config: &'a Value, field: &str) -> Option<&'a Value> {
    config.get("model").and_then(|m| m.get(field)).or_else(|| config.get(field))
}
