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
