//! Argument groups that several commands share: which weights and backend, and the tuning flags.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use thinktwice::closer::CloserOptions;
use thinktwice::localize::BoxOptions;
use thinktwice::model::NUM_GATED;
use thinktwice::saliency::{Method, Readout, SaliencyOptions};
use thinktwice::{BackendChoice, Session};

/// The f32 weight file under `pkg/`, which `thinktwice weights` writes.
pub const F32_FILE: &str = "efficientnet-lite0.f32.safetensors";
/// The f16 weight file under `pkg/` (what the browser downloads).
pub const F16_FILE: &str = "efficientnet-lite0.f16.safetensors";

/// The `--method` help: every name in the method table.
pub fn method_help() -> String {
    format!("Method: {} (`thinktwice methods` says what each does)", Method::names())
}

fn readout_help() -> String {
    format!("Read-out of feedback gates (default: the method's own): {}", Readout::ALL.map(|r| r.name()).join(", "))
}

/// Which weights, on which backend.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Weight file (default: pkg/efficientnet-lite0.f32.safetensors).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Compute backend: cpu, gpu, or auto (the GPU when there is one).
    #[arg(long, default_value = "cpu")]
    pub backend: BackendChoice,
}

impl ModelArgs {
    /// Loads the session these arguments name.
    pub fn session(&self) -> Result<Session> {
        let path = self.weights.clone().unwrap_or_else(default_weights);
        let bytes = std::fs::read(&path).with_context(|| {
            format!("cannot read weights {}\n  make them with `thinktwice weights` (or pass --weights PATH)", path.display())
        })?;
        check_manifest(&path, &bytes)?;
        let session = pollster::block_on(Session::load(&bytes, self.backend)).with_context(|| format!("{}", path.display()))?;
        if let Some(reason) = &session.backend().fallback_reason {
            eprintln!("thinktwice: using the CPU: {reason}");
        }
        Ok(session)
    }
}

