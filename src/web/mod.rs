//! wasm-bindgen glue: converts types and forwards to [`Session`], nothing else. It compiles on
//! every target (the `wasm_bindgen` attributes apply on wasm32 only), so `cargo test` checks it.

pub mod dto;
mod error;

#[cfg(target_family = "wasm")]
use wasm_bindgen::prelude::*;

use crate::backend::{BackendChoice, BackendInfo};
use crate::geometry::BBox;
use crate::feedback::Flow;
use crate::map::Map;
use crate::localize::{BoxOptions, BoxRule};
use crate::model::labels;
use crate::overlay::{self, Heat, Label};
use crate::report::Report;
use crate::saliency::Method;
use crate::session::{Prepared, Session};
use crate::visualize::VisualizeOptions;
pub use dto::{Classification, Constants, ExplainRequest, MethodRow, OverlayRequest, ExplanationInfo, FrameInfo, ImageInfo, LayerInfo, VisualizationInfo, VisualizeStepInfo};
pub use error::WebError;

/// Installs the panic hook so that a Rust panic shows in the console with its message.
#[cfg_attr(target_family = "wasm", wasm_bindgen(start))]
pub fn start() {
    #[cfg(target_family = "wasm")]
    console_error_panic_hook::set_once();
}

/// The 1000 class display names, in the model's order.
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = classNames))]
pub fn class_names() -> Vec<String> {
    (0..crate::model::NUM_CLASSES).map(|i| labels::class_name(i).to_string()).collect()
}

/// Every class's WordNet synonyms, `", "`-separated, in the model's order (for class search).
#[cfg_attr(target_family = "wasm", wasm_bindgen(js_name = classSynonyms))]
pub fn class_synonyms() -> Vec<String> {
    (0..crate::model::NUM_CLASSES).map(|i| labels::class_synonyms(i).join(", ")).collect()
}

/// The methods `explain` takes, the default (`feedback`) first: the method table's rows.
pub fn method_rows() -> Vec<dto::MethodRow> {
    dto::MethodRow::all()
}

/// `methodRows()` → `[{name, label, about, feedback, alias, boxRule, threshold}]`.
#[cfg(target_family = "wasm")]
#[wasm_bindgen(js_name = methodRows)]
pub fn method_rows_js() -> Result<JsValue, JsValue> {
    to_js(&method_rows())
}

/// `engineConstants()` → sizes, defaults, limits, error codes and colours ([`dto::Constants`]).
#[cfg(target_family = "wasm")]
#[wasm_bindgen(js_name = engineConstants)]
pub fn constants_js() -> Result<JsValue, JsValue> {
    to_js(&dto::Constants::new())
}

/// The 33 gated layers, input to output: `{name, channels, height, width}` (`stem`, `b1.expand`, …, `head`).
pub fn gated_layers() -> Vec<dto::LayerInfo> {
    crate::model::gated_layers()
        .into_iter()
        .map(|l| dto::LayerInfo { name: l.name, channels: l.shape[0], height: l.shape[1], width: l.shape[2] })
        .collect()
}

/// `gatedLayers()` → `[{name, channels, height, width}]`, input to output.
#[cfg(target_family = "wasm")]
#[wasm_bindgen(js_name = gatedLayers)]
pub fn gated_layers_js() -> Result<JsValue, JsValue> {
    to_js(&gated_layers())
}

/// Bytes of wasm linear memory in use (it only grows: the high-water mark of every run so far).
#[cfg(target_family = "wasm")]
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    use wasm_bindgen::JsCast;
    wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}

/// The engine behind the page: one session and the image it works on.
#[cfg_attr(target_family = "wasm", wasm_bindgen)]
pub struct Engine {
    session: Session,
    image: Option<Prepared>,
}

/// The calls, in Rust types (what the wasm methods below convert to and from).
impl Engine {
    /// Loads the model from weight-file bytes on `backend` (`auto`, `gpu` or `cpu`).
    pub async fn create(weights: &[u8], backend: &str) -> Result<Engine, WebError> {
        let choice: BackendChoice = backend.parse()?;
        let session = Session::load(weights, choice).await?;
        Ok(Engine { session, image: None })
    }

    /// The backend in use, its adapter, and why it fell back.
    pub fn ready(&self) -> &BackendInfo {
        self.session.backend()
    }

