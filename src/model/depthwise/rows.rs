//! 3 × 3 depthwise convolutions summed straight from the input's rows, with AVX-512: no padded
//! copy of the plane.
//!
//! On b0–b2's 112² and 56² planes, [`super::Plane`]'s padded copy (split by column parity at
//! stride 2) cost as much as the sums at stride 2, and its sums read nine unaligned vectors per
//! eight outputs. Here each row of the input is read once per kernel row, sixteen values to an
//! aligned vector; the three taps of a kernel row are that vector and its neighbours' values
//! shifted in by one lane (`valignd`), or at stride 2 its even and odd columns (one permute
//! each). The image's border is the zeros of masked loads and of the vectors beyond a row. The
//! sums are the same, tap by tap in order, so the outputs are bit for bit [`super::Plane`]'s.

use super::Window;
use super::super::finish::{Targets, Values};

/// Output values in one vector.
const WIDTH: usize = 16;
/// Most vectors in an output row (a row of 128: 112² planes fit).
const VECTORS: usize = 8;

/// Where this path sums: a 3 × 3 window at stride 1 with one zero row and column around, or at
/// stride 2 on even sides with TF "SAME" padding (a zero row below, a zero column right).
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) struct Rows {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    stride: usize,
}

impl Rows {
    /// The path for `window` over `h × w` planes into `oh × ow` ones, where it computes it and
    /// the processor has AVX-512.
    pub(super) fn new(window: Window, [h, w]: [usize; 2], [oh, ow]: [usize; 2]) -> Option<Self> {
        let fits = window.kernel == 3
            && match window.stride {
                1 => window.padding == [1, 1, 1, 1] && (h, w) == (oh, ow),
                2 => window.padding == [0, 1, 0, 1] && (h, w) == (2 * oh, 2 * ow),
                _ => false,
            }
            && oh > 0
            && (1..=VECTORS * WIDTH).contains(&ow);
        (fits && available()).then_some(Self { h, w, oh, ow, stride: window.stride })
    }

    /// Sums one channel: `x` its plane, `taps` its nine weights; finishes each output row into
    /// channel `channel` of the output (`values`, `targets`).
    pub(super) fn run(&self, x: &[f32], taps: &[f32], channel: usize, values: Values, targets: Targets) {
        assert!(x.len() == self.h * self.w && taps.len() == 9, "one plane and one 3 × 3 filter");
        #[cfg(target_arch = "x86_64")]
        {
            macro_rules! by_vectors {
                ($($v:literal)*) => {
                    match self.ow.div_ceil(WIDTH) {
                        // SAFETY: `Rows::new` found AVX-512; the plane and filter are whole (asserted above).
                        $($v => unsafe { self.run_avx512::<$v>(x, taps, channel, values, targets) },)*
                        _ => unreachable!("`Rows::new` takes rows of at most {VECTORS} vectors"),
                    }
                };
            }
            by_vectors!(1 2 3 4 5 6 7 8)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (channel, values, targets);
            unreachable!("`Rows::new` makes this path only where the processor has AVX-512")
        }
    }

    /// [`Rows::run`] for output rows of `V` vectors.
    ///
    /// # Safety
    /// The processor has AVX-512 (foundation); `x` is one plane, `taps` nine weights.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512<const V: usize>(&self, x: &[f32], taps: &[f32], channel: usize, values: Values, targets: Targets) {
        use std::arch::x86_64::*;
        let Rows { h, w, oh, ow, stride } = *self;
        let tap: [__m512; 9] = std::array::from_fn(|t| _mm512_set1_ps(taps[t]));
        use super::super::row_lanes::{even_odd, load, next_lane, previous_lane};
        let zero = _mm512_setzero_ps();
        let top = usize::from(stride == 1);
        let mut sums = [0.0f32; VECTORS * WIDTH];
        for oy in 0..oh {
            let mut acc = [zero; V];
            for ky in 0..3 {
                // The zero rows above and below add nothing (a sum never is −0, so adding ±0 leaves it as it is).
                let Some(iy) = (oy * stride + ky).checked_sub(top).filter(|&iy| iy < h) else {
                    continue;
                };
                let row = &x[iy * w..(iy + 1) * w];
                let (t0, t1, t2) = (tap[3 * ky], tap[3 * ky + 1], tap[3 * ky + 2]);
                // Per output vector, the values its three taps read: columns x − 1, x, x + 1 at
                // stride 1; 2x, 2x + 1, 2x + 2 at stride 2.
                let reads: [[__m512; 3]; V] = if stride == 1 {
                    let v: [__m512; V] = std::array::from_fn(|b| load(row, b * WIDTH));
                    std::array::from_fn(|b| {
                        let (before, after) = (if b > 0 { v[b - 1] } else { zero }, if b + 1 < V { v[b + 1] } else { zero });
                        [previous_lane(v[b], before), v[b], next_lane(after, v[b])]
                    })
                } else {
                    let columns: [(__m512, __m512); V] = std::array::from_fn(|b| even_odd(load(row, 2 * b * WIDTH), load(row, (2 * b + 1) * WIDTH)));
                    std::array::from_fn(|b| {
                        let after = if b + 1 < V { columns[b + 1].0 } else { zero };
                        [columns[b].0, columns[b].1, next_lane(after, columns[b].0)]
                    })
                };
                for (acc, [a, b, c]) in acc.iter_mut().zip(reads) {
                    *acc = _mm512_add_ps(*acc, _mm512_mul_ps(t0, a));
                    *acc = _mm512_add_ps(*acc, _mm512_mul_ps(t1, b));
                    *acc = _mm512_add_ps(*acc, _mm512_mul_ps(t2, c));
                }
            }
            for (b, acc) in acc.iter().enumerate() {
                // SAFETY: `V` vectors fit `sums` (`V ≤ VECTORS`).
                unsafe { _mm512_storeu_ps(sums.as_mut_ptr().add(b * WIDTH), *acc) };
            }
            values.store(channel, (channel * oh + oy) * ow, &sums[..ow], targets);
        }
    }
}

/// Whether the processor has AVX-512 (foundation).
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}
