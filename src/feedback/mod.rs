//! Feedback inference: infer the gates `z` of every ReLU6 neuron top-down so that the target
//! class score `S` (its logit) rises (Cao et al., "Look and Think Twice", ICCV 2015).
//!
//! Four variants, each a function below whose doc comment gives its update:
//! [`soft`] (projected gradient ascent on `S − λ‖z‖₁`), [`hard`] (binary gates, layer-wise
//! coordinate ascent), [`fsp`] (the authors' selective pruning) and [`fr`] (recovering).
//! Every iteration yields a [`TraceRecord`], the unit the browser animates, through a [`Tracer`],
//! whose answer can stop the run between two iterations ([`Error::Cancelled`]).

pub mod rules;

use std::ops::ControlFlow;

use burn_tensor::activation::softmax;
use burn_tensor::Tensor;
use web_time::Instant;

use crate::error::{Error, Result};
use crate::model::{self, EfficientNetLite0, Gates, Keep, NUM_GATED, Target};
use crate::tensors::read_back;

/// Options of every variant (defaults tuned on the dev set, see docs/RESULTS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackOptions {
    /// Soft feedback step size η (in units of each layer's mean |∂S/∂z| at the start).
    pub eta: f32,
    /// Soft feedback L1 weight λ (same units: one value works across layers).
    pub lambda: f32,
    /// Stop when S changes by less than this between iterations (logit units).
    pub epsilon: f32,
    /// Most iterations (soft) or sweeps (hard).
    pub max_iterations: usize,
    /// Hard feedback threshold τ on ∂S/∂z (in units of each layer's mean |∂S/∂z|).
    pub tau: f32,
    /// Hard feedback: layers updated per backward pass (top-down groups).
    pub layers_per_group: usize,
    /// FSP / FR selection ratio r in `z = 1[g ≥ r · mean(g | g > 0)]`.
    pub ratio: f32,
    /// FSP: close the gates within this many pixels of each map's border.
    pub border: usize,
    /// FSP: select on `∂S/∂y ⊙ 1[x > 0]` instead of the pre-activation gradient, so that neurons
    /// saturated at 6 (zero gradient through ReLU6, yet the strongest) can stay open.
    pub select_saturated: bool,
    /// FSP stage 1 gates only this many layers at the top.
    pub top_layers: usize,
    /// Which layers feedback may gate, as a half-open range of gated-layer indices.
    pub gated_layers: std::ops::Range<usize>,
    /// Look twice: iterations (accepted steps).
    pub twice_iterations: usize,
    /// Look twice: the layers it gates (half-open range of gated-layer indices).
    pub twice_layers: std::ops::Range<usize>,
    /// Look twice: the price of closing a gate, per unit of the layer's mean |∂ log p/∂z|.
    pub twice_lambda: f32,
    /// Look twice: the first step, in the same units.
    pub twice_eta: f32,
    /// Look twice: the trust region, the most any gate may move in one iteration.
    pub twice_max_step: f32,
}

impl Default for FeedbackOptions {
    fn default() -> Self {
        Self {
            eta: 0.25,
            lambda: 0.5,
            epsilon: 0.01,
            max_iterations: 10,
            tau: 0.0,
            layers_per_group: 9,
            ratio: 1.0,
            border: 0,
            select_saturated: false,
            top_layers: 1,
            gated_layers: NUM_GATED - 1..NUM_GATED,
            twice_iterations: 4,
            twice_layers: NUM_GATED - 2..NUM_GATED,
            twice_lambda: 10.0,
            twice_eta: 0.15,
            twice_max_step: 0.1,
        }
    }
}

