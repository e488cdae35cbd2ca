//! 1×1 convolutions on the CPU: one matrix product `out[m × hw] = w[m × k] · x[k × hw]` per
//! image, with what follows the convolution (BatchNorm, a residual sum, ReLU6 and the gate) done
//! to each block of sums while it is still in the cache.
//!
//! The 1×1 convolutions do nine tenths of the network's multiply-adds. burn-flex hands them to
//! a general matrix product that packs both operands on every call, writes a zeroed buffer, and
//! leaves BatchNorm and the activation to later passes over memory. Here the weights are read
//! as they are stored (`[out, in]` rows, or the gradient's `[in, out]` kernel), the activations
//! as NCHW holds them (`[in, h·w]`), and a register block of `ROWS` output channels by `COLUMNS`
//! positions is summed over all input channels in one chain of multiply-adds (in channel order,
//! as burn-flex's product sums these sizes), then finished and stored once. AVX2 + FMA natively
//! when the processor has them, SIMD128 in the browser; elsewhere burn's convolution runs.

use burn_tensor::Tensor;

use std::mem::MaybeUninit;

use super::cpu::{Fresh, Host, each_chunk, each_chunk_costing, each_part, threads};
use super::finish::{Finish, Finished, Targets, Values};

/// The 1×1 convolution of `x` `[N, k, H, W]` with `weight` `[m, k, 1, 1]`, finished by `finish`:
/// the output, and with [`Finish::Gated`] `keep` the pre-activation before it. `None` off the CPU,
/// without the vector instructions the kernel uses, or for tensors that are not plain buffers.
pub fn convolve(x: &Tensor<4>, weight: &Tensor<4>, finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
    convolve_with(Isa::detect()?, x, weight, None, finish)
}

/// [`convolve`] with `weight`'s [`Panels`] too, where they were made: each block of positions
/// then sums one more position beside its own.
pub fn convolve_panels(x: &Tensor<4>, weight: &Tensor<4>, panels: Option<&Panels>, finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
    convolve_with(Isa::detect()?, x, weight, panels, finish)
}

/// A 1×1 convolution's weight `[m, k]` in panels of eight output channels, `[m / 8][k][8]`, made
/// where the processor has AVX-512. The network's planes are 49 · 4ⁱ positions, whole blocks of
/// 48 and a remainder (one of 49, four of 196, sixteen of 784): summed alone, a remainder took
/// a sixth of a 7 × 7 layer's time and a twenty-fifth of a 14 × 14 one's (eight rows'
/// broadcasts and multiply-adds per input channel for eight sums or fewer). With the panels,
/// each block of 48 sums the 49th position beside it instead, as one vector of eight rows'
/// weights times one broadcast value, a multiply-add that the block's 24 hide. Each of its sums
/// is the same chain as before, so the bits are too.
#[derive(Debug, Clone)]
pub struct Panels {
    values: Vec<f32>,
}

impl Panels {
    /// `weight`'s panels (`[m, k, 1, 1]`); `None` where the kernel does not use them (no AVX-512,
    /// off the CPU, output channels not a multiple of eight).
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub fn of(weight: &Tensor<4>) -> Option<Self> {
        let [m, k, kh, kw] = weight.dims();
        #[cfg(target_arch = "x86_64")]
        if matches!(Isa::detect(), Some(Isa::Avx512)) && m.is_multiple_of(PANEL) && kh * kw == 1 {
            let weight = Host::of(weight)?;
            let mut values = vec![0.0; m * k];
            for (row, w) in weight.values().chunks_exact(k).enumerate() {
                let panel = &mut values[row / PANEL * k * PANEL..];
                w.iter().enumerate().for_each(|(p, &v)| panel[p * PANEL + row % PANEL] = v);
            }
            return Some(Self { values });
        }
        None
    }

    /// Whether a product over `positions` positions would use panels: a whole number of AVX-512
    /// blocks with one more position each.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    pub fn wanted(positions: usize) -> bool {
        match Isa::detect() {
            #[cfg(target_arch = "x86_64")]
            Some(Isa::Avx512) => positions.is_multiple_of(avx512::Lane::COLUMNS + 1),
            _ => false,
        }
    }
}

/// Output channels in one of [`Panels`]' panels (one AVX2 vector; AVX-512's block has as many rows).
const PANEL: usize = 8;

/// [`convolve`] in the instructions `isa`, which the processor has.
fn convolve_with(isa: Isa, x: &Tensor<4>, weight: &Tensor<4>, panels: Option<&Panels>, finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
    let [batch, k, h, w] = x.dims();
    let [m, depth, kh, kw] = weight.dims();
    if depth != k || kh != 1 || kw != 1 || batch == 0 || m == 0 || k == 0 || h * w == 0 {
        return None;
    }
    let (x, weight) = (Host::of(x)?, Host::of(weight)?);
    let mut finished = Finished::new(finish, [batch, m, h, w])?;
    let panels = panels.map(|p| p.values.as_slice()).filter(|p| p.len() == m * k);
    let product = Product { a: weight.values(), b: x.values(), m, k, n: h * w, batch, panels };
    let (values, targets) = finished.parts();
    product.run(isa, &values, targets);
    // SAFETY: the blocks cover the output and each writes all of its values.
    Some(unsafe { finished.into_tensors() })
}

