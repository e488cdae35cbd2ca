//! Multiply-add loops the compiler cannot shorten, for the browser to time (scripts/bench-web.mjs):
//! `rounds` rounds of twelve independent 4-lane chains, a multiply and an add each (SIMD128 has no
//! fused multiply-add), and the same with relaxed SIMD's `f32x4_relaxed_madd`. Each returns a
//! value of the chains, so that none is dropped; the caller counts 12 · 4 · 2 flops a round.
#![no_std]

use core::arch::wasm32::*;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Independent chains: more than the multiply's latency times the adds per cycle.
const CHAINS: usize = 12;

/// `rounds` rounds of `v = v · a + b` on every chain, a multiply and an add.
#[unsafe(no_mangle)]
pub extern "C" fn mul_add(rounds: u32, seed: f32) -> f32 {
    chains(rounds, seed, |v, a, b| f32x4_add(f32x4_mul(v, a), b))
}

/// The same with relaxed SIMD's multiply-add (fused where the processor has it).
#[cfg(target_feature = "relaxed-simd")]
#[unsafe(no_mangle)]
pub extern "C" fn relaxed_mul_add(rounds: u32, seed: f32) -> f32 {
    chains(rounds, seed, |v, a, b| f32x4_relaxed_madd(v, a, b))
}

/// `rounds` rounds of `v = step(v, a, b)` on each of the chains; the sum of their first lanes.
#[inline(always)]
fn chains(rounds: u32, seed: f32, step: impl Fn(v128, v128, v128) -> v128) -> f32 {
    let (a, b) = (f32x4_splat(0.999_999_9), f32x4_splat(1e-7));
    let mut chains = [f32x4_splat(seed); CHAINS];
    for _ in 0..rounds {
        for v in chains.iter_mut() {
            *v = step(*v, a, b);
        }
    }
    f32x4_extract_lane::<0>(chains.iter().fold(f32x4_splat(0.0), |s, &v| f32x4_add(s, v)))
}
