//! The gated network's element-wise steps, each fused into one pass over memory on the CPU.
//!
//! burn's tensor operations run each step as its own pass into its own fresh buffer: a gated
//! layer's BatchNorm, ReLU6 and gate take four passes forward (scale, shift, clamp, gate) and
//! about seven backward (two comparisons, two masked fills, the gate, the gate's gradient). On the
//! CPU (burn-flex) these functions read the tensors' memory directly and take one pass, written
//! over their input where nothing else holds it. Elsewhere (wgpu), or for a tensor that is not a
//! plain contiguous `f32` buffer, they run burn's operations instead. Both compute the same
//! formula with the same roundings (one multiply and one add, a clamp, one multiply), so the CPU
//! results are bit for bit those of the unfused passes.

use burn_tensor::Tensor;
use burn_tensor::activation::relu6;

use super::cpu::{Fresh, Host, Owned, each_chunk, each_chunk_pair};

/// `x · scale + shift` per channel (inference BatchNorm); `scale`, `shift` are `[1, C, 1, 1]`.
pub fn batch_norm(x: Tensor<4>, scale: &Tensor<4>, shift: &Tensor<4>) -> Tensor<4> {
    let [_, channels, h, w] = x.dims();
    let (Some(s), Some(b)) = (Host::of(scale), Host::of(shift)) else {
        return x * scale.clone() + shift.clone();
    };
    match Owned::of(x) {
        Ok(mut out) => {
            let (s, b) = (s.values(), b.values());
            each_chunk(out.values_mut(), h * w, |start, o| {
                for (i, plane) in o.chunks_exact_mut(h * w).enumerate() {
                    let c = (start / (h * w) + i) % channels;
                    let (s, b) = (s[c], b[c]);
                    for v in plane {
                        *v = *v * s + b;
                    }
                }
            });
            out.into_tensor()
        }
        Err(x) => *x * scale.clone() + shift.clone(),
    }
}

/// `z ⊙ relu6(x · scale + shift)` (BatchNorm, ReLU6 and the gate of a layer whose pre-activation
/// is not kept), in one pass written over `x` when nothing else holds it.
pub fn batch_norm_gated_relu6(x: Tensor<4>, scale: &Tensor<4>, shift: &Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
    let [_, channels, h, w] = x.dims();
    let by_ops = |x: Tensor<4>| gated_relu6(batch_norm(x, scale, shift), gate);
    let (Some(s), Some(b)) = (Host::of(scale), Host::of(shift)) else {
        return by_ops(x);
    };
    let Some(z) = Host::like_optional(gate, x.dims()) else {
        return by_ops(x);
    };
    match Owned::of(x) {
        Ok(mut out) => {
            let (s, b) = (s.values(), b.values());
            each_chunk(out.values_mut(), h * w, |start, o| {
                for (i, plane) in o.chunks_exact_mut(h * w).enumerate() {
                    let first = start + i * h * w;
                    let c = first / (h * w) % channels;
                    let (s, b) = (s[c], b[c]);
                    match &z {
                        Some(z) => {
                            for (v, &z) in plane.iter_mut().zip(&z.values()[first..]) {
                                *v = z * (*v * s + b).clamp(0.0, 6.0);
                            }
                        }
                        None => plane.iter_mut().for_each(|v| *v = (*v * s + b).clamp(0.0, 6.0)),
                    }
                }
            });
            out.into_tensor()
        }
        Err(x) => by_ops(*x),
    }
}

/// `z ⊙ relu6(pre)`, or `relu6(pre)` without a gate, written over `pre` when nothing else holds it.
pub fn gated_relu6(pre: Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
    let Some(z) = Host::like_optional(gate, pre.dims()) else {
        return gated_relu6_by_ops(pre, gate);
    };
    match Owned::of(pre) {
        Ok(mut out) => {
            match &z {
                Some(z) => each_chunk(out.values_mut(), 1, |start, o| {
                    for (o, &z) in o.iter_mut().zip(&z.values()[start..]) {
                        *o = z * o.clamp(0.0, 6.0);
                    }
                }),
                None => each_chunk(out.values_mut(), 1, |_, o| o.iter_mut().for_each(|o| *o = o.clamp(0.0, 6.0))),
            }
            out.into_tensor()
        }
        Err(pre) => gated_relu6_kept(&pre, gate),
    }
}