    /// Prepares RGBA pixels (`whole` or `center-crop` framing) as the image of the next calls.
    pub fn set_image(&mut self, rgba: &[u8], width: u32, height: u32, framing: &str) -> Result<ImageInfo, WebError> {
        let framing = dto::parse_framing(framing)?;
        let prepared = self.session.prepare_rgba(rgba, width, height, framing)?;
        let info = ImageInfo { width: prepared.original().width(), height: prepared.original().height(), framing: framing.name() };
        self.image = Some(prepared);
        Ok(info)
    }

    fn image(&self) -> Result<&Prepared, WebError> {
        self.image.as_ref().ok_or_else(|| WebError::new("bad-input", "no image prepared yet"))
    }

    /// Classes from a spec: `top3`, or indices and names, comma-separated (`"tabby, 282"`).
    pub async fn classes_of(&self, spec: &str) -> Result<Vec<usize>, WebError> {
        let scores = self.session.classify(self.image()?).await?;
        Ok(labels::parse_class_list(spec, &scores.probabilities)?)
    }

    /// The box of a `side × side` map over the network input by `rule` (`peak`: threshold × the
    /// smoothed maximum; `mass`: the brightest pixels holding threshold of the mass), in original
    /// pixels of the prepared image; `None` for an empty map.
    pub fn box_for(&self, map: &[f32], side: usize, threshold: f32, sigma: f32, rule: &str) -> Result<Option<BBox>, WebError> {
        let map = Map::new(map.to_vec(), side, side)?;
        let rule = if rule.is_empty() { BoxRule::Peak } else { rule.parse::<BoxRule>().map_err(|e| WebError::new("bad-input", e.to_string()))? };
        let options = BoxOptions { threshold: threshold.clamp(0.0, 1.0), sigma: sigma.clamp(0.0, 32.0), rule };
        Ok(self.image()?.box_of(&map, &options))
    }

    /// The `top` most probable classes and all 1000 probabilities.
    pub async fn classify_top(&self, top: usize) -> Result<(Classification, Vec<f32>), WebError> {
        let start = web_time::Instant::now();
        let scores = self.session.classify(self.image()?).await?;
        let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
        Ok((Classification { top: scores.top(top.clamp(1, crate::model::NUM_CLASSES)), elapsed_ms }, scores.probabilities))
    }

    /// Explains the request's classes; `on_frame` gets each frame with its map and returns
    /// whether to go on.
    pub async fn explain_with(
        &self,
        request: &ExplainRequest,
        on_frame: &mut dyn FnMut(FrameInfo<'_>, Option<&Map>) -> bool,
    ) -> Result<Vec<(ExplanationInfo, Map)>, WebError> {
        let options = request.options()?;
        if request.classes.is_empty() {
            return Err(WebError::new("unknown-class", "no class to explain"));
        }
        let explanations = self
            .session
            .explain(self.image()?, &request.classes, &options, &mut |frame| {
                if on_frame(FrameInfo::from(frame), frame.map.as_ref()) { Flow::Continue(()) } else { Flow::Break(()) }
            })
            .await?;
        let (threshold, box_rule, sigma) = (options.boxes.threshold, options.boxes.rule, options.boxes.sigma);
        Ok(explanations.into_iter().map(|e| (ExplanationInfo { threshold, box_rule, sigma, ..ExplanationInfo::from(&e) }, e.map)).collect())
    }

    /// The overlay of a `side × side` map over the prepared image, as `thinktwice localize` draws
    /// it (the same code): `(width, height, RGBA bytes)` at the prepared image's size.
    pub fn overlay_rgba(&self, map: &[f32], request: &OverlayRequest) -> Result<(u32, u32, Vec<u8>), WebError> {
        let image = self.image()?;
        let side = (map.len() as f64).sqrt().round() as usize;
        let map = Map::new(map.to_vec(), side, side)?;
        let method: Method = request.method.parse()?;
        let labels: Vec<Label> = request
            .classes
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let colour = overlay::CLASS_COLOURS[i % overlay::CLASS_COLOURS.len()];
                c.bbox.map(|bbox| Label { bbox, text: overlay::label_text(labels::class_name(c.class), c.class, c.probability, method.name()), colour })
            })
            .collect();
        let heat = Heat { map: &map, top: request.top.unwrap_or_else(|| map.colour_top()) };
        let legend = request.legend.as_deref().unwrap_or(overlay::OWN_SCALE);
        let opacity = request.opacity.unwrap_or(overlay::DEFAULT_OPACITY).clamp(0.0, 1.0);
        let picture = overlay::render(image.original(), Some(heat), image.region(), &labels, opacity, legend);
        Ok((picture.width(), picture.height(), rgba_of(&picture)))
    }

    /// The JSON report of what the page shows, in the shape `thinktwice localize` writes: `report`
    /// read through the library's types (what else the page holds is left out), with the framing,
    /// and the size where it has none, from the prepared image.
    pub fn report_json(&self, mut report: Report) -> Result<String, WebError> {
        let image = self.image()?;
        if report.width == 0 || report.height == 0 {
            (report.width, report.height) = image.original().dimensions();
        }
        report.framing = image.framing().name().to_owned();
        Ok(report.to_json())
    }

    /// Grows the image of the first class of `spec` (class model visualisation, the same code as
    /// `thinktwice visualize`); `on_step` gets every step with its picture as RGBA when it carries
    /// one, and returns whether to go on.
    pub async fn visualize_with(
        &self,
        spec: &str,
        iterations: usize,
        on_step: &mut dyn FnMut(VisualizeStepInfo, Option<Vec<u8>>) -> bool,
    ) -> Result<(VisualizationInfo, Vec<u8>), WebError> {
        let class = *labels::parse_class_list(spec, &[])?.first().ok_or_else(|| WebError::new("unknown-class", "no class to visualise"))?;
        let options = VisualizeOptions { iterations: iterations.clamp(1, 1000), ..VisualizeOptions::default() };
        let made = self
            .session
            .visualize(class, &options, &mut |step| {
                let info = VisualizeStepInfo { iteration: step.iteration, score: step.score, probability: step.probability, elapsed_ms: step.elapsed_ms };
                if on_step(info, step.picture.as_ref().map(rgba_of)) { Flow::Continue(()) } else { Flow::Break(()) }
            })
            .await?;
        let info = VisualizationInfo { class, name: labels::class_name(class), score: made.score, probability: made.probability, iterations: options.iterations };
        Ok((info, rgba_of(&made.picture)))
    }
}

