//! Hugging Face transformers' GPT-2 (SPEC §4, "Transformers interchange"), without Python: the
//! names, shapes and layouts of `export --format hf`, its config.json, and the way back bit for
//! bit. `benches/reference/hf_check.py` checks the same folder against the real library.

use heads::HeadKind;
use heads::{ModelConfig, Positions};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use train::checkpoint::SavedTensor;
use train::{Checkpoint, Error, Session, TrainConfig};
use weights::{hf, import, PartialConfig};

/// A causal model whose sizes all differ (L, d, N, h, F), so that no field or axis can be taken
/// from the wrong place by chance.
fn small() -> ModelConfig {
    ModelConfig {
        vocab_size: 257,
        seq_length: 8,
        d_model: 16,
        num_blocks: 2,
        num_heads: 4,
        d_ff: 24,
        head: HeadKind::Causal,
        ..ModelConfig::default()
    }
}

/// A fresh checkpoint of `model` whose every value differs (the init leaves biases at 0 and
/// LayerNorm weights at 1, which would hide a swapped or misplaced tensor).
fn checkpoint(model: &ModelConfig) -> Checkpoint {
    let mut c = TrainConfig::default_run();
    c.model = model.clone();
    let mut ck = Session::new(c).unwrap().checkpoint();
    let mut k = 0.0f32;
    for t in &mut ck.params {
        for x in &mut t.data {
            k += 1.0;
            *x = k * 1e-4 - 0.5;
        }
    }
    ck
}

/// `checkpoint(model)` exported as a transformers folder `dir/name`.
fn exported(dir: &Path, name: &str, model: &ModelConfig) -> (Checkpoint, PathBuf) {
    let ck = checkpoint(model);
    let out = dir.join(name);
    hf::export(&ck, &out).unwrap();
    (ck, out)
}

fn tensor<'a>(ck: &'a Checkpoint, name: &str) -> &'a SavedTensor {
    ck.params.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}"))
}

/// Tensors by name: shape and F32 values.
type Raw = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// A safetensors file's metadata and tensors.
fn read(path: &Path) -> (Option<HashMap<String, String>>, Raw) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let tensors = SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            let data = v.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            (n, (v.shape().to_vec(), data))
        })
        .collect();
    (header.metadata().clone(), tensors)
}

/// Writes F32 tensors (and other dtypes' raw bytes) as safetensors with transformers' metadata.
fn write(path: &Path, tensors: &Raw, extra: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, (s, d))| (n.clone(), s.clone(), d.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let mut views: Vec<(String, TensorView<'_>)> =
        bytes.iter().map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap())).collect();
    for (n, dtype, s, b) in extra {
        views.push((n.to_string(), TensorView::new(*dtype, s.clone(), b).unwrap()));
    }
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    std::fs::write(path, safetensors::tensor::serialize(views, Some(meta)).unwrap()).unwrap();
}

/// The same names, shapes and bits, in the same order.
fn assert_same_tensors(a: &Checkpoint, b: &Checkpoint, what: &str) {
    assert_eq!(a.params.len(), b.params.len(), "{what}");
    for (x, y) in a.params.iter().zip(&b.params) {
        assert_eq!((&x.name, &x.shape), (&y.name, &y.shape), "{what}");
        let bits = |t: &[f32]| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert!(bits(&x.data) == bits(&y.data), "{what}: {} differs", x.name);
    }
}

fn none() -> PartialConfig {
    PartialConfig::default()
}

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn export_writes_transformers_names_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let m = small();
    let (_, out) = exported(dir.path(), "hf", &m);
    let (meta, tensors) = read(&out.join("model.safetensors"));
    assert_eq!(meta, Some(HashMap::from([("format".to_string(), "pt".to_string())])), "what transformers expects");
    let (v, l, d, f) = (257, m.seq_length, m.d_model, m.d_ff);
    let mut want: BTreeMap<String, Vec<usize>> = BTreeMap::from([
        ("transformer.wte.weight".to_string(), vec![v, d]),
        ("transformer.wpe.weight".to_string(), vec![l, d]),
        ("transformer.ln_f.weight".to_string(), vec![d]),
        ("transformer.ln_f.bias".to_string(), vec![d]),
    ]);
    for i in 0..m.num_blocks {
        for (name, shape) in [
            ("ln_1.weight", vec![d]),
            ("ln_1.bias", vec![d]),
            ("attn.c_attn.weight", vec![d, 3 * d]),
            ("attn.c_attn.bias", vec![3 * d]),
            ("attn.c_proj.weight", vec![d, d]),
            ("attn.c_proj.bias", vec![d]),
            ("ln_2.weight", vec![d]),
            ("ln_2.bias", vec![d]),
            ("mlp.c_fc.weight", vec![d, f]),
            ("mlp.c_fc.bias", vec![f]),
            ("mlp.c_proj.weight", vec![f, d]),
            ("mlp.c_proj.bias", vec![d]),
        ] {
            want.insert(format!("transformer.h.{i}.{name}"), shape);
        }
    }
    let got: BTreeMap<String, Vec<usize>> = tensors.into_iter().map(|(n, (s, _))| (n, s)).collect();
    assert_eq!(got, want, "no lm_head.weight: transformers ties it to wte on load");
}

