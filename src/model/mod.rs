//! EfficientNet-Lite0 with a gate on every ReLU6 neuron: architecture, weights, class names.
//!
//! Every gated layer computes `y = z ⊙ relu6(bn(conv(x)))`. BatchNorm is a fixed per-channel
//! affine map made from the running statistics, always in inference mode. In the forward pass it
//! is applied after the convolution in PyTorch's order rather than folded into the weights:
//! folding moves a few pre-activations across ReLU6's kinks and the gradients then differ from the
//! reference by ~1e-3 instead of ~1e-6. The backward pass has no kink to move: there the scale is
//! folded into the kernel of the input gradient. Padding is TensorFlow's "SAME": for stride 2 on
//! even sizes the extra pixel goes bottom/right.

mod backward;
pub mod cost;
mod cpu;
mod depthwise;
mod finish;
mod fused;
pub mod labels;
mod pointwise;
#[cfg(target_arch = "x86_64")]
mod row_lanes;
#[cfg(not(target_family = "wasm"))]
mod team;
pub mod pth;
pub mod weights;

use burn_tensor::module::{conv2d, conv_transpose2d};
use burn_tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn_tensor::{Device, Tensor};

use crate::error::{Error, Result};
use finish::Finish;
pub use backward::{ClassGradients, Target, through_relu6, under_gates};
pub use fused::gate_step;
pub use weights::{Precision, Weights};

pub use crate::geometry::INPUT_SIZE;
/// Number of ImageNet classes.
pub const NUM_CLASSES: usize = 1000;
/// Number of gated (ReLU6) layers.
pub const NUM_GATED: usize = 33;

/// One MBConv stage of EfficientNet-Lite0: (expand ratio, kernel, stride, in, out, repeats).
/// Values from Tan & Le 2019 (B0 baseline); "lite" drops squeeze-excitation and uses ReLU6.
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];
const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;

/// Shape of one convolution of the network: weight `[out, in/groups, k, k]`, then BatchNorm `scale`, `shift` `[out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSpec {
    /// Parameter name prefix, e.g. `b3.dw`.
    pub name: String,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Whether it is depthwise (groups = channels).
    pub depthwise: bool,
}

impl ConvSpec {
    fn new(name: String, in_channels: usize, out_channels: usize, kernel: usize, stride: usize, depthwise: bool) -> Self {
        Self { name, in_channels, out_channels, kernel, stride, depthwise }
    }

    /// Shape of the weight tensor.
    pub fn weight_shape(&self) -> [usize; 4] {
        let per_group = if self.depthwise { 1 } else { self.in_channels };
        [self.out_channels, per_group, self.kernel, self.kernel]
    }
}

/// One inverted-residual block: optional 1×1 expansion, depthwise k×k, 1×1 projection.
#[derive(Debug, Clone)]
struct BlockSpec {
    expand: Option<ConvSpec>,
    dw: ConvSpec,
    project: ConvSpec,
    residual: bool,
}

fn block_specs() -> Vec<BlockSpec> {
    let mut blocks = Vec::new();
    for (ratio, kernel, stride, cin, cout, repeats) in STAGES {
        for r in 0..repeats {
            let (cin, stride) = if r == 0 { (cin, stride) } else { (cout, 1) };
            let i = blocks.len();
            let hidden = cin * ratio;
            blocks.push(BlockSpec {
                expand: (ratio != 1).then(|| ConvSpec::new(format!("b{i}.expand"), cin, hidden, 1, 1, false)),
                dw: ConvSpec::new(format!("b{i}.dw"), hidden, hidden, kernel, stride, true),
                project: ConvSpec::new(format!("b{i}.project"), hidden, cout, 1, 1, false),
                residual: stride == 1 && cin == cout,
            });
        }
    }
    blocks
}

fn stem_spec() -> ConvSpec {
    ConvSpec::new("stem".into(), 3, STEM_CHANNELS, 3, 2, false)
}