/// The classifier `pooled · weightᵀ + bias` (`[N, k]`, `[m, k]`, `[m]` → `[N, m]`): a 1×1
/// convolution of a 1 × 1 image, so a row of dot products, split between threads by rows of the
/// weight (burn-flex packed the whole transposed weight, 5 MB, on every call). Each dot product
/// sums 16 interleaved partial sums, then those in order. `None` off the CPU or for tensors that
/// are not plain buffers.
pub fn classify(pooled: &Tensor<2>, weight: &Tensor<2>, bias: &Tensor<1>) -> Option<Tensor<2>> {
    let ([n, k], [m, depth], [classes]) = (pooled.dims(), weight.dims(), bias.dims());
    if depth != k || classes != m || n == 0 || k == 0 {
        return None;
    }
    let as_4d = |t: Tensor<2>| t.unsqueeze_dims::<4>(&[2, 3]);
    let (x, w) = (Host::of(&as_4d(pooled.clone()))?, Host::of(&as_4d(weight.clone()))?);
    let b = Host::of(&bias.clone().reshape([1, m, 1, 1]))?;
    let mut out = Fresh::new([n, m, 1, 1]);
    each_chunk_costing(out.values_mut(), k, |start, chunk| {
        for (i, o) in chunk.iter_mut().enumerate() {
            let (image, row) = ((start + i) / m, (start + i) % m);
            let dot = dot(&x.values()[image * k..(image + 1) * k], &w.values()[row * k..(row + 1) * k]);
            o.write(dot + b.values()[row]);
        }
    });
    // SAFETY: the chunks cover the buffer and every value of each is written.
    let logits = unsafe { out.assume_written() }.into_tensor();
    Some(logits.reshape([n, m]))
}

/// `Σ a[i] · b[i]` in 16 interleaved partial sums (vector registers), then those in order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut sums = [0.0f32; LANES];
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_blocks.remainder(), b_blocks.remainder());
    for (a, b) in a_blocks.zip(b_blocks) {
        for ((s, &a), &b) in sums.iter_mut().zip(a).zip(b) {
            *s += a * b;
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(a, b)| a * b).sum();
    sums.iter().sum::<f32>() + rest
}

/// `x` `[1, C, H, W]` unfolded for a `k × k` convolution of `stride` with `top` and `left` zero
/// rows and columns before it, into `[1, k·k·C, oh, ow]`: row `(ky·k + kx)·C + c` holds
/// `x[c, oy·s + ky − top, ox·s + kx − left]` (zero outside `x`). In burn-flex's order, so that
/// the product with the kernel as one matrix sums as its convolution does, to the bit: any other
/// order moves ReLU6 kinks on a flat letterbox border (see [`super::depthwise`]). `None` off the
/// CPU, for a batch, or for a tensor that is not a plain buffer.
pub fn unfold(x: &Tensor<4>, kernel: usize, stride: usize, [top, left]: [usize; 2], [oh, ow]: [usize; 2]) -> Option<Tensor<4>> {
    let [n, channels, h, w] = x.dims();
    if n != 1 || kernel == 0 || stride == 0 || oh * ow == 0 {
        return None;
    }
    let x = Host::of(x)?;
    let mut columns = Fresh::new([1, kernel * kernel * channels, oh, ow]);
    let geometry = Unfold { kernel, stride, top, left, channels, h, w, oh, ow };
    each_chunk(columns.values_mut(), oh * ow, |start, chunk| geometry.rows(x.values(), start, chunk));
    // SAFETY: the chunks cover the buffer and every value of each is written.
    Some(unsafe { columns.assume_written() }.into_tensor())
}

/// [`unfold`] and [`convolve`] in one pass, an output row at a time, where the processor has
/// AVX-512 and the window is the stem's (3 × 3, stride 2, TF "SAME" padding on even sides: a
/// zero row below, a zero column right): the row's unfolded values (`9·C` rows of `ow`) are made
/// from the input's rows by even/odd permutes into a buffer that stays in the first-level cache,
/// then summed by the product's register blocks and finished. The unfolded rows are the same and
/// the product sums them in the same order, so the output is bit for bit [`unfold`] then
/// [`convolve`]'s, without 1.35 MB of unfolded values written and read back. `None` elsewhere.
pub fn convolve_unfolding(x: &Tensor<4>, kernel: &Tensor<4>, finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
    #[cfg(target_arch = "x86_64")]
    {
        let ([n, channels, h, w], [m, k, kh, kw]) = (x.dims(), kernel.dims());
        let (oh, ow) = (h / 2, w / 2);
        let fits = n == 1 && k == 9 * channels && (kh, kw) == (1, 1) && h % 2 == 0 && w % 2 == 0 && oh > 0;
        if !fits || !(1..=avx512::STEM_VECTORS * 16).contains(&ow) || m % avx512::Lane::ROWS != 0 || !matches!(Isa::detect(), Some(Isa::Avx512)) {
            return None;
        }
        let (x, kernel) = (Host::of(x)?, Host::of(kernel)?);
        let mut finished = Finished::new(finish, [1, m, oh, ow])?;
        let (values, targets) = finished.parts();
        let stem = avx512::Stem { channels, h, w, m };
        super::cpu::each_range(oh, m * ow, |rows| {
            let mut columns = vec![0.0f32; k * ow.next_multiple_of(16)];
            for oy in rows {
                // SAFETY: `Isa::detect` found AVX-512; the geometry is checked above.
                unsafe { stem.row(x.values(), kernel.values(), oy, &mut columns, &values, targets) };
            }
        });
        // SAFETY: the rows cover the output, and each row of every channel is stored whole.
        Some(unsafe { finished.into_tensors() })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, kernel, finish);
        None
    }
}

/// Where [`unfold`] reads and writes.
#[derive(Clone, Copy)]
struct Unfold {
    kernel: usize,
    stride: usize,
    top: usize,
    left: usize,
    channels: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Unfold {
    /// Writes the unfolded rows of `chunk` (whole rows, the first `start / (oh · ow)`) from `x`.
    fn rows(&self, x: &[f32], start: usize, chunk: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2 (checked just above).
            return unsafe { self.rows_avx2(x, start, chunk) };
        }
        self.rows_portable(x, start, chunk)
    }

