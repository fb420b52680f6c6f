//! Every head and causal variant: parameter counts against SPEC §1's and §4's formulas, a gradient
//! check of the whole model, the rnn head's GRU on its own and against PyTorch, tying, the causal
//! mask, validation of the heads' own flags, and the published totals of GPT-2 and CTRL.

use autograd::gradcheck::{check_gradients, relative_error};
use autograd::{ParamSet, Tape};
use heads::accounting::ParamCounts;
use heads::HeadKind;
use heads::{specs, Accounting, LossPositions, Model, ModelConfig, Positions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn tiny(head: &str) -> ModelConfig {
    ModelConfig {
        vocab_size: 11,
        seq_length: 4,
        d_model: 4,
        num_blocks: 1,
        num_heads: 2,
        d_ff: 6,
        head: head.parse().unwrap(),
        bottleneck: 3,
        reduce: 2,
        kernel: 3,
        positions: Positions::Learned,
        output_bias: head == "causal" || head == "last",
        // g ≠ d, so that a transposed [3g, d] or [3g, g] cannot pass.
        rnn_hidden: Some(3),
        untied: false,
        loss_positions: LossPositions::All,
    }
}

/// Every head at its `tiny` config, then the causal variants of SPEC §4 (with their names).
fn variants() -> Vec<(String, ModelConfig)> {
    let mut all: Vec<(String, ModelConfig)> = specs().iter().map(|s| (s.name.to_string(), tiny(s.name))).collect();
    let causal = ModelConfig { output_bias: false, ..tiny("causal") };
    let last = LossPositions::Last;
    all.push(("causal --untied".into(), ModelConfig { untied: true, ..causal.clone() }));
    all.push(("causal --loss-positions last".into(), ModelConfig { loss_positions: last, ..causal.clone() }));
    all.push((
        "causal --untied --loss-positions last".into(),
        ModelConfig { untied: true, loss_positions: last, ..causal },
    ));
    all.push(("rnn, g = d".into(), ModelConfig { rnn_hidden: None, ..tiny("rnn") }));
    all.push(("last, no bias".into(), ModelConfig { output_bias: false, ..tiny("last") }));
    all
}

/// The ids and targets of two windows of `tiny` (L = 4), for a per-position model or not.
fn batch(c: &ModelConfig) -> (Vec<u32>, Vec<u32>) {
    let ids = vec![1, 5, 10, 0, 3, 3, 7, 2];
    let targets = if c.per_position() { vec![5, 10, 0, 9, 3, 7, 2, 4] } else { vec![9, 4] };
    (ids, targets)
}

fn jitter(params: &mut ParamSet<f64>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in params.iter_mut() {
        p.value.mapv_inplace(|v| v + rng.random_range(-0.3..0.3));
    }
}

#[test]
fn head_parameters_follow_the_spec_formulas() {
    let configs = [
        ModelConfig::preset("seed-id4").unwrap(),
        ModelConfig::preset("small").unwrap(),
        ModelConfig {
            seq_length: 24,
            d_model: 48,
            num_heads: 3,
            reduce: 4,
            kernel: 5,
            bottleneck: 7,
            rnn_hidden: Some(40),
            ..ModelConfig::preset("small").unwrap()
        },
    ];
    for base in configs {
        let mut cases: Vec<ModelConfig> =
            HeadKind::ALL.iter().map(|&head| ModelConfig { head, ..base.clone() }).collect();
        let causal = ModelConfig { head: HeadKind::Causal, ..base.clone() };
        cases.push(ModelConfig { untied: true, ..causal.clone() });
        cases.push(ModelConfig { loss_positions: LossPositions::Last, ..causal.clone() });
        cases.push(ModelConfig { output_bias: true, loss_positions: LossPositions::Last, ..causal });
        cases.push(ModelConfig { head: HeadKind::Last, output_bias: true, ..base.clone() });
        for c in cases {
            let spec = c.head.spec();
            let (_, params) = Model::<f32>::shapes_only(&c).unwrap();
            let counts = ParamCounts::of(&params);
            assert_eq!(counts.head as usize, (spec.formula)(&c), "head {} on {c:?}", spec.name);
            assert_eq!(counts.head as usize, spec_section_4(&c), "head {} on {c:?}", spec.name);
            let (l, d, n, f, v) = (c.seq_length, c.d_model, c.num_blocks, c.d_ff, c.vocab_size);
            assert_eq!(counts.embeddings as usize, v * d + l * d);
            assert_eq!(counts.blocks as usize, n * (4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d) + 2 * d);
            assert_eq!(counts.total, counts.embeddings + counts.blocks + counts.head);
        }
    }
}

/// SPEC §4's table, written out again: the heads' `formula`s must agree with it as well as with
/// the built model. None for the heads of §1.
fn spec_section_4(c: &ModelConfig) -> usize {
    let (d, v) = (c.d_model, c.vocab_size);
    let g = c.rnn_hidden.unwrap_or(d);
    match c.head.name() {
        "rnn" => 3 * (d * g + g * g + 2 * g) + g * v + v,
        "last" => {
            if c.output_bias {
                v
            } else {
                0
            }
        }
        "causal" if c.untied => d * v + v,
        "causal" => {
            if c.output_bias {
                v
            } else {
                0
            }
        }
        _ => (c.head.spec().formula)(c),
    }
}

#[test]
fn the_new_heads_have_their_spec_names_and_shapes() {
    // rnn at g = 24 ≠ d = 16; causal --untied; last and causal with an output bias.
    let base = ModelConfig::preset("seed-id4").unwrap();
    let shapes = |c: ModelConfig| -> Vec<(String, Vec<usize>)> {
        let (_, params) = Model::<f32>::shapes_only(&c).unwrap();
        params
            .iter()
            .filter(|(_, p)| p.name.starts_with("head."))
            .map(|(_, p)| (p.name.clone(), p.shape.clone()))
            .collect()
    };
    let named = |v: &[(&str, &[usize])]| -> Vec<(String, Vec<usize>)> {
        v.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect()
    };
    let rnn = ModelConfig { head: HeadKind::Rnn, rnn_hidden: Some(24), ..base.clone() };
    assert_eq!(
        shapes(rnn),
        named(&[
            ("head.gru.weight_ih", &[72, 16]),
            ("head.gru.weight_hh", &[72, 24]),
            ("head.gru.bias_ih", &[72]),
            ("head.gru.bias_hh", &[72]),
            ("head.out.weight", &[257, 24]),
            ("head.out.bias", &[257]),
        ])
    );
    let untied = ModelConfig { head: HeadKind::Causal, untied: true, ..base.clone() };
    assert_eq!(shapes(untied), named(&[("head.out.weight", &[257, 16]), ("head.out.bias", &[257])]));
    let last = ModelConfig { head: HeadKind::Last, output_bias: true, ..base.clone() };
    assert_eq!(shapes(last), named(&[("head.bias", &[257])]));
    assert!(shapes(ModelConfig { head: HeadKind::Last, ..base }).is_empty(), "tied: no matrix of its own");
}

#[test]
fn gru_init_is_pytorchs_uniform() {
    // torch.nn.GRU(16, 24): every tensor uniform(−1/√24, 1/√24); head.out as every Linear.
    let c = ModelConfig { head: HeadKind::Rnn, rnn_hidden: Some(24), ..ModelConfig::preset("seed-id4").unwrap() };
    let (_, params) = Model::<f64>::new(&c, 7).unwrap();
    let k = 1.0 / 24f64.sqrt();
    for name in ["head.gru.weight_ih", "head.gru.weight_hh", "head.gru.bias_ih", "head.gru.bias_hh"] {
        let v = params.value(params.find(name).unwrap());
        assert!(v.iter().all(|x| x.abs() <= k), "{name} outside ±1/√g");
        let rms = (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
        // uniform(−k, k) has rms k/√3; 72 bias entries give a loose estimate of it.
        assert!((rms / (k / 3f64.sqrt()) - 1.0).abs() < 0.25, "{name}: rms {rms}");
    }
    let out = params.value(params.find("head.out.weight").unwrap());
    let std = (out.iter().map(|x| x * x).sum::<f64>() / out.len() as f64).sqrt();
    assert!((std - 0.02).abs() < 0.002, "head.out: normal(0, 0.02), got {std}");
    assert!(params.value(params.find("head.out.bias").unwrap()).iter().all(|&b| b == 0.0));
}

#[test]
fn gru_matches_pytorch() {
    // torch 2.x, float64:
    //   gru = torch.nn.GRU(2, 2, batch_first=True)
    //   weight_ih_l0[i][j] = 0.3·(i − 2) + 0.1·j,   weight_hh_l0[i][j] = 0.2·(j − i % 3) + 0.05·i,
    //   bias_ih_l0[i] = 0.1·i − 0.2,                 bias_hh_l0[i] = 0.3 − 0.15·i
    //   x = [[[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]]];  _, h = gru(x);  h[0].tolist()
    //   → [[0.5261236520601098, 0.4532674062714312]]
    let (d, g) = (2, 2);
    let w_ih: Vec<f64> =
        (0..3 * g).flat_map(|i| (0..d).map(move |j| 0.3 * (i as f64 - 2.0) + 0.1 * j as f64)).collect();
    let w_hh: Vec<f64> =
        (0..3 * g).flat_map(|i| (0..g).map(move |j| 0.2 * (j as f64 - (i % 3) as f64) + 0.05 * i as f64)).collect();
    let b_ih: Vec<f64> = (0..3 * g).map(|i| 0.1 * i as f64 - 0.2).collect();
    let b_hh: Vec<f64> = (0..3 * g).map(|i| 0.3 - 0.15 * i as f64).collect();
    let mut t = Tape::empty();
    let x = t.input(tensor::from_vec(&[1, 3, 2], vec![0.5, -1.0, 1.5, 0.25, -0.75, 2.0]));
    let w_ih = t.input(tensor::from_vec(&[3 * g, d], w_ih));
    let w_hh = t.input(tensor::from_vec(&[3 * g, g], w_hh));
    let b_ih = t.input(tensor::from_vec(&[3 * g], b_ih));
    let b_hh = t.input(tensor::from_vec(&[3 * g], b_hh));
    let h = heads::rnn::gru_last_state(&mut t, x, w_ih, w_hh, b_ih, b_hh);
    let expected = [0.5261236520601098, 0.4532674062714312];
    for (ours, torch) in t.value(h).iter().zip(expected) {
        assert!((ours - torch).abs() < 1e-14, "{ours} vs PyTorch's {torch}");
    }
}

#[test]
fn gradient_check_of_the_gru_and_of_the_rnn_head_on_their_own() {
    // The GRU: every input a checked leaf (x [2, 5, 4], d = 4, g = 3), values in (−1, 1) so the
    // gates are away from saturation and every term matters.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut rand = |shape: &[usize]| {
        let n = shape.iter().product();
        tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect::<Vec<f64>>())
    };
    let inputs = [rand(&[2, 5, 4]), rand(&[9, 4]), rand(&[9, 3]), rand(&[9]), rand(&[9])];
    let report =
        autograd::gradcheck::check_inputs(&inputs, |t, v| heads::rnn::gru_last_state(t, v[0], v[1], v[2], v[3], v[4]));
    report.assert_below(1e-6);
    // The head as the model builds it (GRU and head.out), on H and tok_emb leaves.
    let c = tiny("rnn");
    let mut params = ParamSet::<f64>::new();
    let head = heads::build(&c, &mut params, &mut ChaCha8Rng::seed_from_u64(9));
    jitter(&mut params, 10);
    let report = check_gradients(&mut params, &[rand(&[2, 4, 4]), rand(&[11, 4])], |t, v| head.forward(t, v[0], v[1]));
    report.assert_below(1e-6);
}

