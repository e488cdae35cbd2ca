//! Which device computes: the CPU (burn-flex, everywhere) or a GPU through wgpu (WebGPU in browsers).

use burn::tensor::Device;

use crate::error::{Error, Result};

/// A compute backend, chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl std::str::FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" => Ok(Self::Cpu),
            "gpu" | "wgpu" | "webgpu" => Ok(Self::Gpu),
            other => Err(Error::Device(format!("unknown backend {other:?} (expected cpu or gpu)"))),
        }
    }
}

/// Initialises a device for `backend`; a missing GPU is an error, never a panic.
pub async fn init_device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::Gpu => Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| Error::Device(format!("no usable GPU adapter: {e}"))),
    }
}