#[test]
fn export_writes_a_gpt2_config() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = exported(dir.path(), "hf", &small());
    let c: Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let want = serde_json::json!({
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 257,
        "n_positions": 8, "n_ctx": 8, "n_embd": 16, "n_layer": 2, "n_head": 4, "n_inner": 24,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "bos_token_id": 256, "eos_token_id": 256, "pad_token_id": 256, "tie_word_embeddings": true,
        "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false, "add_cross_attention": false,
    });
    for (key, value) in want.as_object().unwrap() {
        assert_eq!(&c[key], value, "{key}");
    }
}

#[test]
fn conv1d_weights_are_transposed_and_c_attn_is_q_k_v_on_the_output_axis() {
    let dir = tempfile::tempdir().unwrap();
    let m = small();
    let (ck, out) = exported(dir.path(), "hf", &m);
    let (_, t) = read(&out.join("model.safetensors"));
    let (d, f) = (m.d_model, m.d_ff);
    // ours: Linear [out, in], row-major: w[o * in + i]; GPT-2's Conv1D [in, out]: w[i * out + o].
    for b in 0..m.num_blocks {
        let ours = |name: &str| &tensor(&ck, &format!("blocks.{b}.{name}")).data;
        let theirs = |name: &str| &t[&format!("transformer.h.{b}.{name}")].1;
        let c_attn = theirs("attn.c_attn.weight");
        for (j, q) in ["q", "k", "v"].into_iter().enumerate() {
            for (o, i) in [(0, 0), (3, 11), (d - 1, 2), (7, d - 1)] {
                assert_eq!(
                    c_attn[i * 3 * d + j * d + o],
                    ours(&format!("attn.{q}.weight"))[o * d + i],
                    "{q} [{o},{i}]"
                );
            }
            assert_eq!(theirs("attn.c_attn.bias")[j * d..(j + 1) * d], ours(&format!("attn.{q}.bias"))[..], "{q} bias");
        }
        for (o, i) in [(1, 5), (d - 1, 0)] {
            assert_eq!(theirs("attn.c_proj.weight")[i * d + o], ours("attn.o.weight")[o * d + i]);
        }
        for (o, i) in [(20, 3), (f - 1, d - 1)] {
            assert_eq!(theirs("mlp.c_fc.weight")[i * f + o], ours("ffn.fc1.weight")[o * d + i]);
        }
        for (o, i) in [(3, 20), (d - 1, f - 1)] {
            assert_eq!(theirs("mlp.c_proj.weight")[i * d + o], ours("ffn.fc2.weight")[o * f + i]);
        }
    }
    assert_eq!(&t["transformer.wte.weight"].1, &tensor(&ck, "tok_emb.weight").data);
    assert_eq!(&t["transformer.wpe.weight"].1, &tensor(&ck, "pos_emb.weight").data);
}

#[test]
fn overfit_to_transformers_and_back_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, out) = exported(dir.path(), "hf", &small());
    // The folder: config.json tells n_head.
    let back = import(&out, &none()).unwrap();
    assert_eq!(back.checkpoint.config.model, small());
    assert_same_tensors(&ck, &back.checkpoint, "folder");
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    // Its model.safetensors alone: --num-heads tells it, and is needed.
    let file = out.join("model.safetensors");
    let e = import(&file, &none()).err().unwrap();
    assert!(matches!(&e, Error::Usage { flag, .. } if flag == "--num-heads"), "{e}");
    assert!(e.to_string().contains("config.json"), "says where n_head is: {e}");
    let flags = PartialConfig { num_heads: Some(4), ..none() };
    let back = import(&file, &flags).unwrap();
    assert_eq!(back.checkpoint.config.model, small());
    assert_same_tensors(&ck, &back.checkpoint, "file");
    // Flags that contradict config.json are refused, naming the flag.
    let e = import(&out, &PartialConfig { num_heads: Some(2), ..none() }).err().unwrap();
    assert!(matches!(&e, Error::Usage { flag, .. } if flag == "--num-heads"), "{e}");
}

