//! **thinktwice** shows where an ImageNet classifier looks, by feedback inference
//! (Cao et al., "Look and Think Twice", ICCV 2015).
//!
//! Start at [`Session`]: load the weights, prepare an image, classify it, explain a class while
//! each feedback iteration streams out. Rooms below it: [`model`] (EfficientNet-Lite0 with a gate
//! on every ReLU6 neuron, weights, class names), [`feedback`] (gate inference and its traces),
//! [`saliency`] (maps: baselines and feedback read-outs), [`closer`] (the second look, closer), [`visualize`] (the image a class
//! stands for), [`localize`] (map → box, metrics),
//! [`imaging`] (decode and frame), [`overlay`] (pictures of maps), [`backend`] (which device
//! computes), and the leaves [`geometry`] (boxes, frames) and [`map`] (the saliency map type).
//! The same code runs natively and in the browser (wasm32 + WebGPU, glue in [`web`]): it reads
//! tensors back only asynchronously.
#![warn(missing_docs)]

pub mod backend;
pub mod closer;
pub mod error;
pub mod feedback;
pub mod geometry;
pub mod imaging;
pub mod localize;
pub mod map;
pub mod model;
pub mod overlay;
pub mod report;
pub mod saliency;
pub mod session;
pub mod tensors;
pub mod visualize;
pub mod web;

pub use backend::{Backend, BackendChoice, BackendInfo};
pub use error::{Error, Result};
pub use model::{EfficientNetLite0, Gates};
pub use session::{ExplainOptions, Explanation, Frame, Prepared, Scores, Session};
