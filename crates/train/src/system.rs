//! What the operating system says about this process (memory, peak RSS), and its worker threads.

/// Total physical memory, from /proc/meminfo (None elsewhere).
pub fn total_memory_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident set size of this process (VmHWM), from /proc/self/status (None elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Anonymous resident memory of this process now (RssAnon): the memory it holds itself, without
/// the pages of memory-mapped data files, which are page cache the kernel can drop at will.
pub fn rss_anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Builds the worker pool every run computes on: `threads` workers, or one per core. Zero is
/// refused, naming `--threads`. A pool that exists already (a test calling twice) is kept.
pub fn setup_threads(threads: Option<usize>) -> crate::Result<()> {
    if threads == Some(0) {
        return Err(crate::Error::usage("--threads", "must be at least 1"));
    }
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    let _ = b.build_global();
    Ok(())
}

/// Runs `f` on a worker of the global pool and waits for it. A training loop driven from the main
/// thread hands each parallel part of a step to the pool and sleeps until it is done: two futex
/// wake-ups a part, several parts a step (4% of a one-thread seed-id4 step in `perf`, in the
/// kernel's `try_to_wake_up`). From a worker, a part on one thread runs inline and on two wakes
/// one sleeping worker.
pub fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let mut out = None;
    rayon::scope(|_| out = Some(f()));
    out.expect("rayon::scope runs its closure before returning")
}
