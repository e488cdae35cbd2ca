//! Saliency maps: one 2-D map per (image, class) at input resolution, from the baselines
//! (gradient, deconvnet, guided backprop, CAM, Grad-CAM) or from feedback gates.

pub mod methods;

use std::cell::OnceCell;

use burn_tensor::Tensor;
use burn_tensor::activation::softmax;
use burn_tensor::module::interpolate;
use burn_tensor::ops::{InterpolateMode, InterpolateOptions};

use crate::error::{Error, Result};
use crate::feedback::{self, FeedbackOptions, FeedbackRun, Flow, TraceRecord, Tracer, rules};
use crate::map::Map;
use crate::model::{EfficientNetLite0, Gates, Keep, NUM_GATED, check_class};
use crate::tensors::read_back;
pub use methods::{METHODS, Method, MethodInfo, Needs, Readout};

/// Options of [`saliency`].
#[derive(Debug, Clone, PartialEq)]
pub struct SaliencyOptions {
    /// Feedback hyper-parameters.
    pub feedback: FeedbackOptions,
    /// Read-out of feedback gates; `None` takes the method's default.
    pub readout: Option<Readout>,
    /// Gated layers whose energy the energy read-out sums (indices; default: the head).
    pub energy_layers: Vec<usize>,
    /// Put the current map into every trace record (for watching feedback converge).
    pub trace_maps: bool,
    /// How much of the other classes' weights the contrastive read-out subtracts (α).
    pub contrast: f32,
}

impl Default for SaliencyOptions {
    fn default() -> Self {
        Self { feedback: FeedbackOptions::default(), readout: None, energy_layers: vec![NUM_GATED - 1], trace_maps: false, contrast: 0.5 }
    }
}

/// A saliency map over the network input, with the feedback trace that made it.
#[derive(Debug, Clone)]
pub struct Saliency {
    /// Non-negative values at the network input's size.
    pub map: Map,
    /// The feedback trace (empty for baselines).
    pub trace: Vec<TraceRecord>,
}

/// The saliency map of `class` for one `[1, 3, H, W]` input by `method`.
///
/// `observer` sees each feedback iteration as it happens (never called for baselines) and may
/// stop the run ([`Error::Cancelled`]).
pub async fn saliency(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    method: Method,
    options: &SaliencyOptions,
    observer: &mut dyn FnMut(&TraceRecord) -> Flow,
) -> Result<Saliency> {
    check_class(class)?;
    let [_, _, height, width] = input.dims();
    let map = match method {
        Method::Gradient => gradient_map(net, &input, class, &Gates::open(), Rule::Gradient)?,
        Method::Deconvnet => gradient_map(net, &input, class, &Gates::open(), Rule::Deconvnet)?,
        Method::Guided => gradient_map(net, &input, class, &Gates::open(), Rule::Guided)?,
        Method::Cam | Method::GradCam => cam(net, &input, class, method == Method::GradCam)?,
        _ => {
            let readout = options.readout.unwrap_or(method.default_readout());
            // The network's own belief, for contrastive read-outs: one forward pass per run, not per frame.
            let belief = OnceCell::new();
            let mut tracer = Tracer::new(observer);
            if options.trace_maps {
                tracer = tracer.with_maps(|gates: &Gates| gates_map(net, &input, class, gates, readout, options, &belief));
            }
            let run = run_feedback(net, input.clone(), class, method, &options.feedback, &mut tracer).await?;
            let map = readout_map(net, &input, class, &run, readout, options, &belief)?;
            return Ok(Saliency { map: Map::new(read_back(map).await?, width, height)?, trace: run.trace });
        }
    };
    Ok(Saliency { map: Map::new(read_back(map).await?, width, height)?, trace: Vec::new() })
}

/// Runs the feedback variant behind `method`.
pub async fn run_feedback(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    method: Method,
    options: &FeedbackOptions,
    tracer: &mut Tracer<'_>,
) -> Result<FeedbackRun> {
    match method {
        Method::FeedbackSoft => feedback::soft(net, input, class, options, tracer).await,
        Method::FeedbackHard => feedback::hard(net, input, class, options, tracer).await,
        Method::FeedbackFsp => feedback::fsp(net, input, class, options, tracer).await,
        Method::FeedbackFr => feedback::fr(net, input, class, options, tracer).await,
        Method::FeedbackTwice | Method::FeedbackCloser => feedback::twice(net, input, class, options, tracer).await,
        other => Err(Error::UnknownMethod(format!("{} is not a feedback method", other.name()))),
    }
}

/// Turns converged gates into a `[1, 1, H, W]` map; `belief` holds (or will hold) the network's
/// softmax before feedback, which the contrastive read-outs need.
pub fn readout_map(
    net: &EfficientNetLite0,
    input: &Tensor<4>,
    class: usize,
    run: &FeedbackRun,
    readout: Readout,
    options: &SaliencyOptions,
    belief: &OnceCell<Tensor<2>>,
) -> Result<Tensor<4>> {
    match (&run.input_gradient, readout) {
        (Some(g), Readout::Gradient) => Ok(rgb_max_abs(g.clone())),
        _ => gates_map(net, input, class, &run.gates, readout, options, belief),
    }
}

