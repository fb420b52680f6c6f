//! This machine's f32 peak, measured: a loop of independent fused multiply-adds that never touches
//! memory, on one thread and on every core. It bounds what any sgemm here can reach.
//! Run: `cargo bench -p tensor --bench peak`.

use std::time::Instant;

const ITERS: u64 = 200_000_000 / 12;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma512() -> f32 {
    use std::arch::x86_64::*;
    // 12 independent accumulators hide the FMA latency on two pipes.
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..ITERS {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    acc.iter().map(|a| _mm512_reduce_add_ps(*a)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma256() -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..ITERS {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut out = [0f32; 8];
    let s = acc.iter().fold(_mm256_set1_ps(0.0), |s, a| _mm256_add_ps(s, *a));
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}

fn gflops(lanes: u64, threads: usize, f: fn() -> f32) -> f64 {
    let t0 = Instant::now();
    let sum: f32 = std::thread::scope(|s| {
        (0..threads).map(|_| s.spawn(f)).collect::<Vec<_>>().into_iter().map(|h| h.join().unwrap()).sum()
    });
    std::hint::black_box(sum);
    (ITERS * 12 * lanes * 2 * threads as u64) as f64 / t0.elapsed().as_secs_f64() / 1e9
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            let f: fn() -> f32 = || unsafe { fma256() };
            println!(
                "AVX2 FMA   f32 peak: {:.0} GFLOP/s on 1 thread, {:.0} on {cores}",
                gflops(8, 1, f),
                gflops(8, cores, f)
            );
        }
        if is_x86_feature_detected!("avx512f") {
            let f: fn() -> f32 = || unsafe { fma512() };
            println!(
                "AVX-512 FMA f32 peak: {:.0} GFLOP/s on 1 thread, {:.0} on {cores}",
                gflops(16, 1, f),
                gflops(16, cores, f)
            );
        }
    }
}