    /// [`Unfold::rows_portable`] compiled for AVX2: a strided row is then read with vector shuffles,
    /// not a value at a time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rows_avx2(&self, x: &[f32], start: usize, chunk: &mut [MaybeUninit<f32>]) {
        self.rows_portable(x, start, chunk)
    }

    #[inline(always)]
    fn rows_portable(&self, x: &[f32], start: usize, chunk: &mut [MaybeUninit<f32>]) {
        let Unfold { kernel, stride, top, left, channels, h, w, oh, ow } = *self;
        for (i, row) in chunk.chunks_exact_mut(oh * ow).enumerate() {
            let r = start / (oh * ow) + i;
            let (ky, kx, c) = (r / channels / kernel, r / channels % kernel, r % channels);
            let plane = &x[c * h * w..(c + 1) * h * w];
            // The columns whose tap falls inside the image: `ox · s + kx − left` in `0..w`.
            let first = left.saturating_sub(kx).div_ceil(stride).min(ow);
            let end = (w + left).saturating_sub(kx).div_ceil(stride).clamp(first, ow);
            for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                let Some(iy) = (oy * stride + ky).checked_sub(top).filter(|&iy| iy < h) else {
                    out.iter_mut().for_each(|o| _ = o.write(0.0));
                    continue;
                };
                let source = &plane[iy * w..(iy + 1) * w];
                let (before, rest) = out.split_at_mut(first);
                let (inside, after) = rest.split_at_mut(end - first);
                before.iter_mut().chain(after).for_each(|o| _ = o.write(0.0));
                let start = first * stride + kx - left;
                match stride {
                    // Pairs, the first of each: vectorised as shuffles, where `step_by` reads a value at a time.
                    2 => inside.iter_mut().zip(source[start..].chunks(2)).for_each(|(o, pair)| _ = o.write(pair[0])),
                    _ => inside.iter_mut().zip(source[start..].iter().step_by(stride)).for_each(|(o, &v)| _ = o.write(v)),
                }
            }
        }
    }
}

/// The vector instructions the kernel runs on.
#[derive(Clone, Copy)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Simd128,
}

impl Isa {
    /// The widest instruction set this processor has (found once: every 1×1 layer asks, twice
    /// where it may use panels).
    fn detect() -> Option<Self> {
        static WIDEST: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
        *WIDEST.get_or_init(|| Self::available().first().copied())
    }

    /// Every instruction set the kernel has and this processor runs, widest first.
    fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut found = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                found.push(Self::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                found.push(Self::Avx2);
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        found.push(Self::Simd128);
        found
    }
}

/// `out[i, m × n] = a[m × k] · b[i, k × n]` for each image `i` of a batch, all row-major.
struct Product<'a> {
    a: &'a [f32],
    b: &'a [f32],
    m: usize,
    k: usize,
    n: usize,
    batch: usize,
    /// `a` in [`Panels`], where made.
    panels: Option<&'a [f32]>,
}

/// Bytes of `b` that stay in the (level 2) cache while the rows of `a` pass over them: AMD Zen 4's
/// has 1 MiB. Up to that, rows first: b1's expansion (`b` 0.8 MB, 96 rows) took 1.1× as long
/// column block by column block (each block writes a short run into all 96 output rows; rows
/// first writes eight rows along), and no layer was slower.
const B_IN_CACHE: usize = 1 << 20;

/// Below this many multiply-adds a product is not split between threads (the hand-off costs more).
const SERIAL: usize = 1 << 20;

impl Product<'_> {
    /// Row blocks, column blocks and images of the output (taken in the order [`Product::rows_first`] says).
    fn blocks(&self, isa: Isa) -> (usize, usize, usize) {
        let (rows, columns) = isa.block(self);
        (self.m.div_ceil(rows), self.n.div_ceil(columns), self.batch)
    }

    /// Whether each block in `L` sums one more position beside its own, from the weight's
    /// [`Panels`]: AVX-512's blocks (eight rows of three vectors) where the positions are a whole
    /// number of blocks and one (7², 14², 28², 56², 112²: all multiples of 49).
    fn beside<L: Lanes>(&self) -> bool {
        self.panels.is_some() && (L::ROWS, L::VECTORS, L::Narrow::WIDTH) == (PANEL, 3, PANEL) && self.n.is_multiple_of(L::COLUMNS + 1)
    }

    /// Positions of one column block in `L`: a register block's, and one more where [`Product::beside`].
    fn step<L: Lanes>(&self) -> usize {
        L::COLUMNS + usize::from(self.beside::<L>())
    }

    /// Whether the blocks go row block by row block (each row block of `a` read once while all
    /// of `b` stays in the cache: small images, big weights) rather than column block by column
    /// block (each column block of `b` stays in the cache while all of `a` passes over it).
    fn rows_first(&self) -> bool {
        self.k * self.n * size_of::<f32>() <= B_IN_CACHE
    }

    fn run(&self, isa: Isa, values: &Values, targets: Targets) {
        let (row_blocks, column_blocks, images) = self.blocks(isa);
        let blocks = row_blocks * column_blocks * images;
        if threads() > 1 && self.batch * self.m * self.n * self.k >= SERIAL {
            let parts = (4 * threads()).min(blocks);
            each_part(parts, |p| self.blocks_in(isa, p * blocks / parts..(p + 1) * blocks / parts, values, targets));
            return;
        }
        self.blocks_in(isa, 0..blocks, values, targets);
    }

    fn blocks_in(&self, isa: Isa, range: std::ops::Range<usize>, values: &Values, targets: Targets) {
        match isa {
            // SAFETY: `Isa::detect` found AVX-512 on this processor.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { avx512::blocks(self, range, values, targets) },
            // SAFETY: `Isa::detect` found AVX2 and FMA on this processor.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { avx2::blocks(self, range, values, targets) },
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => blocks_with::<simd128::Lane>(self, range, values, targets),
        }
    }
}

impl Isa {
    /// Output channels by positions of one block of `product`.
    fn block(self, product: &Product) -> (usize, usize) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => (avx512::Lane::ROWS, product.step::<avx512::Lane>()),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => (avx2::Lane::ROWS, product.step::<avx2::Lane>()),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => (simd128::Lane::ROWS, product.step::<simd128::Lane>()),
        }
    }
}

