//! Depthwise convolutions (one k×k filter per channel) and their input gradients on the CPU.
//!
//! They do a twentieth of the network's multiply-adds, yet burn-flex's general kernels spent as
//! long on them as on all the 1×1 convolutions together (7.5 of 15.8 ms of a forward pass, and
//! as much again backward). Here each channel's plane is padded once into a scratch buffer,
//! split by column parity when the stride is 2, so that every tap of the filter reads (or, for the
//! gradient, writes) a contiguous run, which the compiler vectorises (AVX2 natively when the
//! processor has it, SIMD128 in the browser). Other devices run burn's convolutions.
//!
//! The stem (3 → 32 channels, 3 × 3) is not summed this way: any order of its sums other than
//! burn-flex's moves ReLU6 kinks on the golden cat's flat letterbox border (its gate gradient then
//! differed from the reference by 1.02e-3, over the 1e-3 bound). It runs as one matrix product
//! in burn-flex's own order instead ([`super::pointwise::unfold`]), bit for bit its convolution.

use burn_tensor::Tensor;

use std::mem::MaybeUninit;

use super::cpu::{Fresh, Host, each_chunk, each_range};
use super::finish::{Finish, Finished};

/// Where a depthwise convolution reads: stride, kernel side and zero padding (top, bottom, left, right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Stride in both directions.
    pub stride: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Zero rows above and below, columns left and right.
    pub padding: [usize; 4],
}

impl Window {
    /// Output side for an input side, padding `before + after`.
    fn out(&self, size: usize, before: usize, after: usize) -> usize {
        (size + before + after - self.kernel) / self.stride + 1
    }

    /// Whether these kernels compute this window over one `h × w` image of `channels` channels
    /// with `weight`: one filter per channel, stride 1 or 2, at most [`MAX_TAPS`] taps, the
    /// padded image no smaller than the kernel.
    fn fits(&self, batch: usize, channels: usize, weight: &Tensor<4>, [h, w]: [usize; 2]) -> bool {
        let (k, [top, bottom, left, right]) = (self.kernel, self.padding);
        batch == 1
            && weight.dims() == [channels, 1, k, k]
            && (1..=2).contains(&self.stride)
            && k * k <= MAX_TAPS
            && h + top + bottom >= k
            && w + left + right >= k
    }
}

/// `out[c] = Σ_taps w[c, ky, kx] · x_padded[c, oy·s + ky, ox·s + kx]`, finished by `finish` as
/// each block of sums is stored: `x` `[1, C, H, W]`, `w` `[C, 1, k, k]`. The output, and the
/// pre-activation where `finish` keeps it; `None` off the CPU or for tensors that are not plain buffers.
pub fn forward(x: &Tensor<4>, weight: &Tensor<4>, window: Window, finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
    let [n, channels, h, w] = x.dims();
    if !window.fits(n, channels, weight, [h, w]) {
        return None;
    }
    let (k, [top, bottom, left, right]) = (window.kernel, window.padding);
    let (x_values, weights) = (Host::of(x)?, Host::of(weight)?);
    let (oh, ow) = (window.out(h, top, bottom), window.out(w, left, right));
    let mut finished = Finished::new(finish, [1, channels, oh, ow])?;
    let (values, targets) = finished.parts();
    let plane = Plane { h, w, ow, window };
    let offsets = plane.offsets(0).collect::<Vec<_>>();
    let blocks = plane.blocks(oh * ow, &offsets);
    each_range(channels, oh * ow, |range| {
        // The padding's zeros are written once: `pad` writes the same inner positions for every channel.
        let (mut scratch, mut sums) = (vec![0.0; plane.len() + LANES], vec![0.0; oh * ow]);
        for c in range {
            plane.pad(&x_values.values()[c * h * w..(c + 1) * h * w], &mut scratch);
            plane.sum(&scratch, &weights.values()[c * k * k..(c + 1) * k * k], &offsets, &blocks, &mut sums);
            values.store(c, c * oh * ow, &sums, targets);
        }
    });
    // SAFETY: the ranges cover the channels, and each channel's plane is stored whole.
    Some(unsafe { finished.into_tensors() })
}