fn head_spec() -> ConvSpec {
    ConvSpec::new("head".into(), STAGES[6].4, HEAD_CHANNELS, 1, 1, false)
}

/// Every convolution in forward order (stem, blocks, head).
pub fn conv_specs() -> Vec<ConvSpec> {
    let mut specs = vec![stem_spec()];
    for b in block_specs() {
        specs.extend(b.expand);
        specs.push(b.dw);
        specs.push(b.project);
    }
    specs.push(head_spec());
    specs
}

/// A gated layer: its name and the shape `[C, H, W]` of its activation for a 224×224 input.
#[derive(Debug, Clone, PartialEq)]
pub struct GatedLayer {
    /// Name as in the golden files: `stem`, `b0.dw`, `b1.expand`, …, `head`.
    pub name: String,
    /// Channels, height, width of the activation (and of its gate).
    pub shape: [usize; 3],
}

/// The 33 gated layers in forward order, with their activation shapes for a 224×224 input.
pub fn gated_layers() -> Vec<GatedLayer> {
    gated_layer_shapes(INPUT_SIZE, INPUT_SIZE)
        .into_iter()
        .map(|(name, [c, h, w])| GatedLayer { name, shape: [c, h, w] })
        .collect()
}

/// Name and activation shape `[C, H, W]` of each gated layer, for an `height × width` input.
fn gated_layer_shapes(height: usize, width: usize) -> Vec<(String, [usize; 3])> {
    let (mut h, mut w) = (height.div_ceil(2), width.div_ceil(2));
    let mut layers = vec![("stem".to_string(), [STEM_CHANNELS, h, w])];
    for b in block_specs() {
        if let Some(e) = &b.expand {
            layers.push((e.name.clone(), [e.out_channels, h, w]));
        }
        (h, w) = (h.div_ceil(b.dw.stride), w.div_ceil(b.dw.stride));
        layers.push((b.dw.name.clone(), [b.dw.out_channels, h, w]));
    }
    layers.push(("head".to_string(), [HEAD_CHANNELS, h, w]));
    layers
}

/// Index of a gated layer by name (`stem`, `b8.dw`, `head`, …).
pub fn gated_layer_index(name: &str) -> Option<usize> {
    gated_layers().iter().position(|l| l.name == name)
}