/// One step of a feedback run, as shown to the user (and written in the JSON report, without maps).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceRecord {
    /// 0 for the network before feedback, then one per iteration.
    pub iteration: usize,
    /// Target class logit S.
    pub score: f32,
    /// Softmax probability of the target class.
    pub probability: f32,
    /// Mean gate value per gated layer (33 numbers; the fraction open for binary gates).
    pub open_fraction: Vec<f32>,
    /// Milliseconds since the run started.
    pub elapsed_ms: f64,
    /// Backward passes used so far.
    pub backward_passes: usize,
    /// The saliency map under the current gates (row-major, input size), when the tracer asks for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<Vec<f32>>,
}

/// What an observer of a run answers after each record: go on, or stop the run.
pub type Flow = ControlFlow<()>;

/// Computes the saliency map (`[1, 1, H, W]`) that given gates make.
type GatesMap<'a> = Box<dyn Fn(&Gates) -> Result<Tensor<4>> + 'a>;

/// Receives every [`TraceRecord`] as it is made and says whether the run goes on; optionally
/// computes the current map for each.
pub struct Tracer<'a> {
    on_record: Box<dyn FnMut(&TraceRecord) -> Flow + 'a>,
    map: Option<GatesMap<'a>>,
}

impl<'a> Tracer<'a> {
    /// Calls `on_record` with each record; `Flow::Break(())` ends the run with [`Error::Cancelled`].
    pub fn new(on_record: impl FnMut(&TraceRecord) -> Flow + 'a) -> Self {
        Self { on_record: Box::new(on_record), map: None }
    }

    /// Ignores the records (they are still returned in [`FeedbackRun::trace`]).
    pub fn silent() -> Self {
        Self::new(|_| Flow::Continue(()))
    }

    /// Also puts `map(gates)` (a `[1, 1, H, W]` saliency map) into every record.
    pub fn with_maps(mut self, map: impl Fn(&Gates) -> Result<Tensor<4>> + 'a) -> Self {
        self.map = Some(Box::new(map));
        self
    }
}

/// The outcome of a feedback run.
#[derive(Debug, Clone)]
pub struct FeedbackRun {
    /// The inferred gates (every gated layer set).
    pub gates: Gates,
    /// One record per iteration, the first before any change.
    pub trace: Vec<TraceRecord>,
    /// For FR: the image gradient of its single pass (its natural read-out).
    pub input_gradient: Option<Tensor<4>>,
}

struct Run<'a, 't> {
    net: &'a EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    started: Instant,
    passes: usize,
    trace: Vec<TraceRecord>,
    tracer: &'a mut Tracer<'t>,
}

impl<'a, 't> Run<'a, 't> {
    /// A run for `class` (checked) on `input`, timed from now.
    fn start(net: &'a EfficientNetLite0, input: &Tensor<4>, class: usize, tracer: &'a mut Tracer<'t>) -> Result<Self> {
        model::check_class(class)?;
        Ok(Run { net, input: input.clone(), class, started: Instant::now(), passes: 0, trace: Vec::new(), tracer })
    }

    /// Records the state under `gates`, given the logits of a pass with them; returns S, or
    /// [`Error::Cancelled`] when the tracer says stop.
    async fn record(&mut self, logits: Tensor<2>, gates: &Gates) -> Result<f32> {
        let prob = softmax(logits.clone(), 1).narrow(1, self.class, 1).reshape([1]);
        let score = logits.narrow(1, self.class, 1).reshape([1]);
        let mut parts = vec![score, prob];
        for l in 0..NUM_GATED {
            parts.push(gates.get(l).map_or_else(|| Tensor::ones([1], &self.input.device()), |z| z.clone().mean()));
        }
        let map = match &self.tracer.map {
            Some(f) => Some(f(gates)?.reshape([-1])),
            None => None,
        };
        let stats = parts.len();
        parts.extend(map);
        let mut values = read_back(Tensor::cat(parts, 0)).await?;
        let map = (values.len() > stats).then(|| values.split_off(stats));
        let record = TraceRecord {
            iteration: self.trace.len(),
            score: values[0],
            probability: values[1],
            open_fraction: values[2..].to_vec(),
            elapsed_ms: self.started.elapsed().as_secs_f64() * 1e3,
            backward_passes: self.passes,
            map,
        };
        let flow = (self.tracer.on_record)(&record);
        self.trace.push(record);
        if flow.is_break() {
            return Err(Error::Cancelled);
        }
        crate::backend::yield_now().await;
        Ok(values[0])
    }

