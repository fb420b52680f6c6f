//! Heads that the research log (or the architecture) says are the same function, checked on the
//! same weights: conv with K = 1 is td-dense (the log's idea 7: "equivalent if the size of
//! convolutions is 1"), and with one block `last` is `causal --loss-positions last` (the last
//! position sees every position with or without the mask, and nothing else is masked).

use autograd::{ParamSet, Tape};
use heads::{LossPositions, Model, ModelConfig, Positions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tensor::ndarray::IxDyn;

fn config(head: &str, kernel: usize, num_blocks: usize) -> ModelConfig {
    ModelConfig {
        vocab_size: 11,
        seq_length: 5,
        d_model: 8,
        num_blocks,
        num_heads: 2,
        d_ff: 12,
        head: head.parse().unwrap(),
        bottleneck: 3,
        reduce: 2,
        kernel,
        positions: Positions::Learned,
        output_bias: false,
        rnn_hidden: None,
        untied: false,
        loss_positions: LossPositions::All,
    }
}

/// Moves every weight off its init: biases and LayerNorms too.
fn jitter(params: &mut ParamSet<f64>, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in params.iter_mut() {
        p.value.mapv_inplace(|v| v + rng.random_range(-0.3..0.3));
    }
}

/// Two windows of 5 ids, and their targets (one per window).
const IDS: [u32; 10] = [1, 5, 10, 0, 3, 3, 7, 2, 9, 4];
const TARGETS: [u32; 2] = [6, 8];

/// Logits, loss, and the gradient of every parameter by name.
type Outputs = (Vec<f64>, f64, Vec<(String, Vec<f64>)>);

fn run(model: &Model<f64>, params: &ParamSet<f64>) -> Outputs {
    let mut t = Tape::new(params);
    let (loss, logits) = model.loss(&mut t, &IDS, &TARGETS);
    let values = t.value(logits).iter().copied().collect();
    let l = t.scalar(loss);
    let grads = t.backward(loss).into_param_grads(&t);
    let named = grads.into_iter().map(|(id, g)| (params.get(id).name.clone(), g.iter().copied().collect())).collect();
    (values, l, named)
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// A conv head's weights made from td-dense's: the trunk and `head.out` copied by name, and
/// `head.reduce` ([d/r, d], PyTorch's Linear layout) put at the centre tap of `head.conv`
/// ([d/r, d, K], Conv1d's layout), every other tap zero.
fn conv_from_td_dense(td: &ParamSet<f64>, conv: &mut ParamSet<f64>, kernel: usize) {
    for p in conv.iter_mut() {
        let source = p.name.replace("head.conv", "head.reduce");
        let from = td.iter().find(|(_, q)| q.name == source).map(|(_, q)| q.value.clone());
        let from = from.unwrap_or_else(|| panic!("td-dense has no {source} for {}", p.name));
        if p.name == "head.conv.weight" {
            let (o, i) = (from.shape()[0], from.shape()[1]);
            p.value = tensor::Tensor::zeros(IxDyn(&[o, i, kernel]));
            for a in 0..o {
                for b in 0..i {
                    p.value[[a, b, kernel / 2]] = from[[a, b]];
                }
            }
        } else {
            assert_eq!(p.value.shape(), from.shape(), "{}", p.name);
            p.value = from;
        }
    }
}

#[test]
fn conv_with_kernel_1_is_td_dense_on_the_same_weights() {
    let (td, mut td_params) = Model::<f64>::new(&config("td-dense", 1, 1), 1).unwrap();
    jitter(&mut td_params, 7);
    let (conv, mut conv_params) = Model::<f64>::new(&config("conv", 1, 1), 2).unwrap();
    conv_from_td_dense(&td_params, &mut conv_params, 1);
    assert_eq!(conv_params.numel(), td_params.numel(), "the same parameter count");
    let (a, b) = (run(&td, &td_params), run(&conv, &conv_params));
    assert!(max_diff(&a.0, &b.0) < 1e-12, "logits differ by {}", max_diff(&a.0, &b.0));
    assert!((a.1 - b.1).abs() < 1e-12, "loss {} against {}", a.1, b.1);
    // The same gradients too: training takes the same path from the same weights.
    for (name, g) in &b.2 {
        let source = name.replace("head.conv", "head.reduce");
        let h = &a.2.iter().find(|(n, _)| *n == source).unwrap().1;
        assert!(max_diff(g, h) < 1e-12, "gradient of {name}");
    }
}

#[test]
fn a_wider_kernel_with_only_its_centre_tap_is_still_td_dense_and_its_side_taps_matter() {
    let (td, mut td_params) = Model::<f64>::new(&config("td-dense", 1, 1), 1).unwrap();
    jitter(&mut td_params, 8);
    let (conv, mut conv_params) = Model::<f64>::new(&config("conv", 3, 1), 2).unwrap();
    conv_from_td_dense(&td_params, &mut conv_params, 3);
    let (a, b) = (run(&td, &td_params), run(&conv, &conv_params));
    assert!(max_diff(&a.0, &b.0) < 1e-12);
    // A side tap reads the neighbouring positions: the check above is not vacuous.
    let id = conv_params.find("head.conv.weight").unwrap();
    conv_params.get_mut(id).value[[0, 0, 0]] += 0.5;
    assert!(max_diff(&a.0, &run(&conv, &conv_params).0) > 1e-6);
}

#[test]
fn with_one_block_last_is_causal_trained_on_the_last_position() {
    let causal_last = |n| ModelConfig { loss_positions: LossPositions::Last, ..config("causal", 3, n) };
    for (blocks, same) in [(1, true), (2, false)] {
        let (last, mut params) = Model::<f64>::new(&config("last", 3, blocks), 4).unwrap();
        jitter(&mut params, 9);
        let (causal, fresh) = Model::<f64>::new(&causal_last(blocks), 4).unwrap();
        let names = |p: &ParamSet<f64>| p.iter().map(|(_, q)| q.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&params), names(&fresh), "the same parameters");
        let (a, b) = (run(&last, &params), run(&causal, &params));
        let d = max_diff(&a.0, &b.0);
        // Two blocks: the first block's masked positions feed the second's attention.
        assert_eq!(d < 1e-12, same, "{blocks} block(s): logits differ by {d}");
    }
}
