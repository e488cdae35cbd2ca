//! The library's error type: every fallible public function returns [`Error`].

/// Anything that can go wrong in thinktwice, worded for the person who will read it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image could not be decoded or is unusable.
    #[error("cannot read image: {0}")]
    Image(String),
    /// An image is larger than the decoder is allowed to allocate.
    #[error("image too large: {width}×{height} pixels (limit {limit} pixels)")]
    ImageTooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Largest pixel count accepted.
        limit: u64,
    },
    /// A weight file or PyTorch checkpoint is malformed or does not fit the architecture.
    #[error("bad weights: {0}")]
    Weights(String),
    /// A class index or name that is not one of the 1000 ImageNet classes.
    #[error("unknown class {query:?}{}", suggest(.suggestions))]
    UnknownClass {
        /// What was asked for.
        query: String,
        /// Closest class names, best first.
        suggestions: Vec<String>,
    },
    /// A saliency method or read-out name that does not exist.
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// A tensor has the wrong shape for what it is passed to.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The compute device failed (initialisation, execution or readback).
    #[error("device error: {0}")]
    Device(String),
    /// An argument outside what the call accepts (a backend name, a framing).
    #[error("{0}")]
    BadArgument(String),
    /// The caller asked a run to stop (its frame callback said so) before it finished.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// A stable, machine-readable code for the kind of error (`bad-image`, `bad-weights`,
    /// `unknown-class`, `unknown-method`, `bad-input`, `device`, `cancelled`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Image(_) | Error::ImageTooLarge { .. } => "bad-image",
            Error::Weights(_) => "bad-weights",
            Error::UnknownClass { .. } => "unknown-class",
            Error::UnknownMethod(_) => "unknown-method",
            Error::Shape(_) | Error::BadArgument(_) => "bad-input",
            Error::Device(_) => "device",
            Error::Cancelled => "cancelled",
        }
    }
}

/// Every code [`Error::code`] gives, and the worker's own (the engine stopped, the GPU was lost,
/// nothing loaded yet), by the names the JavaScript uses for them.
pub const CODES: [(&str, &str); 10] = [
    ("badImage", "bad-image"),
    ("badWeights", "bad-weights"),
    ("unknownClass", "unknown-class"),
    ("unknownMethod", "unknown-method"),
    ("badInput", "bad-input"),
    ("device", "device"),
    ("cancelled", "cancelled"),
    ("gpuLost", "gpu-lost"),
    ("crashed", "crashed"),
    ("notLoaded", "not-loaded"),
];

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", names.join(", "))
    }
}

/// Shorthand for results carrying [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
