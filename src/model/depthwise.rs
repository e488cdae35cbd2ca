//! Depthwise convolutions (one k×k filter per channel) and their input gradients on the CPU.
//!
//! They do a twentieth of the network's multiply-adds, yet burn-flex's general kernels spent as
//! long on them as on all the 1×1 convolutions together (7.5 of 15.8 ms of a forward pass, and
//! as much again backward). Here each channel's plane is padded once into a scratch buffer,
//! split by column parity when the stride is 2, so that every tap of the filter reads (or, for the
//! gradient, writes) a contiguous run, which the compiler vectorises (AVX2 natively when the
//! processor has it, SIMD128 in the browser). Other devices run burn's convolutions.
//!
//! Forward, on planes of 28 × 28 and less (and 56 × 56 with 5 × 5 kernels), eight channels go
//! together instead ([`Group`]): interleaved, each tap is one vector of eight weights times one
//! aligned vector of eight inputs, no lane wasted on a 7- or 14-wide row, no parity split. The
//! sums are the same and in the same order, so the two paths agree bit for bit. On the larger
//! planes with 3 × 3 kernels (b0–b2), where the processor has AVX-512, the rows are read
//! straight from the input instead of a padded copy ([`rows`]), bit for bit too.
//!
//! The stem (3 → 32 channels, 3 × 3) is not summed this way: any order of its sums other than
//! burn-flex's moves ReLU6 kinks on the golden cat's flat letterbox border (its gate gradient then
//! differed from the reference by 1.02e-3, over the 1e-3 bound). It runs as one matrix product
//! in burn-flex's own order instead ([`super::pointwise::unfold`]), bit for bit its convolution.

use burn_tensor::Tensor;

use std::cell::RefCell;
use std::mem::MaybeUninit;

use super::cpu::{Fresh, Host, each_chunk, each_range};
use super::finish::{Finish, Finished, Targets, Values};

mod rows;

use rows::Rows;

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
    forward_by(x, weight, window, finish, true)
}

/// [`forward`], straight from the input's rows ([`Rows`]) only where `straight` allows it.
fn forward_by(x: &Tensor<4>, weight: &Tensor<4>, window: Window, finish: Finish, straight: bool) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
    let [n, channels, h, w] = x.dims();
    if !window.fits(n, channels, weight, [h, w]) {
        return None;
    }
    let (k, [top, bottom, left, right]) = (window.kernel, window.padding);
    let (x_values, weights) = (Host::of(x)?, Host::of(weight)?);
    let (oh, ow) = (window.out(h, top, bottom), window.out(w, left, right));
    let mut finished = Finished::new(finish, [1, channels, oh, ow])?;
    let (values, targets) = finished.parts();
    let (x_values, weights) = (x_values.values(), weights.values());
    // Eight channels at a time, interleaved, where that pays; the other channels one by one,
    // straight from the input's rows where that path computes the window.
    let group = Group { h, w, oh, ow, window };
    if let Some(rows) = Rows::new(window, [h, w], [oh, ow]).filter(|_| straight && !group.pays()) {
        each_range(channels, oh * ow, |range| {
            for c in range {
                rows.run(&x_values[c * h * w..(c + 1) * h * w], &weights[c * k * k..(c + 1) * k * k], c, values, targets);
            }
        });
        // SAFETY: the ranges cover the channels, and each channel's plane is stored whole.
        return Some(unsafe { finished.into_tensors() });
    }
    let grouped = if group.pays() { channels / CHANNELS * CHANNELS } else { 0 };
    let (tap_offsets, reads) = if grouped > 0 { (group.offsets(), group.reads()) } else { Default::default() };
    each_range(grouped / CHANNELS, CHANNELS * oh * ow, |range| {
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.prepare(&group);
            for g in range {
                let first = g * CHANNELS;
                let x = &x_values[first * h * w..(first + CHANNELS) * h * w];
                group.run(x, &weights[first * k * k..(first + CHANNELS) * k * k], &tap_offsets, &reads, scratch, (values, targets, first));
            }
        })
    });
    let plane = Plane { h, w, ow, window };
    let offsets = plane.offsets(0).collect::<Vec<_>>();
    let blocks = plane.blocks(oh * ow, &offsets);
    each_range(channels - grouped, oh * ow, |range| {
        // The padding's zeros are written once: `pad` writes the same inner positions for every channel.
        let (mut scratch, mut sums) = (vec![0.0; plane.len() + LANES], vec![0.0; oh * ow]);
        for c in range.start + grouped..range.end + grouped {
            plane.pad(&x_values[c * h * w..(c + 1) * h * w], &mut scratch);
            plane.sum(&scratch, &weights[c * k * k..(c + 1) * k * k], &offsets, &blocks, &mut sums);
            values.store(c, c * oh * ow, &sums, targets);
        }
    });
    // SAFETY: the groups and the ranges after them cover the channels, and each channel's plane
    // is stored whole.
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