/// The input gradient of a strided depthwise convolution (a transposed convolution):
/// `gx[c, oy·s + ky − top, ox·s + kx − left] += w[c, ky, kx] · g[c, oy, ox]`, for an input of
/// `h × w`; `None` off the CPU or for tensors that are not plain buffers.
pub fn backward(g: &Tensor<4>, weight: &Tensor<4>, window: Window, [h, w]: [usize; 2]) -> Option<Tensor<4>> {
    let [n, channels, oh, ow] = g.dims();
    let (k, [top, bottom, left, right]) = (window.kernel, window.padding);
    if !window.fits(n, channels, weight, [h, w]) || (window.out(h, top, bottom), window.out(w, left, right)) != (oh, ow) {
        return None;
    }
    let (g_values, weights) = (Host::of(g)?, Host::of(weight)?);
    let mut out = Fresh::new([1, channels, h, w]);
    let plane = Plane { h, w, ow, window };
    let offsets = plane.offsets(0).collect::<Vec<_>>();
    each_chunk(out.values_mut(), h * w, |start, chunk| {
        let mut scratch = Vec::new();
        for (i, gx) in chunk.chunks_exact_mut(h * w).enumerate() {
            let c = start / (h * w) + i;
            scratch.clear();
            scratch.resize(plane.len(), 0.0);
            plane.scatter(&g_values.values()[c * oh * ow..(c + 1) * oh * ow], &weights.values()[c * k * k..(c + 1) * k * k], &offsets, &mut scratch);
            plane.crop(&scratch, gx);
        }
    });
    // SAFETY: the chunks cover the buffer and every value of each is written.
    Some(unsafe { out.assume_written() }.into_tensor())
}

/// One channel's plane: input `h × w`, output rows `ow` wide.
#[derive(Clone, Copy)]
struct Plane {
    h: usize,
    w: usize,
    ow: usize,
    window: Window,
}

impl Plane {
    /// Padded rows, and the length of one padded row split by column parity (`stride` parts).
    fn padded(&self) -> (usize, usize) {
        let [top, bottom, left, right] = self.window.padding;
        (self.h + top + bottom, (self.w + left + right).div_ceil(self.window.stride))
    }

    /// Values in a padded, parity-split plane.
    fn len(&self) -> usize {
        let (rows, part) = self.padded();
        rows * part * self.window.stride
    }

    /// Where each tap reads, from the top left of an output block's window, in a plane starting
    /// at `base`.
    fn offsets(&self, base: usize) -> impl Iterator<Item = usize> + use<> {
        let (k, s, part) = (self.window.kernel, self.window.stride, self.padded().1);
        (0..k * k).map(move |t| {
            let (ky, kx) = (t / k, t % k);
            base + ky * part * s + (kx % s) * part + kx / s
        })
    }