/// A convolution with TF "SAME" padding followed by inference BatchNorm (`scale`, `shift` as `[1, C, 1, 1]`).
#[derive(Debug, Clone)]
struct Conv {
    weight: Tensor<4>,
    scale: Tensor<4>,
    shift: Tensor<4>,
    /// The kernel of the input gradient, BatchNorm's scale folded in (see [`Conv::vjp`]).
    transposed: Tensor<4>,
    /// A full k×k convolution's (the stem's) kernel as one matrix `[out, k·k·in, 1, 1]`, its columns
    /// in burn-flex's order (ky, kx, in): the convolution is then one product (see [`pointwise::unfold`]).
    unfolded: Option<Tensor<4>>,
    /// A 1×1 convolution's weight in [`pointwise::Panels`], made the first time a product wants them.
    panels: std::sync::OnceLock<Option<pointwise::Panels>>,
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl Conv {
    fn load(spec: &ConvSpec, weights: &Weights, device: &Device) -> Result<Self> {
        let weight = weights.tensor::<4>(&format!("{}.weight", spec.name), device)?;
        let scale = weights.tensor::<1>(&format!("{}.scale", spec.name), device)?;
        let out = spec.out_channels;
        // The backward pass has no kink to move, so folding the scale into its kernel is exact up
        // to rounding. Stride 1: the flipped kernel with in and out swapped (per channel for a
        // depthwise one); a strided convolution's gradient is a transposed convolution, which takes
        // the kernel as it is.
        let transposed = match (spec.stride, spec.depthwise) {
            (1, true) => weight.clone().flip([2, 3]) * scale.clone().reshape([out, 1, 1, 1]),
            (1, false) => weight.clone().flip([2, 3]).swap_dims(0, 1) * scale.clone().reshape([1, out, 1, 1]),
            _ => weight.clone() * scale.clone().reshape([out, 1, 1, 1]),
        };
        let unfolded = (spec.kernel > 1 && !spec.depthwise)
            .then(|| weight.clone().permute([0, 2, 3, 1]).reshape([out, spec.kernel * spec.kernel * spec.in_channels, 1, 1]));
        Ok(Self {
            weight,
            scale: scale.reshape([1, out, 1, 1]),
            shift: weights.tensor::<1>(&format!("{}.shift", spec.name), device)?.reshape([1, out, 1, 1]),
            transposed,
            unfolded,
            panels: std::sync::OnceLock::new(),
            kernel: spec.kernel,
            stride: spec.stride,
            groups: if spec.depthwise { out } else { 1 },
        })
    }

    /// TF "SAME" padding of one side of `size` pixels: (before, after).
    fn padding(&self, size: usize) -> (usize, usize) {
        let out = size.div_ceil(self.stride);
        let total = ((out - 1) * self.stride + self.kernel).saturating_sub(size);
        (total / 2, total - total / 2)
    }

    /// The convolution of `x` with `kernel` (padding: top, bottom, left, right), finished by
    /// `finish`, by the CPU's kernels ([`pointwise::convolve`], [`depthwise::forward`]): the output,
    /// and the pre-activation where `finish` keeps it. `None` where they do not run.
    fn finished(&self, x: &Tensor<4>, kernel: &Tensor<4>, padding: [usize; 4], finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
        if self.groups > 1 {
            let window = depthwise::Window { stride: self.stride, kernel: self.kernel, padding };
            return depthwise::forward(x, kernel, window, finish);
        }
        (self.kernel == 1 && self.stride == 1).then(|| pointwise::convolve(x, kernel, finish)).flatten()
    }

    /// [`Conv::finished`] for this layer's own convolution of `x`.
    fn forward_finished(&self, x: &Tensor<4>, finish: Finish) -> Option<(Tensor<4>, Option<Tensor<4>>)> {
        let [_, _, h, w] = x.dims();
        let ((top, bottom), (left, right)) = (self.padding(h), self.padding(w));
        if let Some(unfolded) = &self.unfolded {
            let stem = self.kernel == 3 && self.stride == 2 && [top, bottom, left, right] == [0, 1, 0, 1];
            if let Some(done) = stem.then(|| pointwise::convolve_unfolding(x, unfolded, finish)).flatten() {
                return Some(done);
            }
            let size = [h.div_ceil(self.stride), w.div_ceil(self.stride)];
            let columns = pointwise::unfold(x, self.kernel, self.stride, [top, left], size)?;
            return pointwise::convolve(&columns, unfolded, finish);
        }
        if self.kernel == 1 && self.stride == 1 && self.groups == 1 && pointwise::Panels::wanted(h * w) {
            let panels = self.panels.get_or_init(|| pointwise::Panels::of(&self.weight));
            return pointwise::convolve_panels(x, &self.weight, panels.as_ref(), finish);
        }
        self.finished(x, &self.weight, [top, bottom, left, right], finish)
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_plus(x, None)
    }

    /// `bn(conv(x)) + plus` (a projection and its block's residual sum).
    fn forward_plus(&self, x: Tensor<4>, plus: Option<Tensor<4>>) -> Tensor<4> {
        let finish = Finish::BatchNorm { scale: &self.scale, shift: &self.shift, plus: plus.as_ref() };
        if let Some((out, _)) = self.forward_finished(&x, finish) {
            return out;
        }
        let out = fused::batch_norm(self.convolve(x), &self.scale, &self.shift);
        match plus {
            Some(plus) => out + plus,
            None => out,
        }
    }

    /// `(pre, z ⊙ relu6(pre))` with `pre = bn(conv(x))`: a gated layer whose pre-activation is kept.
    fn forward_kept(&self, x: Tensor<4>, gate: Option<&Tensor<4>>) -> (Tensor<4>, Tensor<4>) {
        let finish = Finish::Gated { scale: &self.scale, shift: &self.shift, gate, keep: true };
        if let Some((out, Some(pre))) = self.forward_finished(&x, finish) {
            return (pre, out);
        }
        let pre = self.forward(x);
        let out = fused::gated_relu6_kept(&pre, gate);
        (pre, out)
    }

    /// `z ⊙ relu6(bn(conv(x)))` when the pre-activation is not wanted.
    fn forward_gated(&self, x: Tensor<4>, gate: Option<&Tensor<4>>) -> Tensor<4> {
        let finish = Finish::Gated { scale: &self.scale, shift: &self.shift, gate, keep: false };
        if let Some((out, _)) = self.forward_finished(&x, finish) {
            return out;
        }
        fused::batch_norm_gated_relu6(self.convolve(x), &self.scale, &self.shift, gate)
    }

    /// The convolution alone, by burn's operation (where the CPU's kernels do not run).
    fn convolve(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let (vertical, horizontal) = (self.padding(h), self.padding(w));
        let options = ConvOptions { stride: [self.stride; 2], padding: [vertical, horizontal], dilation: [1, 1], groups: self.groups };
        conv2d(x, self.weight.clone(), None, options)
    }

    /// Vector-Jacobian product of this (linear) layer: `Jᵀ g` for an input of `input_shape`.
    ///
    /// Stride 1: a convolution of `g` with the transposed kernel, its padding mirrored (a 1×1
    /// convolution is then one matrix product, a depthwise one a depthwise convolution). Strided:
    /// a transposed convolution onto the padded input, cropped to the input.
    fn vjp(&self, g: Tensor<4>, input_shape: [usize; 4]) -> Tensor<4> {
        self.vjp_plus(g, input_shape, None)
    }

    /// `Jᵀ g + plus`: an expansion's input gradient and its block's residual path, summed as the
    /// kernel stores it where it can.
    fn vjp_plus(&self, g: Tensor<4>, input_shape: [usize; 4], plus: Option<Tensor<4>>) -> Tensor<4> {
        let [_, _, h, w] = input_shape;
        let ((top, bottom), (left, right)) = (self.padding(h), self.padding(w));
        let mirrored = [bottom, top, right, left];
        if self.stride == 1
            && let Some((gx, _)) = self.finished(&g, &self.transposed, mirrored, Finish::Sum { plus: plus.as_ref() })
        {
            return gx;
        }
        let gx = self.vjp_by_ops(g, input_shape);
        match plus {
            Some(plus) => gx + plus,
            None => gx,
        }
    }

    /// [`Conv::vjp`] where the CPU's kernels do not run (the strided depthwise one has its own).
    fn vjp_by_ops(&self, g: Tensor<4>, input_shape: [usize; 4]) -> Tensor<4> {
        let [_, _, h, w] = input_shape;
        let ((top, bottom), (left, right)) = (self.padding(h), self.padding(w));
        if self.stride == 1 {
            let options = ConvOptions { stride: [1, 1], padding: [(bottom, top), (right, left)], dilation: [1, 1], groups: self.groups };
            return conv2d(g, self.transposed.clone(), None, options);
        }
        if self.groups > 1 {
            let window = depthwise::Window { stride: self.stride, kernel: self.kernel, padding: [top, bottom, left, right] };
            if let Some(gx) = depthwise::backward(&g, &self.transposed, window, [h, w]) {
                return gx;
            }
        }
        let [_, _, gh, gw] = g.dims();
        let reach = |n: usize| (n - 1) * self.stride + self.kernel;
        let padding_out = [(h + top + bottom).saturating_sub(reach(gh)), (w + left + right).saturating_sub(reach(gw))];
        let options = ConvTransposeOptions::new([self.stride; 2], [0, 0], padding_out, [1, 1], self.groups);
        conv_transpose2d(g, self.transposed.clone(), None, options).narrow(2, top, h).narrow(3, left, w)
    }
}

#[derive(Debug, Clone)]
struct Block {
    expand: Option<Conv>,
    dw: Conv,
    project: Conv,
    residual: bool,
}

/// Gates for some or all of the 33 gated layers; a missing gate means all ones.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    per_layer: Vec<Option<Tensor<4>>>,
}