/// [`CHANNELS`] channels' planes summed together, interleaved: the padded image holds each
/// position's values of the eight channels side by side, so that a tap's eight weights are one
/// vector and each tap reads one whole vector per output position, aligned, at stride 1 or 2
/// alike (the one-channel path reads unaligned runs and splits strided rows by column parity).
/// The sums are the same, tap by tap in order, so the outputs are bit for bit the one-channel path's.
#[derive(Clone, Copy)]
struct Group {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    window: Window,
}

/// A thread's buffers for [`Group::run`]: the padded, interleaved image (its padding zeroed once,
/// aligned to a vector), the interleaved taps, the interleaved sums and the sums as planes.
struct GroupScratch {
    image: Vec<f32>,
    start: usize,
    taps: Vec<f32>,
    sums: Vec<f32>,
    planes: Vec<f32>,
}

thread_local! {
    /// Each thread's [`GroupScratch`], kept from layer to layer and pass to pass: made and freed
    /// in every layer, buffers of a dozen sizes between the activations fragmented the browser's
    /// single heap (its memory grew 5 MB from the 10th to the 50th feedback run).
    static SCRATCH: RefCell<GroupScratch> = const {
        RefCell::new(GroupScratch { image: Vec::new(), start: 0, taps: Vec::new(), sums: Vec::new(), planes: Vec::new() })
    };
}

impl GroupScratch {
    /// Readies the buffers for `group`: the image all zeros (its padding must be) and aligned,
    /// the others long enough. Allocates only where a buffer must grow.
    fn prepare(&mut self, group: &Group) {
        self.image.clear();
        self.image.resize(group.len() + CHANNELS, 0.0);
        // The image starts on a 32-byte boundary, so that no read of eight values straddles two cache lines.
        self.start = self.image.as_ptr().align_offset(CHANNELS * size_of::<f32>()).min(CHANNELS);
        let (n, taps) = ((group.oh * group.ow).min(STRIP), group.window.kernel * group.window.kernel);
        self.taps.resize(taps * CHANNELS, 0.0);
        self.sums.resize(n * CHANNELS, 0.0);
        self.planes.resize(n * CHANNELS, 0.0);
    }
}

impl Group {
    /// Whether interleaving pays for itself here: it makes the sums faster (most where kernels are
    /// large and planes small: 5 × 5 layers 15–30%, 7 × 7 and 14 × 14 planes 30–40%) but costs
    /// two transposes; on this network's 56 × 56 and 112 × 112 planes with 3 × 3 kernels, where the
    /// passes stream megabytes for few sums, the one-channel path was 5–20% faster (measured).
    fn pays(&self) -> bool {
        let plane = self.h * self.w;
        plane <= 28 * 28 || (plane <= 56 * 56 && self.window.kernel >= 5)
    }

    /// The padded image's width.
    fn width(&self) -> usize {
        let [_, _, left, right] = self.window.padding;
        self.w + left + right
    }

    /// Values in the padded, interleaved image.
    fn len(&self) -> usize {
        let [top, bottom, _, _] = self.window.padding;
        (self.h + top + bottom) * self.width() * CHANNELS
    }

    /// Where each tap reads, from the top left of an output position's window.
    fn offsets(&self) -> Vec<usize> {
        let (k, width) = (self.window.kernel, self.width());
        (0..k * k).map(|t| (t / k * width + t % k) * CHANNELS).collect()
    }

    /// Where each output position's window starts, position by position.
    fn reads(&self) -> Vec<usize> {
        let (s, width) = (self.window.stride, self.width());
        (0..self.oh * self.ow).map(|p| (p / self.ow * s * width + p % self.ow * s) * CHANNELS).collect()
    }