/// `z ⊙ relu6(pre)` into a new tensor, `pre` left as it is (a backward pass will read it).
pub fn gated_relu6_kept(pre: &Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
    let shape = pre.dims();
    let (Some(x), Some(z)) = (Host::of(pre), Host::like_optional(gate, shape)) else {
        return gated_relu6_by_ops(pre.clone(), gate);
    };
    let mut out = Fresh::new(shape);
    each_chunk(out.values_mut(), 1, |start, o| {
        let x = &x.values()[start..];
        match &z {
            Some(z) => {
                for ((o, &x), &z) in o.iter_mut().zip(x).zip(&z.values()[start..]) {
                    o.write(z * x.clamp(0.0, 6.0));
                }
            }
            None => o.iter_mut().zip(x).for_each(|(o, &x)| _ = o.write(x.clamp(0.0, 6.0))),
        }
    });
    // SAFETY: the chunks cover the buffer and every value of each is written.
    unsafe { out.assume_written() }.into_tensor()
}

fn gated_relu6_by_ops(pre: Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
    match gate {
        Some(z) => z.clone() * relu6(pre),
        None => relu6(pre),
    }
}

/// `g ⊙ z ⊙ 1[0 < pre < 6]`, the gradient a gated ReLU6 `y = z ⊙ relu6(pre)` passes back
/// (PyTorch's convention at the kinks), written over `g` when nothing else holds it.
pub fn under_gates(g: Tensor<4>, pre: &Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
    let shape = g.dims();
    let (Some(x), Some(z)) = (Host::like(pre, shape), Host::like_optional(gate, shape)) else {
        return under_gates_by_ops(g, pre, gate);
    };
    let mut out = match Owned::or_copy(g) {
        Ok(out) => out,
        Err(g) => return under_gates_by_ops(*g, pre, gate),
    };
    each_chunk(out.values_mut(), 1, |start, o| {
        let x = &x.values()[start..];
        match &z {
            Some(z) => {
                for ((o, &x), &z) in o.iter_mut().zip(x).zip(&z.values()[start..]) {
                    *o = if x > 0.0 && x < 6.0 { *o * z } else { 0.0 };
                }
            }
            None => o.iter_mut().zip(x).for_each(|(o, &x)| *o = if x > 0.0 && x < 6.0 { *o } else { 0.0 }),
        }
    });
    out.into_tensor()
}

fn under_gates_by_ops(g: Tensor<4>, pre: &Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
    let g = match gate {
        Some(z) => g * z.clone(),
        None => g,
    };
    g.mask_fill(pre.clone().lower_equal_elem(0.0), 0.0).mask_fill(pre.clone().greater_equal_elem(6.0), 0.0)
}

/// `(g ⊙ relu6(pre), under_gates(g, pre, z))`: the gradient with respect to a layer's gate
/// (`∂S/∂z = ∂S/∂y ⊙ relu6(x)`) and the one passed on, from one pass over `g` and `pre`.
pub fn gate_gradient_and_step(g: Tensor<4>, pre: &Tensor<4>, gate: Option<&Tensor<4>>) -> (Tensor<4>, Tensor<4>) {
    let shape = g.dims();
    let by_ops = |g: Tensor<4>| (g.clone() * relu6(pre.clone()), under_gates_by_ops(g, pre, gate));
    let (Some(x), Some(z)) = (Host::like(pre, shape), Host::like_optional(gate, shape)) else {
        return by_ops(g);
    };
    let mut step = match Owned::or_copy(g) {
        Ok(out) => out,
        Err(g) => return by_ops(*g),
    };
    let mut gate_gradient = Fresh::new(shape);
    each_chunk_pair(step.values_mut(), gate_gradient.values_mut(), |start, g, dz| {
        let x = &x.values()[start..];
        match &z {
            Some(z) => {
                for (((g, dz), &x), &z) in g.iter_mut().zip(dz).zip(x).zip(&z.values()[start..]) {
                    dz.write(*g * x.clamp(0.0, 6.0));
                    *g = if x > 0.0 && x < 6.0 { *g * z } else { 0.0 };
                }
            }
            None => {
                for ((g, dz), &x) in g.iter_mut().zip(dz).zip(x) {
                    dz.write(*g * x.clamp(0.0, 6.0));
                    *g = if x > 0.0 && x < 6.0 { *g } else { 0.0 };
                }
            }
        }
    });
    // SAFETY: the chunks cover the buffer and every value of each is written.
    (unsafe { gate_gradient.assume_written() }.into_tensor(), step.into_tensor())
}

