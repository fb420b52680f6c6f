//! What a safetensors file tells of its model config: the `config` entry of its metadata, or, when
//! there is none, its tensors' names and shapes (SPEC §4, "Transformers interchange"). Model flags
//! must agree with what the file tells and fill what it does not.

use super::{Tensors, CONFIG_KEY};
use heads::config::{divisors, MAX_DIM};
use heads::{HeadKind, ModelConfig, Positions};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use train::error::{Error, Result};

/// A model config with holes: what one source (a file's metadata, its tensor shapes, the flags)
/// tells. `complete` names every field of ModelConfig, so a field added there does not compile
/// until it is handled here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PartialConfig {
    pub vocab_size: Option<usize>,
    pub seq_length: Option<usize>,
    pub d_model: Option<usize>,
    pub num_blocks: Option<usize>,
    pub num_heads: Option<usize>,
    pub d_ff: Option<usize>,
    pub head: Option<HeadKind>,
    pub bottleneck: Option<usize>,
    pub reduce: Option<usize>,
    pub kernel: Option<usize>,
    pub positions: Option<Positions>,
    pub output_bias: Option<bool>,
    pub rnn_hidden: Option<usize>,
    pub untied: Option<bool>,
    pub loss_positions: Option<heads::LossPositions>,
}

/// Tensor names and shapes of a file, sorted so that every message is the same from run to run.
pub(super) type Shapes = BTreeMap<String, Vec<usize>>;

/// A transformers `config.json` read beside a GPT-2 file.
pub(super) struct ConfigJson {
    value: serde_json::Value,
    shown: String,
}

impl ConfigJson {
    pub(super) fn read(path: &std::path::Path) -> Result<ConfigJson> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(&shown, format!("cannot read it: {}", train::data::io_reason(&e))))?;
        let value = serde_json::from_str(&text).map_err(|e| Error::input(&shown, format!("is not JSON: {e}")))?;
        Ok(ConfigJson { value, shown })
    }
}

/// The model config of a file: its metadata's, else what its tensor shapes tell under `scheme` (and
/// `config_json`, for a GPT-2 folder); `flags` must agree with either and fill what neither tells.
/// Also returns a warning per ignored metadata key.
pub(super) fn resolve(
    metadata: Option<&HashMap<String, String>>,
    shapes: &Shapes,
    scheme: &Scheme,
    config_json: Option<&ConfigJson>,
    flags: &PartialConfig,
    shown: &str,
) -> Result<(ModelConfig, Vec<String>)> {
    let mut keys: Vec<&String> = metadata.map(|m| m.keys().collect()).unwrap_or_default();
    keys.sort();
    // `format` is what `safetensors.torch.save_file` writes ("pt"): it names the framework that
    // wrote the file and says nothing about the model, so warning about it would be noise.
    let mut warnings: Vec<String> = keys
        .iter()
        .filter(|k| k.as_str() != CONFIG_KEY && k.as_str() != "format")
        .map(|k| format!("{shown}: metadata key '{k}' is not read by overfit; ignored"))
        .collect();
    let (told, source) = match metadata.and_then(|m| m.get(CONFIG_KEY)) {
        Some(json) => {
            let (told, unknown) = from_metadata(json).map_err(|m| Error::input(shown, m))?;
            warnings.extend(
                unknown
                    .iter()
                    .map(|k| format!("{shown}: metadata config key '{k}' is not a model field of overfit; ignored")),
            );
            if let Some(c) = config_json {
                warnings.push(format!("{}: not read: {shown} has a model config in its metadata", c.shown));
            }
            (told, format!("the model config in the metadata of {shown}"))
        }
        None => {
            let mut told = from_shapes(shapes, scheme).map_err(|m| Error::input(shown, m))?;
            let source = match config_json {
                Some(c) => {
                    let apply = scheme.config_json.expect("a config.json is read only for a scheme that has one");
                    apply(&mut told, &c.value).map_err(|m| Error::input(&c.shown, m))?;
                    format!("{} and the tensor shapes of {shown}", c.shown)
                }
                None => format!("the tensor shapes of {shown} ({})", scheme.alone),
            };
            (told, source)
        }
    };
    let model = told.with_flags(flags, &source)?.complete(&source)?;
    Ok((model, warnings))
}