    /// Sums the group's channels: `x` their `CHANNELS` planes, `weights` their filters; finishes
    /// the sums into channels `first..` of the output (`values`, `targets`), a strip of [`STRIP`]
    /// positions at a time, the image's rows interleaved just before a strip first reads them (so
    /// that they are still in the cache).
    fn run(&self, x: &[f32], weights: &[f32], offsets: &[usize], reads: &[usize], scratch: &mut GroupScratch, output: (Values, Targets, usize)) {
        let reach = reads.last().copied().unwrap_or(0) + offsets.last().copied().unwrap_or(0) + CHANNELS;
        assert!(reach <= self.len() && x.len() == CHANNELS * self.h * self.w, "every read lies in the padded image");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above); the reads lie in the image (asserted above).
            return unsafe { self.run_avx2(x, weights, offsets, reads, scratch, output) };
        }
        self.strips(x, weights, offsets, reads, scratch, output, Self::pack_portable, sum_interleaved_portable, unpack_portable)
    }

    /// [`Group::run`] in AVX2: the interleaving and its inverse as 8 × 8 transposes in registers,
    /// and (the finishing included) compiled for AVX2.
    ///
    /// # Safety
    /// The processor has AVX2, and every read lies in the padded image.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn run_avx2(&self, x: &[f32], weights: &[f32], offsets: &[usize], reads: &[usize], scratch: &mut GroupScratch, output: (Values, Targets, usize)) {
        // SAFETY (each): the processor has AVX2; the reads lie in the image (the caller's promise).
        let pack = |group: &Self, x: &[f32], image: &mut [f32], rows| unsafe { group.pack_avx2(x, image, rows) };
        let window = (self.window.kernel, self.window.stride);
        let wide = std::arch::is_x86_feature_detected!("avx512vl");
        let sum = |image: &[f32], taps: &[f32], offsets: &[usize], reads: &[usize], sums: &mut [f32]| unsafe {
            match wide {
                true => sum_runs_avx512(image, taps, window, offsets, reads, sums),
                false => sum_runs_avx2(image, taps, window, offsets, reads, sums),
            }
        };
        let unpack = |sums: &[f32], planes: &mut [f32]| unsafe { unpack_avx2(sums, planes) };
        self.strips(x, weights, offsets, reads, scratch, output, pack, sum, unpack)
    }

    /// [`Group::run`]'s strips, with the kernels for this processor.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn strips(
        &self,
        x: &[f32],
        weights: &[f32],
        offsets: &[usize],
        reads: &[usize],
        scratch: &mut GroupScratch,
        output: (Values, Targets, usize),
        pack: impl Fn(&Self, &[f32], &mut [f32], std::ops::Range<usize>),
        sum: impl Fn(&[f32], &[f32], &[usize], &[usize], &mut [f32]),
        unpack: impl Fn(&[f32], &mut [f32]),
    ) {
        self.interleave_taps(weights, &mut scratch.taps);
        let mut packed = 0;
        for (strip, reads) in reads.chunks(STRIP).enumerate() {
            let image = &mut scratch.image[scratch.start..scratch.start + self.len()];
            let rows = self.rows_read(strip * STRIP + reads.len() - 1);
            pack(self, x, image, packed..rows);
            packed = packed.max(rows);
            let sums = &mut scratch.sums[..reads.len() * CHANNELS];
            sum(image, &scratch.taps, offsets, reads, sums);
            let planes = &mut scratch.planes[..reads.len() * CHANNELS];
            unpack(sums, planes);
            let (len, n, (values, targets, first)) = (reads.len(), self.oh * self.ow, output);
            for (i, plane) in planes.chunks_exact(len).enumerate() {
                values.store(first + i, (first + i) * n + strip * STRIP, plane, targets);
            }
        }
    }

    /// The image rows (unpadded, counted from the top) that output positions up to `last` read: `0..rows`.
    fn rows_read(&self, last: usize) -> usize {
        let [top, ..] = self.window.padding;
        ((last / self.ow) * self.window.stride + self.window.kernel).saturating_sub(top).min(self.h)
    }

    /// `taps[t · CHANNELS + i] = weights[i · k² + t]`.
    #[inline(always)]
    fn interleave_taps(&self, weights: &[f32], taps: &mut [f32]) {
        let k2 = self.window.kernel * self.window.kernel;
        for (i, filter) in weights.chunks_exact(k2).enumerate() {
            filter.iter().enumerate().for_each(|(t, &v)| taps[t * CHANNELS + i] = v);
        }
    }

    /// Writes rows `rows` of the planes `x` into the padded image, interleaved; the padding is left
    /// as it is (zero).
    #[inline(always)]
    fn pack_portable(&self, x: &[f32], image: &mut [f32], rows: std::ops::Range<usize>) {
        let ([top, _, left, _], (h, w), width) = (self.window.padding, (self.h, self.w), self.width());
        for (i, plane) in x.chunks_exact(h * w).enumerate() {
            for (y, row) in plane.chunks_exact(w).enumerate().take(rows.end).skip(rows.start) {
                let at = ((y + top) * width + left) * CHANNELS + i;
                row.iter().enumerate().for_each(|(x, &v)| image[at + x * CHANNELS] = v);
            }
        }
    }

    /// [`Group::pack_portable`], eight positions at a time by 8 × 8 transposes (positions in
    /// reading order, so a block of eight may run on into the next row).
    ///
    /// # Safety
    /// The processor has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn pack_avx2(&self, x: &[f32], image: &mut [f32], rows: std::ops::Range<usize>) {
        use std::arch::x86_64::*;
        let ([top, _, left, right], (h, w), width) = (self.window.padding, (self.h, self.w), self.width());
        let (n, start, end) = (h * w, rows.start * w, rows.end * w);
        assert!(x.len() == CHANNELS * n && end <= n && ((h - 1 + top) * width + left + w) * CHANNELS <= image.len());
        if start >= end {
            return;
        }
        // Writes go from position `start` on, eight values a position, skipping the padding between rows.
        let mut to = image[((rows.start + top) * width + left) * CHANNELS..].as_mut_ptr();
        let (gap, mut column) = ((left + right) * CHANNELS, 0);
        let mut next = |to: &mut *mut f32| {
            column += 1;
            let step = if column == w { CHANNELS + gap } else { CHANNELS };
            column = if column == w { 0 } else { column };
            // SAFETY: the next position's values lie in the image (asserted for every row above).
            *to = unsafe { to.add(step) };
        };
        let mut q = start;
        while q + CHANNELS <= end {
            // SAFETY: positions q .. q + 8 of every channel lie in `x` (q + 8 ≤ end ≤ n), and the
            // writes in the image (asserted above).
            unsafe {
                let columns = transpose8(std::array::from_fn(|i| _mm256_loadu_ps(x.as_ptr().add(i * n + q))));
                for column in columns {
                    _mm256_storeu_ps(to, column);
                    next(&mut to);
                }
            }
            q += CHANNELS;
        }
        for q in q..end {
            for i in 0..CHANNELS {
                // SAFETY: as above.
                unsafe { *to.add(i) = x[i * n + q] };
            }
            next(&mut to);
        }
    }
}