/// One projected gradient step on a gate: `clip(z + clip((g / s + offset) · η, −limit, limit), 0, 1)`
/// with `s` the layer's gradient scale (`[1, 1, 1, 1]`), in one pass over `z` and `g` into a new
/// tensor (burn's operations, five passes, where a tensor is not a plain CPU buffer).
pub fn gate_step(z: &Tensor<4>, g: &Tensor<4>, scale: &Tensor<4>, offset: f32, eta: f32, limit: Option<f32>) -> Tensor<4> {
    let shape = z.dims();
    let by_ops = || {
        let step = (g.clone() / scale.clone().expand(shape) + offset as f64) * eta as f64;
        let step = match limit {
            Some(m) => step.clamp(-m as f64, m as f64),
            None => step,
        };
        (z.clone() + step).clamp(0.0, 1.0)
    };
    let (Some(zs), Some(gs), Some(s)) = (Host::of(z), Host::like(g, shape), Host::like(scale, [1, 1, 1, 1])) else {
        return by_ops();
    };
    let s = s.values()[0];
    let (low, high) = limit.map_or((f32::NEG_INFINITY, f32::INFINITY), |m| (-m, m));
    let mut out = Fresh::new(shape);
    each_chunk(out.values_mut(), 1, |start, o| {
        for ((o, &z), &g) in o.iter_mut().zip(&zs.values()[start..]).zip(&gs.values()[start..]) {
            let step = ((g / s + offset) * eta).clamp(low, high);
            o.write((z + step).clamp(0.0, 1.0));
        }
    });
    // SAFETY: the chunks cover the buffer and every value of each is written.
    unsafe { out.assume_written() }.into_tensor()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_tensor::{Device, TensorData};

    const SHAPE: [usize; 4] = [1, 5, 9, 7];

    /// Values across ReLU6's range, with exact zeros and sixes (the kinks) among them.
    fn tensor(seed: u32, low: f32, high: f32) -> Tensor<4> {
        let n = SHAPE.iter().product::<usize>();
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        let values = (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                match i % 11 {
                    3 => 0.0,
                    7 => 6.0,
                    _ => low + (high - low) * (state as f32 / u32::MAX as f32),
                }
            })
            .collect::<Vec<f32>>();
        Tensor::from_data(TensorData::new(values, SHAPE), &Device::flex())
    }

    fn bits(t: Tensor<4>) -> Vec<u32> {
        t.into_data().try_to_vec::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
    }

    #[test]
    fn batch_norm_is_bit_for_bit_the_unfused_scale_and_shift() {
        let x = tensor(1, -3.0, 3.0);
        let scale = tensor(2, 0.1, 2.0).narrow(2, 0, 1).narrow(3, 0, 1);
        let shift = tensor(3, -1.0, 1.0).narrow(2, 0, 1).narrow(3, 0, 1);
        let (scale, shift) = (Tensor::from_data(scale.into_data(), &Device::flex()), Tensor::from_data(shift.into_data(), &Device::flex()));
        let expected = bits(x.clone() * scale.clone() + shift.clone());
        let held = x.clone();
        assert_eq!(bits(batch_norm(x.clone(), &scale, &shift)), expected, "input shared: burn's ops");
        drop(x);
        let before = bits(held.clone());
        let owned = Tensor::from_data(held.into_data(), &Device::flex());
        assert_eq!(bits(batch_norm(owned, &scale, &shift)), expected, "input owned: fused, in place");
        assert_ne!(before, expected);
    }

    #[test]
    fn gated_relu6_is_bit_for_bit_the_unfused_clamp_and_gate() {
        let (pre, z) = (tensor(4, -2.0, 8.0), tensor(5, 0.0, 1.0));
        for gate in [Some(&z), None] {
            let expected = bits(gated_relu6_by_ops(pre.clone(), gate));
            assert_eq!(bits(gated_relu6_kept(&pre, gate)), expected);
            assert_eq!(bits(gated_relu6(pre.clone(), gate)), expected, "pre shared");
            let owned = Tensor::from_data(pre.clone().into_data(), &Device::flex());
            assert_eq!(bits(gated_relu6(owned, gate)), expected, "pre owned");
        }
        assert_eq!(bits(pre.clone()), bits(tensor(4, -2.0, 8.0)), "a held input is never written over");
    }

    #[test]
    fn batch_norm_gated_relu6_is_bit_for_bit_the_three_unfused_steps() {
        let (x, z) = (tensor(12, -4.0, 9.0), tensor(13, 0.0, 1.0));
        let channel = |seed, low, high| Tensor::<4>::from_data(tensor(seed, low, high).narrow(2, 0, 1).narrow(3, 0, 1).into_data(), &Device::flex());
        let (scale, shift) = (channel(14, 0.2, 1.5), channel(15, -1.0, 1.0));
        for gate in [Some(&z), None] {
            let expected = bits(gated_relu6_by_ops(x.clone() * scale.clone() + shift.clone(), gate));
            assert_eq!(bits(batch_norm_gated_relu6(x.clone(), &scale, &shift, gate)), expected, "x shared");
            let owned = Tensor::from_data(x.clone().into_data(), &Device::flex());
            assert_eq!(bits(batch_norm_gated_relu6(owned, &scale, &shift, gate)), expected, "x owned");
        }
    }

    #[test]
    fn backward_steps_are_bit_for_bit_the_unfused_masks() {
        let (g, pre, z) = (tensor(6, -1.0, 1.0), tensor(7, -2.0, 8.0), tensor(8, 0.0, 1.0));
        // A broadcast view (how the head's seed arrives) takes burn's ops; so does a shared `g`.
        let broadcast = tensor(9, -1.0, 1.0).narrow(2, 0, 1).expand(SHAPE);
        for g in [g.clone(), broadcast] {
            for gate in [Some(&z), None] {
                let expected_step = bits(under_gates_by_ops(g.clone(), &pre, gate));
                let expected_gate = bits(g.clone() * relu6(pre.clone()));
                assert_eq!(bits(under_gates(g.clone(), &pre, gate)), expected_step);
                let (dz, step) = gate_gradient_and_step(g.clone(), &pre, gate);
                assert_eq!((bits(dz), bits(step)), (expected_gate.clone(), expected_step.clone()));
                let owned = Tensor::from_data(g.clone().into_data(), &Device::flex());
                let (dz, step) = gate_gradient_and_step(owned, &pre, gate);
                assert_eq!((bits(dz), bits(step)), (expected_gate, expected_step));
            }
        }
        assert_eq!(bits(g), bits(tensor(6, -1.0, 1.0)), "a held gradient is never written over");
    }

    #[test]
    fn a_fresh_cpu_tensor_is_written_in_place_and_a_held_one_is_not() {
        let x = tensor(10, 0.0, 1.0);
        assert!(Host::of(&x).is_some());
        let held = x.clone();
        let Err(x) = Owned::of(x) else { panic!("a tensor held elsewhere was offered for writing") };
        drop(held);
        assert!(Owned::of(*x).is_ok(), "the fused passes above ran in place, not on burn's fallback");
        assert!(Host::of(&tensor(11, 0.0, 1.0).narrow(3, 1, 3)).is_none(), "a strided view is not read as a plain buffer");
    }

    #[test]
    fn passes_split_between_threads_agree_with_one_pass() {
        // Big enough to be split; a plane of 49 values makes the chunks cut through channels unless aligned.
        let shape = [1, 1280, 7, 7];
        let n = shape.iter().product::<usize>();
        let x = Tensor::<4>::from_data(TensorData::new((0..n).map(|i| (i % 97) as f32 - 40.0).collect::<Vec<_>>(), shape), &Device::flex());
        let s = Tensor::<4>::from_data(TensorData::new((0..1280).map(|c| 0.5 + c as f32 / 1000.0).collect::<Vec<_>>(), [1, 1280, 1, 1]), &Device::flex());
        let b = Tensor::<4>::from_data(TensorData::new((0..1280).map(|c| c as f32 / 100.0).collect::<Vec<_>>(), [1, 1280, 1, 1]), &Device::flex());
        let expected = bits(x.clone() * s.clone() + b.clone());
        let owned = Tensor::from_data(x.into_data(), &Device::flex());
        assert_eq!(bits(batch_norm(owned, &s, &b)), expected);
    }

    #[test]
    fn a_gate_step_is_bit_for_bit_burns_five_passes() {
        let (z, g) = (tensor(6, 0.0, 1.0), tensor(7, -3.0, 3.0));
        let scale = Tensor::from_data(TensorData::new(vec![0.37f32], [1, 1, 1, 1]), &Device::flex());
        for (offset, eta, limit) in [(-0.25f32, 0.5f32, None), (0.125, 0.3, Some(0.2f32))] {
            let step = (g.clone() / scale.clone().expand(SHAPE) + offset as f64) * eta as f64;
            let step = match limit {
                Some(m) => step.clamp(-m as f64, m as f64),
                None => step,
            };
            let expected = bits((z.clone() + step).clamp(0.0, 1.0));
            assert_eq!(bits(gate_step(&z, &g, &scale, offset, eta, limit)), expected);
        }
    }
}
