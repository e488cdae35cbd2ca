//! The peers: the same network and weights in JAX/XLA and ONNX Runtime, run by the scripts under
//! `bench/` in their own virtual environment. They get our input and our logits, check that they
//! compute the same logits (within 1e-3) before they time anything, and answer with one JSON object.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// What the peers must reproduce before they are timed.
pub struct Reference {
    /// The input, `[1, 3, 224, 224]`.
    pub input: Vec<f32>,
    /// Our logits for it.
    pub logits: Vec<f32>,
    /// Our ∂S_class/∂input.
    pub gradient: Vec<f32>,
    /// The class the gradient is of.
    pub class: usize,
}

/// Runs `bench/run-peers.sh` on the reference's input; they check our logits and gradient first.
pub fn run(weights: &Path, reference: &Reference, runs: usize) -> Result<serde_json::Value> {
    let script = Path::new("bench/run-peers.sh");
    if !script.exists() {
        bail!("{} not found: run bench --peers from the project folder", script.display());
    }
    let dir = std::env::temp_dir().join(format!("thinktwice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, values: &[f32]| -> Result<std::path::PathBuf> {
        let path = dir.join(name);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    };
    let input_file = write("input.f32", &reference.input)?;
    let logits_file = write("logits.f32", &reference.logits)?;
    let gradient_file = write("gradient.f32", &reference.gradient)?;
    println!("peers: bench/run-peers.sh (first run makes its venv from PyPI, a few minutes)…");
    let output = Command::new("bash")
        .arg(script)
        .arg("--weights")
        .arg(weights)
        .arg("--input")
        .arg(&input_file)
        .arg("--logits")
        .arg(&logits_file)
        .arg("--grad")
        .arg(&gradient_file)
        .args(["--class", &reference.class.to_string(), "--runs", &runs.max(10).to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run bash bench/run-peers.sh")?;
    let _ = std::fs::remove_dir_all(&dir);
    if !output.status.success() {
        bail!("the peers failed ({}); their messages are above", output.status);
    }
    serde_json::from_slice(&output.stdout).context("the peers did not answer with JSON")
}