/// `sums[p · 8 + i] = Σ_t taps[t · 8 + i] · image[reads[p] + offsets[t] + i]`, the taps in order.
#[inline(always)]
fn sum_interleaved_portable(image: &[f32], taps: &[f32], offsets: &[usize], reads: &[usize], sums: &mut [f32]) {
    for (&read, out) in reads.iter().zip(sums.chunks_exact_mut(CHANNELS)) {
        let mut sum = [0.0f32; CHANNELS];
        for (tap, &offset) in taps.chunks_exact(CHANNELS).zip(offsets) {
            let values = &image[read + offset..read + offset + CHANNELS];
            for ((s, &w), &v) in sum.iter_mut().zip(tap).zip(values) {
                *s += w * v;
            }
        }
        out.copy_from_slice(&sum);
    }
}

/// [`sum_interleaved_portable`] in AVX2, eight positions at a time (independent sums hide the adds' latency).
///
/// # Safety
/// The processor has AVX2; `reads[p] + offsets[t] + 8` lies in `image` for every position and tap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_interleaved_avx2(image: &[f32], taps: &[f32], offsets: &[usize], reads: &[usize], sums: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(sums.len() >= reads.len() * CHANNELS && taps.len() >= offsets.len() * CHANNELS);
    const POSITIONS: usize = 8;
    for (g, group) in reads.chunks(POSITIONS).enumerate() {
        // A short last group sums its last position again (and does not store it twice).
        let from: [*const f32; POSITIONS] = std::array::from_fn(|j| image[group[j.min(group.len() - 1)]..].as_ptr());
        let mut acc = [_mm256_setzero_ps(); POSITIONS];
        for (t, &offset) in offsets.iter().enumerate() {
            // SAFETY: tap t's eight weights lie in `taps`, and every read in `image` (the caller's promise).
            unsafe {
                let tap = _mm256_loadu_ps(taps.as_ptr().add(t * CHANNELS));
                for (sum, &read) in acc.iter_mut().zip(&from) {
                    *sum = _mm256_add_ps(*sum, _mm256_mul_ps(tap, _mm256_loadu_ps(read.add(offset))));
                }
            }
        }
        for (j, sum) in acc.iter().take(group.len()).enumerate() {
            // SAFETY: position g · 8 + j's eight sums lie in `sums` (asserted above).
            unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add((g * POSITIONS + j) * CHANNELS), *sum) };
        }
    }
}

