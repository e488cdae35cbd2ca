//! Direct access to the CPU backend's (burn-flex's) tensor memory, for the kernels written here
//! ([`super::fused`], [`super::depthwise`]): a tensor read in place, a tensor written in place when
//! nothing else holds it, and passes split over threads (natively [`super::team`]'s, one in the
//! browser).

use std::mem::MaybeUninit;

use burn_flex::{Flex, FlexTensor};
use burn_tensor::{DType, Device, Tensor, TensorData};

/// A CPU tensor's values, read in place: a contiguous `f32` buffer holding exactly the tensor.
pub(super) struct Host(FlexTensor);

impl Host {
    pub(super) fn of(t: &Tensor<4>) -> Option<Self> {
        if !on_cpu(t) {
            return None;
        }
        let flex = t.clone().try_into_primitive::<Flex>().ok()?;
        plain(&flex).then_some(Self(flex))
    }

    /// Like [`Host::of`], for a tensor of `shape` only.
    pub(super) fn like(t: &Tensor<4>, shape: [usize; 4]) -> Option<Self> {
        (t.dims() == shape).then(|| Self::of(t)).flatten()
    }

    /// [`Host::like`] of a tensor that may be absent (a gate, a residual): `Some(None)` without
    /// one, `None` when it cannot be read in place (the caller then runs burn's operations).
    pub(super) fn like_optional(t: Option<&Tensor<4>>, shape: [usize; 4]) -> Option<Option<Self>> {
        match t {
            Some(t) => Self::like(t, shape).map(Some),
            None => Some(None),
        }
    }

    pub(super) fn values(&self) -> &[f32] {
        self.0.storage::<f32>()
    }
}

/// A CPU tensor nothing else holds, whose values may be written over.
pub(super) struct Owned(FlexTensor);

impl Owned {
    /// `t` itself when it is a plain CPU buffer that nothing else holds; `t` back otherwise
    /// (boxed: a tensor handle is over 500 bytes).
    pub(super) fn of(t: Tensor<4>) -> Result<Self, Box<Tensor<4>>> {
        if !on_cpu(&t) {
            return Err(Box::new(t));
        }
        let flex = match t.try_into_primitive::<Flex>() {
            Ok(flex) => flex,
            Err(e) => unreachable!("a tensor on the CPU device is a burn-flex tensor: {e:?}"),
        };
        if plain(&flex) && flex.is_unique() { Ok(Self(flex)) } else { Err(Box::new(Tensor::from_primitive::<Flex>(flex))) }
    }

    /// `t` itself as [`Owned::of`] gives it, or a copy of its values when something else holds
    /// it; `t` back when it is not a plain CPU buffer at all.
    pub(super) fn or_copy(t: Tensor<4>) -> Result<Self, Box<Tensor<4>>> {
        let t = match Self::of(t) {
            Ok(owned) => return Ok(owned),
            Err(t) => t,
        };
        match Host::of(&t) {
            Some(values) => Ok(Self::from_vec(values.values().to_vec(), t.dims())),
            None => Err(t),
        }
    }

    fn from_vec(values: Vec<f32>, shape: [usize; 4]) -> Self {
        Self(FlexTensor::from_data(TensorData::new(values, shape)))
    }

    pub(super) fn values_mut(&mut self) -> &mut [f32] {
        self.0.storage_mut::<f32>()
    }

    pub(super) fn into_tensor(self) -> Tensor<4> {
        Tensor::from_primitive::<Flex>(self.0)
    }
}

/// A new buffer of `shape` whose values are not yet set: a kernel that writes every value gets
/// it without the pass over memory that zeroing it first would take.
pub(super) struct Fresh {
    values: Vec<f32>,
    shape: [usize; 4],
}

impl Fresh {
    pub(super) fn new(shape: [usize; 4]) -> Self {
        Self { values: Vec::with_capacity(shape.iter().product()), shape }
    }

    pub(super) fn values_mut(&mut self) -> &mut [MaybeUninit<f32>] {
        let n = self.shape.iter().product();
        &mut self.values.spare_capacity_mut()[..n]
    }

    /// The buffer as a tensor.
    ///
    /// # Safety
    /// Every value of [`Fresh::values_mut`] has been written.
    pub(super) unsafe fn assume_written(mut self) -> Owned {
        // SAFETY: the capacity is the shape's size, and the caller wrote every value.
        unsafe { self.values.set_len(self.shape.iter().product()) };
        Owned::from_vec(self.values, self.shape)
    }
}

