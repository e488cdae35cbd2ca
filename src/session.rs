//! The one entry point of the library, for the CLI, `eval`, `bench` and the browser alike:
//! load the model on a backend, prepare an image once, classify it, and explain classes while
//! every feedback iteration streams out as a [`Frame`] that can stop the run.

use std::cell::OnceCell;

use burn_tensor::activation::softmax;
use burn_tensor::{Device, Tensor};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use web_time::Instant;

use crate::backend::{self, BackendChoice, BackendInfo};
use crate::closer::{self, CloserOptions, Look};
use crate::error::{Error, Result};
use crate::feedback::{Flow, TraceRecord};
use crate::geometry::{BBox, FrameGeometry, Framing, INPUT_SIZE};
use crate::imaging;
use crate::localize::{self, BoxOptions, grabcut};
use crate::map::Map;
use crate::model::{self, EfficientNetLite0, NUM_GATED, Weights, labels};
use crate::tensors::{self, read_back};
use crate::saliency::{self, Method, SaliencyOptions};
use crate::visualize::{self, Visualization, VisualizeOptions, VisualizeStep};

/// The model on its device, ready to classify and explain.
#[derive(Debug)]
pub struct Session {
    net: EfficientNetLite0,
    device: Device,
    info: BackendInfo,
}

/// An image framed for the network: made once by [`Session::prepare`], used by every call after.
#[derive(Debug)]
pub struct Prepared {
    original: RgbImage,
    picture: RgbImage,
    input: Tensor<4>,
    geometry: FrameGeometry,
    framing: Framing,
    scores: OnceCell<Scores>,
}

/// Class scores of a prepared image.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Logits, one per class (1000).
    pub logits: Vec<f32>,
    /// Softmax probabilities, one per class (1000).
    pub probabilities: Vec<f32>,
}

/// One class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Class index (0–999).
    pub index: usize,
    /// Class display name.
    pub name: &'static str,
    /// Softmax probability.
    pub probability: f32,
}

impl Scores {
    /// The `k` most probable classes, best first.
    pub fn top(&self, k: usize) -> Vec<Prediction> {
        tensors::top_k(&self.probabilities, k)
            .into_iter()
            .map(|(index, probability)| Prediction { index, name: labels::class_name(index), probability })
            .collect()
    }
}

/// What [`Session::explain`] computes and streams.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// Saliency method.
    pub method: Method,
    /// Saliency and feedback settings.
    pub saliency: SaliencyOptions,
    /// Map → box settings.
    pub boxes: BoxOptions,
    /// GrabCut refinement of the final box, if wanted.
    pub refine: Option<grabcut::GrabCutOptions>,
    /// Size (width, height) of the map in each [`Frame`]; `None`: frames carry no map and no box
    /// (cheaper: the map under the current gates is then not computed per iteration).
    pub frame_map_size: Option<(usize, usize)>,
    /// The looks: how many, where, and how their maps join.
    pub closer: CloserOptions,
}

impl ExplainOptions {
    /// `method` with its tuned box settings and default saliency settings.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            saliency: SaliencyOptions::default(),
            boxes: method.info().boxes,
            refine: None,
            frame_map_size: None,
            closer: method.info().looks,
        }
    }
}

impl Default for ExplainOptions {
    fn default() -> Self {
        Self::new(Method::FEEDBACK)
    }
}

/// One step of an explanation as it happens: a feedback iteration, or the single result of a
/// baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Frame {
    /// Class being explained.
    pub class: usize,
    /// Which look this frame belongs to: 0 for the whole photo, then one per closer look.
    pub look: usize,
    /// The part of the photo this look sees, in original pixels.
    pub region: BBox,
    /// 0 before feedback changes anything, then one per iteration (numbered on across looks).
    pub iteration: usize,
    /// Class logit under the current gates.
    pub score: f32,
    /// Class probability under the current gates.
    pub probability: f32,
    /// Mean gate value per gated layer (33 numbers, 1 = all open).
    pub open_fraction: Vec<f32>,
    /// The map under the current gates at the requested size, when one was requested.
    #[serde(skip)]
    pub map: Option<Map>,
    /// The box of that map, in original-image pixels.
    #[serde(rename = "box")]
    pub bbox: Option<BBox>,
    /// Milliseconds since this class's run started.
    pub elapsed_ms: f64,
}