/// [`sum_interleaved_avx2`] a row's run of up to eight positions at a time (`k` × `k` taps,
/// `stride`): the taps of a kernel row that read one input position share its load (the
/// positions are `stride` apart, the taps one), so each input vector is loaded once per run and
/// kernel row instead of once per tap, and the sums are no longer held up by the loads. Same
/// sums in the same order. Kernels other than 3 × 3 and 5 × 5 go through [`sum_interleaved_avx2`].
///
/// # Safety
/// As [`sum_interleaved_avx2`]'s; `offsets` are a `k × k` window's, `reads` `stride` apart along a row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_runs_avx2(image: &[f32], taps: &[f32], window: (usize, usize), offsets: &[usize], reads: &[usize], sums: &mut [f32]) {
    // SAFETY: the caller's promise.
    unsafe { sum_runs_with::<false>(image, taps, window, offsets, reads, sums) }
}

/// [`sum_runs_avx2`] compiled for AVX-512's registers (32 of eight values where AVX2 has 16):
/// a run's sums, weights and inputs then stay in registers.
///
/// # Safety
/// As [`sum_runs_avx2`]'s, and the processor has AVX-512 (foundation and vector length).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn sum_runs_avx512(image: &[f32], taps: &[f32], window: (usize, usize), offsets: &[usize], reads: &[usize], sums: &mut [f32]) {
    // SAFETY: the caller's promise.
    unsafe { sum_runs_with::<true>(image, taps, window, offsets, reads, sums) }
}

/// [`sum_runs_avx2`]'s body, compiled where it is called; `WIDE` with AVX-512's registers. At
/// stride 2 the runs read more inputs (2 · 7 + k for eight positions), which paid only with those
/// registers (b3: 157 → 149 µs; with AVX2's, 157 → 186).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_runs_with<const WIDE: bool>(image: &[f32], taps: &[f32], (kernel, stride): (usize, usize), offsets: &[usize], reads: &[usize], sums: &mut [f32]) {
    // SAFETY (each): the caller's promise.
    unsafe {
        match (kernel, stride) {
            (3, 1) => sum_runs::<3, 1>(image, taps, offsets, reads, sums),
            (5, 1) => sum_runs::<5, 1>(image, taps, offsets, reads, sums),
            (3, 2) if WIDE => sum_runs::<3, 2>(image, taps, offsets, reads, sums),
            (5, 2) if WIDE => sum_runs::<5, 2>(image, taps, offsets, reads, sums),
            _ => sum_interleaved_avx2(image, taps, offsets, reads, sums),
        }
    }
}

/// [`sum_runs_avx2`] for a `K` × `K` window at stride `S`: the positions cut into runs along a row.
///
/// # Safety
/// As [`sum_runs_avx2`]'s, `K` and `S` its window's.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_runs<const K: usize, const S: usize>(image: &[f32], taps: &[f32], offsets: &[usize], reads: &[usize], sums: &mut [f32]) {
    assert!(offsets.len() == K * K && taps.len() >= K * K * CHANNELS && sums.len() >= reads.len() * CHANNELS);
    let row = if K > 1 { offsets[K] } else { 0 };
    let reach = |read: usize, len: usize| read + (len - 1) * S * CHANNELS + offsets[K * K - 1] + CHANNELS;
    let mut p = 0;
    while p < reads.len() {
        // A run: up to eight positions whose windows lie `S` apart, on one row.
        let mut len = 1;
        while len < RUN && p + len < reads.len() && reads[p + len] == reads[p + len - 1] + S * CHANNELS {
            len += 1;
        }
        assert!(reach(reads[p], len) <= image.len(), "every read lies in the image");
        let (from, to) = (image[reads[p]..].as_ptr(), sums[p * CHANNELS..].as_mut_ptr());
        macro_rules! by_len {
            ($($n:literal)*) => {
                // SAFETY: the run's reads lie in the image (asserted above), its sums in `sums`.
                match len { $($n => unsafe { sum_run::<K, S, $n>(from, row, taps.as_ptr(), to) },)* _ => unreachable!() }
            };
        }
        by_len!(1 2 3 4 5 6 7 8);
        p += len;
    }
}

/// Positions summed together in [`sum_runs`].
#[cfg(target_arch = "x86_64")]
const RUN: usize = 8;