    async fn score(&mut self, gates: &Gates) -> Result<f32> {
        let logits = self.net.forward_gated(self.input.clone(), gates, Keep::Logits).logits;
        self.record(logits, gates).await
    }

    /// ∂S/∂z for every layer under `gates` (one backward pass).
    fn gate_gradients(&mut self, gates: &Gates) -> Result<model::ClassGradients> {
        self.passes += 1;
        self.net.class_gradients(self.input.clone(), gates, self.class)
    }

    fn finish(self, gates: Gates, input_gradient: Option<Tensor<4>>) -> FeedbackRun {
        FeedbackRun { gates, trace: self.trace, input_gradient }
    }
}

/// All-ones gates for `layers` (those a variant changes), shaped for `input`. The other layers
/// stay without a gate, which means all ones: the same numbers (a product with one is exact), without
/// reading a gate in every pass and averaging it in every record (6.7 M values for all 33 layers).
fn ones(net: &EfficientNetLite0, input: &Tensor<4>, layers: std::ops::Range<usize>) -> Gates {
    let mut gates = Gates::open();
    for (l, shape) in net.activation_shapes(input).into_iter().enumerate().filter(|(l, _)| layers.contains(l)) {
        gates.set(l, Tensor::ones(shape, &input.device()));
    }
    gates
}

/// The gate of `layer`, which the variant has set before asking.
fn gate(gates: &Gates, layer: usize) -> Result<&Tensor<4>> {
    gates.get(layer).ok_or_else(|| Error::Shape(format!("no gate set for layer {layer}")))
}

/// Mean |g| of a layer, the unit in which η, λ and τ are given (never zero).
fn layer_scale(g: &Tensor<4>) -> Tensor<4> {
    g.clone().abs().mean().clamp_min(1e-12).reshape([1, 1, 1, 1])
}

/// **Soft feedback** (continuous relaxation, z ∈ [0, 1]): from z = 1, projected gradient ascent on
/// `S(z) − λ‖z‖₁`, per layer `z ← clip(z + η (∂S/∂z / s − λ), 0, 1)` with `s` the layer's
/// mean |∂S/∂z| at the start, until S changes by less than ε or `max_iterations`.
pub async fn soft(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    options: &FeedbackOptions,
    tracer: &mut Tracer<'_>,
) -> Result<FeedbackRun> {
    let mut run = Run::start(net, &input, class, tracer)?;
    let mut gates = ones(net, &input, options.gated_layers.clone());
    let mut scales: Vec<Tensor<4>> = Vec::new();
    let mut last = f32::NAN;
    for _ in 0..options.max_iterations {
        let grads = run.gate_gradients(&gates)?;
        let score = run.record(grads.logits.clone(), &gates).await?;
        if (score - last).abs() < options.epsilon {
            return Ok(run.finish(gates, None));
        }
        last = score;
        if scales.is_empty() {
            scales = options.gated_layers.clone().map(|l| layer_scale(&grads.gates[l])).collect();
        }
        for (l, scale) in options.gated_layers.clone().zip(&scales) {
            let z = model::gate_step(gate(&gates, l)?, &grads.gates[l], scale, -options.lambda, options.eta, None);
            gates.set(l, z);
        }
    }
    run.score(&gates).await?;
    Ok(run.finish(gates, None))
}

