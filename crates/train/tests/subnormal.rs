//! Adam's moments never hold subnormal floats: the binary no longer sets a flush-to-zero mode
//! (which Rust does not allow), so the one state that decays geometrically forever is flushed by
//! the optimizer itself.

use autograd::{Grads, ParamSet};
use train::optim::{Adam, OptimizerKind};

#[test]
fn adam_moments_of_a_parameter_without_gradient_decay_to_zero_not_to_subnormals() {
    let mut params = ParamSet::<f32>::new();
    // An embedding row: never decayed, so with no gradient nothing moves its moments.
    let w = params.add("w", &[4], false, || tensor::from_vec(&[4], vec![0.5, -0.25, 1.5, 2.0]));
    for kind in [OptimizerKind::Adam, OptimizerKind::Adamw] {
        let mut adam = Adam::new(kind, 0.01, &params);
        let mut grads = Grads::new(&params);
        grads.accumulate(w, tensor::from_vec(&[4], vec![1e-3, -2e-3, 1e-19, 3e-20]));
        adam.step(&mut params, &grads, 1e-3, 0.5);
        // Then the parameter stops receiving gradient (a byte the data never shows): its moments
        // decay by β1 and β2 every step and pass through the subnormal range on the way down.
        let zero = {
            let mut g = Grads::new(&params);
            g.accumulate(w, tensor::from_vec(&[4], vec![0.0; 4]));
            g
        };
        let mut seen_subnormal = false;
        for _ in 0..2000 {
            adam.step(&mut params, &zero, 1e-3, 1.0);
            seen_subnormal |= adam.m[0].iter().chain(&adam.v[0]).any(|x| x.is_subnormal());
        }
        assert!(!seen_subnormal, "{kind:?}: a moment went subnormal: m {:?} v {:?}", adam.m[0], adam.v[0]);
        assert!(adam.m[0].iter().all(|&x| x == 0.0), "{kind:?}: m decayed to exactly 0: {:?}", adam.m[0]);
        assert!(params.value(w).iter().all(|x| x.is_normal()));
    }
}
