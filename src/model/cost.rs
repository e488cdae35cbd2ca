//! What a pass must do at least, counted from the architecture: floating-point operations and
//! bytes moved. `bench` divides them by the measured times to put speeds next to this machine's
//! limits (a multiply-add counts as two operations, as GFLOP/s figures usually do).

use super::{HEAD_CHANNELS, NUM_CLASSES, block_specs, head_spec, stem_spec, ConvSpec};

/// Operation and byte counts of one image's passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassCost {
    /// Forward pass: convolutions, BatchNorm, ReLU6, gates, residual sums, pooling, classifier.
    pub forward_flops: f64,
    /// Forward plus the backward pass to the input and to every gate (no weight gradients: the
    /// weights are fixed, so each convolution's backward is one transposed convolution).
    pub forward_backward_flops: f64,
    /// Least bytes a forward pass moves: every weight read once, the input read, the logits written.
    pub forward_bytes: f64,
    /// Least bytes of forward + backward: the weights read in both passes (they do not fit in a
    /// cache), every activation the backward pass needs written once and read once, and the
    /// input gradient and the gate gradients written.
    pub forward_backward_bytes: f64,
    /// Weights (f32), for reference.
    pub parameters: usize,
}

/// Running counts while walking the network.
#[derive(Default)]
struct Tally {
    flops: f64,
    backward: f64,
    parameters: usize,
    /// Activation values the backward pass needs (layer inputs and pre-activations).
    saved: f64,
    /// Gated neurons (a gate gradient each).
    gated: f64,
}

impl Tally {
    /// A convolution at input size (h, w): its multiply-adds, then BatchNorm (2 per output),
    /// then, when `activated`, ReLU6 and the gate.
    fn conv(&mut self, spec: &ConvSpec, h: &mut usize, w: &mut usize, activated: bool) {
        let (oh, ow) = (h.div_ceil(spec.stride), w.div_ceil(spec.stride));
        let per_output = if spec.depthwise { spec.kernel * spec.kernel } else { spec.in_channels * spec.kernel * spec.kernel };
        let outputs = (spec.out_channels * oh * ow) as f64;
        let macs = outputs * per_output as f64;
        self.flops += 2.0 * macs + 2.0 * outputs;
        // The input gradient of a convolution costs its multiply-adds again, BatchNorm one multiply.
        self.backward += 2.0 * macs + outputs;
        self.saved += (spec.in_channels * *h * *w) as f64;
        if activated {
            // ReLU6 (a clamp: 2) and the gate (1); backward: the mask (2), the gate (1), the gate gradient (1).
            self.flops += 3.0 * outputs;
            self.backward += 4.0 * outputs;
            self.saved += outputs;
            self.gated += outputs;
        }
        self.parameters += spec.weight_shape().iter().product::<usize>() + 2 * spec.out_channels;
        (*h, *w) = (oh, ow);
    }
}

/// The costs for one `height × width` image in f32.
pub fn pass_cost(height: usize, width: usize) -> PassCost {
    const F32: f64 = 4.0;
    let (mut h, mut w) = (height, width);
    let mut t = Tally::default();
    t.conv(&stem_spec(), &mut h, &mut w, true);
    for block in block_specs() {
        if let Some(expand) = &block.expand {
            t.conv(expand, &mut h, &mut w, true);
        }
        t.conv(&block.dw, &mut h, &mut w, true);
        t.conv(&block.project, &mut h, &mut w, false);
        if block.residual {
            let sum = (block.project.out_channels * h * w) as f64;
            t.flops += sum;
            t.backward += sum;
        }
    }
    t.conv(&head_spec(), &mut h, &mut w, true);
    let Tally { mut flops, mut backward, mut parameters, saved, gated } = t;
    // Global average pool and the classifier.
    let pooled = (HEAD_CHANNELS * h * w) as f64;
    flops += pooled + 2.0 * (HEAD_CHANNELS * NUM_CLASSES) as f64 + NUM_CLASSES as f64;
    backward += pooled + HEAD_CHANNELS as f64;
    parameters += HEAD_CHANNELS * NUM_CLASSES + NUM_CLASSES;
    let weights = parameters as f64 * F32;
    let input = (3 * height * width) as f64 * F32;
    PassCost {
        forward_flops: flops,
        forward_backward_flops: flops + backward,
        forward_bytes: weights + input + NUM_CLASSES as f64 * F32,
        forward_backward_bytes: 2.0 * weights + 2.0 * input + NUM_CLASSES as f64 * F32 + 2.0 * saved * F32 + gated * F32,
        parameters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lite0_costs_what_its_paper_says() {
        let c = pass_cost(224, 224);
        // EfficientNet-Lite0: 4.65 M parameters, about 0.4 G multiply-adds at 224×224.
        assert_eq!(c.parameters, super::super::conv_specs().iter().map(|s| s.weight_shape().iter().product::<usize>() + 2 * s.out_channels).sum::<usize>() + 1_281_000);
        assert!((4.6e6..4.7e6).contains(&(c.parameters as f64)), "{}", c.parameters);
        assert!((0.75e9..0.85e9).contains(&c.forward_flops), "{}", c.forward_flops);
        assert!(c.forward_backward_flops > 1.9 * c.forward_flops && c.forward_backward_flops < 2.2 * c.forward_flops);
        assert!(c.forward_backward_bytes > 2.0 * c.forward_bytes);
    }
}