/// One class explained in one image.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Class index (0–999).
    pub class: usize,
    /// Class display name.
    pub name: &'static str,
    /// Class logit on the prepared image (no gates).
    pub score: f32,
    /// Softmax probability of the class (no gates).
    pub probability: f32,
    /// The box in original-image pixels (`None` for an all-zero map).
    #[serde(rename = "box")]
    pub bbox: Option<BBox>,
    /// The map's maximum, in original-image pixels.
    pub peak: (f32, f32),
    /// The saliency map over the network input (224×224).
    #[serde(skip)]
    pub map: Map,
    /// The feedback trace without per-iteration maps, all looks (empty for one look of a baseline).
    pub trace: Vec<TraceRecord>,
    /// Where each look looked and the box after it (one entry for a single look).
    pub looks: Vec<Look>,
}

impl Session {
    /// Loads the model from weight-file bytes (safetensors, f32 or f16) on the chosen backend.
    pub async fn load(weight_bytes: &[u8], choice: BackendChoice) -> Result<Self> {
        Self::from_weights(&Weights::from_bytes(weight_bytes)?, choice).await
    }

    /// Builds the model from parsed weights on the chosen backend.
    pub async fn from_weights(weights: &Weights, choice: BackendChoice) -> Result<Self> {
        let (device, info) = backend::init(choice).await?;
        let net = EfficientNetLite0::new(weights, &device)?;
        Ok(Self { net, device, info })
    }

    /// The backend in use, its adapter, and why it fell back to the CPU if it did.
    pub fn backend(&self) -> &BackendInfo {
        &self.info
    }

    /// The network itself (for benchmarks and experiments below the session's level).
    pub fn model(&self) -> &EfficientNetLite0 {
        &self.net
    }

    /// Frames a decoded RGB image for the network (see [`Framing`]; `Whole` maps boxes back exactly).
    pub fn prepare(&self, image: RgbImage, framing: Framing) -> Result<Prepared> {
        let picture = imaging::frame(&image, framing);
        let input = tensors::input_tensor(imaging::normalize(&picture), INPUT_SIZE, INPUT_SIZE, &self.device)?;
        let geometry = FrameGeometry::new(image.width(), image.height(), framing);
        Ok(Prepared { original: image, picture, input, geometry, framing, scores: OnceCell::new() })
    }

    /// Decodes an image file (JPEG, PNG, WebP, GIF, BMP, TIFF) and prepares it.
    pub fn prepare_encoded(&self, bytes: &[u8], framing: Framing) -> Result<Prepared> {
        self.prepare(imaging::decode(bytes)?, framing)
    }

    /// Prepares RGBA pixels (`width × height × 4` bytes, as a browser decodes them).
    pub fn prepare_rgba(&self, rgba: &[u8], width: u32, height: u32, framing: Framing) -> Result<Prepared> {
        self.prepare(imaging::from_rgba(rgba, width, height)?, framing)
    }

    /// Logits and probabilities of a prepared image (computed once, then remembered).
    pub async fn classify(&self, image: &Prepared) -> Result<Scores> {
        if let Some(scores) = image.scores.get() {
            return Ok(scores.clone());
        }
        let logits = self.net.forward(image.input.clone());
        let probabilities = read_back(softmax(logits.clone(), 1)).await?;
        let scores = Scores { logits: read_back(logits).await?, probabilities };
        Ok(image.scores.get_or_init(|| scores).clone())
    }

    /// The image the network finds most like `class` (class model visualisation); `on_step`
    /// sees every gradient step and may stop the run ([`Error::Cancelled`]).
    pub async fn visualize(
        &self,
        class: usize,
        options: &VisualizeOptions,
        on_step: &mut dyn FnMut(&VisualizeStep) -> Flow,
    ) -> Result<Visualization> {
        visualize::visualize(&self.net, class, &self.device, options, on_step).await
    }

    /// Maps, boxes and traces for `classes`, one after the other. `on_frame` sees every frame as
    /// it is made and may stop the run ([`Error::Cancelled`]) between two iterations.
    pub async fn explain(
        &self,
        image: &Prepared,
        classes: &[usize],
        options: &ExplainOptions,
        on_frame: &mut dyn FnMut(&Frame) -> Flow,
    ) -> Result<Vec<Explanation>> {
        for &class in classes {
            model::check_class(class)?;
        }
        let scores = self.classify(image).await?;
        let mut results = Vec::with_capacity(classes.len());
        for &class in classes {
            results.push(self.explain_class(image, class, &scores, options, on_frame).await?);
        }
        Ok(results)
    }