#[test]
fn published_totals_of_gpt2_and_ctrl() {
    // The published models' exact counts, as `sum(p.numel() for p in model.parameters())` (tied
    // tensors once) gives them in transformers 5.24 with torch.device("meta"): GPT2LMHeadModel at
    // (n_embd, n_layer, n_head) = (768, 12, 12) … (1600, 48, 25) gives 124,439,808 … 1,557,611,200,
    // and CTRLLMHeadModel(CTRLConfig()) gives 1,637,964,550 (tied lm_head with a bias of V,
    // sinusoidal positions).
    for (preset, total) in [
        ("gpt2-small", 124_439_808u64),
        ("gpt2-medium", 354_823_168),
        ("gpt2-large", 774_030_080),
        ("gpt2-xl", 1_557_611_200),
        ("ctrl", 1_637_964_550),
    ] {
        let s = Accounting::of(&ModelConfig::preset(preset).unwrap()).unwrap();
        assert_eq!(s.params.total, total, "{preset}");
    }
}

#[test]
fn seed_id4_summary_shows_the_logs_ratio_beside_the_exact_one() {
    let s = Accounting::of(&ModelConfig::preset("seed-id4").unwrap()).unwrap();
    assert_eq!(s.params.head, 32 * 16 * 257 + 257);
    assert_eq!(s.params.blocks, 1728);
    assert_eq!(s.approx.n_params_blocks, 1024);
    assert_eq!(s.approx.n_params_dense, 131_584);
    assert!((1.0 / s.approx.ratio - 128.5).abs() < 0.01, "the log's ~1/130");
    assert!((1.0 / s.ratio.unwrap() - 76.3).abs() < 0.05);
    // The tied head of id 4: the log's "ratio = 8" is really 4·N/L = 1/8.
    let tied =
        Accounting::of(&ModelConfig { head: HeadKind::Tied, ..ModelConfig::preset("seed-id4").unwrap() }).unwrap();
    assert_eq!(tied.approx.ratio, 0.125);
    assert_eq!(tied.approx.n_params_dense, 8192, "the log's n_params_dense = 8K");
    // last reads through tok_emb: the tied formula; --untied gives causal a matrix: the untied one.
    let of = |head: &str, untied: bool| {
        let c = ModelConfig { head: head.parse().unwrap(), untied, ..ModelConfig::preset("seed-id4").unwrap() };
        Accounting::of(&c).unwrap().approx.n_params_dense
    };
    assert_eq!(
        [of("last", false), of("causal", false), of("causal", true), of("rnn", false)],
        [8192, 8192, 131_584, 131_584]
    );
}

