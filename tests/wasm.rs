//! The JavaScript boundary itself, compiled to wasm32 and run in headless Chromium by
//! wasm-bindgen-test, in a dedicated worker as on the page: what `Engine` hands JavaScript
//! (objects, `Float32Array`s, `Error`s with a `code`) for real weights and a real photo.
//! `scripts/test.sh` runs it: `cargo test --profile web --target wasm32-unknown-unknown --test wasm`.
#![cfg(target_family = "wasm")]

use js_sys::{Array, Float32Array, Function, Reflect};
use thinktwice::web::{class_names, Engine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

// The build's files (scripts/test.sh makes them before this test): a missing one fails to compile.
static WEIGHTS: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/pkg/efficientnet-lite0.f16.safetensors"));
static SAMPLE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/pkg/samples/chelsea.png"));

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap()
}

/// The `code` of a rejected call, which must be a JavaScript `Error`.
fn code_of<T>(result: Result<T, JsValue>) -> String {
    let error = result.err().expect("an error");
    assert!(error.is_instance_of::<js_sys::Error>(), "{error:?} is an Error");
    assert!(!get(&error, "message").as_string().unwrap().is_empty());
    get(&error, "code").as_string().unwrap()
}

fn request(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

async fn engine_with_sample() -> Engine {
    let mut engine = Engine::load(WEIGHTS.to_vec(), "cpu".into()).await.unwrap();
    let rgba = image::load_from_memory(SAMPLE).unwrap().to_rgba8();
    let info = engine.prepare_rgba(rgba.as_raw(), rgba.width(), rgba.height(), "whole".into()).unwrap();
    assert_eq!(get(&info, "width").as_f64(), Some(rgba.width() as f64));
    assert_eq!(get(&info, "framing").as_string().as_deref(), Some("whole"));
    engine
}

#[wasm_bindgen_test]
fn class_names_are_the_thousand_imagenet_classes() {
    let names = class_names();
    assert_eq!(names.len(), 1000);
    assert!(names[282].contains("tiger cat"), "{}", names[282]);
}

#[wasm_bindgen_test]
async fn bad_weights_and_a_bad_backend_are_errors_with_codes() {
    assert_eq!(code_of(Engine::load(b"not weights".to_vec(), "cpu".into()).await), "bad-weights");
    assert_eq!(code_of(Engine::load(WEIGHTS[..WEIGHTS.len() / 2].to_vec(), "cpu".into()).await), "bad-weights");
    assert_eq!(code_of(Engine::load(WEIGHTS.to_vec(), "tpu".into()).await), "bad-input");
}

#[wasm_bindgen_test]
async fn classify_gives_the_cat_and_a_float32_probability_vector() {
    let engine = engine_with_sample().await;
    let info = engine.info().unwrap();
    assert_eq!(get(&info, "backend").as_string().as_deref(), Some("cpu"));
    let result = engine.classify(5).await.unwrap();
    let top = Array::from(&get(&result, "top"));
    assert_eq!(top.length(), 5);
    let best = get(&top.get(0), "index").as_f64().unwrap() as usize;
    assert!((281..=285).contains(&best), "top class {best} is a cat");
    let probabilities: Float32Array = get(&result, "probabilities").dyn_into().unwrap();
    assert_eq!(probabilities.length(), 1000);
    let sum: f32 = probabilities.to_vec().iter().sum();
    assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
    assert!(get(&result, "elapsedMs").as_f64().unwrap() > 0.0);
}

#[wasm_bindgen_test]
async fn explain_streams_frames_with_maps_and_returns_boxes() {
    let engine = engine_with_sample().await;
    let frames = Array::new();
    let collect = Closure::<dyn FnMut(JsValue) -> bool>::new({
        let frames = frames.clone();
        move |frame: JsValue| {
            frames.push(&frame);
            true
        }
    });
    let callback: &Function = collect.as_ref().unchecked_ref();
    let results = engine.explain(request(r#"{"classes":[282],"method":"feedback-soft","iterations":3,"mapSize":28}"#), callback.clone()).await.unwrap();
    // Iteration 0, then at most 3 (soft feedback may converge sooner).
    assert!((2..=4).contains(&frames.length()), "{} frames", frames.length());
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(get(&frame, "iteration").as_f64(), Some(i as f64));
        assert_eq!(Array::from(&get(&frame, "openFraction")).length(), 33);
        assert_eq!(get(&frame, "map").dyn_into::<Float32Array>().unwrap().length(), 28 * 28);
    }
    let result = Array::from(&results).get(0);
    assert_eq!(get(&result, "class").as_f64(), Some(282.0));
    assert_eq!(get(&result, "map").dyn_into::<Float32Array>().unwrap().length(), 224 * 224);
    let bbox = get(&result, "box");
    let (x0, x1) = (get(&bbox, "x0").as_f64().unwrap(), get(&bbox, "x1").as_f64().unwrap());
    assert!(0.0 <= x0 && x0 < x1 && x1 <= 451.0, "box {x0}..{x1} inside the photo");
}

#[wasm_bindgen_test]
async fn a_false_from_the_frame_callback_cancels_and_bad_requests_have_codes() {
    let mut engine = engine_with_sample().await;
    let stop = Closure::<dyn FnMut(JsValue) -> bool>::new(|_| false);
    let stop: &Function = stop.as_ref().unchecked_ref();
    let noop = Function::new_no_args("return true");
    assert_eq!(code_of(engine.explain(request(r#"{"classes":[282],"method":"feedback-soft"}"#), stop.clone()).await), "cancelled");
    assert_eq!(code_of(engine.explain(request(r#"{"classes":[1000]}"#), noop.clone()).await), "unknown-class");
    assert_eq!(code_of(engine.explain(request(r#"{"classes":[282],"method":"magic"}"#), noop.clone()).await), "unknown-method");
    assert_eq!(code_of(engine.prepare_rgba(&[0; 12], 4, 4, "whole".into())), "bad-image");
    assert_eq!(code_of(engine.prepare_rgba(&[0; 64], 4, 4, "sideways".into())), "bad-input");
}
