//! The backward pass of the gated network, written out (no autodiff): one pass from a class's
//! score down to the input whose step at each ReLU6 a rule chooses. The exact gradient
//! (∂S/∂input and ∂S/∂gates, what feedback climbs) is one rule; plain gradient, deconvnet, guided
//! backprop and the feedback rules are others. The linear parts are exact in every case.

use burn_tensor::Tensor;
use burn_tensor::activation::softmax;

use super::{EfficientNetLite0, Gates, Keep, NUM_GATED, check_class, fused};
use crate::error::{Error, Result};

impl EfficientNetLite0 {
    /// ∂logit_c/∂input and ∂logit_c/∂gate for every gated layer, from one backward pass.
    ///
    /// `gates` default to all ones; `input` is `[1, 3, H, W]`.
    pub fn class_gradients(&self, input: Tensor<4>, gates: &Gates, class: usize) -> Result<ClassGradients> {
        self.target_gradients(input, gates, class, Target::Logit)
    }

    /// Like [`EfficientNetLite0::class_gradients`], for the logit or for `log p_c` (the contrastive
    /// target: `∂ log p_c = ∂S_c − Σ_c' p_c' ∂S_c'`, what is specific to c, not what raises every class).
    ///
    /// Written out rather than left to autodiff: the forward pass keeps each pre-activation `x`,
    /// and at each layer `y = z ⊙ relu6(x)` the backward pass takes `∂S/∂z = g ⊙ relu6(x)` and
    /// passes `g ⊙ z ⊙ 1[0 < x < 6]` on (see [`EfficientNetLite0::backward_with`] for the linear parts).
    pub fn target_gradients(&self, input: Tensor<4>, gates: &Gates, class: usize, target: Target) -> Result<ClassGradients> {
        check_class(class)?;
        let [n, _, _, _] = input.dims();
        if n != 1 {
            return Err(Error::Shape(format!("class_gradients takes one image, got a batch of {n}")));
        }
        let forward = self.forward_gated(input.clone(), gates, Keep::PreActivations);
        let head = forward.pre_activations[NUM_GATED - 1].dims();
        let seed = match target {
            Target::Logit => self.class_seed(class, head)?,
            Target::LogProbability => {
                // ∂ log p_c/∂logits = e_c − p, through the classifier and the average pool.
                let [_, c, h, w] = head;
                let p = softmax(forward.logits.clone(), 1);
                let row = self.fc_weight.clone().narrow(0, class, 1) - p.matmul(self.fc_weight.clone());
                (row.reshape([1, c, 1, 1]) / (h * w) as f64).expand(head)
            }
        };
        let mut gate_grads: Vec<Option<Tensor<4>>> = vec![None; NUM_GATED];
        let input_grad = self.backward_with(input.dims(), &forward.pre_activations, seed, &mut |layer, g, pre| {
            let (gate_grad, step) = fused::gate_gradient_and_step(g, pre, gates.get(layer));
            gate_grads[layer] = Some(gate_grad);
            step
        })?;
        let missing = || Error::Device("backward pass produced no gradient".into());
        let gates = gate_grads.into_iter().map(|g| g.ok_or_else(missing)).collect::<Result<Vec<_>>>()?;
        Ok(ClassGradients { logits: forward.logits, input: input_grad, gates })
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
            // The residual path's gradient joins the expansion's as its product is stored.
            let residual = block.residual.then(|| g_x.clone());
            g_x = match &block.expand {
                Some(expand) => {
                    layer -= 1;
                    let g_exp_pre = step(layer, g_dw_in);
                    let [n, _, h, w] = shape(layer);
                    expand.vjp_plus(g_exp_pre, [n, expand.weight.dims()[1], h, w], residual)
                }
                None => match residual {
                    Some(residual) => g_dw_in + residual,
                    None => g_dw_in,
                },
            };
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
        let forward = self.forward_gated(input.clone(), gates, Keep::PreActivations);
        let seed = self.class_seed(class, forward.pre_activations[NUM_GATED - 1].dims())?;
        let input_gradient = self.backward_with(input.dims(), &forward.pre_activations, seed, rule)?;
        Ok((forward.logits, input_gradient))
    }
}

/// `g ⊙ 1[0 < x < 6]`: the gradient ReLU6 passes back (PyTorch's convention at the kinks).
pub fn through_relu6(g: Tensor<4>, pre: &Tensor<4>) -> Tensor<4> {
    fused::under_gates(g, pre, None)
}

/// `g ⊙ z ⊙ 1[0 < x < 6]`, the gated network's own backward step at `y = z ⊙ relu6(x)`, where a
/// gate `z` is set; [`through_relu6`] (all open) where it is not.
pub fn under_gates(g: Tensor<4>, pre: &Tensor<4>, z: Option<&Tensor<4>>) -> Tensor<4> {
    fused::under_gates(g, pre, z)
}

/// What a backward pass differentiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The class logit `S_c`.
    Logit,
    /// The class log-probability `log p_c = S_c − log Σ exp S`.
    LogProbability,
}

/// Gradients of one class logit from one backward pass.
#[derive(Debug, Clone)]
pub struct ClassGradients {
    /// All logits of the pass, `[1, 1000]`.
    pub logits: Tensor<2>,
    /// ∂logit/∂input, `[1, 3, H, W]`.
    pub input: Tensor<4>,
    /// ∂logit/∂z for each of the 33 gated layers, `[1, C, H, W]` each.
    pub gates: Vec<Tensor<4>>,
}