#[test]
fn summary_layer_rows_add_up_to_the_total() {
    for spec in specs() {
        let s =
            Accounting::of(&ModelConfig { head: spec.name.parse().unwrap(), ..ModelConfig::preset("small").unwrap() })
                .unwrap();
        assert_eq!(s.layers.iter().map(|r| r.params).sum::<u64>(), s.params.total, "{}", spec.name);
    }
    // The causal variants, and last with its bias.
    let small = ModelConfig::preset("small").unwrap();
    for c in [
        ModelConfig { head: HeadKind::Causal, untied: true, loss_positions: LossPositions::Last, ..small.clone() },
        ModelConfig { head: HeadKind::Causal, output_bias: true, ..small.clone() },
        ModelConfig { head: HeadKind::Last, output_bias: true, ..small.clone() },
        ModelConfig { head: HeadKind::Rnn, rnn_hidden: Some(24), ..small.clone() },
    ] {
        let s = Accounting::of(&c).unwrap();
        assert_eq!(s.layers.iter().map(|r| r.params).sum::<u64>(), s.params.total, "{c:?}");
    }
    // The output bias (a parameter named `head.bias`, no suffix) and sinusoidal positions.
    for preset in ["ctrl", "gpt2-small"] {
        let s = Accounting::of(&ModelConfig::preset(preset).unwrap()).unwrap();
        assert_eq!(s.layers.iter().map(|r| r.params).sum::<u64>(), s.params.total, "{preset}");
    }
}