/// An RGB picture as the RGBA bytes a canvas takes.
fn rgba_of(picture: &image::RgbImage) -> Vec<u8> {
    picture.pixels().flat_map(|p| [p.0[0], p.0[1], p.0[2], 255]).collect()
}

#[cfg(target_family = "wasm")]
fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| WebError::new("bad-input", e.to_string()).into())
}

/// Hands `object` to a JavaScript callback: whether it wants the run to go on (anything but
/// `false`). A failure to make the object or a throw in the callback stops the run and is kept.
#[cfg(target_family = "wasm")]
fn call_back(callback: &js_sys::Function, object: Result<JsValue, JsValue>, error: &mut Option<JsValue>) -> bool {
    match object.and_then(|o| callback.call1(&JsValue::NULL, &o)) {
        Ok(answer) => answer != JsValue::FALSE,
        Err(e) => {
            *error = Some(e);
            false
        }
    }
}

/// `object` with `bytes` (if any) as a `Uint8Array` under `key`.
#[cfg(target_family = "wasm")]
fn with_bytes(object: JsValue, key: &str, bytes: Option<&[u8]>) -> Result<JsValue, JsValue> {
    if let Some(bytes) = bytes {
        js_sys::Reflect::set(&object, &key.into(), &js_sys::Uint8Array::from(bytes))?;
    }
    Ok(object)
}

#[cfg(target_family = "wasm")]
fn with_map(object: JsValue, map: Option<&Map>) -> JsValue {
    if let Some(map) = map {
        let _ = js_sys::Reflect::set(&object, &"map".into(), &js_sys::Float32Array::from(map.values.as_slice()));
    }
    object
}

/// The calls as JavaScript sees them (camelCase, `Error`s with a `code`).
#[cfg(target_family = "wasm")]
#[wasm_bindgen]
impl Engine {
    /// Loads the model: `await Engine.load(bytes, "auto" | "gpu" | "cpu")`.
    pub async fn load(weights: Vec<u8>, backend: String) -> Result<Engine, JsValue> {
        Ok(Engine::create(&weights, &backend).await?)
    }

