//! The two backward passes of the gated network: autodiff for ∂S/∂input and ∂S/∂gates (what
//! feedback climbs), and a hand-written pass whose step at each ReLU6 a rule replaces (plain
//! gradient, deconvnet, guided backprop, the feedback rules), with the linear parts exact.

use burn::tensor::Tensor;

use super::{EfficientNetLite0, Gates, NUM_GATED, check_class};
use crate::error::{Error, Result};

impl EfficientNetLite0 {
    /// ∂logit_c/∂input and ∂logit_c/∂gate for every gated layer, from one backward pass.
    ///
    /// `gates` default to all ones; `input` is `[1, 3, H, W]`; the device of `input` need not have
    /// autodiff enabled (it is enabled here). Returns tensors without autodiff.
    pub fn class_gradients(&self, input: Tensor<4>, gates: &Gates, class: usize) -> Result<ClassGradients> {
        self.target_gradients(input, gates, class, Target::Logit)
    }

    /// Like [`EfficientNetLite0::class_gradients`], for the logit or for `log p_c` (the contrastive
    /// target: `∂ log p_c = ∂S_c − Σ_c' p_c' ∂S_c'`, what is specific to c, not what raises every class).
    pub fn target_gradients(&self, input: Tensor<4>, gates: &Gates, class: usize, target: Target) -> Result<ClassGradients> {
        check_class(class)?;
        let [n, _, _, _] = input.dims();
        if n != 1 {
            return Err(Error::Shape(format!("class_gradients takes one image, got a batch of {n}")));
        }
        let device = input.device().autodiff();
        let input = input.autodiff().require_grad();
        let shapes = self.activation_shapes(&input);
        let mut tracked = Gates::open();
        for (layer, shape) in shapes.iter().enumerate() {
            let z = match gates.get(layer) {
                Some(z) => z.clone().detach().autodiff(),
                None => Tensor::ones(*shape, &device),
            };
            tracked.set(layer, z.require_grad());
        }
        let out = self.forward_gated(input.clone(), &tracked, false);
        let objective = match target {
            Target::Logit => out.logits.clone().narrow(1, class, 1).sum(),
            Target::LogProbability => burn::tensor::activation::log_softmax(out.logits.clone(), 1).narrow(1, class, 1).sum(),
        };
        let grads = objective.backward();
        let missing = || Error::Device("backward pass produced no gradient".into());
        let input_grad = input.grad(&grads).ok_or_else(missing)?;
        let gate_grads = (0..NUM_GATED)
            .map(|l| tracked.get(l).and_then(|z| z.grad(&grads)).ok_or_else(missing))
            .collect::<Result<Vec<_>>>()?;
        Ok(ClassGradients { logits: out.logits.without_autodiff(), input: input_grad, gates: gate_grads })
    }

    /// ∂logit_class/∂(head output) for a head activation of `shape`: `w_class / (h·w)` everywhere.
    pub fn class_seed(&self, class: usize, shape: [usize; 4]) -> Result<Tensor<4>> {
        check_class(class)?;
        let [n, c, h, w] = shape;
        let row = self.fc_weight.clone().narrow(0, class, 1).reshape([1, c, 1, 1]) / (h * w) as f64;
        Ok(row.expand([n, c, h, w]))
    }

    /// A backward pass from `seed` (gradient at the head's output) to the input, in which
    /// `rule(layer, g_out, pre)` replaces each gated layer's backward step: it gets ∂S/∂y of the
    /// layer's output and its pre-activation, and returns the gradient at the pre-activation.
    ///
    /// The linear parts (convolutions, BatchNorm, residual sums, pooling) are differentiated
    /// exactly; `pre_activations` come from [`EfficientNetLite0::forward_gated`] with the same input.
    /// This is where plain gradients, deconvnet, guided backprop and the feedback rules differ.
    pub fn backward_with(
        &self,
        input_shape: [usize; 4],
        pre_activations: &[Tensor<4>],
        seed: Tensor<4>,
        rule: &mut dyn FnMut(usize, Tensor<4>, &Tensor<4>) -> Tensor<4>,
    ) -> Result<Tensor<4>> {
        if pre_activations.len() != NUM_GATED {
            return Err(Error::Shape(format!("{} pre-activations, expected {NUM_GATED}", pre_activations.len())));
        }
        let shape = |l: usize| pre_activations[l].dims();
        let mut layer = NUM_GATED - 1;
        let mut step = |layer: usize, g: Tensor<4>| rule(layer, g, &pre_activations[layer]);
        // Head: 1×1 conv from the last block's output.
        let g = step(layer, seed);
        let last_block_out = {
            let [n, _, h, w] = shape(layer);
            [n, self.head.weight.dims()[1], h, w]
        };
        let mut g_x = self.head.vjp(g, last_block_out);
        for block in self.blocks.iter().rev() {
            layer -= 1;
            let g_dw_pre = {
                let g_dw_out = block.project.vjp(g_x.clone(), shape(layer));
                step(layer, g_dw_out)
            };
            // The depthwise input: the expansion's output, or the block input (previous gated layer).
            let g_dw_in = block.dw.vjp(g_dw_pre, shape(layer - 1));
            let g_block_in = match &block.expand {
                Some(expand) => {
                    layer -= 1;
                    let g_exp_pre = step(layer, g_dw_in);
                    let [n, _, h, w] = shape(layer);
                    expand.vjp(g_exp_pre, [n, expand.weight.dims()[1], h, w])
                }
                None => g_dw_in,
            };
            g_x = if block.residual { g_block_in + g_x } else { g_block_in };
        }
        let g_stem = step(0, g_x);
        Ok(self.stem.vjp(g_stem, input_shape))
    }

    /// A forward pass under `gates`, then [`EfficientNetLite0::backward_with`] from `class`'s logit
    /// with `rule` at each gated layer. Returns the logits `[1, 1000]` and the input gradient.
    pub fn class_backward(
        &self,
        input: &Tensor<4>,
        gates: &Gates,
        class: usize,
        rule: &mut dyn FnMut(usize, Tensor<4>, &Tensor<4>) -> Tensor<4>,
    ) -> Result<(Tensor<2>, Tensor<4>)> {
        let forward = self.forward_gated(input.clone(), gates, true);
        let seed = self.class_seed(class, forward.pre_activations[NUM_GATED - 1].dims())?;
        let input_gradient = self.backward_with(input.dims(), &forward.pre_activations, seed, rule)?;
        Ok((forward.logits, input_gradient))
    }
}

/// What a backward pass differentiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The class logit `S_c`.
    Logit,
    /// The class log-probability `log p_c = S_c − log Σ exp S`.
    LogProbability,
}

/// Gradients of one class logit from one backward pass (tensors without autodiff).
#[derive(Debug, Clone)]
pub struct ClassGradients {
    /// All logits of the pass, `[1, 1000]`.
    pub logits: Tensor<2>,
    /// ∂logit/∂input, `[1, 3, H, W]`.
    pub input: Tensor<4>,
    /// ∂logit/∂z for each of the 33 gated layers, `[1, C, H, W]` each.
    pub gates: Vec<Tensor<4>>,
}
