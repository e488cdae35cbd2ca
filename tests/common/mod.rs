//! Helpers shared by the integration tests: golden files, weights, error measures.
#![allow(dead_code)]

pub mod badfiles;

use std::path::PathBuf;

use thinktwice::model::{EfficientNetLite0, Weights};
use thinktwice::{BackendChoice, Session};

/// Whether this is a CI run (`CI=true`), where nothing a test needs may be missing.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Something a test needs is missing: under CI that fails the test; a local run skips, saying so.
pub fn missing(what: &str, how: &str) {
    if in_ci() {
        panic!("{what} is missing and CI must check it: {how}");
    }
    println!("SKIPPED (local run only; CI fails here): {what} is missing: {how}");
}

/// `../shared/golden` (or `$THINKTWICE_GOLDEN`), if present.
pub fn golden_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("THINKTWICE_GOLDEN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden"));
    if dir.join("golden.json").exists() {
        Some(dir)
    } else {
        missing(&format!("golden files at {}", dir.display()), "put ../shared beside the checkout or set THINKTWICE_GOLDEN");
        None
    }
}

/// A raw little-endian f32 file.
pub fn read_f32(path: PathBuf) -> Vec<f32> {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Path of a weight file under `pkg/`, which `thinktwice weights` writes.
pub fn weights_path(precision: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("pkg/efficientnet-lite0.{precision}.safetensors"))
}

/// The weight file of that precision; panics with how to make it when missing.
pub fn weights(precision: &str) -> Weights {
    let path = weights_path(precision);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo run --release -- weights` first", path.display()));
    Weights::from_bytes(&bytes).unwrap()
}

/// A CPU session on the f32 weights.
pub fn session() -> Session {
    let path = weights_path("f32");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo run --release -- weights` first", path.display()));
    pollster::block_on(Session::load(&bytes, BackendChoice::Cpu)).unwrap()
}

/// The network on `device` from the f32 weights.
pub fn model(device: &burn_tensor::Device) -> EfficientNetLite0 {
    EfficientNetLite0::new(&weights("f32"), device).unwrap()
}

/// ‖a − b‖ / ‖b‖.
pub fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// Largest absolute difference.
pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The golden images, their classes and top-5 (from golden.json).
pub fn golden_cases(dir: &std::path::Path) -> Vec<(String, usize, Vec<usize>)> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("golden.json")).unwrap()).unwrap();
    let mut cases: Vec<(String, usize, Vec<usize>)> = json
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, v)| {
            let top5 = v["top5"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect();
            (name.clone(), v["class"].as_u64().unwrap() as usize, top5)
        })
        .collect();
    cases.sort();
    cases
}

/// The tabby-cat photo (scikit-image's chelsea): from `pkg/samples` (made by `scripts/samples.sh`) or the golden folder.
pub fn cat_photo() -> Option<PathBuf> {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("pkg/samples/chelsea.png");
    if sample.exists() {
        return Some(sample);
    }
    let golden = golden_dir().map(|d| d.join("chelsea.png")).filter(|p| p.exists());
    if golden.is_none() {
        missing("the cat photo pkg/samples/chelsea.png", "run scripts/samples.sh");
    }
    golden
}
