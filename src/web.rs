//! wasm-bindgen glue: converts types and forwards to the library, nothing else.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend::{Backend, init_device};
use crate::imaging::{self, Framing};
use crate::model::{self, EfficientNetLite0, INPUT_SIZE, Weights, labels};

/// Installs the panic hook so that a Rust panic shows in the console with its message.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// One predicted class.
#[derive(Serialize)]
struct Prediction {
    index: usize,
    name: &'static str,
    probability: f32,
}

/// The model on its device, ready to classify.
#[wasm_bindgen]
pub struct Classifier {
    net: EfficientNetLite0,
    device: burn::tensor::Device,
    backend: Backend,
}

#[wasm_bindgen]
impl Classifier {
    /// Builds the model from weight-file bytes, on WebGPU when asked and available, else on the CPU.
    pub async fn create(weights: Vec<u8>, prefer_gpu: bool) -> Result<Classifier, JsError> {
        let weights = Weights::from_bytes(&weights)?;
        let (device, backend) = match prefer_gpu {
            true => match init_device(Backend::Gpu).await {
                Ok(d) => (d, Backend::Gpu),
                Err(_) => (init_device(Backend::Cpu).await?, Backend::Cpu),
            },
            false => (init_device(Backend::Cpu).await?, Backend::Cpu),
        };
        let net = EfficientNetLite0::new(&weights, &device)?;
        Ok(Classifier { net, device, backend })
    }

    /// The backend actually in use: "gpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().into()
    }

    /// Top-`top` classes of an encoded image, as `[{index, name, probability}]`.
    #[wasm_bindgen(js_name = classifyImage)]
    pub async fn classify_image(&self, image: Vec<u8>, top: usize) -> Result<JsValue, JsError> {
        let x = imaging::preprocess(&image, Framing::CenterCrop)?;
        let probs = self.net.probabilities(model::input_tensor(x, INPUT_SIZE, INPUT_SIZE, &self.device)?).await?;
        let predictions: Vec<Prediction> = model::top_k(&probs, top)
            .into_iter()
            .map(|(index, probability)| Prediction { index, name: labels::class_name(index), probability })
            .collect();
        Ok(serde_wasm_bindgen::to_value(&predictions)?)
    }
}
