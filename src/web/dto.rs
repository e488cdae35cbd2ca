//! The types that cross the boundary, in the shapes and camelCase names JavaScript expects.
//! Maps travel separately, as `Float32Array`s (transferable), not inside these objects.

use serde::{Deserialize, Serialize};

use crate::geometry::{BBox, Framing};
use crate::map::Map;
use crate::report::ClassReport;
use crate::localize::BoxRule;
use crate::localize::grabcut::GrabCutOptions;
use crate::saliency::Method;
use crate::session::{ExplainOptions, Explanation, Frame, Prediction};
use crate::web::WebError;

/// Side of the map each frame carries unless the request asks otherwise: enough to draw, a quarter
/// of the 224 × 224 result's pixels to send 25 times a second.
pub const FRAME_MAP_SIDE: usize = 112;

/// What the page and the widget would otherwise write a second time: sizes, defaults, limits, the
/// error codes and the colours. The engine sends it in `ready`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Constants {
    /// The network's input side in pixels (results' maps have this side).
    pub input_size: usize,
    /// The side of the map each frame carries by default.
    pub frame_map_side: usize,
    /// Gaussian σ (input pixels) the boxes smooth the map with.
    pub sigma: f64,
    /// The heat map's default opacity.
    pub opacity: f64,
    /// Largest image accepted, in pixels: a header claiming more is refused before decoding.
    pub max_pixels: u64,
    /// The error codes, by the names the JavaScript uses (`badImage` → `bad-image`, …).
    pub codes: std::collections::BTreeMap<&'static str, &'static str>,
    /// The heat colours: 256 × RGBA, as [`crate::overlay::palette`].
    pub palette: Vec<u8>,
    /// Class colours in the order classes are chosen, as CSS hex colours.
    pub class_colours: Vec<String>,
    /// The legend's top end for a map on its own scale.
    pub own_scale: &'static str,
    /// The default method's name.
    pub default_method: &'static str,
}

impl Constants {
    /// The engine's constants.
    pub fn new() -> Self {
        let codes = crate::error::CODES.iter().map(|&(name, code)| (name, code)).collect();
        Self {
            input_size: crate::geometry::INPUT_SIZE,
            frame_map_side: FRAME_MAP_SIDE,
            sigma: decimal(crate::localize::BoxOptions::default().sigma),
            opacity: decimal(crate::overlay::DEFAULT_OPACITY),
            max_pixels: crate::imaging::MAX_PIXELS,
            codes,
            palette: crate::overlay::palette().into_iter().flatten().collect(),
            class_colours: crate::overlay::CLASS_COLOURS.iter().map(|[r, g, b]| format!("#{r:02X}{g:02X}{b:02X}")).collect(),
            own_scale: crate::overlay::OWN_SCALE,
            default_method: crate::saliency::methods::DEFAULT_NAME,
        }
    }
}

impl Default for Constants {
    fn default() -> Self {
        Self::new()
    }
}

/// An `f32` as the decimal it was written as (0.6, not 0.6000000238418579), for JavaScript.
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

/// A method as the page's menus show it: one row of the method table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodRow {
    /// The name requests use.
    pub name: &'static str,
    /// The menu label.
    pub label: &'static str,
    /// What it does, in a sentence.
    pub about: &'static str,
    /// Whether it runs feedback (iterates) or looks once.
    pub feedback: bool,
    /// What it computes per map: `forward`, `backward` or `feedback`.
    pub needs: crate::saliency::Needs,
    /// Whether this row is the default, `feedback`, standing for another row.
    pub alias: bool,
    /// The box rule and threshold it boxes by.
    pub box_rule: BoxRule,
    /// The threshold of that rule.
    pub threshold: f64,
}

impl MethodRow {
    /// The default (`feedback`, labelled as the method it stands for), then every row of the table.
    pub fn all() -> Vec<MethodRow> {
        let row = |m: &crate::saliency::MethodInfo, alias: bool| MethodRow {
            name: if alias { crate::saliency::methods::DEFAULT_NAME } else { m.name },
            label: m.label,
            about: m.about,
            feedback: m.method.is_feedback(),
            needs: m.needs,
            alias,
            box_rule: m.boxes.rule,
            threshold: decimal(m.boxes.threshold),
        };
        std::iter::once(row(Method::FEEDBACK.info(), true)).chain(crate::saliency::METHODS.iter().map(|m| row(m, false))).collect()
    }
}

/// The colour scale of a map drawn on the page: its own top, and its mass for a shared scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scale {
    /// [`Map::colour_top`]: the value drawn brightest on the map's own scale.
    pub top: f32,
    /// [`Map::mass`]: side by side, maps are drawn in shares of it.
    pub mass: f32,
}

impl From<&Map> for Scale {
    fn from(map: &Map) -> Self {
        Self { top: map.colour_top(), mass: map.mass() }
    }
}

/// A prepared image: its original size and how it was framed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// Original width in pixels.
    pub width: u32,
    /// Original height in pixels.
    pub height: u32,
    /// `whole` or `center-crop`.
    pub framing: &'static str,
}

/// A gated layer as the page labels its bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerInfo {
    /// `stem`, `b1.expand`, `b1.dw`, …, `head`.
    pub name: String,
    /// Gates per position (the activation's channels).
    pub channels: usize,
    /// Activation height for a 224×224 input.
    pub height: usize,
    /// Activation width for a 224×224 input.
    pub width: usize,
}

/// The top classes (the full probability vector travels beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    /// Most probable classes, best first.
    pub top: Vec<Prediction>,
    /// Milliseconds the forward pass and its read-back took (0 when the scores were remembered).
    pub elapsed_ms: f64,
}