    /// One class: the first look at the whole photo, then closer looks at the box while it moves
    /// (see [`closer`]); every look's iterations stream as frames of the photo's map.
    async fn explain_class(
        &self,
        image: &Prepared,
        class: usize,
        scores: &Scores,
        options: &ExplainOptions,
        on_frame: &mut dyn FnMut(&Frame) -> Flow,
    ) -> Result<Explanation> {
        let started = Instant::now();
        let plan = &options.closer;
        let (mut map, mut bbox, mut region) = (None::<Map>, None::<BBox>, closer::whole());
        let (mut looks, mut trace) = (Vec::new(), Vec::<TraceRecord>::new());
        for look in 0..=plan.looks {
            let side = if look == 0 { plan.first_side.clamp(32, 1024) } else { INPUT_SIZE };
            let seen = self.look(image, class, &region, side, map.as_ref(), look, trace.len(), started, options, on_frame).await?;
            let next = localize::map_to_box(&seen.map, &options.boxes);
            let to_original = |b: &BBox| image.geometry.to_original(b);
            looks.push(Look { look, region: to_original(&region), bbox: next.as_ref().map(to_original), probability: seen.probability });
            trace.extend(seen.trace);
            let done = look > 0 && closer::settled(bbox.as_ref(), next.as_ref(), plan);
            (map, bbox) = (Some(seen.map), next);
            // The next crop; when it is (nearly) what this look saw, another look would see the same.
            let next_region = bbox.as_ref().filter(|_| !done).map(|b| image.exact_region(&closer::crop_around(b, plan)));
            match next_region {
                Some(r) if r.iou(&region) < plan.stable_iou => region = r,
                _ => break,
            }
        }
        let map = map.ok_or_else(|| Error::Shape("no look was made".into()))?;
        Ok(self.explanation(image, class, scores, map, trace, looks, options))
    }

    /// One look at `region` (input pixels) of the photo, seen at `side × side`: the photo's map with
    /// this look's map pasted in (`before`: the map so far), its trace (iterations numbered from
    /// `first_iteration`) and the class probability on it. Frames show the photo's map as it goes.
    #[allow(clippy::too_many_arguments)]
    async fn look(
        &self,
        image: &Prepared,
        class: usize,
        region: &BBox,
        side: usize,
        before: Option<&Map>,
        look: usize,
        first_iteration: usize,
        started: Instant,
        options: &ExplainOptions,
        on_frame: &mut dyn FnMut(&Frame) -> Flow,
    ) -> Result<Seen> {
        // The first look at the training size sees exactly the prepared input.
        let prepared_input = look == 0 && side == INPUT_SIZE;
        let input = if prepared_input {
            image.input.clone()
        } else {
            let crop = imaging::crop_resized(&image.original, image.geometry.pixels_of(region, image.original.width(), image.original.height()), side as u32);
            tensors::input_tensor(imaging::normalize(&crop), side, side, &self.device)?
        };
        let mut saliency_options = options.saliency.clone();
        saliency_options.trace_maps = options.frame_map_size.is_some();
        let in_photo = |m: Map| match before {
            None => m.resized(INPUT_SIZE, INPUT_SIZE),
            Some(b) => closer::paste(b, &m, region, options.closer.weight),
        };
        let shown = image.geometry.to_original(region);
        let mut frame_error = None;
        let mut on_record = |record: &TraceRecord| {
            let record = TraceRecord { iteration: first_iteration + record.iteration, elapsed_ms: started.elapsed().as_secs_f64() * 1e3, ..record.clone() };
            match record.map.clone().map(|v| Map::new(v, side, side)).transpose() {
                Ok(map) => on_frame(&self.frame(image, class, &record, map.map(in_photo).as_ref(), look, shown, options)),
                Err(e) => {
                    frame_error = Some(e);
                    Flow::Break(())
                }
            }
        };
        let made = saliency::saliency(&self.net, input.clone(), class, options.method, &saliency_options, &mut on_record).await;
        if let Some(e) = frame_error {
            return Err(e);
        }
        let mut made = made?;
        if options.closer.flip {
            // The mirror image's map, mirrored back, averaged in: what a look sees does not hang on left and right.
            saliency_options.trace_maps = false;
            let mirrored = saliency::saliency(&self.net, input.clone().flip([3]), class, options.method, &saliency_options, &mut |_| Flow::Continue(())).await?;
            let back = mirrored.map.mirrored();
            let (a, b) = (made.map.normalised(), back.normalised());
            made.map = Map::new(a.values.iter().zip(&b.values).map(|(x, y)| (x + y) / 2.0).collect(), a.width, a.height)?;
        }
        let (score, probability) = match made.trace.first() {
            Some(first) => (first.score, first.probability),
            None if prepared_input => {
                let scores = self.classify(image).await?;
                (scores.logits[class], scores.probabilities[class])
            }
            None => {
                let logits = self.net.forward(input);
                let p = read_back(softmax(logits.clone(), 1).narrow(1, class, 1)).await?[0];
                (read_back(logits.narrow(1, class, 1)).await?[0], p)
            }
        };
        made.trace.iter_mut().for_each(|r| {
            r.iteration += first_iteration;
            r.map = None;
        });
        // A baseline's one result, or the look's final (mirror-averaged) map: one more frame, so that
        // every method streams alike and the last frame shows what the look ends with.
        let last_frame = (made.trace.is_empty() || options.closer.flip).then(|| match made.trace.last() {
            Some(last) => TraceRecord { elapsed_ms: started.elapsed().as_secs_f64() * 1e3, ..last.clone() },
            None => TraceRecord {
                iteration: look,
                score,
                probability,
                open_fraction: vec![1.0; NUM_GATED],
                elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
                backward_passes: 0,
                map: None,
            },
        });
        let map = in_photo(made.map);
        if let Some(record) = last_frame
            && on_frame(&self.frame(image, class, &record, Some(&map), look, shown, options)).is_break()
        {
            return Err(Error::Cancelled);
        }
        Ok(Seen { map, trace: made.trace, probability })
    }