    /// `{backend, adapter, fallbackReason}`.
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(self.ready())
    }

    /// Prepares RGBA pixels: `prepareRgba(pixels, width, height, "whole")` → `{width, height, framing}`.
    #[wasm_bindgen(js_name = prepareRgba)]
    pub fn prepare_rgba(&mut self, rgba: &[u8], width: u32, height: u32, framing: String) -> Result<JsValue, JsValue> {
        to_js(&self.set_image(rgba, width, height, &framing)?)
    }

    /// Class indices from `"top3"` or `"tabby, 282"` (names, synonyms or indices) for the prepared image.
    #[wasm_bindgen(js_name = parseClasses)]
    pub async fn parse_classes(&self, spec: String) -> Result<Vec<u32>, JsValue> {
        Ok(self.classes_of(&spec).await?.into_iter().map(|c| c as u32).collect())
    }

    /// `boxOf(map, side, threshold, sigma, rule)` → `{x0, y0, x1, y1}` in original pixels, or `null`.
    #[wasm_bindgen(js_name = boxOf)]
    pub fn box_of(&self, map: &[f32], side: usize, threshold: f32, sigma: f32, rule: String) -> Result<JsValue, JsValue> {
        to_js(&self.box_for(map, side, threshold, sigma, &rule)?)
    }

    /// `overlay(map, {method, classes: [{class, probability, box}], top?, legend?, opacity?})` →
    /// `{width, height, rgba}`: the downloadable overlay, drawn as `thinktwice localize` draws it.
    pub fn overlay(&self, map: &[f32], request: JsValue) -> Result<JsValue, JsValue> {
        let request: OverlayRequest =
            serde_wasm_bindgen::from_value(request).map_err(|e| WebError::new("bad-input", format!("overlay request: {e}")))?;
        let (width, height, rgba) = self.overlay_rgba(map, &request)?;
        let object = js_sys::Object::new();
        js_sys::Reflect::set(&object, &"width".into(), &width.into())?;
        js_sys::Reflect::set(&object, &"height".into(), &height.into())?;
        with_bytes(object.into(), "rgba", Some(&rgba))
    }

    /// `report({image, method, backend, threshold, boxRule, classes, frames, compare?})` → the JSON
    /// text of the report `thinktwice localize` writes (see [`Report`]).
    pub fn report(&self, report: JsValue) -> Result<String, JsValue> {
        let report: Report =
            serde_wasm_bindgen::from_value(report).map_err(|e| WebError::new("bad-input", format!("report: {e}")))?;
        Ok(self.report_json(report)?)
    }

    /// `{top: [{index, name, probability}], probabilities: Float32Array, elapsedMs}`.
    pub async fn classify(&self, top: usize) -> Result<JsValue, JsValue> {
        let (classification, probabilities) = self.classify_top(top).await?;
        let object = to_js(&classification)?;
        js_sys::Reflect::set(&object, &"probabilities".into(), &js_sys::Float32Array::from(probabilities.as_slice()))?;
        Ok(object)
    }

    /// Explains `{classes, method, mapSize, threshold, sigma, iterations, refine}`; calls
    /// `onFrame(frame)` per frame (`frame.map` a `Float32Array`); `false` from it stops the run
    /// (an error with code `cancelled`). Resolves to one object per class, each with its `map`.
    pub async fn explain(&self, request: JsValue, on_frame: js_sys::Function) -> Result<JsValue, JsValue> {
        let request: ExplainRequest =
            serde_wasm_bindgen::from_value(request).map_err(|e| WebError::new("bad-input", format!("explain request: {e}")))?;
        let mut callback_error = None;
        let result = self
            .explain_with(&request, &mut |frame, map| {
                let object = to_js(&frame).map(|o| with_map(o, map));
                call_back(&on_frame, object, &mut callback_error)
            })
            .await;
        if let Some(e) = callback_error {
            return Err(e);
        }
        let array = js_sys::Array::new();
        for (info, map) in result? {
            array.push(&with_map(to_js(&info)?, Some(&map)));
        }
        Ok(array.into())
    }

    /// Grows the image of a class (`spec`: a name, synonym or index) over `iterations` steps; calls
    /// `onStep({iteration, score, probability, elapsedMs, picture?})` per step (`picture`: 224×224
    /// RGBA bytes every 10 steps and at the end); `false` from it stops the run (code `cancelled`).
    /// Resolves to `{class, name, score, probability, iterations, picture}`.
    pub async fn visualize(&self, spec: String, iterations: usize, on_step: js_sys::Function) -> Result<JsValue, JsValue> {
        let mut callback_error = None;
        let result = self
            .visualize_with(&spec, iterations, &mut |step, picture| {
                let object = to_js(&step).and_then(|o| with_bytes(o, "picture", picture.as_deref()));
                call_back(&on_step, object, &mut callback_error)
            })
            .await;
        if let Some(e) = callback_error {
            return Err(e);
        }
        let (info, picture) = result?;
        with_bytes(to_js(&info)?, "picture", Some(&picture))
    }
}