/// `to[j · 8 + i] = Σ_t taps[t · 8 + i] · from[(j · S + ky · row / 8 + kx) · 8 + i]` for the `P`
/// positions `j` of a run, the taps `t = ky · K + kx` in order.
///
/// # Safety
/// The processor has AVX2; the reads lie in `from`'s image, the `P` positions' sums in `to`,
/// `K · K` taps of eight in `taps`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sum_run<const K: usize, const S: usize, const P: usize>(from: *const f32, row: usize, taps: *const f32, to: *mut f32) {
    use std::arch::x86_64::*;
    // SAFETY (all): the caller's promise.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); P];
        for ky in 0..K {
            let line = from.add(ky * row);
            let weights: [__m256; K] = std::array::from_fn(|kx| _mm256_loadu_ps(taps.add((ky * K + kx) * CHANNELS)));
            // Input position `j · S + kx` serves position `j`'s tap `kx` and others' taps: the
            // loop unrolled, each is loaded once (the compiler merges the same loads).
            for (kx, &weight) in weights.iter().enumerate() {
                for (j, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_add_ps(*acc, _mm256_mul_ps(weight, _mm256_loadu_ps(line.add((j * S + kx) * CHANNELS))));
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            _mm256_storeu_ps(to.add(j * CHANNELS), *acc);
        }
    }
}

/// The inverse of the interleaving: `planes[i · n + p] = sums[p · 8 + i]` for `n` positions.
#[inline(always)]
fn unpack_portable(sums: &[f32], planes: &mut [f32]) {
    let n = sums.len() / CHANNELS;
    for (p, values) in sums.chunks_exact(CHANNELS).enumerate() {
        values.iter().enumerate().for_each(|(i, &v)| planes[i * n + p] = v);
    }
}

/// [`unpack_portable`], eight positions at a time by 8 × 8 transposes.
///
/// # Safety
/// The processor has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unpack_avx2(sums: &[f32], planes: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = sums.len() / CHANNELS;
    assert_eq!(planes.len(), sums.len());
    let whole = n / CHANNELS * CHANNELS;
    for p in (0..whole).step_by(CHANNELS) {
        // SAFETY: positions p .. p + 8 of every channel lie in both buffers (p + 8 ≤ n).
        unsafe {
            let rows: [__m256; CHANNELS] = std::array::from_fn(|j| _mm256_loadu_ps(sums.as_ptr().add((p + j) * CHANNELS)));
            for (i, column) in transpose8(rows).into_iter().enumerate() {
                _mm256_storeu_ps(planes.as_mut_ptr().add(i * n + p), column);
            }
        }
    }
    for p in whole..n {
        for i in 0..CHANNELS {
            planes[i * n + p] = sums[p * CHANNELS + i];
        }
    }
}