/// The vector operations the kernel is written in, for one instruction set.
trait Lanes: Copy {
    /// Values in one vector.
    const WIDTH: usize;
    /// Vectors side by side in a register block's row.
    const VECTORS: usize;
    /// Output channels in a register block (what the registers hold: `ROWS × VECTORS` sums,
    /// `VECTORS` vectors of `b` and one of `a`).
    const ROWS: usize;
    /// Positions in a register block.
    const COLUMNS: usize = Self::WIDTH * Self::VECTORS;
    /// A narrower vector for a last column block that would fill one of these thinly: AVX-512's
    /// is AVX2's eight lanes (two of which run per cycle where one of sixteen does); itself where
    /// there is none.
    type Narrow: Lanes;
    unsafe fn zero() -> Self;
    unsafe fn load(from: *const f32) -> Self;
    unsafe fn splat(value: f32) -> Self;
    /// `acc + a · b`: fused where the instruction set has it.
    unsafe fn mul_add(acc: Self, a: Self, b: Self) -> Self;
    unsafe fn store(self, to: *mut f32);
}

/// The blocks `range` of `product`, each summed in registers by [`sum`] and stored by `values`.
/// A last column block narrower than a block is copied into a zero-padded panel first, and
/// summed only as many vectors wide as it needs (the 7 × 7 layers' 49 positions are, in AVX2,
/// three blocks of 16 and one of a single vector).
#[inline(always)]
fn blocks_with<L: Lanes>(product: &Product, range: std::ops::Range<usize>, values: &Values, targets: Targets) {
    let (rows_per_block, columns_per_block, step) = (L::ROWS, L::COLUMNS, product.step::<L>());
    let Product { a, b, m, k, n, .. } = *product;
    let row_blocks = m.div_ceil(rows_per_block);
    let column_blocks = n.div_ceil(step);
    let mut sums = vec![0.0f32; rows_per_block * columns_per_block];
    let mut panel: Vec<f32> = Vec::new();
    let mut panel_of = usize::MAX;
    // Each block's position after its own, summed beside it from the weight's panels.
    let beside = product.panels.filter(|_| product.beside::<L>());
    for block in range {
        let (image, rest) = (block / (row_blocks * column_blocks), block % (row_blocks * column_blocks));
        let (column_block, row_block) = match product.rows_first() {
            true => (rest % column_blocks, rest / column_blocks),
            false => (rest / row_blocks, rest % row_blocks),
        };
        let (i, j) = (row_block * rows_per_block, column_block * step);
        let (rows, columns) = ((m - i).min(rows_per_block), (n - j).min(columns_per_block));
        let image_b = &b[image * k * n..(image + 1) * k * n];
        if let Some(panels) = beside {
            // Whole blocks only: the positions are a multiple of `step`, and the panels' rows of eight.
            let (panel, last) = (&panels[row_block * k * PANEL..(row_block + 1) * k * PANEL], &image_b[j + columns_per_block..]);
            assert!(image_b.len() >= j + (k - 1) * n + step && last.len() > (k - 1) * n);
            let mut tail = [0.0f32; PANEL];
            // SAFETY: the bounds are checked just above; the block is eight rows of three vectors.
            unsafe { sum_beside::<L, PANEL, 3>(k, &image_b[j..], n, &mut sums, columns_per_block, panel, last, &mut tail) };
            for r in 0..PANEL {
                let (row, at) = (i + r, r * columns_per_block);
                values.store(row, (image * m + row) * n + j, &sums[at..at + columns_per_block], targets);
                values.store(row, (image * m + row) * n + j + columns_per_block, &tail[r..r + 1], targets);
            }
            continue;
        }
        let (panel_b, ldb): (&[f32], usize) = if columns == columns_per_block {
            (&image_b[j..], n)
        } else {
            if panel_of != image * column_blocks + column_block {
                panel.clear();
                panel.resize(k * columns_per_block, 0.0);
                for (p, row) in panel.chunks_exact_mut(columns_per_block).enumerate() {
                    row[..columns].copy_from_slice(&image_b[p * n + j..p * n + j + columns]);
                }
                panel_of = image * column_blocks + column_block;
            }
            (&panel, columns_per_block)
        };
        let a = &a[i * k..];
        // Every read of `sum` lies in these (checked once here, not per load).
        assert!(a.len() >= rows * k && panel_b.len() >= (k - 1) * ldb + columns_per_block && sums.len() >= rows * columns_per_block);
        // SAFETY: the bounds are checked just above; `rows` is at most `L::ROWS`.
        unsafe {
            if columns <= L::Narrow::WIDTH && L::Narrow::WIDTH < L::WIDTH {
                sum_rows::<L::Narrow, L>(rows, 1, a, k, panel_b, ldb, &mut sums, columns_per_block)
            } else {
                sum_rows::<L, L>(rows, columns.div_ceil(L::WIDTH), a, k, panel_b, ldb, &mut sums, columns_per_block)
            }
        };
        for r in 0..rows {
            let row = i + r;
            let at = r * columns_per_block;
            values.store(row, (image * m + row) * n + j, &sums[at..at + columns], targets);
        }
    }
}

/// [`sum`] in vectors `L` of `rows` rows (at most `B::ROWS`, the block's), `vectors` vectors wide
/// (at most `L::VECTORS`).
///
/// # Safety
/// As [`sum`]'s, for `rows` rows and `vectors` vectors.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn sum_rows<L: Lanes, B: Lanes>(rows: usize, vectors: usize, a: &[f32], k: usize, b: &[f32], ldb: usize, sums: &mut [f32], ldc: usize) {
    macro_rules! by_rows {
        ($($r:literal)*) => {
            match (rows, vectors) {
                $(
                    ($r, 1) if $r <= B::ROWS => unsafe { sum::<L, $r, 1>(a, k, b, ldb, sums, ldc) },
                    ($r, 2) if $r <= B::ROWS && 2 <= L::VECTORS => unsafe { sum::<L, $r, 2>(a, k, b, ldb, sums, ldc) },
                    ($r, 3) if $r <= B::ROWS && 3 <= L::VECTORS => unsafe { sum::<L, $r, 3>(a, k, b, ldb, sums, ldc) },
                )*
                _ => unreachable!("a register block has 1 to {} rows and 1 to {} vectors", B::ROWS, L::VECTORS),
            }
        };
    }
    by_rows!(1 2 3 4 5 6 7 8)
}