    /// Writes `x` into `padded` (zeroed, [`Plane::len`] long), split by column parity: part `p`
    /// of a row holds columns `p, p + s, …`, so that a strided tap reads a contiguous run.
    fn pad(&self, x: &[f32], padded: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            return unsafe { self.pad_avx2(x, padded) };
        }
        self.pad_portable(x, padded)
    }

    /// [`Plane::pad_portable`] compiled for AVX2: the stride-2 split into even and odd columns
    /// then takes vector shuffles instead of a value at a time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn pad_avx2(&self, x: &[f32], padded: &mut [f32]) {
        self.pad_portable(x, padded)
    }

    #[inline(always)]
    fn pad_portable(&self, x: &[f32], padded: &mut [f32]) {
        let ([top, _, left, _], (_, part)) = (self.window.padding, self.padded());
        let row = part * self.window.stride;
        for (y, values) in x.chunks_exact(self.w).enumerate() {
            let padded = &mut padded[(y + top) * row..(y + top + 1) * row];
            match self.window.stride {
                1 => split_row::<1>(values, padded, part, left),
                _ => split_row::<2>(values, padded, part, left),
            }
        }
    }

    /// The inverse of [`Plane::pad`]: the image's values out of a padded, parity-split plane.
    fn crop(&self, padded: &[f32], x: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            return unsafe { self.crop_avx2(padded, x) };
        }
        self.crop_portable(padded, x)
    }

    /// [`Plane::crop_portable`] compiled for AVX2, as [`Plane::pad_avx2`].
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn crop_avx2(&self, padded: &[f32], x: &mut [MaybeUninit<f32>]) {
        self.crop_portable(padded, x)
    }

    #[inline(always)]
    fn crop_portable(&self, padded: &[f32], x: &mut [MaybeUninit<f32>]) {
        let ([top, _, left, _], (_, part)) = (self.window.padding, self.padded());
        let row = part * self.window.stride;
        for (y, values) in x.chunks_exact_mut(self.w).enumerate() {
            let padded = &padded[(y + top) * row..(y + top + 1) * row];
            match self.window.stride {
                1 => join_row::<1>(padded, values, part, left),
                _ => join_row::<2>(padded, values, part, left),
            }
        }
    }

    /// `out = Σ_t taps[t] · scratch[block.read + offsets[t]]` for every output value, the taps in
    /// order, block by block of [`Plane::blocks`].
    fn sum(&self, scratch: &[f32], taps: &[f32], offsets: &[usize], blocks: &Blocks, out: &mut [f32]) {
        assert!(blocks.reach <= scratch.len() && blocks.written <= out.len(), "every read lies in the padded plane, every write in the output");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above); the reads and writes lie in
            // `scratch` and `out` (asserted above).
            return unsafe { self.sum_avx2(scratch, taps, offsets, &blocks.list, out) };
        }
        self.sum_portable(scratch, taps, offsets, &blocks.list, out)
    }

    /// [`Plane::sum_portable`] written out in AVX2 for eight blocks at a time: the compiler split
    /// the portable loop's first block into scalar pieces and kept bounds checks in it, and eight
    /// independent sums hide the adds' latency where four do not. Same sums in the same order.
    ///
    /// # Safety
    /// The processor has AVX2; every block's reads (`read + offset + LANES`) lie in `scratch`
    /// and its writes in `out`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn sum_avx2(&self, scratch: &[f32], taps: &[f32], offsets: &[usize], blocks: &[Block], out: &mut [f32]) {
        use std::arch::x86_64::*;
        const GROUP: usize = 8;
        let taps = &taps[..offsets.len()];
        for group in blocks.chunks(GROUP) {
            // A short last group sums its last block again (the same values to the same place).
            let group: [Block; GROUP] = std::array::from_fn(|j| group[j.min(group.len() - 1)]);
            let reads: [*const f32; GROUP] = std::array::from_fn(|j| scratch[group[j].read..].as_ptr());
            let mut sums = [_mm256_setzero_ps(); GROUP];
            for (&tap, &offset) in taps.iter().zip(offsets) {
                let tap = _mm256_set1_ps(tap);
                for (sum, &read) in sums.iter_mut().zip(&reads) {
                    // SAFETY: `read + offset + LANES` lies in `scratch` (the caller's promise).
                    let v = unsafe { _mm256_loadu_ps(read.add(offset)) };
                    *sum = _mm256_add_ps(*sum, _mm256_mul_ps(tap, v));
                }
            }
            for (sum, block) in sums.iter().zip(&group) {
                if block.len == LANES {
                    // SAFETY: `write + LANES` lies in `out` (the caller's promise).
                    unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(block.write), *sum) };
                } else {
                    let mut values = [0.0f32; LANES];
                    // SAFETY: `values` is eight values.
                    unsafe { _mm256_storeu_ps(values.as_mut_ptr(), *sum) };
                    out[block.write..block.write + block.len].copy_from_slice(&values[..block.len]);
                }
            }
        }
    }

    /// How `out_len` output values (whole rows) are cut into blocks of [`LANES`], read with the
    /// taps' `offsets`. The same for every channel of a layer, so made once per layer.
    fn blocks(&self, out_len: usize, offsets: &[usize]) -> Blocks {
        let (row_step, ow) = (self.window.stride * self.window.stride * self.padded().1, self.ow);
        let list: Vec<Block> = (0..out_len / ow)
            .flat_map(|oy| {
                (0..ow.div_ceil(LANES)).map(move |b| Block { read: oy * row_step + b * LANES, write: oy * ow + b * LANES, len: (ow - b * LANES).min(LANES) })
            })
            .collect();
        let reach = list.iter().map(|b| b.read).max().unwrap_or(0) + offsets.iter().max().copied().unwrap_or(0) + LANES;
        let written = list.iter().map(|b| b.write + b.len).max().unwrap_or(0);
        Blocks { list, reach, written }
    }

    /// Output blocks of LANES values, GROUP at a time, each summed over all taps in registers
    /// (independent sums keep the adder busy). A row's short last block is summed in full too,
    /// reading past the row (into the next, or the slack at the end of `scratch`), and only its
    /// first values kept.
    #[inline(always)]
    fn sum_portable(&self, scratch: &[f32], taps: &[f32], offsets: &[usize], blocks: &[Block], out: &mut [f32]) {
        let taps = &taps[..offsets.len()];
        for group in blocks.chunks(GROUP) {
            let mut sums = [[0.0f32; LANES]; GROUP];
            for (&tap, &offset) in taps.iter().zip(offsets) {
                for (sum, block) in sums.iter_mut().zip(group) {
                    let source = &scratch[block.read + offset..block.read + offset + LANES];
                    for (s, &v) in sum.iter_mut().zip(source) {
                        *s += tap * v;
                    }
                }
            }
            for (sum, block) in sums.iter().zip(group) {
                // A whole block is one fixed-size copy (a vector store, not a call to memmove).
                match <&mut [f32; LANES]>::try_from(&mut out[block.write..block.write + block.len]) {
                    Ok(whole) => *whole = *sum,
                    Err(_) => out[block.write..block.write + block.len].copy_from_slice(&sum[..block.len]),
                }
            }
        }
    }

    /// `padded[origin + offsets[t]] += taps[t] · g` for every output value and tap, in order:
    /// the transposed convolution into a padded, parity-split plane (zeroed, [`Plane::len`] long).
    fn scatter(&self, g: &[f32], taps: &[f32], offsets: &[usize], padded: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            return unsafe { self.scatter_avx2(g, taps, offsets, padded) };
        }
        self.scatter_portable(g, taps, offsets, padded)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn scatter_avx2(&self, g: &[f32], taps: &[f32], offsets: &[usize], padded: &mut [f32]) {
        self.scatter_portable(g, taps, offsets, padded)
    }

    /// One contiguous multiply-add per output row and tap.
    #[inline(always)]
    fn scatter_portable(&self, g: &[f32], taps: &[f32], offsets: &[usize], padded: &mut [f32]) {
        let row_step = self.window.stride * self.window.stride * self.padded().1;
        for (oy, g_row) in g.chunks_exact(self.ow).enumerate() {
            for (&tap, &offset) in taps.iter().zip(offsets) {
                let start = oy * row_step + offset;
                for (p, &v) in padded[start..start + self.ow].iter_mut().zip(g_row) {
                    *p += tap * v;
                }
            }
        }
    }
}

