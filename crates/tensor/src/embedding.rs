//! Embedding lookup (gather rows) and its gradient (scatter-add rows).

use crate::{Float, Tensor};

// table is [V, d], ids has n entries < V; out is [n, d]
pub fn embedding_forward<F: Float>(table: &Tensor<F>, ids: &[u32]) -> Tensor<F> {
    let d = table.shape()[1];
    let t = crate::contiguous(table);
    let mut out = Vec::with_capacity(ids.len() * d);
    for &i in ids {
        let i = i as usize;
        out.extend_from_slice(&t[i * d..(i + 1) * d]);
    }
    crate::from_vec(&[ids.len(), d], out)
}

/// dtable[ids[i]] += dout[i], in order of i (a repeated id accumulates every use). dout is [n, d].
pub fn embedding_backward<F: Float>(table_shape: &[usize], ids: &[u32], dout: &Tensor<F>) -> Tensor<F> {
    let d = table_shape[1];
    let mut dt = crate::zeros::<F>(table_shape);
    let dts = crate::buf_mut(&mut dt);
    let g = crate::contiguous(dout);
    for (k, &i) in ids.iter().enumerate() {
        let i = i as usize;
        for (a, &b) in dts[i * d..(i + 1) * d].iter_mut().zip(&g[k * d..(k + 1) * d]) {
            *a += b;
        }
    }
    dt
}
