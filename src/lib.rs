//! overfit: small byte-level transformers trained from scratch on the CPU, to see where a model's
//! parameters go and which output head lets it learn its data by heart.
//!
//! This root crate only re-exports the workspace's crates, in the order data flows through them,
//! so that the top-level `tests/` and `benches/` can reach all of them.

pub use autograd;
pub use heads;
pub use lab;
pub use layers;
pub use plot;
pub use tensor;
pub use train;
pub use weights;
