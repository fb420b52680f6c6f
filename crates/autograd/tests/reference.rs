//! Regression tests against an independent reference: composite expressions whose values and
//! gradients PyTorch 2.15 computed in float64. The script that produced every constant below:
//!
//! import torch, math
//! torch.set_default_dtype(torch.float64)
//! F = torch.nn.functional
//! def t(n, f, scale=1.0, off=0.0):
//!     return torch.tensor([f(i*scale+off) for i in range(n)])
//! def show(name, x):
//!     print(f"const {name}: [f64; {x.numel()}] = [{', '.join(repr(float(v)) for v in x.flatten())}];")
//! # E1
//! x = t(6, math.sin, 1.0, 1.0).reshape(2,3).requires_grad_()
//! W = t(12, math.cos, 0.7).reshape(4,3).requires_grad_()
//! b = (torch.arange(4.)*0.1).requires_grad_()
//! lin = x @ W.T + b
//! loss = (F.gelu(lin, approximate='tanh') * lin).sum()
//! loss.backward()
//! print("// E1"); show("E1_LOSS", loss.detach().reshape(1)); show("E1_DX", x.grad); show("E1_DW", W.grad); show("E1_DB", b.grad)
//! # E2
//! x = t(10, math.sin, 0.9, 0.3).reshape(2,5).mul(2).requires_grad_()
//! w = (1 + 0.1*t(5, math.cos)).requires_grad_()
//! bb = t(5, math.sin, 2.0).mul(0.1).requires_grad_()
//! y = F.layer_norm(x, (5,), w, bb, eps=1e-5)
//! loss = F.cross_entropy(y, torch.tensor([3, 0]))
//! loss.backward()
//! print("// E2"); show("E2_LOSS", loss.detach().reshape(1)); show("E2_DX", x.grad); show("E2_DW", w.grad); show("E2_DB", bb.grad)
//! # E3
//! q = t(16, math.sin, 0.5).reshape(1,4,4).requires_grad_()
//! k = t(16, math.cos, 0.3).reshape(1,4,4).requires_grad_()
//! v = t(16, math.sin, 0.2, 1.0).reshape(1,4,4).requires_grad_()
//! R = t(16, math.cos, 1.1).reshape(1,4,4)
//! def heads(z): return z.reshape(1,4,2,2).permute(0,2,1,3)
//! s = heads(q) @ heads(k).transpose(-1,-2) / math.sqrt(2)
//! s = s.masked_fill(torch.triu(torch.ones(4,4,dtype=torch.bool),1), float('-inf'))
//! o = (s.softmax(-1) @ heads(v)).permute(0,2,1,3).reshape(1,4,4)
//! loss = (o*R).sum(); loss.backward()
//! print("// E3"); show("E3_LOSS", loss.detach().reshape(1)); show("E3_DQ", q.grad); show("E3_DK", k.grad); show("E3_DV", v.grad)

use autograd::{Tape, Tensor};

// E1
const E1_LOSS: [f64; 1] = [8.672717921908019];
const E1_DX: [f64; 6] = [
    6.993832479401922,
    5.32471351423006,
    1.1512985823720696,
    -1.7157246194326434,
    -3.089628676192914,
    -3.010432089759889,
];
const E1_DW: [f64; 12] = [
    2.6388116537523088,
    2.8375951421958923,
    0.4275067431450358,
    -2.5454048358458516,
    -3.231797341476649,
    -0.9468902755508626,
    -0.10004198355189689,
    -0.13802486714791318,
    -0.04910832442242537,
    3.211129679393028,
    3.4683905419819956,
    0.5368291355752101,
];
const E1_DB: [f64; 4] = [3.323262971667212, 3.451966154143165, 0.28380072702349546, 3.8372353774300603];
// E2
const E2_LOSS: [f64; 1] = [2.9342320991437303];
const E2_DX: [f64; 10] = [
    0.0525005195359526,
    0.10281631359243433,
    0.03713343602441098,
    -0.33268352208530244,
    0.14023325293250455,
    -0.12829436442376593,
    0.15699528543335128,
    0.02481003865066793,
    -0.04009364273098456,
    -0.013417316929268695,
];
const E2_DW: [f64; 5] =
    [0.7000118503736574, 0.20814982891863987, 0.16449300990006968, 0.3229164691240213, 0.16027657727468375];
const E2_DB: [f64; 5] =
    [-0.421582064134965, 0.25171335191734345, 0.23431007354230088, -0.2706354573554435, 0.20619409603076422];