/// The map that `gates` give under `readout` (`[1, 1, H, W]`).
fn gates_map(
    net: &EfficientNetLite0,
    input: &Tensor<4>,
    class: usize,
    gates: &Gates,
    readout: Readout,
    options: &SaliencyOptions,
    belief: &OnceCell<Tensor<2>>,
) -> Result<Tensor<4>> {
    // `w_c − α Σ_c' p_c' w_c'` (`[1, C]`): class c's weights less the share the likely classes hold.
    let contrastive_weights = || {
        let w = net.classifier_weight(); // [1000, C]
        let p = belief.get_or_init(|| softmax(net.forward(input.clone()), 1)).clone();
        w.clone().narrow(0, class, 1) - p.matmul(w) * options.contrast as f64
    };
    match readout {
        Readout::Gradient => gradient_map(net, input, class, gates, Rule::Gated),
        Readout::Energy => {
            let out = net.forward_gated(input.clone(), gates, Keep::Everything);
            sum_of_layer_maps(&options.energy_layers, input, |l| {
                let a = out.outputs.get(l).ok_or_else(|| Error::Shape(format!("no gated layer {l}")))?;
                Ok(a.clone().sum_dim(1))
            })
        }
        Readout::SignedCam => {
            let out = net.forward_gated(input.clone(), gates, Keep::PreActivations);
            let head = NUM_GATED - 1;
            let a = out.pre_activations[head].clone().clamp(0.0, 6.0);
            let [_, c, fh, fw] = a.dims();
            let weights = contrastive_weights().reshape([1, c, 1, 1]);
            let weighted = a * weights.clone().expand([1, c, fh, fw]);
            let weighted = match gates.get(head) {
                // Gate only the positive evidence: where w' < 0 the factor stays 1.
                Some(z) => {
                    let against = weights.lower_elem(0.0).float().expand([1, c, fh, fw]);
                    let factor = z.clone() * (against.clone().neg() + 1.0) + against;
                    weighted * factor
                }
                None => weighted,
            };
            let [_, _, h, w] = input.dims();
            Ok(upsample(weighted.sum_dim(1).clamp_min(0.0), h, w))
        }
        Readout::Evidence => {
            let grads = net.class_gradients(input.clone(), gates, class)?;
            sum_of_layer_maps(&options.energy_layers, input, |l| {
                let g = grads.gates.get(l).ok_or_else(|| Error::Shape(format!("no gated layer {l}")))?.clone();
                let carried = match gates.get(l) {
                    Some(z) => g * z.clone(),
                    None => g,
                };
                Ok(carried.sum_dim(1).clamp_min(0.0))
            })
        }
        Readout::Cam | Readout::ContrastiveCam => {
            let out = net.forward_gated(input.clone(), gates, Keep::Everything);
            let a = out.outputs[NUM_GATED - 1].clone();
            let [_, c, fh, fw] = a.dims();
            let weights = match readout {
                Readout::ContrastiveCam => contrastive_weights(),
                _ => net.classifier_weight().narrow(0, class, 1), // [1, C]
            };
            let map = (a * weights.reshape([1, c, 1, 1]).expand([1, c, fh, fw])).sum_dim(1).clamp_min(0.0);
            let [_, _, h, w] = input.dims();
            Ok(upsample(map, h, w))
        }
    }
}

/// Σ over `layers` of each layer's map (`[1, 1, h, w]` at its own size), resized to the input and
/// normalised to max 1, so that coarse and fine layers weigh alike.
fn sum_of_layer_maps(layers: &[usize], input: &Tensor<4>, map: impl Fn(usize) -> Result<Tensor<4>>) -> Result<Tensor<4>> {
    let [_, _, h, w] = input.dims();
    let mut total: Option<Tensor<4>> = None;
    for &l in layers {
        let m = normalise(upsample(map(l)?, h, w));
        total = Some(match total {
            Some(t) => t + m,
            None => m,
        });
    }
    total.ok_or_else(|| Error::Shape("no energy layers chosen".into()))
}

#[derive(Clone, Copy)]
enum Rule {
    Gradient,
    Deconvnet,
    Guided,
    Gated,
}

/// max over RGB of |∂S/∂I| with `rule` at every ReLU6 (`[1, 1, H, W]`).
fn gradient_map(net: &EfficientNetLite0, input: &Tensor<4>, class: usize, gates: &Gates, rule: Rule) -> Result<Tensor<4>> {
    let (_, g) = net.class_backward(input, gates, class, &mut |l, g, pre| match rule {
        Rule::Gradient => rules::gradient(g, pre),
        Rule::Deconvnet => rules::deconvnet(g),
        Rule::Guided => rules::guided(g, pre),
        Rule::Gated => rules::under_gates(g, pre, gates.get(l)),
    })?;
    Ok(rgb_max_abs(g))
}

fn rgb_max_abs(g: Tensor<4>) -> Tensor<4> {
    g.abs().max_dim(1)
}

/// CAM (`Σ_k w_ck A_k`) or Grad-CAM (`ReLU(Σ_k α_k A_k)`) of the head activation, upsampled.
fn cam(net: &EfficientNetLite0, input: &Tensor<4>, class: usize, grad_cam: bool) -> Result<Tensor<4>> {
    let out = net.forward_gated(input.clone(), &Gates::open(), Keep::Everything);
    let a = out.outputs[NUM_GATED - 1].clone();
    let [_, c, fh, fw] = a.dims();
    let weights = if grad_cam {
        // α_k: the spatial mean of ∂S/∂A_k (for a global-average-pool head, w_ck / (h·w)).
        net.class_seed(class, a.dims())?.mean_dims(&[2, 3])
    } else {
        net.classifier_weight().narrow(0, class, 1).reshape([1, c, 1, 1])
    };
    let map = (a * weights.expand([1, c, fh, fw])).sum_dim(1).clamp_min(0.0);
    let [_, _, h, w] = input.dims();
    Ok(upsample(map, h, w))
}

fn upsample(map: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let [_, _, mh, mw] = map.dims();
    if (mh, mw) == (h, w) {
        return map;
    }
    interpolate(map, InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]))
}

fn normalise(map: Tensor<4>) -> Tensor<4> {
    let dims = map.dims();
    let max = map.clone().max().clamp_min(1e-12).reshape([1, 1, 1, 1]);
    map / max.expand(dims)
}