/// The fields of the metadata's config that overfit knows, and the keys it does not (another
/// exporter's extras): those are ignored rather than refused, unlike in a `train --config` file.
fn from_metadata(json: &str) -> std::result::Result<(PartialConfig, Vec<String>), String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("its metadata config is not JSON: {e}"))?;
    let Some(object) = value.as_object() else {
        return Err("its metadata config is not a JSON object".into());
    };
    let known = serde_json::to_value(ModelConfig::default()).expect("a config serializes");
    let unknown = object.keys().filter(|k| known.get(k.as_str()).is_none()).cloned().collect();
    // From the text rather than the value, so that a mistyped field's error says where it is.
    let told =
        serde_json::from_str(json).map_err(|e| format!("its metadata config is not a valid model config: {e}"))?;
    Ok((told, unknown))
}

/// Reads what a scheme's own config.json tells into a partial config.
pub(super) type ReadConfigJson = fn(&mut PartialConfig, &serde_json::Value) -> std::result::Result<(), String>;

/// A naming scheme of tensors: how a file of it is recognised, what its shapes tell, and how its
/// tensors become overfit's.
pub(super) struct Scheme {
    /// A tensor every file of it has (under any of these names).
    pub markers: &'static [&'static str],
    /// What a file of it is, when its shapes must tell the config (for messages).
    pub described: &'static str,
    /// What the shapes alone cannot tell, and where to find it (for messages).
    pub alone: &'static str,
    /// The name a tensor goes by in `infer` and `convert`; None for one that holds no weights.
    pub rename: fn(&str) -> Option<String>,
    pub infer: fn(&Shapes) -> std::result::Result<PartialConfig, String>,
    /// The tensors under overfit's names and layouts, for this model.
    pub convert: fn(&ModelConfig, Tensors, &str) -> Result<Tensors>,
    /// How the scheme's own config.json (a transformers folder's) tells the model, if it has one.
    pub config_json: Option<ReadConfigJson>,
}

/// What the tensor shapes tell, under `scheme` when the file has its marker.
fn from_shapes(shapes: &Shapes, scheme: &Scheme) -> std::result::Result<PartialConfig, String> {
    // Names are canonical here: a marker under another name (GPT-2's bare `wte.weight`) has been
    // renamed, so the test is on any tensor renaming to it.
    if scheme.markers.iter().any(|m| (scheme.rename)(m).is_some_and(|m| shapes.contains_key(&m))) {
        return (scheme.infer)(shapes).map_err(|m| format!("{}, {m}", scheme.described));
    }
    let markers: Vec<String> = super::SCHEMES.iter().flat_map(|s| s.markers).map(|m| format!("'{m}'")).collect();
    Err(format!("{}, and no tensor {} to infer one from", scheme.described, markers.join(" or ")))
}

/// SPEC §1's names: `tok_emb.weight` [V, d]; `pos_emb.weight` [L, d], absent with sinusoidal
/// positions; `blocks.{i}.*` for i in 0..N, with `blocks.0.ffn.fc1.weight` [F, d]; the head's own.
pub(super) fn overfit_names(s: &Shapes) -> std::result::Result<PartialConfig, String> {
    let [v, d] = dims(s, "tok_emb.weight")?;
    let num_blocks = block_count(s, "blocks.")?;
    let [f, _] = dims(s, "blocks.0.ffn.fc1.weight")?;
    let mut told = PartialConfig {
        vocab_size: Some(v),
        d_model: Some(d),
        num_blocks: Some(num_blocks),
        d_ff: Some(f),
        positions: Some(Positions::Sinusoidal),
        ..PartialConfig::default()
    };
    if s.contains_key("pos_emb.weight") {
        let [l, _] = dims(s, "pos_emb.weight")?;
        told.seq_length = Some(l);
        told.positions = Some(Positions::Learned);
    }
    overfit_head(s, d, &mut told)?;
    Ok(told)
}

