//! Adam and AdamW, the learning-rate schedule and gradient-norm clipping.

use autograd::{Grads, ParamSet};
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
        let zeros = || {
            params
                .iter()
                .map(|(_, p)| vec![0.0f32; p.numel()])
                .collect::<Vec<_>>()
        };
        Adam {
            kind,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One update of every parameter that has a gradient.
    pub fn step(&mut self, params: &mut ParamSet<f32>, grads: &Grads<f32>, lr: f64) {
        self.t += 1;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        // Bias corrections folded into the step size (the form of the Adam paper's §2).
        let c1 = 1.0 - self.beta1.powi(self.t as i32);
        let c2 = 1.0 - self.beta2.powi(self.t as i32);
        let step_size = (lr * c2.sqrt() / c1) as f32;
        let eps = (self.eps * c2.sqrt()) as f32;
        let decay = (lr * self.weight_decay) as f32;
        let l2 = self.weight_decay as f32;
        for (i, p) in params.iter_mut().enumerate() {
            let Some(g) = grads.tensors[i].as_ref() else {
                continue;
            };
            let g = g.as_slice().expect("gradients are contiguous");
            let value = p.value.as_slice_mut().expect("parameters are contiguous");
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            let decays = p.decay && self.weight_decay > 0.0;
            let adamw = self.kind == OptimizerKind::Adamw;
            for j in 0..value.len() {
                let mut gj = g[j];
                if decays && !adamw {
                    gj += l2 * value[j];
                }
                m[j] = b1 * m[j] + (1.0 - b1) * gj;
                v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                if decays && adamw {
                    value[j] -= decay * value[j];
                }
                value[j] -= step_size * m[j] / (v[j].sqrt() + eps);
            }
        }
    }
}

/// Scales the gradients so that their global norm is at most `max_norm`; returns the norm before.
pub fn clip_grad_norm(grads: &mut Grads<f32>, max_norm: f64) -> f64 {
    let norm = grads.global_norm();
    if max_norm > 0.0 && norm > max_norm {
        grads.scale((max_norm / (norm + 1e-6)) as f32);
    }
    norm
}