impl Gates {
    /// No gates: every neuron open.
    pub fn open() -> Self {
        Self { per_layer: vec![None; NUM_GATED] }
    }

    /// Sets the gate of `layer` (shape `[1, C, H, W]` of that layer's activation).
    pub fn set(&mut self, layer: usize, gate: Tensor<4>) {
        self.per_layer.resize(NUM_GATED, None);
        self.per_layer[layer] = Some(gate);
    }

    /// The gate of `layer`, if one is set.
    pub fn get(&self, layer: usize) -> Option<&Tensor<4>> {
        self.per_layer.get(layer).and_then(Option::as_ref)
    }
}

/// The output of a gated forward pass.
#[derive(Debug, Clone)]
pub struct GatedOutput {
    /// Class scores before softmax, `[batch, 1000]`.
    pub logits: Tensor<2>,
    /// Each gated layer's pre-activation `bn(conv(x))`, unless [`Keep::Logits`].
    pub pre_activations: Vec<Tensor<4>>,
    /// Each gated layer's output `z ⊙ relu6(pre)`, with [`Keep::Everything`] only.
    pub outputs: Vec<Tensor<4>>,
}

/// What a gated forward pass keeps of each gated layer besides the logits (what is not kept is
/// freed as the pass goes: a backward pass needs the pre-activations only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: the logits alone.
    Logits,
    /// Each layer's pre-activation, what a backward pass needs.
    PreActivations,
    /// Each layer's pre-activation and output.
    Everything,
}