#[test]
fn gradient_check_of_the_whole_model_with_every_head() {
    // Jittered weights: non-zero biases, LayerNorms away from the identity, GRU gates off 0.5.
    for (name, c) in variants() {
        let (model, mut params) = Model::<f64>::new(&c, 1).unwrap();
        jitter(&mut params, 2);
        let (ids, targets) = batch(&c);
        let report = check_gradients(&mut params, &[], |t, _| model.loss(t, &ids, &targets).0);
        assert!(report.passed(1e-6), "{name}: {report:?}");
    }
}

#[test]
fn the_tied_embedding_collects_gradient_from_both_uses() {
    for head in ["tied", "causal", "last"] {
        let c = tiny(head);
        let (model, params) = Model::<f64>::new(&c, 3).unwrap();
        let (ids, targets) = batch(&c);
        let table = params.value(model.tok_emb()).clone();
        let grad_of = |path: &str| {
            let mut t = Tape::new(&params);
            let emb = t.param(model.tok_emb());
            let (logits, wrt) = match path {
                "both" => (model.logits(&mut t, &ids), emb),
                // The input path only: the head reads a constant copy.
                "input" => {
                    let copy = t.input(table.clone());
                    (model.logits_with_output_embedding(&mut t, &ids, copy), emb)
                }
                // The output path only: the head reads a separate leaf; the input side is the param.
                _ => {
                    let leaf = t.leaf(table.clone());
                    (model.logits_with_output_embedding(&mut t, &ids, leaf), leaf)
                }
            };
            let loss = t.cross_entropy(logits, &targets);
            t.backward(loss).wrt(wrt).cloned().unwrap()
        };
        let both = grad_of("both");
        let sum = grad_of("input") + grad_of("output");
        assert!(relative_error(&both, &sum) < 1e-12, "{head}");
        assert!(relative_error(&both, &grad_of("input")) > 1e-3, "{head}: the output path contributes");
    }
}

