//! This machine's limits, measured in the same command as the network: the f32 multiply-add
//! rate of a loop the compiler cannot shorten, and the rate of a large memory copy. Both on one
//! thread and on all of them, so that a pass's achieved rate can be read as a fraction of each.

use std::hint::black_box;
use std::time::Instant;

/// Measured peaks.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Peak {
    /// f32 GFLOP/s of one thread (a multiply-add counts two).
    pub gflops_one_thread: f64,
    /// f32 GFLOP/s of all threads together.
    pub gflops_all_threads: f64,
    /// Threads used for the all-thread figures.
    pub threads: usize,
    /// Which instructions the multiply-add loop used.
    pub instructions: &'static str,
    /// GB/s of a 256 MiB copy on one thread, counting bytes read and written.
    pub copy_gbs_one_thread: f64,
    /// The same with every thread copying its own part.
    pub copy_gbs_all_threads: f64,
}

/// Runs both probes (about a second in all).
pub fn measure() -> Peak {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Shared virtual machines change speed for milliseconds at a time: the best of several tries.
    let (one, instructions) = best_of(8, || fma_rate(1));
    let (all, _) = best_of(8, || fma_rate(threads));
    let copy_one = best_of(3, || (copy_rate(1), "")).0;
    let copy_all = best_of(3, || (copy_rate(threads), "")).0;
    Peak {
        gflops_one_thread: one,
        gflops_all_threads: all,
        threads,
        instructions,
        copy_gbs_one_thread: copy_one,
        copy_gbs_all_threads: copy_all,
    }
}

fn best_of(n: usize, mut f: impl FnMut() -> (f64, &'static str)) -> (f64, &'static str) {
    (0..n).map(|_| f()).fold((0.0, ""), |best, r| if r.0 > best.0 { r } else { best })
}

/// Rounds of the kernel, each ten vectors of multiply-adds: some tens of milliseconds.
const ROUNDS: usize = 4_000_000;

/// GFLOP/s of `threads` threads each running the kernel once at the same time: the sum of each
/// thread's own rate, timed inside it (timed from outside, a thread that started late counted
/// as idle time: the all-thread figure came out anywhere from 1.0× to 1.7× one thread's).
fn fma_rate(threads: usize) -> (f64, &'static str) {
    let results: Vec<(f64, &'static str)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let start = Instant::now();
                    let (flops, instructions) = fma_kernel(black_box(1.0 + t as f32 * 1e-7));
                    (flops / start.elapsed().as_secs_f64(), instructions)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or((0.0, ""))).collect()
    });
    (results.iter().map(|r| r.0).sum::<f64>() / 1e9, results.first().map_or("", |r| r.1))
}

/// Runs the widest multiply-add loop this CPU has; returns (flops done, instruction set).
fn fma_kernel(seed: f32) -> (f64, &'static str) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features the function is compiled for were just detected.
        return (unsafe { x86::fma_avx2(seed) }, "AVX2 + FMA, 8 lanes");
    }
    (portable(seed), "portable (the compiler's baseline vectors)")
}

/// Ten independent accumulator vectors hide the latency; the compiler vectorises the inner
/// loop at the baseline width (a multiply and an add: `mul_add` would call a library routine).
fn portable(seed: f32) -> f64 {
    const LANES: usize = 8;
    let mut acc = [[seed; LANES]; 10];
    let (a, b) = (black_box(0.999_999_9f32), black_box(1e-7f32));
    for _ in 0..ROUNDS {
        for v in acc.iter_mut() {
            for x in v.iter_mut() {
                *x = *x * a + b;
            }
        }
    }
    black_box(acc);
    (ROUNDS * 10 * LANES) as f64 * 2.0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 10 independent 8-lane FMA chains (two FMA units × a latency of 4–5 cycles).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(seed: f32) -> f64 {
        let (a, b) = (_mm256_set1_ps(std::hint::black_box(0.999_999_9)), _mm256_set1_ps(1e-7));
        let mut acc = [_mm256_set1_ps(seed); 10];
        for _ in 0..super::ROUNDS {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        std::hint::black_box(acc);
        (super::ROUNDS * 10 * 8) as f64 * 2.0
    }
}

/// Bytes per thread of the copy probe (far larger than any cache).
const COPY_BYTES: usize = 256 << 20;

/// GB/s (read + written) of `threads` threads each copying its share of 256 MiB.
fn copy_rate(threads: usize) -> f64 {
    let share = COPY_BYTES / threads / 4;
    let mut from: Vec<Vec<f32>> = (0..threads).map(|_| vec![1.0f32; share]).collect();
    let mut to: Vec<Vec<f32>> = (0..threads).map(|_| vec![0.0f32; share]).collect();
    // Touch both once so that page faults are not timed.
    std::thread::scope(|s| {
        for (f, t) in from.iter_mut().zip(to.iter_mut()) {
            s.spawn(move || t.copy_from_slice(f));
        }
    });
    let start = Instant::now();
    std::thread::scope(|s| {
        for (f, t) in from.iter().zip(to.iter_mut()) {
            s.spawn(move || {
                t.copy_from_slice(black_box(f));
                black_box(t);
            });
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    (2 * share * 4 * threads) as f64 / seconds / 1e9
}