/// A run of up to [`LANES`] output values of one row, and where its window starts in the padded plane.
#[derive(Clone, Copy)]
struct Block {
    read: usize,
    write: usize,
    len: usize,
}

/// A layer's blocks ([`Plane::blocks`]), with how far into the padded plane their reads go and
/// into the output their writes: checked once per plane, not per block.
struct Blocks {
    list: Vec<Block>,
    reach: usize,
    written: usize,
}

/// Values summed at once per output row (a 256-bit register natively; two 128-bit ones in the browser).
const LANES: usize = 8;
/// Output blocks summed side by side.
const GROUP: usize = 4;
/// Most taps a filter may have (7 × 7; the network's are 3 × 3 and 5 × 5).
const MAX_TAPS: usize = 49;

/// Writes `row` into a padded row split by column parity: column `left + x` goes to part
/// `(left + x) % S`, place `(left + x) / S`; each part is `part` long.
#[inline(always)]
fn split_row<const S: usize>(row: &[f32], padded: &mut [f32], part: usize, left: usize) {
    if S == 1 {
        padded[left..left + row.len()].copy_from_slice(row);
        return;
    }
    // Stride 2: even inputs go to one part, odd ones to the other, which depends on `left`'s parity.
    let (even, odd) = padded.split_at_mut(part);
    let (first, second) = if left.is_multiple_of(2) { (even, odd) } else { (odd, even) };
    let (half, odd_length) = (row.len() / 2, row.len() % 2);
    let first = &mut first[left / 2..left / 2 + half + odd_length];
    let second = &mut second[left / 2 + left % 2..left / 2 + left % 2 + half];
    for ((pair, a), b) in row.chunks_exact(2).zip(first.iter_mut()).zip(second.iter_mut()) {
        (*a, *b) = (pair[0], pair[1]);
    }
    if odd_length == 1 {
        first[half] = row[row.len() - 1];
    }
}