/// An explain request from the page.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ExplainRequest {
    /// Class indices to explain, in order.
    pub classes: Vec<usize>,
    /// Method name as on the command line (`feedback`, `cam`, `gradient`, …); default `feedback`.
    pub method: Option<String>,
    /// Side of the square map in each frame (default [`FRAME_MAP_SIDE`]; 0: frames without maps).
    pub map_size: Option<usize>,
    /// Box threshold as a fraction of the map maximum (default: the method's tuned one).
    pub threshold: Option<f32>,
    /// Gaussian smoothing before thresholding, in input pixels.
    pub sigma: Option<f32>,
    /// Most feedback iterations.
    pub iterations: Option<usize>,
    /// GrabCut refinement of the final box.
    pub refine: bool,
}

impl ExplainRequest {
    /// The session options this request stands for.
    pub fn options(&self) -> Result<ExplainOptions, WebError> {
        let method: Method = self.method.as_deref().unwrap_or("feedback").parse().map_err(WebError::from)?;
        let mut options = ExplainOptions::new(method);
        options.boxes.threshold = self.threshold.unwrap_or(options.boxes.threshold).clamp(0.0, 1.0);
        options.boxes.sigma = self.sigma.unwrap_or(options.boxes.sigma).clamp(0.0, 32.0);
        if let Some(n) = self.iterations {
            options.saliency.feedback.max_iterations = n.clamp(1, 100);
            options.saliency.feedback.twice_iterations = n.clamp(1, 100);
        }
        options.refine = self.refine.then(GrabCutOptions::default);
        let side = self.map_size.unwrap_or(FRAME_MAP_SIDE).min(1024);
        options.frame_map_size = (side > 0).then_some((side, side));
        Ok(options)
    }
}

/// A frame as the page gets it (its map travels beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameInfo<'a> {
    /// The frame.
    #[serde(flatten)]
    pub frame: &'a Frame,
    /// Map width and height (0 when the frame has no map).
    pub map_width: usize,
    /// Map height.
    pub map_height: usize,
    /// The map's colour scale (none without a map).
    pub scale: Option<Scale>,
}

impl<'a> From<&'a Frame> for FrameInfo<'a> {
    fn from(frame: &'a Frame) -> Self {
        let (map_width, map_height) = frame.map.as_ref().map_or((0, 0), |m| (m.width, m.height));
        Self { frame, map_width, map_height, scale: frame.map.as_ref().map(Scale::from) }
    }
}

/// One explained class as the page gets it: the report's fields (its 224×224 map travels beside it)
/// and how it was boxed and coloured.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationInfo {
    /// Class, scores, box, peak, trace and looks, as the JSON report has them.
    #[serde(flatten)]
    pub result: ClassReport,
    /// Map width.
    pub map_width: usize,
    /// Map height.
    pub map_height: usize,
    /// The box threshold used: the request's, or the method's tuned one.
    pub threshold: f32,
    /// What the threshold is a fraction of: `peak` (the smoothed maximum) or `mass` (the map's total).
    pub box_rule: BoxRule,
    /// The Gaussian σ the map was smoothed with before boxing, in input pixels.
    pub sigma: f32,
    /// The map's colour scale.
    pub scale: Scale,
}

impl From<&Explanation> for ExplanationInfo {
    fn from(e: &Explanation) -> Self {
        Self {
            result: ClassReport::from(e),
            map_width: e.map.width,
            map_height: e.map.height,
            threshold: 0.0,
            box_rule: BoxRule::Peak,
            sigma: 0.0,
            scale: Scale::from(&e.map),
        }
    }
}

/// One step of a class visualisation as the page gets it (its picture travels beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisualizeStepInfo {
    /// 0 for the grey start, then one per gradient step.
    pub iteration: usize,
    /// Class logit of the current picture.
    pub score: f32,
    /// Class probability of the current picture.
    pub probability: f32,
    /// Milliseconds since the run started.
    pub elapsed_ms: f64,
}

/// A finished class visualisation (its 224×224 RGBA picture travels beside it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisualizationInfo {
    /// Class index.
    pub class: usize,
    /// Class name.
    pub name: &'static str,
    /// Class logit of the final picture.
    pub score: f32,
    /// Class probability of the final picture.
    pub probability: f32,
    /// Gradient steps taken.
    pub iterations: usize,
}

/// `whole` (default, boxes map back exactly) or `center-crop`/`crop`.
pub fn parse_framing(name: &str) -> Result<Framing, WebError> {
    match name.trim() {
        "" | "whole" => Ok(Framing::Whole),
        "crop" | "center-crop" => Ok(Framing::CenterCrop),
        other => Err(WebError::new("bad-input", format!("unknown framing {other:?} (expected whole or center-crop)"))),
    }
}

/// The overlay the page downloads: what to draw over the prepared image (its map travels beside it).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct OverlayRequest {
    /// The method's name, for the labels.
    pub method: String,
    /// The value drawn brightest (default: the map's own [`Map::colour_top`]).
    pub top: Option<f32>,
    /// The legend's top end (default: the own scale's).
    pub legend: Option<String>,
    /// The heat map's opacity (default [`crate::overlay::DEFAULT_OPACITY`]).
    pub opacity: Option<f32>,
    /// The classes, in the order they were chosen (which gives their colours), with their boxes.
    pub classes: Vec<OverlayClass>,
}

/// A class in an overlay.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverlayClass {
    /// Class index.
    pub class: usize,
    /// Its probability, for the label.
    pub probability: f32,
    /// Its box in the prepared image's pixels, if any.
    #[serde(rename = "box")]
    pub bbox: Option<BBox>,
}
