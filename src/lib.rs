//! **thinktwice** shows where an ImageNet classifier looks, by feedback inference
//! (Cao et al., "Look and Think Twice", ICCV 2015).
//!
//! Rooms: [`model`] (EfficientNet-Lite0 with a gate on every ReLU6 neuron, weights, class names),
//! [`imaging`] (decode and preprocess), [`backend`] (which device computes). The same code runs
//! natively and in the browser (wasm32 + WebGPU): it reads tensors back only asynchronously.

pub mod backend;
pub mod error;
pub mod imaging;
pub mod model;
#[cfg(target_family = "wasm")]
mod web;

pub use error::{Error, Result};
pub use model::{EfficientNetLite0, Gates};
