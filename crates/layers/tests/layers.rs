//! A gradient check of every layer (f64, small shapes), their parameter names and shapes.

use autograd::gradcheck::check_gradients;
use autograd::{ParamSet, Tensor};
use layers::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOL: f64 = 1e-6;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
}

/// Perturbs every parameter away from its init (zero biases, unit norms) so that every term of
/// every gradient is exercised.
fn jitter(params: &mut ParamSet<f64>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in params.iter_mut() {
        p.value.mapv_inplace(|v| v + rng.random_range(-0.5..0.5));
    }
}

#[test]
fn linear_and_time_distributed() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut params = ParamSet::new();
    let lin: TimeDistributed = Linear::new(&mut params, "head.reduce", 6, 3, INIT_STD, &mut rng);
    jitter(&mut params, 2);
    assert_eq!(params.get(lin.w).shape, vec![3, 6]);
    check_gradients(&mut params, &[rand_tensor(&[2, 4, 6], 3)], |t, v| lin.forward(t, v[0])).assert_below(TOL);
}

#[test]
fn conv1d_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut params = ParamSet::new();
    let conv = Conv1d::new(&mut params, "head.conv", 4, 2, 3, &mut rng);
    jitter(&mut params, 5);
    assert_eq!(params.get(conv.w).shape, vec![2, 4, 3]);
    check_gradients(&mut params, &[rand_tensor(&[2, 5, 4], 6)], |t, v| conv.forward(t, v[0])).assert_below(TOL);
}

#[test]
fn layer_norm_layer() {
    let mut params = ParamSet::new();
    let ln = LayerNorm::new(&mut params, "ln_f", 5);
    jitter(&mut params, 7);
    check_gradients(&mut params, &[rand_tensor(&[3, 5], 8)], |t, v| ln.forward(t, v[0])).assert_below(TOL);
}

#[test]
fn embeddings_learned_and_sinusoidal() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut params = ParamSet::new();
    let tok = Embedding::new(&mut params, "tok_emb", 7, 4, &mut rng);
    let pos = PositionalEmbedding::learned(&mut params, "pos_emb", 3, 4, &mut rng);
    let sin = PositionalEmbedding::sinusoidal(3, 4);
    let ids = [1u32, 6, 1, 0, 2, 2];
    for p in [&pos, &sin] {
        check_gradients(&mut params, &[], |t, _| {
            let x = tok.forward(t, &ids);
            let x = t.reshape(x, &[2, 3, 4]);
            p.forward(t, x)
        })
        .assert_below(TOL);
    }
}

#[test]
fn sinusoidal_table_follows_the_spec() {
    let PositionalEmbedding::Sinusoidal { table, d, .. } = PositionalEmbedding::sinusoidal(5, 6) else {
        unreachable!()
    };
    for t in 0..5 {
        for i in 0..3 {
            let angle = t as f64 / 10000f64.powf(2.0 * i as f64 / 6.0);
            assert_eq!(table[t * d + 2 * i], angle.sin());
            assert_eq!(table[t * d + 2 * i + 1], angle.cos());
        }
    }
}

#[test]
fn attention_layer_full_and_causal() {
    for causal in [false, true] {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let mut params = ParamSet::new();
        let attn = Attention::new(&mut params, "blocks.0.attn", 4, 2, causal, 0.01, &mut rng);
        jitter(&mut params, 11);
        check_gradients(&mut params, &[rand_tensor(&[2, 3, 4], 12)], |t, v| attn.forward(t, v[0])).assert_below(TOL);
    }
}

#[test]
fn feed_forward_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut params = ParamSet::new();
    let ffn = FeedForward::new(&mut params, "blocks.0.ffn", 4, 6, 0.01, &mut rng);
    jitter(&mut params, 14);
    check_gradients(&mut params, &[rand_tensor(&[2, 3, 4], 15)], |t, v| ffn.forward(t, v[0])).assert_below(TOL);
}

#[test]
fn pre_ln_block_and_its_parameter_names() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let mut params = ParamSet::new();
    let dims = BlockDims { d: 4, heads: 2, d_ff: 8, num_blocks: 2, causal: true };
    let block = Block::new(&mut params, 1, dims, &mut rng);
    let names: Vec<&str> = params.iter().map(|(_, p)| p.name.as_str()).collect();
    let expected = [
        "blocks.1.ln1.weight",
        "blocks.1.ln1.bias",
        "blocks.1.attn.q.weight",
        "blocks.1.attn.q.bias",
        "blocks.1.attn.k.weight",
        "blocks.1.attn.k.bias",
        "blocks.1.attn.v.weight",
        "blocks.1.attn.v.bias",
        "blocks.1.attn.o.weight",
        "blocks.1.attn.o.bias",
        "blocks.1.ln2.weight",
        "blocks.1.ln2.bias",
        "blocks.1.ffn.fc1.weight",
        "blocks.1.ffn.fc1.bias",
        "blocks.1.ffn.fc2.weight",
        "blocks.1.ffn.fc2.bias",
    ];
    assert_eq!(names, expected);
    // 4d² + 4d attention, 2·d·F + F + d feed-forward, 4d LayerNorm.
    assert_eq!(params.numel(), 4 * 16 + 4 * 4 + 2 * 4 * 8 + 8 + 4 + 4 * 4);
    jitter(&mut params, 17);
    check_gradients(&mut params, &[rand_tensor(&[2, 3, 4], 18)], |t, v| block.forward(t, v[0])).assert_below(TOL);
}

#[test]
fn init_follows_the_spec() {
    // normal(0, 0.02) weights, 0.02/√(2N) residual projections, zero biases, unit LayerNorm weights.
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let mut params = ParamSet::<f64>::new();
    let dims = BlockDims { d: 64, heads: 4, d_ff: 256, num_blocks: 8, causal: false };
    let b = Block::new(&mut params, 0, dims, &mut rng);
    let std = |id| {
        let v: &Tensor<f64> = params.value(id);
        (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!((std(b.attn.q.w) - 0.02).abs() < 0.002);
    assert!((std(b.ffn.fc1.w) - 0.02).abs() < 0.002);
    assert!((std(b.attn.o.w) - 0.005).abs() < 0.0005);
    assert!((std(b.ffn.fc2.w) - 0.005).abs() < 0.0005);
    assert!(params.value(b.attn.q.b).iter().all(|&x| x == 0.0));
    assert!(params.value(b.ln1.w).iter().all(|&x| x == 1.0));
}
