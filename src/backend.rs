//! Which device computes: the CPU (burn-flex, everywhere) or a GPU through wgpu (WebGPU in
//! browsers), chosen at run time, with the reason whenever the GPU was wanted but not had.

use std::sync::Mutex;

use burn_tensor::Device;
use serde::Serialize;

use crate::error::{Error, Result};

/// A compute backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-flex on the CPU: always available.
    Cpu,
    /// wgpu: Vulkan/Metal/DX12 natively, WebGPU in the browser.
    Gpu,
}

impl Backend {
    /// Lower-case name, as shown to users (`cpu`, `gpu`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        }
    }
}

/// What the caller asks for: a GPU if there is one, a GPU or nothing, or the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The GPU when one can be initialised, else the CPU (with the reason reported).
    #[default]
    Auto,
    /// The GPU; no GPU is an error.
    Gpu,
    /// The CPU.
    Cpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" | "flex" => Ok(Self::Cpu),
            "gpu" | "wgpu" | "webgpu" => Ok(Self::Gpu),
            other => Err(Error::BadArgument(format!("unknown backend {other:?} (expected auto, cpu or gpu)"))),
        }
    }
}

/// The backend a session runs on, the GPU adapter's name, and why the GPU is not used when it
/// was wanted but could not be had. Serialises as the page reads it: `{backend, adapter, fallbackReason}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendInfo {
    /// The backend in use.
    pub backend: Backend,
    /// The GPU adapter's name (`None` on the CPU, or when the platform does not say).
    pub adapter: Option<String>,
    /// Why an `auto` choice fell back to the CPU.
    pub fallback_reason: Option<String>,
}

/// The GPU device once initialised: burn allows one initialisation per device and a second one
/// errors, so every later session reuses it.
static GPU: Mutex<Option<KnownGpu>> = Mutex::new(None);

/// The GPU device and its adapter's name.
type KnownGpu = (Device, Option<String>);

fn gpu_slot() -> Result<std::sync::MutexGuard<'static, Option<KnownGpu>>> {
    GPU.lock().map_err(|_| Error::Device("GPU state poisoned".into()))
}

/// Initialises (once) and returns the GPU device and its adapter's name.
async fn gpu_device() -> Result<KnownGpu> {
    if let Some(known) = gpu_slot()?.clone() {
        return Ok(known);
    }
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| Error::Device(format!("no usable GPU adapter: {e}")))?;
    let info = setup.adapter.get_info();
    let name = [info.name.trim(), info.driver.trim()].iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>().join(", ");
    let known = (device, (!name.is_empty()).then_some(name));
    *gpu_slot()? = Some(known.clone());
    Ok(known)
}

/// Initialises a device for `choice`; a missing GPU is an error for `Gpu`, a reported fallback
/// for `Auto`, never a panic.
pub async fn init(choice: BackendChoice) -> Result<(Device, BackendInfo)> {
    let cpu = |fallback_reason| (Device::flex(), BackendInfo { backend: Backend::Cpu, adapter: None, fallback_reason });
    match choice {
        BackendChoice::Cpu => Ok(cpu(None)),
        BackendChoice::Gpu => {
            let (device, adapter) = gpu_device().await?;
            Ok((device, BackendInfo { backend: Backend::Gpu, adapter, fallback_reason: None }))
        }
        BackendChoice::Auto => match gpu_device().await {
            Ok((device, adapter)) => Ok((device, BackendInfo { backend: Backend::Gpu, adapter, fallback_reason: None })),
            Err(e) => Ok(cpu(Some(e.to_string()))),
        },
    }
}

/// Lets the host's event loop run (in a browser, so that an abort message can arrive between
/// two feedback iterations); nothing natively, where runs stop through their callbacks.
pub async fn yield_now() {
    #[cfg(target_family = "wasm")]
    {
        use wasm_bindgen::JsCast;
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let global = js_sys::global();
            let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            match set_timeout {
                Some(f) => {
                    let _ = f.call2(&global, &resolve, &0.into());
                }
                None => {
                    let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
                }
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }
}
