//! A per-op timer, off unless asked for (`overfit bench --profile`): where a step's time goes.
//!
//! Forward time of a node is the time since the previous node was recorded on the same thread
//! (its kernel plus the little model code between ops); backward time is each gradient rule's.
//! Times from several threads add up, so the table is CPU time.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TABLE: Mutex<BTreeMap<&'static str, Entry>> = Mutex::new(BTreeMap::new());

thread_local! {
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Accumulated time of one op kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Entry {
    pub forward_secs: f64,
    pub backward_secs: f64,
    pub calls: u64,
}

pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The table so far, emptied.
pub fn take() -> Vec<(&'static str, Entry)> {
    std::mem::take(&mut *TABLE.lock().expect("profile lock")).into_iter().collect()
}

/// Marks the start of recording on this thread (a new tape).
pub(crate) fn start() {
    if enabled() {
        LAST.with(|l| l.set(Some(Instant::now())));
    }
}

/// A node of kind `name` was just recorded.
pub(crate) fn forward(name: &'static str) {
    if !enabled() {
        return;
    }
    let now = Instant::now();
    let since = LAST.with(|l| l.replace(Some(now))).map_or(0.0, |t| (now - t).as_secs_f64());
    let mut t = TABLE.lock().expect("profile lock");
    let e = t.entry(name).or_default();
    e.forward_secs += since;
    e.calls += 1;
}

/// A gradient rule of kind `name` took `secs`.
pub(crate) fn backward(name: &'static str, secs: f64) {
    TABLE.lock().expect("profile lock").entry(name).or_default().backward_secs += secs;
}

/// Time spent outside the tape (the optimizer, say), under `name`.
pub fn record(name: &'static str, secs: f64) {
    if enabled() {
        let mut t = TABLE.lock().expect("profile lock");
        let e = t.entry(name).or_default();
        e.forward_secs += secs;
        e.calls += 1;
    }
}

/// Times `f` under `name` when profiling, else just runs it.
pub fn time<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let t0 = Instant::now();
    let out = f();
    record(name, t0.elapsed().as_secs_f64());
    out
}