/// The inverse of [`split_row`]: reads `row` back out of a parity-split padded row.
#[inline(always)]
fn join_row<const S: usize>(padded: &[f32], row: &mut [MaybeUninit<f32>], part: usize, left: usize) {
    if S == 1 {
        row.iter_mut().zip(&padded[left..]).for_each(|(o, &v)| _ = o.write(v));
        return;
    }
    let (even, odd) = padded.split_at(part);
    let (first, second) = if left.is_multiple_of(2) { (even, odd) } else { (odd, even) };
    let (half, odd_length) = (row.len() / 2, row.len() % 2);
    let first = &first[left / 2..left / 2 + half + odd_length];
    let second = &second[left / 2 + left % 2..left / 2 + left % 2 + half];
    let last = row.len().saturating_sub(1);
    for ((pair, &a), &b) in row.chunks_exact_mut(2).zip(first).zip(second) {
        (pair[0], pair[1]) = (MaybeUninit::new(a), MaybeUninit::new(b));
    }
    if odd_length == 1 {
        row[last] = MaybeUninit::new(first[half]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_tensor::module::{conv_transpose2d, conv2d};
    use burn_tensor::ops::{ConvOptions, ConvTransposeOptions};
    use burn_tensor::{Device, TensorData};

    const SUM: Finish<'static> = Finish::Sum { plus: None };

    fn tensor(shape: [usize; 4], seed: usize) -> Tensor<4> {
        let n = shape.iter().product::<usize>();
        let values = (0..n).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0).collect::<Vec<_>>();
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b).abs().max().into_scalar()
    }

    /// Every geometry of the network (kernels 3 and 5, strides 1 and 2, TF "SAME" padding on odd and
    /// even sides) and a few others, against burn's convolutions.
    #[test]
    fn matches_burns_convolutions_forward_and_backward() {
        for (k, s, h, w, padding) in [
            (3, 1, 9, 7, [1, 1, 1, 1]),
            (5, 1, 14, 14, [2, 2, 2, 2]),
            (3, 2, 112, 112, [0, 1, 0, 1]),
            (5, 2, 28, 28, [1, 2, 1, 2]),
            (3, 2, 7, 9, [1, 1, 1, 1]),
            (5, 2, 14, 11, [1, 2, 2, 2]),
            (3, 1, 5, 6, [2, 0, 0, 2]),
        ] {
            let channels = 6;
            let (x, weight) = (tensor([1, channels, h, w], 1), tensor([channels, 1, k, k], 2));
            let window = Window { stride: s, kernel: k, padding };
            let [top, bottom, left, right] = padding;
            let options = ConvOptions { stride: [s, s], padding: [(top, bottom), (left, right)], dilation: [1, 1], groups: channels };
            let expected = conv2d(x.clone(), weight.clone(), None, options);
            let ours = forward(&x, &weight, window, SUM).expect("a CPU tensor").0;
            assert!(max_difference(ours, expected.clone()) < 1e-5, "forward k{k} s{s} {h}×{w} {padding:?}");

            let [_, _, oh, ow] = expected.dims();
            let g = tensor([1, channels, oh, ow], 3);
            let reach = |n: usize| (n - 1) * s + k;
            let padding_out = [(h + top + bottom) - reach(oh), (w + left + right) - reach(ow)];
            let transposed = ConvTransposeOptions::new([s, s], [0, 0], padding_out, [1, 1], channels);
            let expected = conv_transpose2d(g.clone(), weight.clone(), None, transposed).narrow(2, top, h).narrow(3, left, w);
            let ours = backward(&g, &weight, window, [h, w]).expect("a CPU tensor");
            assert!(max_difference(ours, expected) < 1e-5, "backward k{k} s{s} {h}×{w} {padding:?}");
        }
    }

    #[test]
    fn finishing_is_bit_for_bit_the_separate_passes() {
        let (channels, side) = (6, 11);
        let (x, weight) = (tensor([1, channels, side, side], 1), tensor([channels, 1, 5, 5], 2));
        let window = Window { stride: 2, kernel: 5, padding: [1, 2, 1, 2] };
        let raw = forward(&x, &weight, window, SUM).unwrap().0;
        let (scale, shift) = (tensor([1, channels, 1, 1], 3), tensor([1, channels, 1, 1], 4));
        let normed = raw.clone() * scale.clone() + shift.clone();
        let gate = tensor(raw.dims(), 5).abs();
        let bits = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect::<Vec<_>>();
        let bn = forward(&x, &weight, window, Finish::BatchNorm { scale: &scale, shift: &shift, plus: Some(&gate) }).unwrap().0;
        assert_eq!(bits(bn), bits(normed.clone() + gate.clone()));
        let finish = Finish::Gated { scale: &scale, shift: &shift, gate: Some(&gate), keep: true };
        let (out, pre) = forward(&x, &weight, window, finish).unwrap();
        assert_eq!(bits(pre.expect("kept")), bits(normed.clone()));
        assert_eq!(bits(out), bits(gate * burn_tensor::activation::relu6(normed)));
    }

    #[test]
    fn refuses_what_it_does_not_compute() {
        let weight = tensor([4, 1, 3, 3], 2);
        let window = Window { stride: 1, kernel: 3, padding: [1, 1, 1, 1] };
        assert!(forward(&tensor([2, 4, 5, 5], 1), &weight, window, SUM).is_none(), "a batch");
        assert!(forward(&tensor([1, 3, 5, 5], 1), &weight, window, SUM).is_none(), "channels and filters differ");
        assert!(forward(&tensor([1, 4, 9, 9], 1).narrow(3, 1, 5), &weight, window, SUM).is_none(), "a strided view");
        assert!(forward(&tensor([1, 4, 1, 1], 1), &weight, Window { padding: [0; 4], ..window }, SUM).is_none(), "smaller than the kernel");
        assert!(backward(&tensor([1, 4, 5, 5], 1), &weight, window, [6, 6]).is_none(), "gradient and input sizes disagree");
    }
}
