//! No per-step leaks: the bytes held by the process are flat over 10,000 training steps.
//! A counting global allocator measures live heap bytes exactly (no RSS noise).

use overfit::heads::ModelConfig;
use overfit::train::{Session, TrainConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::SeqCst);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::SeqCst);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::SeqCst);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn live_memory_is_flat_over_ten_thousand_steps() {
    let mut c = TrainConfig::default_run();
    c.model = ModelConfig { seq_length: 8, d_model: 8, num_heads: 2, d_ff: 8, ..c.model };
    c.batch_size = 4;
    c.steps = Some(10_500);
    c.until_memorized = false;
    let mut s = Session::new(c).unwrap();
    for _ in 0..500 {
        s.train_step();
    }
    let after_warmup = LIVE.load(Ordering::SeqCst);
    for _ in 0..10_000 {
        s.train_step();
    }
    let after = LIVE.load(Ordering::SeqCst);
    // Allowed slack: a few KB for lazily grown buffers; a leak of even 1 byte a step is 10 KB.
    assert!(
        (after - after_warmup).abs() < 4096,
        "live heap grew from {after_warmup} to {after} bytes over 10,000 steps"
    );
}