/// The head, from which `head.*` tensors exist; their shapes tell its own sizes, and L when no
/// `pos_emb` tells it (sinusoidal positions): the head's flattened input is L times a width.
fn overfit_head(s: &Shapes, d: usize, told: &mut PartialConfig) -> std::result::Result<(), String> {
    let has = |name: &str| s.contains_key(name);
    // The head's name, and the tensor whose input is the flattened [L, width], with that width.
    if has("head.gru.weight_hh") {
        let [_, g] = dims(s, "head.gru.weight_hh")?;
        told.rnn_hidden = (g != d).then_some(g); // null means d_model
        told.head = Some(HeadKind::Rnn);
        return Ok(());
    }
    let (head, flat) = if has("head.proj.weight") {
        (HeadKind::Tied, Some(("head.proj.weight", d)))
    } else if has("head.conv.weight") {
        let [channels, _, kernel] = dims(s, "head.conv.weight")?;
        told.reduce = Some(exact(d, channels, "head.conv.weight's output channels do not divide d_model")?);
        told.kernel = Some(kernel);
        (HeadKind::Conv, Some(("head.out.weight", channels)))
    } else if has("head.reduce.weight") {
        let [channels, _] = dims(s, "head.reduce.weight")?;
        told.reduce = Some(exact(d, channels, "head.reduce.weight's outputs do not divide d_model")?);
        (HeadKind::TdDense, Some(("head.out.weight", channels)))
    } else if has("head.down.weight") {
        let [k, _] = dims(s, "head.down.weight")?;
        told.bottleneck = Some(k);
        (HeadKind::Bottleneck, Some(("head.down.weight", d)))
    } else if has("head.out.weight") && dims::<2>(s, "head.out.weight")?[1] == d && told.seq_length != Some(1) {
        // A Linear(d, V) read at every position: causal --untied (flatten's input is L·d).
        told.untied = Some(true);
        (HeadKind::Causal, None)
    } else if has("head.out.weight") {
        (HeadKind::Flatten, Some(("head.out.weight", d)))
    } else {
        // No head tensor: causal or last, which differ in the blocks' mask only, invisible in the
        // weights. Left open: `complete` reads it as causal (GPT-2's reading) unless --head says last.
        told.output_bias = Some(has("head.bias"));
        return Ok(());
    };
    told.head = Some(head);
    told.output_bias = Some(head == HeadKind::Causal && has("head.bias"));
    if let (None, Some((name, width))) = (told.seq_length, flat) {
        let [_, input] = dims(s, name)?;
        told.seq_length = Some(exact(input, width, &format!("{name}'s input is not L whole positions"))?);
    }
    Ok(())
}

/// The shape of tensor `name`, which must have K dimensions.
pub(super) fn dims<const K: usize>(s: &Shapes, name: &str) -> std::result::Result<[usize; K], String> {
    let shape = s.get(name).ok_or_else(|| format!("and no tensor '{name}' to infer one from"))?;
    shape.as_slice().try_into().map_err(|_| format!("and its tensor '{name}' has shape {shape:?}, not {K} dimensions"))
}

/// n / by, which must divide exactly (`by` may be 0 in a hostile file).
fn exact(n: usize, by: usize, what: &str) -> std::result::Result<usize, String> {
    match n.checked_rem(by) {
        Some(0) => Ok(n / by),
        _ => Err(format!("and {what}: {n} is not a multiple of {by}")),
    }
}

/// N, from the `{prefix}{i}.*` names (`blocks.`, `transformer.h.`): the indices must run 0..N−1
/// with no gap.
pub(super) fn block_count(s: &Shapes, prefix: &str) -> std::result::Result<usize, String> {
    let ids: BTreeSet<usize> =
        s.keys().filter_map(|k| k.strip_prefix(prefix)?.split('.').next()?.parse().ok()).collect();
    match ids.last() {
        None => Err(format!("and no {prefix}{{i}} tensors to infer one from")),
        Some(&last) if last == ids.len() - 1 => Ok(ids.len()),
        Some(&last) => {
            // The first gap is at most ids.len(): a bounded search whatever the indices claim.
            let gap = (0..=ids.len()).find(|i| !ids.contains(i)).unwrap_or(0);
            Err(format!("and its blocks run up to {prefix}{last} with no {prefix}{gap}: indices must run 0..N-1"))
        }
    }
}

