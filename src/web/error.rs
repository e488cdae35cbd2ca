//! Errors as the page sees them: a stable `code` and a message a person can read.

use serde::Serialize;

use crate::error::Error;

/// An error crossing the boundary: `code` is one of `bad-image`, `bad-weights`, `unknown-class`,
/// `unknown-method`, `bad-input`, `device`, `cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebError {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, worded for a person.
    pub message: String,
}

impl WebError {
    /// An error with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        Self { code: e.code(), message: e.to_string() }
    }
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// A JavaScript `Error` whose `message` is the message and whose `code` property is the code.
#[cfg(target_family = "wasm")]
impl From<WebError> for wasm_bindgen::JsValue {
    fn from(e: WebError) -> Self {
        let error = js_sys::Error::new(&e.message);
        let _ = js_sys::Reflect::set(&error, &"code".into(), &e.code.into());
        error.into()
    }
}
