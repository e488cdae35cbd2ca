//! **thinktwice** shows where an ImageNet classifier looks, by feedback inference
//! (Cao et al., "Look and Think Twice", ICCV 2015).
//!
//! Rooms: [`model`] (EfficientNet-Lite0 with a gate on every ReLU6 neuron, weights, class names),
//! [`feedback`] (gate inference and its traces), [`saliency`] (maps: baselines and feedback
//! read-outs), [`localize`] (map → box, metrics), [`imaging`] (decode and preprocess),
//! [`backend`] (which device computes). The same code runs
//! natively and in the browser (wasm32 + WebGPU): it reads tensors back only asynchronously.

pub mod backend;
pub mod error;
pub mod feedback;
pub mod imaging;
pub mod localize;
pub mod model;
pub mod overlay;
pub mod saliency;
#[cfg(target_family = "wasm")]
mod web;

pub use error::{Error, Result};
pub use model::{EfficientNetLite0, Gates};
