//! What the operating system says about this process: memory, peak RSS, denormals.

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

/// Sets flush-to-zero and denormals-are-zero on the calling thread (x86-64). Subnormal floats
/// cost up to a hundred cycles an operation; tiny gradients late in training produce them, and
/// PyTorch's CPU runs were seen to slow 4–5× from them. Call on every thread that computes.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= (1 << 15) | (1 << 6); // FTZ | DAZ
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
}
