//! Adam and AdamW against torch.optim (PyTorch 2.15, float32), and the learning-rate schedule.
//! The script that produced the constants:
//!
//! import torch, math
//! def run(kind):
//!     w = torch.tensor([[math.sin(i + 0.5) for i in range(3)] for _ in range(1)] * 2, dtype=torch.float32).clone()
//!     w[1] *= -0.5
//!     b = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float32)
//!     w.requires_grad_(); b.requires_grad_()
//!     groups = [{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}]
//!     opt = torch.optim.Adam(groups, lr=0.01) if kind == "adam" else torch.optim.AdamW(groups, lr=0.01)
//!     for step in range(3):
//!         opt.zero_grad()
//!         w.grad = torch.tensor([[math.cos(i * (step + 1)) for i in range(3)], [math.sin(i + step) for i in range(3)]], dtype=torch.float32)
//!         b.grad = torch.tensor([0.5 * (step + 1), -1.0, 1e-3], dtype=torch.float32)
//!         opt.step()
//!     print(f"const {kind.upper()}_W: [f32; 6] = [{', '.join(repr(float(x)) for x in w.detach().flatten())}];")
//!     print(f"const {kind.upper()}_B: [f32; 3] = [{', '.join(repr(float(x)) for x in b.detach().flatten())}];")
//! run("adam"); run("adamw")
//!
//! With clipping (`clip_grad_norm_` to 0.05, far below the gradients' global norms of about 2, 11 and 0.8, so
//! that each step has its own factor: Adam is blind to a factor that never changes), for plain Adam, Adam with L2
//! on `w` and AdamW on `w`:
//!
//! import torch, math
//! import numpy as np
//! def run(kind, wd, name):
//!     w = torch.tensor([[math.sin(i + 0.5) for i in range(3)], [-0.5 * math.sin(i + 0.5) for i in range(3)]], dtype=torch.float32)
//!     b = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float32)
//!     w.requires_grad_(); b.requires_grad_()
//!     groups = [{"params": [w], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}]
//!     opt = torch.optim.Adam(groups, lr=0.01) if kind == "adam" else torch.optim.AdamW(groups, lr=0.01)
//!     for step in range(3):
//!         opt.zero_grad()
//!         s = [1.0, 5.0, 0.3][step]  # global norms ≈ 2.1, 11.4, 0.83: factors 0.024, 0.0044, 0.061
//!         w.grad = torch.tensor([[s * math.cos(i * (step + 1)) for i in range(3)], [s * math.sin(i + step) for i in range(3)]], dtype=torch.float32)
//!         b.grad = torch.tensor([s * 0.5 * (step + 1), -s, s * 1e-3], dtype=torch.float32)
//!         torch.nn.utils.clip_grad_norm_([w, b], max_norm=0.05)
//!         opt.step()
//!     f32 = lambda t: ", ".join(str(np.float32(x)) for x in t.detach().flatten().tolist())
//!     print(f"const {name}_W: [f32; 6] = [{f32(w)}];")
//!     print(f"const {name}_B: [f32; 3] = [{f32(b)}];")
//! run("adam", 0.0, "CLIP_ADAM"); run("adam", 0.1, "CLIP_ADAM_L2"); run("adamw", 0.1, "CLIP_ADAMW")

use autograd::{Grads, ParamId, ParamSet};
use train::optim::{clip_factor, learning_rate, Adam, OptimizerKind, Schedule};

const ADAM_W: [f32; 6] = [0.449_426_47, 0.988_484_5, 0.617_266_6, -0.245_445_94, -0.526_965_1, -0.316_934_17];
const ADAM_B: [f32; 3] = [0.070_768_18, -0.169_999_99, 0.270_000_3];
const ADAMW_W: [f32; 6] = [0.448_018_73, 0.988_687_6, 0.616_343_7, -0.255_023_8, -0.525_649, -0.316_647_1];
const ADAMW_B: [f32; 3] = [0.070_768_18, -0.169_999_99, 0.270_000_3];
const CLIP_ADAM_W: [f32; 6] = [0.4496281, 0.99041873, 0.61936176, -0.25569913, -0.52700806, -0.3185971];
const CLIP_ADAM_B: [f32; 3] = [0.070444666, -0.1702026, 0.27021554];
const CLIP_ADAM_L2_W: [f32; 6] = [0.449493, 0.9678469, 0.56863326, -0.21434163, -0.46882984, -0.27099434];
const CLIP_ADAM_L2_B: [f32; 3] = [0.070444666, -0.1702026, 0.27021554];
const CLIP_ADAMW_W: [f32; 6] = [0.44822124, 0.98745054, 0.6175382, -0.25497326, -0.5254833, -0.31767264];
const CLIP_ADAMW_B: [f32; 3] = [0.070444666, -0.1702026, 0.27021554];

/// The starting point of every run: `w` [2, 3] (a matrix: decayed) and `b` [3] (a bias: never decayed).
fn start() -> (ParamSet<f32>, ParamId, ParamId) {
    let mut params = ParamSet::<f32>::new();
    let w0: Vec<f32> = (0..6)
        .map(|i| {
            let s = ((i % 3) as f64 + 0.5).sin() as f32;
            if i < 3 {
                s
            } else {
                s * -0.5
            }
        })
        .collect();
    let w = params.add("w", &[2, 3], true, || tensor::from_vec(&[2, 3], w0.clone()));
    let b = params.add("b", &[3], false, || tensor::from_vec(&[3], vec![0.1, -0.2, 0.3]));
    (params, w, b)
}