    /// The frame of one step: the record's numbers and, when frames carry maps, `map` (over the
    /// network input) at the requested size with its box in original pixels.
    #[allow(clippy::too_many_arguments)]
    fn frame(&self, image: &Prepared, class: usize, record: &TraceRecord, map: Option<&Map>, look: usize, region: BBox, options: &ExplainOptions) -> Frame {
        let (map, bbox) = match (map, options.frame_map_size) {
            (Some(map), Some((w, h))) => (Some(map.resized(w, h)), image.box_of(map, &options.boxes)),
            _ => (None, None),
        };
        Frame {
            class,
            look,
            region,
            iteration: record.iteration,
            score: record.score,
            probability: record.probability,
            open_fraction: record.open_fraction.clone(),
            map,
            bbox,
            elapsed_ms: record.elapsed_ms,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn explanation(
        &self,
        image: &Prepared,
        class: usize,
        scores: &Scores,
        map: Map,
        trace: Vec<TraceRecord>,
        looks: Vec<Look>,
        options: &ExplainOptions,
    ) -> Explanation {
        let in_input = match &options.refine {
            None => localize::map_to_box(&map, &options.boxes),
            Some(g) => {
                let mask = grabcut::segment(&image.picture, &map, g);
                localize::largest_component_box(&mask, map.width, map.height).or_else(|| localize::map_to_box(&map, &options.boxes))
            }
        };
        let (px, py) = map.argmax();
        Explanation {
            class,
            name: labels::class_name(class),
            score: scores.logits[class],
            probability: scores.probabilities[class],
            bbox: in_input.map(|b| image.geometry.to_original(&b)),
            peak: image.geometry.point_to_original(px, py),
            map,
            trace,
            looks,
        }
    }
}

/// What one look saw.
struct Seen {
    /// The photo's map with this look pasted in (over the whole input, 224 × 224).
    map: Map,
    /// Its feedback trace, numbered on from the looks before it.
    trace: Vec<TraceRecord>,
    /// Class probability on the look's input, before any gate moved.
    probability: f32,
}

impl Prepared {
    /// The decoded image, before framing.
    pub fn original(&self) -> &RgbImage {
        &self.original
    }

    /// The normalised `[1, 3, 224, 224]` input tensor.
    pub fn input(&self) -> &Tensor<4> {
        &self.input
    }

    /// How the image was framed for the network.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The part of the original image the network sees, in original pixels.
    pub fn region(&self) -> BBox {
        self.geometry.region()
    }

    /// `region` (input pixels) snapped to the whole original pixels a crop of it takes, so that a
    /// closer look's map is pasted exactly where its pixels came from.
    fn exact_region(&self, region: &BBox) -> BBox {
        let (x, y, w, h) = self.geometry.pixels_of(region, self.original.width(), self.original.height());
        self.geometry.to_input(&BBox { x0: x as f32, y0: y as f32, x1: (x + w) as f32, y1: (y + h) as f32 })
    }

    /// The box of a map over the network input (any size), in original pixels: how a page redraws
    /// a box at another threshold without running the method again.
    pub fn box_of(&self, map: &Map, options: &BoxOptions) -> Option<BBox> {
        let map = if (map.width, map.height) == (INPUT_SIZE, INPUT_SIZE) { map.clone() } else { map.resized(INPUT_SIZE, INPUT_SIZE) };
        localize::map_to_box(&map, options).map(|b| self.geometry.to_original(&b))
    }
}