/// The transpose of an 8 × 8 block held as eight rows.
///
/// # Safety
/// The processor has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped into place.
    let (t0, t1) = (_mm256_unpacklo_ps(r[0], r[1]), _mm256_unpackhi_ps(r[0], r[1]));
    let (t2, t3) = (_mm256_unpacklo_ps(r[2], r[3]), _mm256_unpackhi_ps(r[2], r[3]));
    let (t4, t5) = (_mm256_unpacklo_ps(r[4], r[5]), _mm256_unpackhi_ps(r[4], r[5]));
    let (t6, t7) = (_mm256_unpacklo_ps(r[6], r[7]), _mm256_unpackhi_ps(r[6], r[7]));
    let (s0, s1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
    let (s2, s3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
    let (s4, s5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
    let (s6, s7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
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

/// Channels summed together by [`Group`] (a 256-bit register natively; two 128-bit ones in the browser).
const CHANNELS: usize = 8;
/// Output positions [`Group`] sums, turns back into planes and finishes at a time (its buffers stay in the first-level cache).
const STRIP: usize = 256;
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
            // Two groups of eight channels and three more: both paths where interleaving pays.
            let channels = 19;
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

    /// The interleaved path sums as the one-channel path does, so the two agree bit for bit,
    /// stride 1 and 2, rows narrower and wider than eight, finished or not.
    #[test]
    fn interleaved_channels_are_bit_for_bit_one_channel_at_a_time() {
        let bits = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect::<Vec<_>>();
        for (k, s, h, w, padding) in [(3, 1, 7, 7, [1, 1, 1, 1]), (5, 2, 28, 28, [1, 2, 1, 2]), (5, 1, 14, 11, [2, 2, 2, 2]), (3, 2, 13, 20, [0, 1, 0, 1])] {
            let channels = 19;
            let window = Window { stride: s, kernel: k, padding };
            assert!(Group { h, w, oh: 1, ow: 1, window }.pays(), "{h}×{w} k{k} takes the interleaved path");
            let (x, weight) = (tensor([1, channels, h, w], 4), tensor([channels, 1, k, k], 5));
            let (scale, shift) = (tensor([1, channels, 1, 1], 6), tensor([1, channels, 1, 1], 7));
            let together = forward(&x, &weight, window, Finish::Gated { scale: &scale, shift: &shift, gate: None, keep: true }).unwrap();
            let [_, _, oh, ow] = together.0.dims();
            let gate = tensor([1, channels, oh, ow], 8).abs();
            let gated = forward(&x, &weight, window, Finish::Gated { scale: &scale, shift: &shift, gate: Some(&gate), keep: false }).unwrap().0;
            for c in 0..channels {
                // A plain buffer of channel c (a narrowed view is not one, and the kernels refuse it).
                let plain = |t: Tensor<4>| Tensor::from_data(t.into_data(), &Device::flex());
                let one = |t: &Tensor<4>| plain(t.clone().narrow(1, c, 1));
                // One channel alone is never a whole group: it takes the one-channel path.
                let (x, weight, scale, shift, gate) = (one(&x), plain(weight.clone().narrow(0, c, 1)), one(&scale), one(&shift), one(&gate));
                let alone = forward(&x, &weight, window, Finish::Gated { scale: &scale, shift: &shift, gate: None, keep: true }).unwrap();
                let what = format!("channel {c}, k{k} s{s} {h}×{w}");
                assert_eq!(bits(one(&together.0)), bits(alone.0), "{what}");
                assert_eq!(bits(one(together.1.as_ref().unwrap())), bits(alone.1.unwrap()), "{what}, pre-activation");
                let gated_alone = forward(&x, &weight, window, Finish::Gated { scale: &scale, shift: &shift, gate: Some(&gate), keep: false }).unwrap().0;
                assert_eq!(bits(one(&gated)), bits(gated_alone), "{what}, gated");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn rows_read_straight_are_bit_for_bit_the_padded_plane() {
        let bits = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect::<Vec<_>>();
        // b0's, b1's and b2's planes, and rows that end inside a vector (34, 24, 18 outputs).
        for (s, h, w, padding) in [(1usize, 112usize, 112usize, [1, 1, 1, 1]), (1, 56, 56, [1, 1, 1, 1]), (1, 30, 34, [1, 1, 1, 1]), (1, 40, 24, [1, 1, 1, 1]), (2, 112, 112, [0, 1, 0, 1]), (2, 30, 36, [0, 1, 0, 1])] {
            let (channels, window) = (3, Window { stride: s, kernel: 3, padding });
            let [oh, ow] = [h.div_ceil(s), w.div_ceil(s)];
            if Rows::new(window, [h, w], [oh, ow]).is_none() {
                assert!(!std::arch::is_x86_feature_detected!("avx512f"), "s{s} {h}×{w} reads rows straight where the processor has AVX-512");
                eprintln!("no AVX-512 on this processor: the straight rows are not used, nor tested");
                return;
            }
            assert!(!Group { h, w, oh, ow, window }.pays(), "s{s} {h}×{w} takes the one-channel path");
            let (x, weight) = (tensor([1, channels, h, w], 4), tensor([channels, 1, 3, 3], 5));
            let (scale, shift, gate) = (tensor([1, channels, 1, 1], 6), tensor([1, channels, 1, 1], 7), tensor([1, channels, oh, ow], 8).abs());
            let what = format!("s{s} {h}×{w}");
            for finish in [Finish::Gated { scale: &scale, shift: &shift, gate: None, keep: true }, Finish::Gated { scale: &scale, shift: &shift, gate: Some(&gate), keep: false }, SUM] {
                let (straight, padded) = (forward_by(&x, &weight, window, finish, true).unwrap(), forward_by(&x, &weight, window, finish, false).unwrap());
                assert_eq!(straight.0.dims(), [1, channels, oh, ow], "{what}");
                assert_eq!(bits(straight.0), bits(padded.0), "{what}");
                assert_eq!(straight.1.map(bits), padded.1.map(bits), "{what}, pre-activation");
            }
        }
    }

    /// The browser's portable interleaving, sums and inverse give the AVX2 kernels' bits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn interleaved_portable_kernels_are_the_avx2_kernels() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return eprintln!("skipped: this processor has no AVX2 to compare with");
        }
        for (k, s, h, w, padding) in [(3, 1, 7, 7, [1, 1, 1, 1]), (5, 2, 28, 28, [1, 2, 1, 2]), (3, 2, 13, 20, [0, 1, 0, 1]), (5, 1, 14, 11, [2, 2, 2, 2]), (7, 1, 9, 9, [3, 3, 3, 3])] {
            let window = Window { stride: s, kernel: k, padding };
            let [top, bottom, left, right] = padding;
            let group = Group { h, w, oh: window.out(h, top, bottom), ow: window.out(w, left, right), window };
            let values = |n: usize, seed: usize| tensor([1, 1, 1, n], seed).into_data().try_to_vec::<f32>().unwrap();
            let (x, taps) = (values(CHANNELS * h * w, 1), values(CHANNELS * k * k, 2));
            let (mut portable, mut avx2) = (vec![0.0; group.len()], vec![0.0; group.len()]);
            group.pack_portable(&x, &mut portable, 0..h);
            // SAFETY: the processor has AVX2 (checked above).
            unsafe { group.pack_avx2(&x, &mut avx2, 0..h) };
            assert_eq!(portable, avx2, "interleaved k{k} s{s} {h}×{w}");
            let (offsets, reads) = (group.offsets(), group.reads());
            let n = reads.len();
            let (mut sums, mut sums_avx2) = (vec![0.0; n * CHANNELS], vec![0.0; n * CHANNELS]);
            sum_interleaved_portable(&portable, &taps, &offsets, &reads, &mut sums);
            // SAFETY: AVX2, and the reads lie in the image (its length is the group's).
            unsafe { sum_interleaved_avx2(&avx2, &taps, &offsets, &reads, &mut sums_avx2) };
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&sums), bits(&sums_avx2), "sums k{k} s{s} {h}×{w}");
            // In runs along the rows, the positions cut as strips cut them (and at odd places),
            // with AVX2's registers and, where the processor has them, AVX-512's.
            let has_wide = std::arch::is_x86_feature_detected!("avx512vl");
            for strip in [STRIP, 37, 5] {
                for wide in [false, true].into_iter().filter(|&wide| !wide || has_wide) {
                    let mut runs = vec![0.0; n * CHANNELS];
                    for (reads, sums) in reads.chunks(strip).zip(runs.chunks_mut(strip * CHANNELS)) {
                        // SAFETY: AVX2 (and AVX-512 where `wide`), and the reads lie in the image.
                        match wide {
                            true => unsafe { sum_runs_avx512(&avx2, &taps, (k, s), &offsets, reads, sums) },
                            false => unsafe { sum_runs_avx2(&avx2, &taps, (k, s), &offsets, reads, sums) },
                        }
                    }
                    assert_eq!(bits(&sums), bits(&runs), "sums in runs (AVX-512's registers: {wide}), strips of {strip}, k{k} s{s} {h}×{w}");
                }
            }
            let (mut planes, mut planes_avx2) = (vec![0.0; n * CHANNELS], vec![0.0; n * CHANNELS]);
            unpack_portable(&sums, &mut planes);
            // SAFETY: AVX2.
            unsafe { unpack_avx2(&sums, &mut planes_avx2) };
            assert_eq!(planes, planes_avx2, "planes k{k} s{s} {h}×{w}");
            assert_eq!(planes[3 * n + 5], sums[5 * CHANNELS + 3], "channel 3, position 5");
        }
    }

    #[test]
    fn finishing_is_bit_for_bit_the_separate_passes() {
        // A group of eight channels (interleaved) and three one by one.
        let (channels, side) = (11, 11);
        let (x, weight) = (tensor([1, channels, side, side], 1), tensor([channels, 1, 5, 5], 2));
        let window = Window { stride: 2, kernel: 5, padding: [1, 2, 1, 2] };
        let raw = forward(&x, &weight, window, SUM).unwrap().0;
        let (scale, shift) = (tensor([1, channels, 1, 1], 3), tensor([1, channels, 1, 1], 4));
        let normed = raw.clone() * scale.clone() + shift.clone();
        let gate = tensor(raw.dims(), 5).abs();
        let bits = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect::<Vec<_>>();
        let bn = forward(&x, &weight, window, Finish::BatchNorm { scale: &scale, shift: &shift, plus: Some(&gate) }).unwrap().0;
        assert_eq!(bits(bn), bits(normed.clone() + gate.clone()));
        let summed = forward(&x, &weight, window, Finish::Sum { plus: Some(&gate) }).unwrap().0;
        assert_eq!(bits(summed), bits(raw.clone() + gate.clone()));
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
