//! Reverse-mode automatic differentiation over the `tensor` kernels.
//!
//! - [`ParamSet`] holds every parameter of a model in one place, by its SPEC name: the optimizer,
//!   the checkpoint and the parameter accounting all walk it.
//! - A [`Tape`] records one step's computation as a list of nodes, each an [`Op`] with the indices
//!   of its inputs. It borrows the parameters (no copies) and is dropped after the step, so nothing
//!   leaks from one step to the next.
//! - [`Tape::backward`] walks the nodes in reverse and applies each op's gradient rule: one
//!   exhaustive `match` in `backward.rs`, so an op without a backward does not compile. Gradients
//!   add up when a value is used twice (weight tying relies on it).
//! - [`gradcheck`] compares every gradient with central finite differences in f64.

mod backward;
pub mod function;
pub mod gradcheck;
mod op;
mod params;
pub mod profile;
mod tape;

pub use backward::Gradients;
pub use function::Function;
pub use op::{Op, Var};
pub use params::{Grads, Param, ParamId, ParamSet};
pub use tape::Tape;
pub use tensor::{Float, Tensor};