#[test]
fn the_causal_mask_leaks_nothing() {
    let causal = ModelConfig { num_blocks: 2, seq_length: 8, d_model: 8, ..tiny("causal") };
    let last = LossPositions::Last;
    for c in [
        causal.clone(),
        ModelConfig { untied: true, output_bias: false, ..causal.clone() },
        ModelConfig { loss_positions: last, ..causal.clone() },
        ModelConfig { untied: true, output_bias: false, loss_positions: last, ..causal },
    ] {
        let (model, mut params) = Model::<f64>::new(&c, 4).unwrap();
        jitter(&mut params, 11);
        let ids: Vec<u32> = vec![1, 2, 3, 4, 5, 6, 7, 8];
        // Row t of H [8, d] (what every variant reads out) and of the logits, [8, V] or [1, V].
        let run = |ids: &[u32]| {
            let mut t = Tape::no_record(&params);
            let (h, logits) = (model.trunk(&mut t, ids), model.logits(&mut t, ids));
            let h = t.value(h).clone().into_shape_with_order(tensor::ndarray::IxDyn(&[8, c.d_model])).unwrap();
            (h, t.value(logits).clone())
        };
        let row = |x: &tensor::Tensor<f64>, i: usize| x.index_axis(tensor::ndarray::Axis(0), i).to_owned();
        let (h0, logits0) = run(&ids);
        for changed in 1..8 {
            let mut other = ids.clone();
            other[changed] = 0;
            let (h1, logits1) = run(&other);
            for pos in 0..8 {
                assert_eq!(row(&h0, pos) == row(&h1, pos), pos < changed, "{c:?}: byte {changed}, position {pos}");
            }
            // Per position: row t of the logits is position t's; otherwise the one row is L−1's.
            let rows = logits0.shape()[0];
            assert_eq!(rows, if c.per_position() { 8 } else { 1 });
            for r in 0..rows {
                let pos = if rows == 8 { r } else { 7 };
                assert_eq!(row(&logits0, r) == row(&logits1, r), pos < changed, "{c:?}: logits row {r}");
            }
        }
    }
}

#[test]
fn one_target_per_position_or_per_window() {
    // The mask and the number of targets are separate: causal --loss-positions last is masked with
    // one target per window; last is unmasked with one target. Logits follow: [B·L, V] or [B, V].
    let cases = [
        (ModelConfig { ..tiny("causal") }, true, true),
        (ModelConfig { untied: true, output_bias: false, ..tiny("causal") }, true, true),
        (ModelConfig { loss_positions: LossPositions::Last, ..tiny("causal") }, true, false),
        (tiny("last"), false, false),
        (tiny("rnn"), false, false),
        (tiny("flatten"), false, false),
    ];
    for (c, masked, per_position) in cases {
        let (model, params) = Model::<f64>::new(&c, 12).unwrap();
        assert_eq!((model.spec.causal_mask, c.per_position()), (masked, per_position), "{c:?}");
        let mut t = Tape::no_record(&params);
        let logits = model.logits(&mut t, &batch(&c).0);
        assert_eq!(t.shape(logits), [if per_position { 8 } else { 2 }, 11], "{c:?}");
        let attn = Accounting::of(&c).unwrap().layers.into_iter().find(|r| r.name == "blocks.0.attn").unwrap();
        assert_eq!(attn.kind == "CausalSelfAttention", masked);
    }
}