/// `sums[r · ldc + c] = Σ_p a[r · k + p] · b[p · ldb + c]` for `r < R` and `c < V · W` (`W` the
/// vector width), summed in channel order in `R × V` registers.
///
/// # Safety
/// `a` holds `R` rows of `k`, `b` `k` rows of `V · W` values `ldb` apart, `sums` `R` rows of
/// `V · W` values `ldc` apart.
#[inline(always)]
unsafe fn sum<L: Lanes, const R: usize, const V: usize>(a: &[f32], k: usize, b: &[f32], ldb: usize, sums: &mut [f32], ldc: usize) {
    unsafe {
        let (a, b) = (a.as_ptr(), b.as_ptr());
        let mut acc = [[L::zero(); V]; R];
        for p in 0..k {
            let b: [L; V] = std::array::from_fn(|v| L::load(b.add(p * ldb + L::WIDTH * v)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = L::splat(*a.add(r * k + p));
                for (acc, &b) in acc.iter_mut().zip(&b) {
                    *acc = L::mul_add(*acc, a, b);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                acc.store(sums.as_mut_ptr().add(r * ldc + L::WIDTH * v));
            }
        }
    }
}

/// [`sum`] of an `R`-row block with its weights read from `panel` (row `r`'s `p`-th at
/// `panel[p · R + r]`: the `R` rows' weights for one input channel share a cache line, where the
/// rows of `a` lie `k` apart and the panels would be read as well), and beside it
/// `tail[r] = Σ_p panel[p · R + r] · last[p · ldb]` (one more position, its `R` rows' weights one
/// vector of `L::Narrow`), in channel order.
///
/// # Safety
/// As [`sum`]'s, and `panel` holds `k` rows of `R`, `last` `k` values `ldb` apart; `L::Narrow` is
/// `R` wide.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn sum_beside<L: Lanes, const R: usize, const V: usize>(
    k: usize,
    b: &[f32],
    ldb: usize,
    sums: &mut [f32],
    ldc: usize,
    panel: &[f32],
    last: &[f32],
    tail: &mut [f32; R],
) {
    unsafe {
        let (b, panel, last) = (b.as_ptr(), panel.as_ptr(), last.as_ptr());
        let mut acc = [[L::zero(); V]; R];
        let mut beside = L::Narrow::zero();
        for p in 0..k {
            let b: [L; V] = std::array::from_fn(|v| L::load(b.add(p * ldb + L::WIDTH * v)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = L::splat(*panel.add(p * R + r));
                for (acc, &b) in acc.iter_mut().zip(&b) {
                    *acc = L::mul_add(*acc, a, b);
                }
            }
            beside = L::Narrow::mul_add(beside, L::Narrow::load(panel.add(p * R)), L::Narrow::splat(*last.add(p * ldb)));
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, &acc) in acc.iter().enumerate() {
                acc.store(sums.as_mut_ptr().add(r * ldc + L::WIDTH * v));
            }
        }
        beside.store(tail.as_mut_ptr());
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Lanes, Product, Targets, Values, blocks_with};

    /// Eight lanes, fused multiply-adds: 6 × 2 sums, two vectors of `b` and a broadcast of `a`
    /// fill fifteen of the sixteen registers.
    #[derive(Clone, Copy)]
    pub struct Lane(__m256);

    impl Lanes for Lane {
        const WIDTH: usize = 8;
        const VECTORS: usize = 2;
        const ROWS: usize = 6;
        type Narrow = Self;

        #[target_feature(enable = "avx2,fma")]
        unsafe fn zero() -> Self {
            Lane(_mm256_setzero_ps())
        }

        #[target_feature(enable = "avx2,fma")]
        unsafe fn load(from: *const f32) -> Self {
            Lane(unsafe { _mm256_loadu_ps(from) })
        }

        #[target_feature(enable = "avx2,fma")]
        unsafe fn splat(value: f32) -> Self {
            Lane(_mm256_set1_ps(value))
        }

        #[target_feature(enable = "avx2,fma")]
        unsafe fn mul_add(acc: Self, a: Self, b: Self) -> Self {
            Lane(_mm256_fmadd_ps(a.0, b.0, acc.0))
        }

        #[target_feature(enable = "avx2,fma")]
        unsafe fn store(self, to: *mut f32) {
            unsafe { _mm256_storeu_ps(to, self.0) }
        }
    }

    /// # Safety
    /// The processor has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn blocks(product: &Product, range: std::ops::Range<usize>, values: &Values, targets: Targets) {
        blocks_with::<Lane>(product, range, values, targets)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Lanes, Product, Targets, Values, blocks_with, sum_rows};

    /// Sixteen lanes, fused multiply-adds, 32 registers: 8 × 3 sums, three vectors of `b` and a
    /// broadcast of `a` fill 28. Each lane sums as AVX2's does (the same multiply-adds in the same
    /// order), so the two give the same bits; the wider block does a third as many loads and
    /// instructions per multiply-add, which is what held the AVX2 block below the processor's peak.
    #[derive(Clone, Copy)]
    pub struct Lane(__m512);

    impl Lanes for Lane {
        const WIDTH: usize = 16;
        const VECTORS: usize = 3;
        const ROWS: usize = 8;
        type Narrow = super::avx2::Lane;

        #[target_feature(enable = "avx512f")]
        unsafe fn zero() -> Self {
            Lane(_mm512_setzero_ps())
        }

        #[target_feature(enable = "avx512f")]
        unsafe fn load(from: *const f32) -> Self {
            Lane(unsafe { _mm512_loadu_ps(from) })
        }

        #[target_feature(enable = "avx512f")]
        unsafe fn splat(value: f32) -> Self {
            Lane(_mm512_set1_ps(value))
        }

        #[target_feature(enable = "avx512f")]
        unsafe fn mul_add(acc: Self, a: Self, b: Self) -> Self {
            Lane(_mm512_fmadd_ps(a.0, b.0, acc.0))
        }

        #[target_feature(enable = "avx512f")]
        unsafe fn store(self, to: *mut f32) {
            unsafe { _mm512_storeu_ps(to, self.0) }
        }
    }

    /// # Safety
    /// The processor has AVX-512 (foundation).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn blocks(product: &Product, range: std::ops::Range<usize>, values: &Values, targets: Targets) {
        blocks_with::<Lane>(product, range, values, targets)
    }

    /// Most vectors of sixteen in an output row of [`super::convolve_unfolding`] (112 positions: 7).
    pub const STEM_VECTORS: usize = 8;

    /// [`super::convolve_unfolding`]'s geometry: `channels` planes of `h × w` in, `m` out.
    pub struct Stem {
        pub channels: usize,
        pub h: usize,
        pub w: usize,
        pub m: usize,
    }

    impl Stem {
        /// Output row `oy`: unfolded into `columns` (`9·channels` rows of `ow` rounded up to a
        /// vector), summed with `kernel` (`[m, 9·channels]`) and finished.
        ///
        /// # Safety
        /// The processor has AVX-512 (foundation); `x` holds the planes, `kernel` `m` rows,
        /// `oy < h / 2`, `w / 2 ≤ 16 · STEM_VECTORS`, `m` a multiple of eight.
        #[target_feature(enable = "avx512f")]
        pub unsafe fn row(&self, x: &[f32], kernel: &[f32], oy: usize, columns: &mut [f32], values: &Values, targets: Targets) {
            let Stem { channels, h, w, m } = *self;
            let (oh, ow, k) = (h / 2, w / 2, 9 * channels);
            let (vectors, ldb) = (ow.div_ceil(16), ow.next_multiple_of(16));
            assert!(x.len() == channels * h * w && kernel.len() == m * k && columns.len() >= k * ldb && vectors <= STEM_VECTORS);
            use super::super::row_lanes::{even_odd, load, next_lane};
            // Unfolded row `(ky·3 + kx)·C + c` holds `x[c, 2·oy + ky, 2·ox + kx]`, as `unfold`'s.
            for ky in 0..3 {
                let iy = 2 * oy + ky;
                for c in 0..channels {
                    let at = |kx: usize| ((ky * 3 + kx) * channels + c) * ldb;
                    if iy >= h {
                        // The zero row below the image.
                        (0..3).for_each(|kx| columns[at(kx)..at(kx) + ldb].fill(0.0));
                        continue;
                    }
                    let row = &x[(c * h + iy) * w..(c * h + iy + 1) * w];
                    let mut evens = [_mm512_setzero_ps(); STEM_VECTORS + 1];
                    for b in 0..vectors {
                        let odds;
                        (evens[b], odds) = even_odd(load(row, 32 * b), load(row, 32 * b + 16));
                        // SAFETY: vector b of each unfolded row lies in `columns` (asserted above).
                        unsafe {
                            _mm512_storeu_ps(columns[at(0) + 16 * b..].as_mut_ptr(), evens[b]);
                            _mm512_storeu_ps(columns[at(1) + 16 * b..].as_mut_ptr(), odds);
                        }
                    }
                    for b in 0..vectors {
                        // Columns 2·ox + 2: the evens moved down a lane, the next vector's first (or the zero column) in.
                        let next = next_lane(evens[b + 1], evens[b]);
                        // SAFETY: as above.
                        unsafe { _mm512_storeu_ps(columns[at(2) + 16 * b..].as_mut_ptr(), next) };
                    }
                }
            }
            let mut sums = [0.0f32; Lane::ROWS * Lane::COLUMNS];
            for i in (0..m).step_by(Lane::ROWS) {
                for j in (0..ow).step_by(Lane::COLUMNS) {
                    let width = (ow - j).min(Lane::COLUMNS);
                    // SAFETY: AVX-512; eight rows of `k` from row `i` lie in `kernel`, `k` rows of
                    // the block's vectors `ldb` apart in `columns`, eight rows of them in `sums`.
                    unsafe { sum_rows::<Lane, Lane>(Lane::ROWS, width.div_ceil(16), &kernel[i * k..], k, &columns[j..], ldb, &mut sums, Lane::COLUMNS) };
                    for r in 0..Lane::ROWS {
                        let at = r * Lane::COLUMNS;
                        values.store(i + r, ((i + r) * oh + oy) * ow + j, &sums[at..at + width], targets);
                    }
                }
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::*;

    use super::Lanes;

    /// Four lanes; SIMD128 has no fused multiply-add (a multiply and an add each): 4 × 2 sums,
    /// two vectors of `b` and a splat of `a`.
    #[derive(Clone, Copy)]
    pub struct Lane(v128);

    impl Lanes for Lane {
        const WIDTH: usize = 4;
        const VECTORS: usize = 2;
        const ROWS: usize = 4;
        type Narrow = Self;

        #[inline(always)]
        unsafe fn zero() -> Self {
            Lane(f32x4_splat(0.0))
        }

        #[inline(always)]
        unsafe fn load(from: *const f32) -> Self {
            Lane(unsafe { v128_load(from as *const v128) })
        }

        #[inline(always)]
        unsafe fn splat(value: f32) -> Self {
            Lane(f32x4_splat(value))
        }

        #[inline(always)]
        unsafe fn mul_add(acc: Self, a: Self, b: Self) -> Self {
            Lane(f32x4_add(acc.0, f32x4_mul(a.0, b.0)))
        }

        #[inline(always)]
        unsafe fn store(self, to: *mut f32) {
            unsafe { v128_store(to as *mut v128, self.0) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_tensor::module::conv2d;
    use burn_tensor::ops::ConvOptions;
    use burn_tensor::{Device, TensorData};

    fn tensor(shape: [usize; 4], seed: usize) -> Tensor<4> {
        let n = shape.iter().product::<usize>();
        let values = (0..n).map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0).collect::<Vec<_>>();
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// The largest difference between `got` and `expected`, and the largest magnitude (at least 1)
    /// it is judged against.
    fn worst_off(got: &[f32], expected: &[f32]) -> (f32, f32) {
        let scale = expected.iter().fold(1.0f32, |a, v| a.max(v.abs()));
        (got.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max), scale)
    }

    fn bits(t: Tensor<4>) -> Vec<u32> {
        values(t).into_iter().map(f32::to_bits).collect()
    }

    fn sum(x: &Tensor<4>, w: &Tensor<4>) -> Tensor<4> {
        convolve(x, w, Finish::Sum { plus: None }).expect("the kernel runs on this processor").0
    }

    fn sum_with(isa: Isa, x: &Tensor<4>, w: &Tensor<4>) -> Tensor<4> {
        convolve_with(isa, x, w, None, Finish::Sum { plus: None }).expect("the kernel runs on this processor").0
    }

    /// Every 1×1 shape of the network at 224 × 224 (out, in, side), and sizes that leave partial
    /// register blocks of rows and of columns.
    const SHAPES: [(usize, usize, usize); 9] =
        [(16, 32, 112), (96, 16, 112), (24, 144, 56), (240, 40, 28), (80, 480, 14), (1152, 192, 7), (1280, 320, 7), (7, 5, 13), (13, 3, 1)];

    #[test]
    fn the_product_is_burns_convolution_in_every_instruction_set() {
        assert!(!Isa::available().is_empty(), "this processor runs the kernel");
        for (m, k, side) in SHAPES {
            let (x, w) = (tensor([1, k, side, side], m), tensor([m, k, 1, 1], k));
            let expected = values(conv2d(x.clone(), w.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1)));
            let mut first: Option<Vec<u32>> = None;
            for isa in Isa::available() {
                let got = sum_with(isa, &x, &w);
                let (worst, scale) = worst_off(&values(got.clone()), &expected);
                assert!(worst <= 1e-5 * scale, "{m}×{k} at {side}²: {worst} off (values up to {scale})");
                // Every lane sums the same multiply-adds in the same order, whatever the width.
                let got = bits(got);
                assert_eq!(first.get_or_insert_with(|| got.clone()), &got, "{m}×{k} at {side}²: instruction sets disagree");
            }
        }
    }

    /// With [`Panels`] (each block of 48 positions and one more beside it: 7², 14², 28², 1 × 98)
    /// the bits are those without, finished and kept too, for a batch as well.
    #[test]
    fn panels_give_the_same_bits() {
        for (batch, m, k, (h, w)) in [(1, 1152, 192, (7, 7)), (2, 24, 17, (7, 7)), (1, 80, 24, (14, 14)), (2, 40, 8, (28, 28)), (1, 16, 5, (1, 98))] {
            let (x, weight) = (tensor([batch, k, h, w], m), tensor([m, k, 1, 1], k));
            let Some(panels) = Panels::of(&weight) else {
                return eprintln!("skipped: this processor has no AVX-512, whose kernel the panels are for");
            };
            assert!(Panels::wanted(h * w), "{h}×{w} is whole blocks of 48 + 1");
            let (scale, shift, gate) = (tensor([1, m, 1, 1], 5), tensor([1, m, 1, 1], 6), tensor([batch, m, h, w], 7).abs());
            let finish = || Finish::Gated { scale: &scale, shift: &shift, gate: Some(&gate), keep: true };
            let (out, pre) = convolve_panels(&x, &weight, Some(&panels), finish()).unwrap();
            let (expected_out, expected_pre) = convolve_panels(&x, &weight, None, finish()).unwrap();
            assert_eq!(bits(out), bits(expected_out), "{m}×{k} at {h}×{w}, batch {batch}");
            assert_eq!(bits(pre.unwrap()), bits(expected_pre.unwrap()), "{m}×{k} at {h}×{w}, batch {batch}: pre-activation");
        }
    }

    #[test]
    fn a_batch_is_its_images_one_by_one() {
        let (x, w) = (tensor([3, 20, 9, 5], 1), tensor([11, 20, 1, 1], 2));
        let whole = bits(sum(&x, &w));
        let image = |i| Tensor::from_data(x.clone().narrow(0, i, 1).into_data(), &Device::flex());
        let each: Vec<u32> = (0..3).flat_map(|i| bits(sum(&image(i), &w))).collect();
        assert_eq!(whole, each);
    }

    #[test]
    fn finishing_is_bit_for_bit_the_separate_passes() {
        let (m, k, side) = (21, 30, 10);
        let (x, w) = (tensor([1, k, side, side], 3), tensor([m, k, 1, 1], 4));
        let (scale, shift) = (tensor([1, m, 1, 1], 5) * 2.0, tensor([1, m, 1, 1], 6));
        let (plus, gate) = (tensor([1, m, side, side], 7), tensor([1, m, side, side], 8).abs());
        let raw = sum(&x, &w);
        let normed = raw.clone() * scale.clone() + shift.clone();
        let bn = |plus: Option<&Tensor<4>>| convolve(&x, &w, Finish::BatchNorm { scale: &scale, shift: &shift, plus }).unwrap().0;
        assert_eq!(bits(bn(None)), bits(normed.clone()));
        assert_eq!(bits(bn(Some(&plus))), bits(normed.clone() + plus.clone()));
        assert_eq!(bits(convolve(&x, &w, Finish::Sum { plus: Some(&plus) }).unwrap().0), bits(raw.clone() + plus.clone()));
        for z in [Some(&gate), None] {
            let expected = match z {
                Some(z) => z.clone() * burn_tensor::activation::relu6(normed.clone()),
                None => burn_tensor::activation::relu6(normed.clone()),
            };
            let (out, pre) = convolve(&x, &w, Finish::Gated { scale: &scale, shift: &shift, gate: z, keep: true }).unwrap();
            assert_eq!(bits(out), bits(expected.clone()));
            assert_eq!(bits(pre.expect("kept")), bits(normed.clone()));
            let (out, pre) = convolve(&x, &w, Finish::Gated { scale: &scale, shift: &shift, gate: z, keep: false }).unwrap();
            assert_eq!((bits(out), pre.is_none()), (bits(expected), true));
        }
    }

    #[test]
    fn the_gradients_kernel_is_read_as_the_model_makes_it() {
        // `Conv::load`'s kernel of a 1×1 layer's input gradient: flipped, in and out swapped, scaled.
        let (w, scale) = (tensor([24, 144, 1, 1], 1), tensor([1, 24, 1, 1], 2));
        let transposed = w.clone().flip([2, 3]).swap_dims(0, 1) * scale;
        let g = tensor([1, 24, 7, 7], 3);
        let got = values(convolve(&g, &transposed, Finish::Sum { plus: None }).expect("read in place").0);
        let expected = values(conv2d(g, transposed, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1)));
        assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-5));
    }

    #[test]
    fn the_stem_unfolded_row_by_row_is_bit_for_bit_unfold_then_convolve() {
        if !matches!(Isa::detect(), Some(Isa::Avx512)) {
            assert!(convolve_unfolding(&tensor([1, 3, 224, 224], 1), &tensor([32, 27, 1, 1], 2), Finish::Sum { plus: None }).is_none());
            return eprintln!("no AVX-512 on this processor: the stem is unfolded whole (and this path not tested)");
        }
        // The stem's 224², and rows that end inside a vector (35 and 7 positions), with 16 channels out.
        for (m, h, w) in [(32, 224, 224), (16, 40, 70), (16, 6, 14)] {
            let (x, kernel) = (tensor([1, 3, h, w], 1), tensor([m, 27, 1, 1], 2));
            let (scale, shift) = (tensor([1, m, 1, 1], 3), tensor([1, m, 1, 1], 4));
            let gate = tensor([1, m, h / 2, w / 2], 5).abs();
            let columns = unfold(&x, 3, 2, [0, 0], [h / 2, w / 2]).expect("a CPU tensor");
            for finish in [Finish::Gated { scale: &scale, shift: &shift, gate: None, keep: true }, Finish::Gated { scale: &scale, shift: &shift, gate: Some(&gate), keep: false }] {
                let (rows, whole) = (convolve_unfolding(&x, &kernel, finish).expect("AVX-512"), convolve(&columns, &kernel, finish).unwrap());
                assert_eq!(rows.0.dims(), [1, m, h / 2, w / 2]);
                assert_eq!(bits(rows.0), bits(whole.0), "{m} channels, {h} × {w}");
                assert_eq!(rows.1.map(bits), whole.1.map(bits), "{m} channels, {h} × {w}, pre-activation");
            }
        }
        // Not the stem's window: left to unfold and convolve.
        assert!(convolve_unfolding(&tensor([1, 3, 45, 45], 1), &tensor([32, 27, 1, 1], 2), Finish::Sum { plus: None }).is_none(), "odd sides");
    }

    #[test]
    fn an_unfolded_stem_is_bit_for_bit_burns_convolution() {
        // The stem: 3 → 32 channels, 3 × 3, stride 2, TF "SAME" padding (the extra row and column
        // bottom and right), on a 224 × 224 input and on an odd size.
        for side in [224, 45] {
            let (x, w) = (tensor([1, 3, side, side], 1), tensor([32, 3, 3, 3], 2));
            let out = side.div_ceil(2);
            let total = (out - 1) * 2 + 3 - side;
            let padding = [(total / 2, total - total / 2); 2];
            let expected = bits(conv2d(x.clone(), w.clone(), None, ConvOptions { stride: [2, 2], padding, dilation: [1, 1], groups: 1 }));
            let columns = unfold(&x, 3, 2, [total / 2, total / 2], [out, out]).expect("a CPU tensor");
            let matrix = w.permute([0, 2, 3, 1]).reshape([32, 27, 1, 1]);
            assert_eq!(bits(sum(&columns, &matrix)), expected, "{side}²");
        }
    }

    #[test]
    fn the_classifier_is_burns_matrix_product() {
        // The network's classifier (1280 → 1000) for two images, and a length that leaves a remainder.
        for (n, k, m) in [(2, 1280, 1000), (1, 37, 5)] {
            let pooled: Tensor<2> = tensor([n, k, 1, 1], 1).flatten(1, 3);
            let (weight, bias): (Tensor<2>, Tensor<1>) = (tensor([m, k, 1, 1], 2).flatten(1, 3), tensor([1, 1, 1, m], 3).flatten(0, 3));
            let expected = pooled.clone().matmul(weight.clone().transpose()) + bias.clone().unsqueeze();
            let got = classify(&pooled, &weight, &bias).expect("CPU tensors");
            let (got, expected) = (got.into_data().try_to_vec::<f32>().unwrap(), expected.into_data().try_to_vec::<f32>().unwrap());
            let (worst, scale) = worst_off(&got, &expected);
            assert!(got.len() == n * m && worst <= 1e-5 * scale, "{n}×{k} · {k}×{m}: {worst} off (values up to {scale})");
        }
    }

    #[test]
    fn other_shapes_are_left_to_burn() {
        let x = tensor([1, 4, 5, 5], 1);
        assert!(convolve(&x, &tensor([3, 4, 3, 3], 2), Finish::Sum { plus: None }).is_none(), "3×3");
        assert!(convolve(&x, &tensor([3, 5, 1, 1], 2), Finish::Sum { plus: None }).is_none(), "channels differ");
        let wrong = tensor([1, 3, 5, 4], 3);
        assert!(convolve(&x, &tensor([3, 4, 1, 1], 2), Finish::Sum { plus: Some(&wrong) }).is_none(), "residual of another shape");
    }
}