fn run(kind: OptimizerKind) -> (Vec<f32>, Vec<f32>) {
    let (mut params, w, b) = start();
    let wd = 0.1;
    let mut adam = Adam::new(kind, wd, &params);
    for step in 0..3u32 {
        let mut grads = Grads::new(&params);
        let gw: Vec<f32> = (0..3)
            .map(|i| (i as f64 * (step + 1) as f64).cos() as f32)
            .chain((0..3).map(|i| ((i + step) as f64).sin() as f32))
            .collect();
        grads.accumulate(w, tensor::from_vec(&[2, 3], gw));
        grads.accumulate(b, tensor::from_vec(&[3], vec![0.5 * (step + 1) as f32, -1.0, 1e-3]));
        adam.step(&mut params, &grads, 0.01, 1.0);
    }
    (params.value(w).iter().copied().collect(), params.value(b).iter().copied().collect())
}

/// Three steps clipped to a global norm of 0.05, the factor computed and passed as the trainer does
/// (`Session::train_step`). The gradients' norms differ per step, so their factors do too.
fn run_clipped(kind: OptimizerKind, weight_decay: f64) -> (Vec<f32>, Vec<f32>) {
    let (mut params, w, b) = start();
    let mut adam = Adam::new(kind, weight_decay, &params);
    for step in 0..3u32 {
        let s = [1.0, 5.0, 0.3][step as usize];
        let mut grads = Grads::new(&params);
        let gw: Vec<f32> = (0..3)
            .map(|i| (s * (i as f64 * (step + 1) as f64).cos()) as f32)
            .chain((0..3).map(|i| (s * ((i + step) as f64).sin()) as f32))
            .collect();
        grads.accumulate(w, tensor::from_vec(&[2, 3], gw));
        let gb = [s * 0.5 * (step + 1) as f64, -s, s * 1e-3].map(|x| x as f32);
        grads.accumulate(b, tensor::from_vec(&[3], gb.to_vec()));
        let (factor, norm) = clip_factor(&grads, 0.05);
        assert!(norm > 0.5 && factor < 0.1, "step {step}: the clip must bite (norm {norm}, factor {factor})");
        adam.step(&mut params, &grads, 0.01, factor);
    }
    (params.value(w).iter().copied().collect(), params.value(b).iter().copied().collect())
}

/// Every value within 2e-6 (relative above 1) of PyTorch's, and as many values: zip alone would
/// let a short result pass.
fn close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 2e-6 * w.abs().max(1.0), "got {got:?}, want {want:?}");
    }
}

#[test]
#[should_panic(expected = "left: 5")]
fn close_refuses_a_short_result() {
    let (w, _) = run(OptimizerKind::Adam);
    assert_eq!(w.len(), ADAM_W.len());
    close(&w[..5], &ADAM_W);
}

#[test]
#[should_panic(expected = "want")]
fn close_refuses_a_value_out_of_tolerance() {
    let (mut w, _) = run(OptimizerKind::Adam);
    w[1] += 1e-4;
    close(&w, &ADAM_W);
}

#[test]
fn adam_matches_torch_with_l2_on_weights_only() {
    let (w, b) = run(OptimizerKind::Adam);
    close(&w, &ADAM_W);
    close(&b, &ADAM_B);
}

#[test]
fn adamw_decays_weights_but_not_biases_as_torch_does() {
    let (w, b) = run(OptimizerKind::Adamw);
    close(&w, &ADAMW_W);
    close(&b, &ADAMW_B);
}

#[test]
fn clipping_applies_under_plain_adam_the_default_run() {
    // No weight decay: every tensor takes the undecayed path, where the clip factor was once dropped.
    let (w, b) = run_clipped(OptimizerKind::Adam, 0.0);
    close(&w, &CLIP_ADAM_W);
    close(&b, &CLIP_ADAM_B);
}

#[test]
fn clipping_applies_under_adam_with_l2_on_the_matrix_only() {
    let (w, b) = run_clipped(OptimizerKind::Adam, 0.1);
    close(&w, &CLIP_ADAM_L2_W);
    close(&b, &CLIP_ADAM_L2_B);
}

#[test]
fn clipping_applies_under_adamw_to_decayed_and_undecayed_tensors() {
    let (w, b) = run_clipped(OptimizerKind::Adamw, 0.1);
    close(&w, &CLIP_ADAMW_W);
    close(&b, &CLIP_ADAMW_B);
}

#[test]
fn warmup_then_cosine() {
    let lr = |step| learning_rate(1.0, 0.1, 10, Schedule::Cosine, Some(110), step);
    assert_eq!(lr(0), 0.1);
    assert_eq!(lr(9), 1.0);
    assert!((lr(10) - 1.0).abs() < 1e-12);
    assert!((lr(60) - 0.55).abs() < 1e-12, "half way: (1 + 0.1) / 2");
    assert!((lr(110) - 0.1).abs() < 1e-12);
    assert_eq!(learning_rate(1.0, 0.0, 0, Schedule::Constant, Some(100), 50), 1.0);
}