/// **Hard feedback** (binary z, layer-wise coordinate ascent): from z = 1, sweep the gated layers
/// top-down in groups; for each group set `z_i = 1[∂S/∂z_i > τ s]` (s: the layer's mean |∂S/∂z|)
/// with all other gates fixed, and keep the change only if S does not drop. Sweeps repeat until
/// no gate changes or `max_iterations`. S is non-decreasing by construction; each group costs one
/// backward and one forward pass, so a sweep costs ⌈layers / layers_per_group⌉ backward passes
/// instead of one per layer.
pub async fn hard(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    options: &FeedbackOptions,
    tracer: &mut Tracer<'_>,
) -> Result<FeedbackRun> {
    let mut run = Run::start(net, &input, class, tracer)?;
    let mut gates = ones(net, &input, options.gated_layers.clone());
    let mut best = run.score(&gates).await?;
    let layers: Vec<usize> = options.gated_layers.clone().rev().collect();
    for _ in 0..options.max_iterations {
        let mut changed = false;
        for group in layers.chunks(options.layers_per_group.max(1)) {
            let grads = run.gate_gradients(&gates)?;
            let mut proposal = gates.clone();
            let mut flips = Vec::new();
            for &l in group {
                let g = grads.gates[l].clone();
                let threshold = layer_scale(&g) * options.tau as f64;
                let z = g.clone().greater(threshold.expand(g.dims())).float();
                flips.push((z.clone() - gate(&gates, l)?.clone()).abs().sum());
                proposal.set(l, z);
            }
            let flipped = read_back(Tensor::cat(flips, 0)).await?.iter().sum::<f32>();
            if flipped == 0.0 {
                continue;
            }
            let logits = net.forward_gated(input.clone(), &proposal, Keep::Logits).logits;
            let score = read_back(logits.clone().narrow(1, class, 1)).await?[0];
            if score >= best {
                best = run.record(logits, &proposal).await?;
                gates = proposal;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Ok(run.finish(gates, None))
}

/// **FSP**, selective pruning as in the authors' code: in one backward pass take, at each ReLU,
/// the gradient g at its pre-activation and set `z = 1[max(g, 0) ≥ r · mean(g | g > 0)]`
/// (optionally closing each map's border; optionally selecting on the gradient at the output
/// for open neurons, see [`FeedbackOptions::select_saturated`]), applied from the next forward pass. Stage 1 gates only
/// the `top_layers` highest layers; stage 2, run under those gates, gates `gated_layers` (skipped
/// when those are all among the top layers).
pub async fn fsp(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    options: &FeedbackOptions,
    tracer: &mut Tracer<'_>,
) -> Result<FeedbackRun> {
    let mut run = Run::start(net, &input, class, tracer)?;
    let top = NUM_GATED.saturating_sub(options.top_layers)..NUM_GATED;
    let mut stages = vec![top.clone()];
    if options.gated_layers.start < top.start {
        stages.push(options.gated_layers.clone());
    }
    let mut gates = Gates::open();
    for stage in stages {
        let mut selected = Gates::open();
        let (logits, _) = net.class_backward(&input, &gates, class, &mut |l, g, pre| {
            let selecting = stage.contains(&l);
            let open_output_gradient =
                (selecting && options.select_saturated).then(|| g.clone() * pre.clone().greater_elem(0.0).float());
            let g = rules::under_gates(g, pre, gates.get(l));
            if selecting {
                selected.set(l, rules::select(open_output_gradient.as_ref().unwrap_or(&g), options.ratio, options.border));
            }
            g
        })?;
        run.record(logits, &gates).await?;
        run.passes += 1;
        for l in stage {
            gates.set(l, gate(&selected, l)?.clone());
        }
    }
    run.score(&gates).await?;
    Ok(run.finish(gates, None))
}

/// **FR**, top-down recovering: one backward pass in which each ReLU keeps only its strongest
/// incoming gradients, `z = 1[g ≥ r · mean(g | g > 0)]`, and applies them at once before passing
/// the gradient on ([`rules::recover`]). Its image gradient is returned as well.
pub async fn fr(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    options: &FeedbackOptions,
    tracer: &mut Tracer<'_>,
) -> Result<FeedbackRun> {
    let mut run = Run::start(net, &input, class, tracer)?;
    let mut gates = Gates::open();
    let (logits, input_gradient) = net.class_backward(&input, &Gates::open(), class, &mut |l, g, pre| {
        if options.gated_layers.contains(&l) {
            let (g, z) = rules::recover(g, pre, options.ratio);
            gates.set(l, z);
            g
        } else {
            rules::gradient(g, pre)
        }
    })?;
    run.record(logits, &Gates::open()).await?;
    run.passes += 1;
    run.score(&gates).await?;
    Ok(run.finish(gates, Some(input_gradient)))
}

/// **Look twice** (the default `feedback`): gates on the top layers inferred for the class's
/// log-probability, the contrastive target (what is specific to c, not what raises every class),
/// by projected gradient ascent on `J(z) = log p_c(z) − λ‖1 − z‖₁` from z = 1: per layer
/// `z ← clip(z + clip(η (∂log p_c/∂z / s + λ), ±δ), 0, 1)`, `s` the layer's mean |∂log p_c/∂z| at
/// the start, δ the trust region (no gate moves more than δ per iteration).
/// Closing a gate has a price λ (10 by default), so only the few units that clearly vote for other
/// classes close. The trust region keeps the gates from an adversarial solution: a step is kept
/// only if both J and p_c rise, else η halves (twice at most per iteration); the run ends at the
/// first step that cannot be kept. Every kept step is an iteration, so p_c rises with each.
pub async fn twice(
    net: &EfficientNetLite0,
    input: Tensor<4>,
    class: usize,
    options: &FeedbackOptions,
    tracer: &mut Tracer<'_>,
) -> Result<FeedbackRun> {
    let mut run = Run::start(net, &input, class, tracer)?;
    let layers = options.twice_layers.clone();
    let mut gates = ones(net, &input, layers.clone());
    // [J, log p_c] under `gates`, from the logits of a pass with them.
    let measure = |logits: &Tensor<2>, gates: &Gates| -> Result<Tensor<1>> {
        let log_p = burn_tensor::activation::log_softmax(logits.clone(), 1).narrow(1, class, 1).reshape([1]);
        let mut closed = Tensor::zeros([1], &logits.device());
        for l in layers.clone() {
            closed = closed + (gate(gates, l)?.clone().neg() + 1.0).mean() * options.twice_lambda as f64;
        }
        Ok(Tensor::cat(vec![log_p.clone() - closed, log_p], 0))
    };
    run.passes += 1;
    let mut grads = net.target_gradients(input.clone(), &gates, class, Target::LogProbability)?;
    let first = read_back(measure(&grads.logits, &gates)?).await?;
    let (mut best, mut best_log_p) = (first[0], first[1]);
    run.record(grads.logits.clone(), &gates).await?;
    let scales: Vec<Tensor<4>> = layers.clone().map(|l| layer_scale(&grads.gates[l])).collect();
    let mut eta = options.twice_eta;
    for _ in 0..options.twice_iterations {
        let mut accepted = false;
        for _attempt in 0..3 {
            let mut proposal = gates.clone();
            for (l, scale) in layers.clone().zip(&scales) {
                let limit = Some(options.twice_max_step);
                proposal.set(l, model::gate_step(gate(&gates, l)?, &grads.gates[l], scale, options.twice_lambda, eta, limit));
            }
            run.passes += 1;
            let next = net.target_gradients(input.clone(), &proposal, class, Target::LogProbability)?;
            let values = read_back(measure(&next.logits, &proposal)?).await?;
            if values[0] > best && values[1] > best_log_p {
                (best, best_log_p) = (values[0], values[1]);
                gates = proposal;
                grads = next;
                accepted = true;
                break;
            }
            eta /= 2.0;
        }
        if !accepted {
            break;
        }
        run.record(grads.logits.clone(), &gates).await?;
    }
    Ok(run.finish(gates, None))
}
