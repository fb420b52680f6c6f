//! Adam and AdamW, the learning-rate schedule and gradient-norm clipping.

use autograd::{Grads, ParamSet};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam; `--weight-decay` (if any) is L2 added to the gradient of the decayed tensors.
    Adam,
    /// AdamW: decoupled decay `p -= lr·wd·p`, on weight matrices only.
    Adamw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The base rate after warmup.
    Constant,
    /// Cosine decay from the base rate to `min_lr` over the run's steps (needs --steps or --epochs).
    Cosine,
}

/// The learning rate at `step` (0-based): linear warmup over `warmup` steps, then the schedule.
pub fn learning_rate(
    base: f64,
    min_lr: f64,
    warmup: u64,
    schedule: Schedule,
    total_steps: Option<u64>,
    step: u64,
) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    match (schedule, total_steps) {
        (Schedule::Cosine, Some(total)) if total > warmup => {
            let progress = ((step - warmup) as f64 / (total - warmup) as f64).min(1.0);
            min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
        }
        _ => base,
    }
}

/// Adam's state: first and second moments of every parameter, and the step count.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Adam {
    pub kind: OptimizerKind,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub t: u64,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl Adam {
    pub fn new(kind: OptimizerKind, weight_decay: f64, params: &ParamSet<f32>) -> Self {
        let zeros = || params.iter().map(|(_, p)| vec![0.0f32; p.numel()]).collect::<Vec<_>>();
        Adam { kind, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay, t: 0, m: zeros(), v: zeros() }
    }

    /// One update of every parameter that has a gradient, each gradient multiplied by
    /// `grad_scale` first (the clipping factor, applied here instead of in a pass of its own).
    pub fn step(&mut self, params: &mut ParamSet<f32>, grads: &Grads<f32>, lr: f64, grad_scale: f32) {
        self.t += 1;
        // Bias corrections folded into the step size (the form of the Adam paper's §2).
        let c1 = 1.0 - self.beta1.powi(self.t as i32);
        let c2 = 1.0 - self.beta2.powi(self.t as i32);
        let k = AdamConsts {
            b1: self.beta1 as f32,
            b2: self.beta2 as f32,
            step_size: (lr * c2.sqrt() / c1) as f32,
            eps: (self.eps * c2.sqrt()) as f32,
            decay: (lr * self.weight_decay) as f32,
            l2: self.weight_decay as f32,
            grad_scale,
        };
        for (i, p) in params.iter_mut().enumerate() {
            let Some(g) = grads.tensors[i].as_ref() else { continue };
            let g = g.as_slice().expect("gradients are contiguous");
            let value = p.value.as_slice_mut().expect("parameters are contiguous");
            let mode = match (p.decay && self.weight_decay > 0.0, self.kind) {
                (false, _) => Decay::None,
                (true, OptimizerKind::Adam) => Decay::L2,
                (true, OptimizerKind::Adamw) => Decay::Decoupled,
            };
            // Elementwise: fixed chunks in parallel give the same bits as one serial pass.
            const CHUNK: usize = 1 << 14;
            if value.len() >= 2 * CHUNK {
                let chunks = value
                    .par_chunks_mut(CHUNK)
                    .zip(self.m[i].par_chunks_mut(CHUNK))
                    .zip(self.v[i].par_chunks_mut(CHUNK))
                    .zip(g.par_chunks(CHUNK));
                chunks.for_each(|(((p, m), v), g)| update(p, m, v, g, &k, mode));
            } else {
                update(value, &mut self.m[i], &mut self.v[i], g, &k, mode);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Decay {
    None,
    /// Adam's L2: wd·p added to the gradient.
    L2,
    /// AdamW: p -= lr·wd·p before the update.
    Decoupled,
}

struct AdamConsts {
    b1: f32,
    b2: f32,
    step_size: f32,
    eps: f32,
    decay: f32,
    l2: f32,
    grad_scale: f32,
}

/// The Adam update of one slice; `mode` is hoisted out of the loop so that it vectorizes.
#[inline]
fn update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], k: &AdamConsts, mode: Decay) {
    let n = p.len();
    let (m, v, g) = (&mut m[..n], &mut v[..n], &g[..n]);
    // Every arm scales the raw gradient by the clip factor first: clipping applies to every
    // parameter, whatever its decay (a missing factor here once made --clip a no-op under Adam).
    // The moments of a parameter that stops receiving gradient (the embedding row of a byte the
    // data never shows) decay geometrically, and within a few hundred steps would sink into
    // subnormal floats, which cost up to a hundred cycles an operation on every step after. They
    // are flushed to zero here instead: below f32::MIN_POSITIVE their effect on the update is far
    // below f32 rounding of any parameter of normal size. (A process-wide flush-to-zero mode would
    // need MXCSR changed behind the compiler's back, which Rust does not allow.)
    let flush = |x: f32| if x.abs() < f32::MIN_POSITIVE { 0.0 } else { x };
    let step = |p: &mut f32, m: &mut f32, v: &mut f32, g: f32| {
        *m = flush(k.b1 * *m + (1.0 - k.b1) * g);
        *v = flush(k.b2 * *v + (1.0 - k.b2) * g * g);
        *p -= k.step_size * *m / (v.sqrt() + k.eps);
    };
    match mode {
        Decay::None => p
            .iter_mut()
            .zip(m.iter_mut())
            .zip(v.iter_mut())
            .zip(g)
            .for_each(|(((p, m), v), &g)| step(p, m, v, g * k.grad_scale)),
        Decay::L2 => p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g).for_each(|(((p, m), v), &g)| {
            // L2 joins the clipped gradient, as torch.optim.Adam adds wd·p after clipping.
            let g = g * k.grad_scale + k.l2 * *p;
            step(p, m, v, g)
        }),
        Decay::Decoupled => p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g).for_each(|(((p, m), v), &g)| {
            *p -= k.decay * *p;
            step(p, m, v, g * k.grad_scale)
        }),
    }
}

/// The factor that brings the gradients' global norm down to `max_norm` (1 when it is below, or
/// when clipping is off), and the norm before clipping.
pub fn clip_factor(grads: &Grads<f32>, max_norm: f64) -> (f32, f64) {
    let norm = grads.global_norm();
    if max_norm > 0.0 && norm > max_norm {
        ((max_norm / (norm + 1e-6)) as f32, norm)
    } else {
        (1.0, norm)
    }
}