// E3
const E3_LOSS: [f64; 1] = [-0.30604086470102376];
const E3_DQ: [f64; 16] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.0055106572358903875,
    0.007644919229422439,
    0.04022876181171471,
    0.04305397577058812,
    -0.1546002103356564,
    -0.14683839217524025,
    0.13251869274094089,
    0.10191386834604754,
    0.12741290017839385,
    0.09500308805417727,
    -0.4003873742797049,
    -0.2612061798256794,
];
const E3_DK: [f64; 16] = [
    0.021907276900958193,
    0.04223743918538634,
    -0.214855745428283,
    -0.3018313064498557,
    0.047567816861326544,
    0.09583927444404174,
    -0.10496447700279021,
    -0.07543031379436138,
    -0.09434151204603398,
    -0.11893223653539643,
    0.14842399699252556,
    0.13255395680913667,
    0.024866418283749237,
    -0.019144477094031637,
    0.17139622543854777,
    0.2447076634350805,
];
const E3_DV: [f64; 16] = [
    0.9181754582797006,
    0.8316780858135608,
    -0.6985868403310406,
    -1.2455353406623062,
    -0.07004975201630215,
    0.002882692128116149,
    0.35962324977906257,
    0.22850527092983397,
    -0.37782198036348585,
    -0.6799169429992642,
    -0.07777786479654555,
    0.4990758534585246,
    0.2171543477004618,
    -0.043683528350654525,
    -0.17005428884742319,
    -0.12534263759044414,
];

fn tensor(shape: &[usize], f: impl Fn(usize) -> f64) -> Tensor<f64> {
    let n = shape.iter().product();
    tensor::from_vec(shape, (0..n).map(f).collect())
}

/// Agreement to 1e-12 relative to the reference's scale: f64 evaluated in another order.
fn close(got: &Tensor<f64>, want: &[f64]) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-12 * scale, "got {got:?}, want {want:?}");
    }
}

#[test]
fn e1_dense_gelu_product() {
    let mut t = Tape::empty();
    let x = t.leaf(tensor(&[2, 3], |i| (i as f64 + 1.0).sin()));
    let w = t.leaf(tensor(&[4, 3], |i| (i as f64 * 0.7).cos()));
    let b = t.leaf(tensor(&[4], |i| i as f64 * 0.1));
    let lin = t.linear(x, w, Some(b));
    let g = t.gelu(lin);
    let p = t.mul(g, lin);
    let loss = t.sum_all(p);
    close(&Tensor::from_elem(tensor::ndarray::IxDyn(&[1]), t.scalar(loss)), &E1_LOSS);
    let grads = t.backward(loss);
    close(grads.wrt(x).unwrap(), &E1_DX);
    close(grads.wrt(w).unwrap(), &E1_DW);
    close(grads.wrt(b).unwrap(), &E1_DB);
}

#[test]
fn e2_layer_norm_cross_entropy() {
    let mut t = Tape::empty();
    let x = t.leaf(tensor(&[2, 5], |i| 2.0 * (i as f64 * 0.9 + 0.3).sin()));
    let w = t.leaf(tensor(&[5], |i| 1.0 + 0.1 * (i as f64).cos()));
    let b = t.leaf(tensor(&[5], |i| 0.1 * (i as f64 * 2.0).sin()));
    let y = t.layer_norm(x, w, b, 1e-5);
    let loss = t.cross_entropy(y, &[3, 0]);
    close(&Tensor::from_elem(tensor::ndarray::IxDyn(&[1]), t.scalar(loss)), &E2_LOSS);
    let grads = t.backward(loss);
    close(grads.wrt(x).unwrap(), &E2_DX);
    close(grads.wrt(w).unwrap(), &E2_DW);
    close(grads.wrt(b).unwrap(), &E2_DB);
}

#[test]
fn e3_causal_two_head_attention() {
    let mut t = Tape::empty();
    let q = t.leaf(tensor(&[1, 4, 4], |i| (i as f64 * 0.5).sin()));
    let k = t.leaf(tensor(&[1, 4, 4], |i| (i as f64 * 0.3).cos()));
    let v = t.leaf(tensor(&[1, 4, 4], |i| (i as f64 * 0.2 + 1.0).sin()));
    let r = t.input(tensor(&[1, 4, 4], |i| (i as f64 * 1.1).cos()));
    let o = t.attention(q, k, v, 2, true);
    let p = t.mul(o, r);
    let loss = t.sum_all(p);
    close(&Tensor::from_elem(tensor::ndarray::IxDyn(&[1]), t.scalar(loss)), &E3_LOSS);
    let grads = t.backward(loss);
    close(grads.wrt(q).unwrap(), &E3_DQ);
    close(grads.wrt(k).unwrap(), &E3_DK);
    close(grads.wrt(v).unwrap(), &E3_DV);
}