#[test]
fn older_names_buffers_and_a_tied_lm_head_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (ck, out) = exported(dir.path(), "hf", &small());
    let (_, tensors) = read(&out.join("model.safetensors"));
    // An older GPT-2 checkpoint: no `transformer.` prefix, the causal-mask buffers saved (as U8
    // here: they are skipped before any dtype check), and lm_head.weight written out.
    let mut old: BTreeMap<_, _> =
        tensors.iter().map(|(n, t)| (n.strip_prefix("transformer.").unwrap().to_string(), t.clone())).collect();
    old.insert("lm_head.weight".into(), tensors["transformer.wte.weight"].clone());
    let mask = |i: usize| (format!("h.{i}.attn.bias"), Dtype::U8, vec![1, 1, 8, 8], vec![1u8; 64]);
    let masked = |i: usize| (format!("h.{i}.attn.masked_bias"), Dtype::F32, vec![], (-1e4f32).to_le_bytes().to_vec());
    let buffers: Vec<_> = (0..2).flat_map(|i| [mask(i), masked(i)]).collect();
    let buffers: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> =
        buffers.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.clone(), b.clone())).collect();
    write(&out.join("model.safetensors"), &old, &buffers);
    let back = import(&out, &none()).unwrap();
    assert_same_tensors(&ck, &back.checkpoint, "older names");

    // An lm_head of its own is a model overfit does not have.
    old.get_mut("lm_head.weight").unwrap().1[5] += 1.0;
    write(&out.join("model.safetensors"), &old, &[]);
    let e = message(import(&out, &none()).err().unwrap());
    assert!(e.contains("lm_head.weight differs"), "{e}");
}

#[test]
fn a_vocabulary_other_than_257_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out) = exported(dir.path(), "hf", &small());
    let file = out.join("model.safetensors");
    let (_, mut tensors) = read(&file);
    let wte = tensors.get_mut("transformer.wte.weight").unwrap();
    wte.0 = vec![300, 16];
    wte.1.resize(300 * 16, 0.0);
    write(&file, &tensors, &[]);
    let e = message(import(&file, &PartialConfig { num_heads: Some(4), ..none() }).err().unwrap());
    assert!(e.contains("300") && e.contains("byte-level"), "{e}");
    // config.json alone saying so is refused too (here with wte back at 257).
    let (_, out) = exported(dir.path(), "hf2", &small());
    edit_config(&out, |c| c["vocab_size"] = 50257.into());
    let e = message(import(&out, &none()).err().unwrap());
    assert!(e.contains("config.json") && e.contains("vocab_size is 50257") && e.contains("byte-level"), "{e}");
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(&path, c.to_string()).unwrap();
}

#[test]
fn a_config_json_that_disagrees_or_computes_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    type Edit = fn(&mut Value);
    let cases: [(Edit, &str); 6] = [
        (|c| c["n_embd"] = 32.into(), "n_embd is 32, and the tensors say 16"),
        (|c| c["n_inner"] = Value::Null, "n_inner is 64"),
        (|c| c["activation_function"] = "relu".into(), "activation_function"),
        (|c| c["layer_norm_epsilon"] = 1e-6.into(), "layer_norm_epsilon"),
        (|c| c["scale_attn_by_inverse_layer_idx"] = true.into(), "scale_attn_by_inverse_layer_idx"),
        (|c| c["model_type"] = "gpt_neo".into(), "model_type"),
    ];
    for (k, (edit, needle)) in cases.into_iter().enumerate() {
        let (_, out) = exported(dir.path(), &format!("hf{k}"), &small());
        edit_config(&out, edit);
        let e = import(&out, &none()).err().unwrap();
        assert!(matches!(e, Error::Input { .. }), "{e}");
        let e = e.to_string();
        assert!(e.contains("config.json") && e.contains(needle), "{needle}: {e}");
    }
    // gelu_pytorch_tanh is the same tanh GELU; absent keys take GPT2Config's defaults (n_inner 4d).
    let (ck, out) = exported(dir.path(), "tanh", &ModelConfig { d_ff: 64, ..small() });
    edit_config(&out, |c| {
        c["activation_function"] = "gelu_pytorch_tanh".into();
        c.as_object_mut().unwrap().remove("n_inner");
    });
    assert_same_tensors(&ck, &import(&out, &none()).unwrap().checkpoint, "defaults");
}

#[test]
fn only_a_causal_tied_learned_unbiased_byte_model_exports() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hf::not_gpt2(&small()).is_empty());
    let cases = [
        (ModelConfig { head: HeadKind::Flatten, ..small() }, "head is flatten"),
        (ModelConfig { positions: Positions::Sinusoidal, ..small() }, "sinusoidal"),
        (ModelConfig { output_bias: true, ..small() }, "output bias"),
        (ModelConfig { vocab_size: 300, ..small() }, "vocabulary is 300"),
    ];
    for (k, (model, needle)) in cases.into_iter().enumerate() {
        let out = dir.path().join(format!("no{k}"));
        let e = hf::export(&checkpoint(&model), &out).err().unwrap();
        assert!(matches!(&e, Error::Usage { flag, .. } if flag == "--format"), "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
        assert!(!out.exists(), "nothing written");
    }
}