#[test]
fn window_heads_see_the_whole_window() {
    // Changing the first byte changes every window head's prediction: without the causal mask, or
    // with it at the last position, which sees the whole window.
    let causal_last = ModelConfig { loss_positions: LossPositions::Last, ..tiny("causal") };
    for c in
        ["flatten", "bottleneck", "td-dense", "conv", "tied", "rnn", "last"].map(tiny).into_iter().chain([causal_last])
    {
        let head = format!("{} {}", c.head, c.loss_positions);
        let (model, params) = Model::<f64>::new(&c, 5).unwrap();
        let run = |ids: &[u32]| {
            let mut t = Tape::no_record(&params);
            let v = model.logits(&mut t, ids);
            t.value(v).clone()
        };
        assert_ne!(run(&[1, 2, 3, 4]), run(&[9, 2, 3, 4]), "{head}");
    }
}

#[test]
fn f32_and_f64_models_agree() {
    let c = tiny("flatten");
    let (m64, p64) = Model::<f64>::new(&c, 6).unwrap();
    let (m32, p32) = Model::<f32>::new(&c, 6).unwrap();
    let ids = [1u32, 5, 10, 0];
    let mut t64 = Tape::no_record(&p64);
    let (l64, _) = m64.loss(&mut t64, &ids, &[3]);
    let mut t32 = Tape::no_record(&p32);
    let (l32, _) = m32.loss(&mut t32, &ids, &[3]);
    assert!((t64.scalar(l64) - t32.scalar(l32) as f64).abs() < 1e-5);
}

#[test]
fn invalid_configs_name_the_flag() {
    let base = ModelConfig::preset("seed-id4").unwrap();
    let cases: Vec<(ModelConfig, &str)> = vec![
        (ModelConfig { d_model: 0, ..base.clone() }, "--d-model"),
        (ModelConfig { num_heads: 3, ..base.clone() }, "--num-heads"),
        (ModelConfig { reduce: 32, head: HeadKind::TdDense, ..base.clone() }, "--reduce"),
        (ModelConfig { reduce: 3, head: HeadKind::Conv, ..base.clone() }, "--reduce"),
        (ModelConfig { kernel: 4, head: HeadKind::Conv, ..base.clone() }, "--kernel"),
        (ModelConfig { bottleneck: 0, head: HeadKind::Bottleneck, ..base.clone() }, "--bottleneck"),
        (ModelConfig { output_bias: true, ..base.clone() }, "--output-bias"),
        (ModelConfig { seq_length: 1 << 30, ..base.clone() }, "--seq-length"),
        (ModelConfig { rnn_hidden: Some(0), head: HeadKind::Rnn, ..base.clone() }, "--rnn-hidden"),
        (ModelConfig { rnn_hidden: Some(1 << 21), head: HeadKind::Rnn, ..base.clone() }, "--rnn-hidden"),
        (ModelConfig { output_bias: true, head: HeadKind::Rnn, ..base.clone() }, "--output-bias"),
        (ModelConfig { untied: true, ..base.clone() }, "--untied"),
        (ModelConfig { untied: true, head: HeadKind::Last, ..base.clone() }, "--untied"),
        (ModelConfig { loss_positions: LossPositions::Last, head: HeadKind::Last, ..base.clone() }, "--loss-positions"),
        (ModelConfig { loss_positions: LossPositions::Last, head: HeadKind::Rnn, ..base.clone() }, "--loss-positions"),
        // The untied head.out has its own bias: a second one would be a duplicate.
        (ModelConfig { untied: true, output_bias: true, head: HeadKind::Causal, ..base.clone() }, "--output-bias"),
    ];
    for (c, flag) in cases {
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with(flag), "{err}");
    }
    assert!(ModelConfig::preset("huge").unwrap_err().to_string().contains("seed-id4"));
    // A head is a type: an unknown name fails where it is parsed, naming the flag and the heads.
    let e = "dense".parse::<HeadKind>().unwrap_err().to_string();
    assert!(e.starts_with("--head: unknown head 'dense'") && e.contains("td-dense, conv"), "{e}");
    let e = serde_json::from_str::<ModelConfig>(r#"{"head": "dense"}"#).unwrap_err().to_string();
    assert!(e.contains("unknown head 'dense'"), "{e}");
    assert!(base.validate().is_ok());
    // A head's own hyperparameters are checked only for that head (SPEC §4).
    let unused = ModelConfig { reduce: 3, kernel: 4, bottleneck: 0, rnn_hidden: Some(0), ..base.clone() };
    for head in ["flatten", "tied", "causal", "last"] {
        assert!(ModelConfig { head: head.parse().unwrap(), ..unused.clone() }.validate().is_ok(), "{head}");
    }
    assert!(ModelConfig { head: HeadKind::Rnn, ..unused.clone() }
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("--rnn-hidden"));
    // The switches are accepted by the heads that take them, and name those heads when refused.
    let last = LossPositions::Last;
    for ok in [
        ModelConfig { head: HeadKind::Last, output_bias: true, ..base.clone() },
        ModelConfig { head: HeadKind::Causal, untied: true, loss_positions: last, ..base.clone() },
        ModelConfig { head: HeadKind::Causal, output_bias: true, loss_positions: last, ..base.clone() },
        ModelConfig { head: HeadKind::Rnn, rnn_hidden: Some(24), ..base.clone() },
    ] {
        assert!(ok.validate().is_ok(), "{ok:?}");
    }
    let err = ModelConfig { output_bias: true, ..base.clone() }.validate().unwrap_err().to_string();
    assert_eq!(err, "--output-bias: applies to the causal, last heads only, not 'flatten'");
    let err = ModelConfig { untied: true, ..base.clone() }.validate().unwrap_err().to_string();
    assert_eq!(err, "--untied: applies to the causal head only, not 'flatten'");
}