/// When a `manifest.json` lies beside the weight file and names it, the file must have the size
/// and SHA-256 written there: a truncated or swapped file is caught before it becomes a model.
fn check_manifest(path: &Path, bytes: &[u8]) -> Result<()> {
    use sha2::{Digest, Sha256};
    let Some(manifest) = path.parent().map(|d| d.join("manifest.json")).and_then(|m| std::fs::read(m).ok()) else {
        return Ok(());
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest).with_context(|| format!("{}: the manifest beside it is not JSON", path.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let Some(entry) = manifest["files"].as_array().and_then(|files| files.iter().find(|f| f["name"] == name.as_str())) else {
        return Ok(());
    };
    let digest = format!("{:x}", Sha256::digest(bytes));
    if entry["bytes"].as_u64() != Some(bytes.len() as u64) || entry["sha256"].as_str() != Some(digest.as_str()) {
        return Err(anyhow!(
            "{} is damaged or not the file its manifest describes ({} bytes, SHA-256 {}…; expected {} bytes, {}…); \
             make it again with `thinktwice weights --force`",
            path.display(),
            bytes.len(),
            &digest[..12],
            entry["bytes"],
            entry["sha256"].as_str().unwrap_or("?").get(..12).unwrap_or("?")
        ));
    }
    Ok(())
}

fn default_weights() -> PathBuf {
    let local = Path::new("pkg").join(F32_FILE);
    if local.exists() { local } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("pkg").join(F32_FILE) }
}

/// Overrides of the tuned defaults (for experiments).
#[derive(clap::Args)]
pub struct TuningArgs {
    /// Box threshold as a fraction of the map maximum.
    #[arg(long)]
    threshold: Option<f32>,
    /// Gaussian smoothing of the map before thresholding, in input pixels.
    #[arg(long)]
    sigma: Option<f32>,
    /// Read-out of feedback gates (default: the method's own).
    #[arg(long, help = readout_help())]
    readout: Option<String>,
    /// Soft feedback L1 weight λ.
    #[arg(long)]
    lambda: Option<f32>,
    /// Soft feedback step η.
    #[arg(long)]
    eta: Option<f32>,
    /// Hard feedback threshold τ.
    #[arg(long)]
    tau: Option<f32>,
    /// FSP/FR selection ratio r.
    #[arg(long)]
    ratio: Option<f32>,
    /// Most feedback iterations (soft) or sweeps (hard).
    #[arg(long)]
    iterations: Option<usize>,
    /// Lowest gated layer feedback may gate (0 = stem … 32 = head).
    #[arg(long)]
    gate_from: Option<usize>,
    /// FSP stage-1 layers at the top.
    #[arg(long)]
    top_layers: Option<usize>,
    /// FSP selects on ∂S/∂y for open neurons, keeping ReLU6-saturated ones selectable.
    #[arg(long)]
    select_saturated: bool,
    /// Gated layers (indices, comma-separated) whose energy the energy read-out sums.
    #[arg(long)]
    energy_layers: Option<String>,
    /// Contrastive read-out: the share α of the other classes' weights it subtracts.
    #[arg(long)]
    contrast: Option<f32>,
    /// Look twice: the price of closing a gate (λ).
    #[arg(long)]
    twice_lambda: Option<f32>,
    /// Look twice: the first step (η).
    #[arg(long)]
    twice_eta: Option<f32>,
    /// Look twice: the lowest gated layer it gates (0 = stem … 32 = head).
    #[arg(long)]
    twice_from: Option<usize>,
    /// Look twice: the first gated layer above the ones it gates (33: up to and with the head).
    #[arg(long)]
    twice_to: Option<usize>,
    /// Box rule: peak (threshold × max, largest component) or mass (the brightest pixels holding
    /// threshold of the mass).
    #[arg(long)]
    box_rule: Option<String>,
    /// Closer looks after the first, for every method (0: one look).
    #[arg(long)]
    looks: Option<usize>,
    /// Closer looks: margin around the box, as a fraction of its side.
    #[arg(long)]
    margin: Option<f32>,
    /// Closer looks: weight of a look's map against the map before it (1: replace).
    #[arg(long)]
    zoom_weight: Option<f32>,
    /// Closer looks: smallest crop, as a fraction of the photo's side.
    #[arg(long)]
    min_side: Option<f32>,
    /// Side of the first look's input in pixels (224; 320 or 448 give a finer head grid).
    #[arg(long)]
    first_side: Option<usize>,
    /// Average every look with its mirror image.
    #[arg(long)]
    flip: bool,
}

impl TuningArgs {
    /// `method`'s tuned box settings with the threshold and σ given here.
    pub fn boxes(&self, method: Method) -> Result<BoxOptions> {
        let tuned = method.info().boxes;
        let rule = match &self.box_rule {
            Some(r) => r.parse()?,
            None => tuned.rule,
        };
        Ok(BoxOptions { threshold: self.threshold.unwrap_or(tuned.threshold), sigma: self.sigma.unwrap_or(tuned.sigma), rule })
    }

    /// `method`'s looks with the ones given here.
    pub fn closer(&self, method: Method) -> CloserOptions {
        let tuned = method.info().looks;
        CloserOptions {
            looks: self.looks.unwrap_or(tuned.looks),
            margin: self.margin.unwrap_or(tuned.margin),
            weight: self.zoom_weight.unwrap_or(tuned.weight),
            min_side: self.min_side.unwrap_or(tuned.min_side),
            first_side: self.first_side.unwrap_or(tuned.first_side),
            flip: tuned.flip || self.flip,
            ..tuned
        }
    }

    /// The default saliency and feedback settings with the ones given here.
    pub fn saliency(&self) -> Result<SaliencyOptions> {
        let mut saliency = SaliencyOptions::default();
        let f = &mut saliency.feedback;
        f.lambda = self.lambda.unwrap_or(f.lambda);
        f.eta = self.eta.unwrap_or(f.eta);
        f.tau = self.tau.unwrap_or(f.tau);
        f.ratio = self.ratio.unwrap_or(f.ratio);
        f.max_iterations = self.iterations.unwrap_or(f.max_iterations);
        f.twice_iterations = self.iterations.unwrap_or(f.twice_iterations);
        f.twice_lambda = self.twice_lambda.unwrap_or(f.twice_lambda);
        f.twice_eta = self.twice_eta.unwrap_or(f.twice_eta);
        if self.twice_from.is_some() || self.twice_to.is_some() {
            let to = self.twice_to.unwrap_or(f.twice_layers.end).clamp(1, NUM_GATED);
            let from = self.twice_from.unwrap_or(f.twice_layers.start).min(to - 1);
            f.twice_layers = from..to;
        }
        f.top_layers = self.top_layers.unwrap_or(f.top_layers);
        f.select_saturated |= self.select_saturated;
        if let Some(from) = self.gate_from {
            f.gated_layers = from.min(NUM_GATED - 1)..NUM_GATED;
        }
        if let Some(r) = &self.readout {
            saliency.readout = Some(r.parse()?);
        }
        saliency.contrast = self.contrast.unwrap_or(saliency.contrast);
        if let Some(layers) = &self.energy_layers {
            saliency.energy_layers = layers
                .split(',')
                .map(|l| l.trim().parse::<usize>().ok().filter(|&l| l < NUM_GATED).ok_or_else(|| anyhow!("bad energy layer {l:?}")))
                .collect::<Result<_>>()?;
        }
        Ok(saliency)
    }
}
