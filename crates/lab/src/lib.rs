//! Experiments over many runs: the planners that turn a question into run folders (`sweep`,
//! `compare`, `study`, `capacity`), the statistics that gather them (`results`, with intervals that
//! keep to their quantity's range), and the step benchmark (`bench`). It plans runs and reads
//! their reports; `train`'s runner trains them, `plot` draws the figures and `weights` writes the
//! benchmark's reference weights. Only the `cli` uses it.

pub mod bench;
pub mod capacity;
pub mod compare;
pub mod results;
pub mod study;
pub mod sweep;