#[test]
fn compare_drops_the_switches_a_head_does_not_take() {
    let given = ModelConfig { output_bias: true, untied: true, loss_positions: LossPositions::Last, ..tiny("causal") };
    for (head, bias, untied, last) in
        [("flatten", false, false, false), ("last", true, false, false), ("causal", true, true, true)]
    {
        let mut c = ModelConfig { head: head.parse().unwrap(), ..given.clone() };
        c.drop_flags_not_taken();
        assert_eq!((c.output_bias, c.untied, c.loss_positions == LossPositions::Last), (bias, untied, last), "{head}");
    }
}

#[test]
fn new_config_fields_in_json() {
    // rnn_hidden null means d_model; loss_positions is "all" or "last"; a config written before
    // these fields existed (a checkpoint's) reads with their defaults.
    let c = ModelConfig { head: HeadKind::Causal, loss_positions: LossPositions::Last, untied: true, ..tiny("causal") };
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!((json["rnn_hidden"].clone(), json["untied"].clone()), (serde_json::json!(3), serde_json::json!(true)));
    assert_eq!(json["loss_positions"], "last");
    let seed = serde_json::to_value(ModelConfig::preset("seed-id4").unwrap()).unwrap();
    assert_eq!((seed["rnn_hidden"].clone(), seed["loss_positions"].clone()), (serde_json::Value::Null, "all".into()));
    let mut old = seed.as_object().unwrap().clone();
    for field in ["rnn_hidden", "untied", "loss_positions"] {
        old.remove(field);
    }
    let back: ModelConfig = serde_json::from_value(serde_json::Value::Object(old)).unwrap();
    assert_eq!(back, ModelConfig::preset("seed-id4").unwrap());
    assert_eq!(ModelConfig { d_model: 32, head: HeadKind::Rnn, ..back }.rnn_hidden_size(), 32, "g follows d");
}

#[test]
fn the_logs_gpt2_and_ctrl_arithmetic_is_set_beside_the_exact_counts() {
    let xl = Accounting::of(&ModelConfig::preset("gpt2-xl").unwrap()).unwrap();
    assert_eq!(xl.approx.n_params_blocks, 491_520_000, "the log's 491M");
    let untied = heads::accounting::LogApprox::of(&ModelConfig::preset("gpt2-xl").unwrap(), false);
    assert_eq!(untied.n_params_dense, 82_341_068_800, "the log's 82G");
    assert_eq!(xl.params.head, 0);
    let ctrl = Accounting::of(&ModelConfig::preset("ctrl").unwrap()).unwrap();
    assert_eq!(ctrl.params.embeddings, 246_534 * 1280, "sinusoidal positions have no parameters");
}
