//! Every head: parameter counts against SPEC §1's formulas, a gradient check of the whole model,
//! tying, the causal mask, and the published totals of GPT-2 and CTRL.

use autograd::gradcheck::{check_gradients, relative_error};
use autograd::{ParamSet, Tape};
use heads::accounting::ParamCounts;
use heads::{specs, Model, ModelConfig, Positions, Summary};
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
        head: head.into(),
        bottleneck: 3,
        reduce: 2,
        kernel: 3,
        positions: Positions::Learned,
        output_bias: head == "causal",
    }
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
            ..ModelConfig::preset("small").unwrap()
        },
    ];
    for base in configs {
        for spec in specs() {
            let c = ModelConfig { head: spec.name.into(), ..base.clone() };
            let (_, params) = Model::<f32>::shapes_only(&c).unwrap();
            let counts = ParamCounts::of(&params);
            assert_eq!(counts.head as usize, (spec.formula)(&c), "head {} on {c:?}", spec.name);
            let (l, d, n, f, v) = (c.seq_length, c.d_model, c.num_blocks, c.d_ff, c.vocab_size);
            assert_eq!(counts.embeddings as usize, v * d + l * d);
            assert_eq!(counts.blocks as usize, n * (4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d) + 2 * d);
            assert_eq!(counts.total, counts.embeddings + counts.blocks + counts.head);
        }
    }
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
        let s = Summary::of(&ModelConfig::preset(preset).unwrap()).unwrap();
        assert_eq!(s.params.total, total, "{preset}");
    }
}

#[test]
fn seed_id4_summary_shows_the_logs_ratio_beside_the_exact_one() {
    let s = Summary::of(&ModelConfig::preset("seed-id4").unwrap()).unwrap();
    assert_eq!(s.params.head, 32 * 16 * 257 + 257);
    assert_eq!(s.params.blocks, 1728);
    assert_eq!(s.approx.n_params_blocks, 1024);
    assert_eq!(s.approx.n_params_dense, 131_584);
    assert!((1.0 / s.approx.ratio - 128.5).abs() < 0.01, "the log's ~1/130");
    assert!((1.0 / s.ratio.unwrap() - 76.3).abs() < 0.05);
    let table = s.table();
    assert!(table.contains("131,841") && table.contains("1/128.5") && table.contains("1/76.3"), "{table}");
    // The tied head of id 4: the log's "ratio = 8" is really 4·N/L = 1/8.
    let tied = Summary::of(&ModelConfig { head: "tied".into(), ..ModelConfig::preset("seed-id4").unwrap() }).unwrap();
    assert_eq!(tied.approx.ratio, 0.125);
    assert_eq!(tied.approx.n_params_dense, 8192, "the log's n_params_dense = 8K");
}

#[test]
fn summary_layer_rows_add_up_to_the_total() {
    for spec in specs() {
        let s = Summary::of(&ModelConfig { head: spec.name.into(), ..ModelConfig::preset("small").unwrap() }).unwrap();
        assert_eq!(s.layers.iter().map(|r| r.params).sum::<u64>(), s.params.total, "{}", spec.name);
    }
    // The output bias (a parameter named `head.bias`, no suffix) and sinusoidal positions.
    for preset in ["ctrl", "gpt2-small"] {
        let s = Summary::of(&ModelConfig::preset(preset).unwrap()).unwrap();
        assert_eq!(s.layers.iter().map(|r| r.params).sum::<u64>(), s.params.total, "{preset}");
    }
}

#[test]
fn gradient_check_of_the_whole_model_with_every_head() {
    for spec in specs() {
        let c = tiny(spec.name);
        let (model, mut params) = Model::<f64>::new(&c, 1).unwrap();
        jitter(&mut params, 2);
        let ids: Vec<u32> = vec![1, 5, 10, 0, 3, 3, 7, 2];
        let targets: Vec<u32> = if spec.per_position { vec![5, 10, 0, 9, 3, 7, 2, 4] } else { vec![9, 4] };
        let report = check_gradients(&mut params, &[], |t, _| model.loss(t, &ids, &targets).0);
        report.assert_below(1e-6);
    }
}