impl PartialConfig {
    /// The model flags given to `overfit import` (as `settings::given` collects them). A preset is
    /// refused: it is a whole shape, and the file already tells most of it.
    pub fn from_flags(preset: Option<&str>, flags: &train::settings::Overrides) -> Result<PartialConfig> {
        if preset.is_some() {
            return Err(Error::usage(
                "--preset",
                "import takes the model's shape from the file; give only what it cannot tell, e.g. --num-heads",
            ));
        }
        serde_json::from_value(serde_json::Value::Object(flags.clone()))
            .map_err(|e| Error::usage("--num-heads", format!("not a model flag: {e}")))
    }

    /// `self` with the holes filled from `flags`; a flag that disagrees with `self` is an error
    /// naming it, for a flag can only say what the file does not.
    fn with_flags(mut self, flags: &PartialConfig, source: &str) -> Result<PartialConfig> {
        // Every field by name: one added to PartialConfig does not compile until it is merged here.
        let PartialConfig {
            vocab_size,
            seq_length,
            d_model,
            num_blocks,
            num_heads,
            d_ff,
            head,
            bottleneck,
            reduce,
            kernel,
            positions,
            output_bias,
            rnn_hidden,
            untied,
            loss_positions,
        } = flags;
        macro_rules! merge {
            ($($field:ident => $flag:literal),*) => {$(
                match (&self.$field, $field) {
                    (Some(told), Some(given)) if told != given => {
                        return Err(Error::usage(
                            $flag,
                            format!("{given} contradicts {told} from {source}; leave the flag out"),
                        ));
                    }
                    (None, Some(given)) => self.$field = Some(given.clone()),
                    _ => {}
                }
            )*};
        }
        merge!(vocab_size => "--vocab-size", seq_length => "--seq-length", d_model => "--d-model",
               num_blocks => "--num-blocks", num_heads => "--num-heads", d_ff => "--d-ff", head => "--head",
               bottleneck => "--bottleneck", reduce => "--reduce", kernel => "--kernel",
               positions => "--positions", output_bias => "--output-bias", rnn_hidden => "--rnn-hidden",
               untied => "--untied", loss_positions => "--loss-positions");
        Ok(self)
    }

    /// The config, once every field that shapes the model is known. The head's own sizes
    /// (bottleneck, reduce, kernel) default when unknown: the shapes tell them whenever the head
    /// uses them. Anything else still unknown is an error naming its flag.
    fn complete(self, source: &str) -> Result<ModelConfig> {
        let need = |flag: &'static str, what: &str, allowed: String| {
            Error::usage(flag, format!("{source} cannot tell {what}; give {flag}{allowed}"))
        };
        let d_model = self.d_model.ok_or_else(|| need("--d-model", "the model width d", String::new()))?;
        // Listing the divisors takes d_model steps: only for a size that validation would accept.
        let heads_allowed = || match d_model {
            1..=MAX_DIM => format!(", a divisor of d_model {d_model} ({})", divisors(d_model)),
            _ => String::new(),
        };
        let defaults = ModelConfig::default();
        Ok(ModelConfig {
            vocab_size: self.vocab_size.ok_or_else(|| need("--vocab-size", "the vocabulary size V", String::new()))?,
            seq_length: self.seq_length.ok_or_else(|| need("--seq-length", "the window length L", String::new()))?,
            d_model,
            num_blocks: self.num_blocks.ok_or_else(|| need("--num-blocks", "the number of blocks N", String::new()))?,
            num_heads: self
                .num_heads
                .ok_or_else(|| need("--num-heads", "the number of attention heads h", heads_allowed()))?,
            d_ff: self.d_ff.ok_or_else(|| need("--d-ff", "the feed-forward width F", String::new()))?,
            head: self.head.unwrap_or(HeadKind::Causal),
            bottleneck: self.bottleneck.unwrap_or(defaults.bottleneck),
            reduce: self.reduce.unwrap_or(defaults.reduce),
            kernel: self.kernel.unwrap_or(defaults.kernel),
            positions: self.positions.unwrap_or(defaults.positions),
            output_bias: self.output_bias.unwrap_or(defaults.output_bias),
            rnn_hidden: self.rnn_hidden.or(defaults.rnn_hidden),
            untied: self.untied.unwrap_or(defaults.untied),
            loss_positions: self.loss_positions.unwrap_or(defaults.loss_positions),
        })
    }
}