/// Whether `t` is a plain burn-flex tensor (device equality ignores autodiff, whose tensors are
/// not burn-flex's own).
fn on_cpu(t: &Tensor<4>) -> bool {
    let device = t.device();
    device == Device::flex() && !device.is_autodiff()
}

/// Whether a burn-flex tensor is an `f32` buffer holding exactly its values, in order.
fn plain(t: &FlexTensor) -> bool {
    let n = t.layout().num_elements();
    t.dtype() == DType::F32 && t.layout().contiguous_offsets() == Some((0, n)) && t.bytes().len() == n * 4
}

/// Below this many values a pass is not split between threads (the hand-off costs more).
const SERIAL: usize = 1 << 13;

/// Runs `f(part)` for every part `0..parts`, on all threads natively ([`super::team`]), one in
/// the browser.
pub(super) fn each_part(parts: usize, f: impl Fn(usize) + Sync) {
    #[cfg(not(target_family = "wasm"))]
    super::team::each_part(parts, &f);
    #[cfg(target_family = "wasm")]
    (0..parts).for_each(f);
}

/// A buffer's start, shared by the threads that write disjoint parts of it.
struct Shared<T>(*mut T);

// SAFETY: the threads write disjoint ranges of the buffer, which outlives them (see its uses).
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// `len` values from `start`.
    ///
    /// # Safety
    /// The range lies in the buffer, and no other thread uses it meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn range(&self, start: usize, len: usize) -> &mut [T] {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// Runs `f(start, chunk)` over `out` in chunks whose length is a multiple of `align`, on all
/// threads natively (one in the browser); `start` is the chunk's offset in `out`.
pub(super) fn each_chunk<T: Send>(out: &mut [T], align: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let len = chunk_len(out.len(), align);
    each_chunk_of(out, len, f);
}

/// [`each_chunk`] for values that each cost `cost` (say, a dot product of that length): split
/// as the work, not the output, would be.
pub(super) fn each_chunk_costing<T: Send>(out: &mut [T], cost: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let len = items_per_part(out.len(), cost);
    each_chunk_of(out, len, f);
}

/// `f(start, chunk)` over `out` in chunks of `len` (the last shorter), one part each.
fn each_chunk_of<T: Send>(out: &mut [T], len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let n = out.len();
    let out = Shared(out.as_mut_ptr());
    each_part(n.div_ceil(len), |i| {
        let start = i * len;
        // SAFETY: the parts' chunks are disjoint and lie in `out`, borrowed for this call.
        f(start, unsafe { out.range(start, len.min(n - start)) })
    });
}

/// Runs `f(range)` over ranges that cover `0..n`, on all threads natively (one in the browser),
/// for items of `size` values each (split as [`each_chunk`] splits their values).
pub(super) fn each_range(n: usize, size: usize, f: impl Fn(std::ops::Range<usize>) + Sync) {
    let per_part = items_per_part(n, size);
    each_part(n.div_ceil(per_part), |p| f(p * per_part..((p + 1) * per_part).min(n)));
}

/// [`each_chunk`] over two buffers of one length side by side.
pub(super) fn each_chunk_pair<A: Send, B: Send>(a: &mut [A], b: &mut [B], f: impl Fn(usize, &mut [A], &mut [B]) + Sync) {
    assert_eq!(a.len(), b.len(), "two buffers of one length");
    let (n, len) = (a.len(), chunk_len(a.len(), 1));
    let (a, b) = (Shared(a.as_mut_ptr()), Shared(b.as_mut_ptr()));
    each_part(n.div_ceil(len), |i| {
        let (start, len) = (i * len, len.min(n - i * len));
        // SAFETY: the parts' chunks are disjoint and lie in both buffers, borrowed for this call.
        unsafe { f(start, a.range(start, len), b.range(start, len)) }
    });
}

/// Threads the passes run on: all natively, one in the browser.
pub(super) fn threads() -> usize {
    #[cfg(not(target_family = "wasm"))]
    return super::team::threads();
    #[cfg(target_family = "wasm")]
    1
}

/// Items per part for `n` items of `size` values each, split as [`chunk_len`] splits their values.
fn items_per_part(n: usize, size: usize) -> usize {
    (chunk_len(n * size, size) / size.max(1)).max(1)
}

/// Chunk length for `n` values: whole when small, else about four chunks per thread, a multiple of `align`.
fn chunk_len(n: usize, align: usize) -> usize {
    let threads = threads();
    if n <= SERIAL || threads == 1 {
        return n.max(1);
    }
    let len = n.div_ceil(4 * threads).max(SERIAL / 2);
    len.div_ceil(align.max(1)) * align.max(1)
}