#[test]
fn the_tied_embedding_collects_gradient_from_both_uses() {
    for head in ["tied", "causal"] {
        let c = tiny(head);
        let (model, params) = Model::<f64>::new(&c, 3).unwrap();
        let ids: Vec<u32> = vec![1, 5, 10, 0, 3, 3, 7, 2];
        let targets: Vec<u32> = if head == "causal" { vec![5, 10, 0, 9, 3, 7, 2, 4] } else { vec![9, 4] };
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
    let c = ModelConfig { num_blocks: 2, seq_length: 8, d_model: 8, ..tiny("causal") };
    let (model, params) = Model::<f64>::new(&c, 4).unwrap();
    let ids: Vec<u32> = vec![1, 2, 3, 4, 5, 6, 7, 8];
    let logits = |ids: &[u32]| {
        let mut t = Tape::no_record(&params);
        let v = model.logits(&mut t, ids);
        t.value(v).clone()
    };
    let base = logits(&ids);
    for changed in 1..8 {
        let mut other = ids.clone();
        other[changed] = 0;
        let after = logits(&other);
        for pos in 0..8 {
            let same =
                base.index_axis(tensor::ndarray::Axis(0), pos) == after.index_axis(tensor::ndarray::Axis(0), pos);
            assert_eq!(same, pos < changed, "byte {changed} changed; position {pos}");
        }
    }
}

#[test]
fn window_heads_see_the_whole_window() {
    // Without the causal mask, changing the first byte changes every window head's prediction.
    for head in ["flatten", "bottleneck", "td-dense", "conv", "tied"] {
        let (model, params) = Model::<f64>::new(&tiny(head), 5).unwrap();
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
        (ModelConfig { reduce: 32, head: "td-dense".into(), ..base.clone() }, "--reduce"),
        (ModelConfig { reduce: 3, head: "conv".into(), ..base.clone() }, "--reduce"),
        (ModelConfig { kernel: 4, head: "conv".into(), ..base.clone() }, "--kernel"),
        (ModelConfig { bottleneck: 0, head: "bottleneck".into(), ..base.clone() }, "--bottleneck"),
        (ModelConfig { head: "dense".into(), ..base.clone() }, "--head"),
        (ModelConfig { output_bias: true, ..base.clone() }, "--output-bias"),
        (ModelConfig { seq_length: 1 << 30, ..base.clone() }, "--seq-length"),
    ];
    for (c, flag) in cases {
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with(flag), "{err}");
    }
    assert!(ModelConfig::preset("huge").unwrap_err().to_string().contains("seed-id4"));
    assert!(base.validate().is_ok());
    // A head's own hyperparameters are checked only for that head (SPEC §4).
    let unused = ModelConfig { reduce: 3, kernel: 4, bottleneck: 0, ..base.clone() };
    for head in ["flatten", "tied", "causal"] {
        assert!(ModelConfig { head: head.into(), ..unused.clone() }.validate().is_ok(), "{head}");
    }
}

#[test]
fn the_logs_gpt2_and_ctrl_arithmetic_is_set_beside_the_exact_counts() {
    let xl = Summary::of(&ModelConfig::preset("gpt2-xl").unwrap()).unwrap();
    assert_eq!(xl.approx.n_params_blocks, 491_520_000, "the log's 491M");
    let untied = heads::accounting::LogApprox::of(&ModelConfig::preset("gpt2-xl").unwrap(), false);
    assert_eq!(untied.n_params_dense, 82_341_068_800, "the log's 82G");
    assert_eq!(xl.params.head, 0);
    assert!(
        xl.explain.iter().any(|n| n.contains("the log's GPT-2 arithmetic") && n.contains("1,475,561,600")),
        "{:?}",
        xl.explain
    );
    let ctrl = Summary::of(&ModelConfig::preset("ctrl").unwrap()).unwrap();
    assert!(ctrl.explain.iter().any(|n| n.contains("8192 is CTRL's feed-forward width")), "{:?}", ctrl.explain);
    assert_eq!(ctrl.params.embeddings, 246_534 * 1280, "sinusoidal positions have no parameters");
}
