//! Backward rules at a ReLU6 layer `y = z ⊙ relu6(x)`: given `g = ∂S/∂y` and the pre-activation
//! `x`, what flows back to `x`. Each is one line of the corresponding paper.

use burn_tensor::Tensor;

/// [`gated`] where a gate is set, [`gradient`] (all open) where it is not.
pub use crate::model::under_gates;
pub use crate::model::through_relu6;

/// Plain gradient (Simonyan et al. 2014): `∂S/∂x = g ⊙ 1[0 < x < 6]`.
pub fn gradient(g: Tensor<4>, pre: &Tensor<4>) -> Tensor<4> {
    through_relu6(g, pre)
}

/// Gated gradient, the feedback network's backward pass: `∂S/∂x = g ⊙ z ⊙ 1[0 < x < 6]`.
pub fn gated(g: Tensor<4>, pre: &Tensor<4>, z: &Tensor<4>) -> Tensor<4> {
    under_gates(g, pre, Some(z))
}

/// Deconvnet (Zeiler & Fergus 2014): the ReLU is applied to the signal going back, `max(g, 0)`,
/// ignoring the forward pass.
pub fn deconvnet(g: Tensor<4>) -> Tensor<4> {
    g.clamp_min(0.0)
}

/// Guided backpropagation (Springenberg et al. 2015): both masks, `max(g, 0) ⊙ 1[0 < x < 6]`.
pub fn guided(g: Tensor<4>, pre: &Tensor<4>) -> Tensor<4> {
    through_relu6(g.clamp_min(0.0), pre)
}

/// The authors' selection rule: `z = 1[max(g, 0) ≥ r · mean(g | g > 0)]`, optionally with each
/// map's outer `border` pixels closed. A layer whose gradient is nowhere positive closes entirely.
pub fn select(g: &Tensor<4>, ratio: f32, border: usize) -> Tensor<4> {
    let positive = g.clone().clamp_min(0.0);
    let count = g.clone().greater_elem(0.0).float().sum();
    let mean = positive.clone().sum() / count.clamp_min(1.0);
    let threshold = mean * ratio as f64;
    let dims = g.dims();
    let z = positive.clone().greater_equal(threshold.reshape([1, 1, 1, 1]).expand(dims)).float();
    let z = z * positive.greater_elem(0.0).float();
    if border == 0 {
        return z;
    }
    let [n, c, h, w] = dims;
    if 2 * border >= h || 2 * border >= w {
        return z;
    }
    let inner = Tensor::<4>::ones([n, c, h - 2 * border, w - 2 * border], &g.device());
    z * inner.pad([(border, border), (border, border)], burn_tensor::ops::PadMode::Constant(0.0))
}

/// Feedback recovering (FR): in the same backward pass, keep only the strongest incoming
/// gradients, `z = select(g ⊙ 1[0 < x < 6])`, and pass `g ⊙ z ⊙ 1[0 < x < 6]` on at once.
/// Returns (gradient at `x`, the gates chosen).
pub fn recover(g: Tensor<4>, pre: &Tensor<4>, ratio: f32) -> (Tensor<4>, Tensor<4>) {
    let passed = gradient(g, pre);
    let z = select(&passed, ratio, 0);
    (passed * z.clone(), z)
}