/// EfficientNet-Lite0 (ImageNet, 1000 classes) with gateable ReLU6 layers.
#[derive(Debug, Clone)]
pub struct EfficientNetLite0 {
    stem: Conv,
    blocks: Vec<Block>,
    head: Conv,
    fc_weight: Tensor<2>,
    fc_bias: Tensor<1>,
}

impl EfficientNetLite0 {
    /// Builds the network from a weight file, on `device`.
    pub fn new(weights: &Weights, device: &Device) -> Result<Self> {
        let blocks = block_specs()
            .iter()
            .map(|b| {
                Ok(Block {
                    expand: b.expand.as_ref().map(|e| Conv::load(e, weights, device)).transpose()?,
                    dw: Conv::load(&b.dw, weights, device)?,
                    project: Conv::load(&b.project, weights, device)?,
                    residual: b.residual,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            stem: Conv::load(&stem_spec(), weights, device)?,
            blocks,
            head: Conv::load(&head_spec(), weights, device)?,
            fc_weight: weights.tensor::<2>("fc.weight", device)?,
            fc_bias: weights.tensor::<1>("fc.bias", device)?,
        })
    }

    /// Plain forward pass: input `[N, 3, H, W]` (normalised, see [`crate::imaging`]) → logits `[N, 1000]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        self.walk(input, &mut |_, conv, x| conv.forward_gated(x, None))
    }

    /// Forward pass with gates, keeping what `keep` asks of every gated layer.
    pub fn forward_gated(&self, input: Tensor<4>, gates: &Gates, keep: Keep) -> GatedOutput {
        let mut pre_activations = Vec::new();
        let mut outputs = Vec::new();
        let logits = self.walk(input, &mut |layer, conv, x| {
            if keep == Keep::Logits {
                return conv.forward_gated(x, gates.get(layer));
            }
            let (pre, out) = conv.forward_kept(x, gates.get(layer));
            pre_activations.push(pre);
            if keep == Keep::Everything {
                outputs.push(out.clone());
            }
            out
        });
        GatedOutput { logits, pre_activations, outputs }
    }

    /// Forward pass where `activate(layer, pre)` replaces each gated layer's `relu6(pre)`.
    ///
    /// This is the one place where backward rules (gates, guided backprop, recovering…) hook in.
    pub fn forward_with(&self, input: Tensor<4>, activate: &mut dyn FnMut(usize, Tensor<4>) -> Tensor<4>) -> Tensor<2> {
        self.walk(input, &mut |layer, conv, x| activate(layer, conv.forward(x)))
    }

    /// The network with `layer(index, conv, x)` computing each gated layer from its input `x`
    /// (`activate(conv.forward(x))`, or fused when the pre-activation is not wanted).
    fn walk(&self, input: Tensor<4>, layer: &mut dyn FnMut(usize, &Conv, Tensor<4>) -> Tensor<4>) -> Tensor<2> {
        let mut index = 0;
        let mut gated = |conv: &Conv, x: Tensor<4>| {
            let out = layer(index, conv, x);
            index += 1;
            out
        };
        let mut x = gated(&self.stem, input);
        for block in &self.blocks {
            let skip = x.clone();
            if let Some(expand) = &block.expand {
                x = gated(expand, x);
            }
            x = gated(&block.dw, x);
            x = block.project.forward_plus(x, block.residual.then_some(skip));
        }
        let features = gated(&self.head, x);
        self.classify_features(features)
    }

    /// Global average pool and the linear classifier: head activation `[N, 1280, h, w]` → logits.
    pub fn classify_features(&self, features: Tensor<4>) -> Tensor<2> {
        let pooled: Tensor<2> = features.mean_dims(&[2, 3]).flatten(1, 3);
        if let Some(logits) = pointwise::classify(&pooled, &self.fc_weight, &self.fc_bias) {
            return logits;
        }
        pooled.matmul(self.fc_weight.clone().transpose()) + self.fc_bias.clone().unsqueeze()
    }

    /// Class probabilities (softmax of the logits) of one `[1, 3, H, W]` input, read back to the host.
    pub async fn probabilities(&self, input: Tensor<4>) -> Result<Vec<f32>> {
        crate::tensors::read_back(burn_tensor::activation::softmax(self.forward(input), 1)).await
    }

    /// Weights of the linear classifier, `[1000, 1280]` (for CAM).
    pub fn classifier_weight(&self) -> Tensor<2> {
        self.fc_weight.clone()
    }

    /// Activation shapes `[1, C, H, W]` of the gated layers for this input size.
    pub fn activation_shapes(&self, input: &Tensor<4>) -> Vec<[usize; 4]> {
        let [n, _, h, w] = input.dims();
        gated_layer_shapes(h, w).into_iter().map(|(_, [c, h, w])| [n, c, h, w]).collect()
    }
}

/// Checks that `class` is one of the 1000 ImageNet classes.
pub fn check_class(class: usize) -> Result<()> {
    if class < NUM_CLASSES {
        Ok(())
    } else {
        Err(Error::UnknownClass { query: class.to_string(), suggestions: vec![format!("an index from 0 to {}", NUM_CLASSES - 1)] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_three_gated_layers_named_as_the_golden_files() {
        let layers = gated_layers();
        assert_eq!(layers.len(), NUM_GATED);
        assert_eq!(layers[0], GatedLayer { name: "stem".into(), shape: [32, 112, 112] });
        assert_eq!(layers[1].name, "b0.dw");
        assert_eq!(layers[2].name, "b1.expand");
        let b8 = gated_layer_index("b8.dw").unwrap();
        assert_eq!(layers[b8].shape, [480, 14, 14]);
        assert_eq!(layers[32], GatedLayer { name: "head".into(), shape: [1280, 7, 7] });
    }

    #[test]
    fn forty_nine_convolutions_and_4_65_million_parameters() {
        // Stem, block 0 (depthwise, project), 15 blocks × (expand, depthwise, project), head.
        let specs = conv_specs();
        assert_eq!(specs.len(), 1 + 2 + 15 * 3 + 1);
        let params: usize = specs.iter().map(|s| s.weight_shape().iter().product::<usize>() + 2 * s.out_channels).sum();
        assert_eq!(params + 1280 * 1000 + 1000, 4_652_008);
    }
}
