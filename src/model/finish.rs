//! What follows a convolution on the CPU (BatchNorm, a residual sum, ReLU6 and the gate), done
//! by the convolution kernels ([`super::pointwise`], [`super::depthwise`]) to each block of sums
//! as they store it, instead of in passes of their own over memory afterwards. The formulas and
//! roundings are [`super::fused`]'s: one multiply and one add, a clamp, one multiply.

use std::mem::MaybeUninit;

use burn_tensor::Tensor;

use super::cpu::{Fresh, Host};

/// What is done to each sum `v` of the product before it is stored.
#[derive(Clone, Copy)]
pub enum Finish<'a> {
    /// `v`, plus a tensor of the output's shape where one is given (a residual sum).
    Sum { plus: Option<&'a Tensor<4>> },
    /// BatchNorm `v · scale + shift` (`[1, out, 1, 1]` each), plus a tensor where one is given.
    BatchNorm { scale: &'a Tensor<4>, shift: &'a Tensor<4>, plus: Option<&'a Tensor<4>> },
    /// `z ⊙ relu6(v · scale + shift)` (no gate: all ones); `keep` also stores the pre-activation.
    Gated { scale: &'a Tensor<4>, shift: &'a Tensor<4>, gate: Option<&'a Tensor<4>>, keep: bool },
}

/// A convolution's output buffers (and the pre-activation's, where kept) with what finishes it.
pub(super) struct Finished {
    store: Store,
    out: Fresh,
    pre: Option<Fresh>,
}

impl Finished {
    /// Buffers for an output of `shape` `[N, C, H, W]`; `None` when a tensor of `finish` is not a
    /// plain CPU buffer of its shape (per channel `[1, C, 1, 1]`, or the output's).
    pub(super) fn new(finish: Finish, shape: [usize; 4]) -> Option<Self> {
        let per_channel = |t: &Tensor<4>| Host::like(t, [1, shape[1], 1, 1]);
        let whole = |t: Option<&Tensor<4>>| Host::like_optional(t, shape);
        let store = match finish {
            Finish::Sum { plus } => Store::Sum { plus: whole(plus)? },
            Finish::BatchNorm { scale, shift, plus } => Store::BatchNorm { scale: per_channel(scale)?, shift: per_channel(shift)?, plus: whole(plus)? },
            Finish::Gated { scale, shift, gate, keep } => {
                Store::Gated { scale: per_channel(scale)?, shift: per_channel(shift)?, gate: whole(gate)?, keep }
            }
        };
        let pre = matches!(store, Store::Gated { keep: true, .. }).then(|| Fresh::new(shape));
        Some(Self { store, out: Fresh::new(shape), pre })
    }

    /// What a kernel stores with, and where.
    pub(super) fn parts(&mut self) -> (Values<'_>, Targets) {
        let out = self.out.values_mut().as_mut_ptr();
        let pre = self.pre.as_mut().map_or(std::ptr::null_mut(), |p| p.values_mut().as_mut_ptr());
        (self.store.values(), Targets { out, pre })
    }

    /// The output, and the pre-activation where kept.
    ///
    /// # Safety
    /// Every value of the output has been stored through [`Values::store`].
    pub(super) unsafe fn into_tensors(self) -> (Tensor<4>, Option<Tensor<4>>) {
        // SAFETY: `store` writes the pre-activation wherever it writes the output.
        let written = |t: Fresh| unsafe { t.assume_written() }.into_tensor();
        (written(self.out), self.pre.map(written))
    }
}

enum Store {
    Sum { plus: Option<Host> },
    BatchNorm { scale: Host, shift: Host, plus: Option<Host> },
    Gated { scale: Host, shift: Host, gate: Option<Host>, keep: bool },
}

impl Store {
    fn values(&self) -> Values<'_> {
        fn values(h: &Option<Host>) -> Option<&[f32]> {
            h.as_ref().map(Host::values)
        }
        match self {
            Store::Sum { plus } => Values::Sum { plus: values(plus) },
            Store::BatchNorm { scale, shift, plus } => Values::BatchNorm { scale: scale.values(), shift: shift.values(), plus: values(plus) },
            Store::Gated { scale, shift, gate, keep } => {
                Values::Gated { scale: scale.values(), shift: shift.values(), gate: values(gate), keep: *keep }
            }
        }
    }
}

/// [`Finish`] with the tensors' values read in place.
#[derive(Clone, Copy)]
pub(super) enum Values<'a> {
    Sum { plus: Option<&'a [f32]> },
    BatchNorm { scale: &'a [f32], shift: &'a [f32], plus: Option<&'a [f32]> },
    Gated { scale: &'a [f32], shift: &'a [f32], gate: Option<&'a [f32]>, keep: bool },
}

impl<'a> Values<'a> {
    /// Finishes the sums of output channel `channel`, positions `at..at + sums.len()` of the whole
    /// output, into `targets` (the formulas and roundings of [`super::fused`]'s passes).
    #[inline(always)]
    pub(super) fn store(&self, channel: usize, at: usize, sums: &[f32], targets: Targets) {
        let len = sums.len();
        // SAFETY: `at..at + len` lies in the output (and pre-activation) buffers, and no other
        // thread writes these positions (each block of the output belongs to one thread).
        let out = unsafe { std::slice::from_raw_parts_mut(targets.out.add(at), len) };
        let with = |plus: Option<&'a [f32]>| plus.map(move |p| &p[at..at + len]);
        match *self {
            Values::Sum { plus } => match with(plus) {
                Some(p) => out.iter_mut().zip(sums).zip(p).for_each(|((o, &v), &p)| _ = o.write(v + p)),
                None => out.iter_mut().zip(sums).for_each(|(o, &v)| _ = o.write(v)),
            },
            Values::BatchNorm { scale, shift, plus } => {
                let (s, b) = (scale[channel], shift[channel]);
                match with(plus) {
                    Some(p) => out.iter_mut().zip(sums).zip(p).for_each(|((o, &v), &p)| _ = o.write((v * s + b) + p)),
                    None => out.iter_mut().zip(sums).for_each(|(o, &v)| _ = o.write(v * s + b)),
                }
            }
            Values::Gated { scale, shift, gate, keep } => {
                let (s, b) = (scale[channel], shift[channel]);
                if keep {
                    let pre = unsafe { std::slice::from_raw_parts_mut(targets.pre.add(at), len) };
                    pre.iter_mut().zip(sums).for_each(|(p, &v)| _ = p.write(v * s + b));
                }
                match with(gate) {
                    Some(z) => out.iter_mut().zip(sums).zip(z).for_each(|((o, &v), &z)| _ = o.write(z * (v * s + b).clamp(0.0, 6.0))),
                    None => out.iter_mut().zip(sums).for_each(|(o, &v)| _ = o.write((v * s + b).clamp(0.0, 6.0))),
                }
            }
        }
    }
}

/// Where the finished values go: the output, and the pre-activation (null unless kept).
#[derive(Clone, Copy)]
pub(super) struct Targets {
    out: *mut MaybeUninit<f32>,
    pre: *mut MaybeUninit<f32>,
}

// SAFETY: the buffers outlive the product, and its threads write disjoint blocks of them.
unsafe impl Send for Targets {}
unsafe impl Sync for Targets {}

