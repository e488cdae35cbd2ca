//! AVX-512 reads of one image row, shared by the kernels that sum straight from the rows
//! ([`super::depthwise`]'s 3 × 3 layers, [`super::pointwise`]'s stem): sixteen values at a time
//! with zeros past the row's end (the image's right border), its even and odd columns (stride 2),
//! and a vector's lanes moved by one with its neighbour's shifted in (the taps beside a column).

use std::arch::x86_64::*;

/// Sixteen values of `row` from column `start` on, zero past its end.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn load(row: &[f32], start: usize) -> __m512 {
    match row.len().saturating_sub(start) {
        0 => _mm512_setzero_ps(),
        l if l >= 16 => {
            // SAFETY: the sixteen values lie in `row` (`start + 16 ≤ len`).
            unsafe { _mm512_loadu_ps(row[start..].as_ptr()) }
        }
        // SAFETY: the lanes read lie in `row` (`start + lane < len`); masked lanes are not read.
        l => unsafe { _mm512_maskz_loadu_ps((1 << l) - 1, row.as_ptr().wrapping_add(start)) },
    }
}

/// The even and the odd columns of the thirty-two values `low`, then `high`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn even_odd(low: __m512, high: __m512) -> (__m512, __m512) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    (_mm512_permutex2var_ps(low, even, high), _mm512_permutex2var_ps(low, odd, high))
}

/// `at`'s lanes moved down by one, `after`'s first lane in after them (`valignd`).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn next_lane(after: __m512, at: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_alignr_epi32::<1>(_mm512_castps_si512(after), _mm512_castps_si512(at)))
}

/// `at`'s lanes moved up by one, `before`'s last lane in before them.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn previous_lane(at: __m512, before: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_alignr_epi32::<15>(_mm512_castps_si512(at), _mm512_castps_si512(before)))
}
