//! `thinktwice bench`: forward, forward + backward, one iteration and a whole run of every method,
//! per backend, with peers (JAX/XLA, ONNX Runtime) timed in the same run and this machine's
//! limits beside them. It prints numbers; it never passes or fails on speed.

mod peak;
mod peers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use thinktwice::feedback::Flow;
use thinktwice::geometry::{Framing, INPUT_SIZE};
use thinktwice::model::{Gates, cost};
use thinktwice::tensors;
use thinktwice::saliency::Method;
use thinktwice::{BackendChoice, ExplainOptions, Prepared, Session};
use web_time::Instant;

use super::args::ModelArgs;

/// Arguments of `bench`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Timed runs per measurement (after one warm-up).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Backends to measure, comma-separated (default: cpu, and gpu when a hardware adapter exists).
    #[arg(long)]
    backends: Option<String>,
    /// Also time the peers under bench/ (JAX/XLA and ONNX Runtime on the CPU, in their own venv).
    #[arg(long)]
    peers: bool,
    /// Only the passes, not every method (quicker).
    #[arg(long)]
    passes_only: bool,
    /// Write every figure (seconds) and the ratios to the peers here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Median and spread of repeated timings, in seconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    /// Median.
    pub median: f64,
    /// Fastest run.
    pub min: f64,
    /// Slowest run.
    pub max: f64,
    /// Timed runs.
    pub runs: usize,
}

impl Timing {
    fn ms(&self) -> String {
        format!("{:8.1} ms (min {:.1}, max {:.1})", self.median * 1e3, self.min * 1e3, self.max * 1e3)
    }
}

/// Times `runs` calls of `f` after one warm-up call.
fn time(runs: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<Timing> {
    f()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(Timing { median: t[t.len() / 2], min: t[0], max: t[t.len() - 1], runs: t.len() })
}

/// One method's figures.
#[derive(Debug, Clone, Serialize)]
struct MethodFigures {
    /// A whole default run (gates inferred and read out).
    run_s: Timing,
    /// Iterations in the run (records after the first).
    iterations: usize,
    /// One iteration: from the first record to the last, per iteration (absent for baselines).
    iteration_s: Option<f64>,
    /// Backward passes the run used.
    backward_passes: usize,
}

/// One backend's figures.
#[derive(Debug, Clone, Serialize)]
struct BackendFigures {
    adapter: Option<String>,
    forward_s: Timing,
    forward_backward_s: Timing,
    forward_gflops: f64,
    forward_backward_gflops: f64,
    forward_gbs: f64,
    forward_backward_gbs: f64,
    methods: BTreeMap<&'static str, MethodFigures>,
    peak_resident_bytes: Option<u64>,
}

/// Everything `--json` writes.
#[derive(Debug, Serialize)]
struct Report {
    input: String,
    threads: usize,
    cost: CostFigures,
    peak: peak::Peak,
    backends: BTreeMap<&'static str, BackendFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peers: Option<serde_json::Value>,
    /// Our CPU passes timed again right after the peers; the ratios use the mean of the medians
    /// before and after (a machine whose speed changes mid-run would otherwise skew them).
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_after_peers: Option<AfterPeers>,
    /// Ours divided by JAX's forward + backward, same run (CPU; JAX tuned: depthwise as taps).
    #[serde(skip_serializing_if = "Option::is_none")]
    fwd_bwd_vs_jax: Option<f64>,
    /// Ours divided by JAX's forward, same run (CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    fwd_vs_jax: Option<f64>,
    /// Ours divided by plain JAX's forward + backward (grouped convolutions, jax.grad), same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    fwd_bwd_vs_jax_plain: Option<f64>,
    /// Ours divided by plain JAX's forward, same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    fwd_vs_jax_plain: Option<f64>,
    /// Ours divided by ONNX Runtime's forward, same run (CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    fwd_vs_onnxruntime: Option<f64>,
}

#[derive(Debug, Serialize)]
struct AfterPeers {
    forward_s: Timing,
    forward_backward_s: Timing,
}

#[derive(Debug, Serialize)]
struct CostFigures {
    forward_flops: f64,
    forward_backward_flops: f64,
    forward_bytes: f64,
    forward_backward_bytes: f64,
    parameters: usize,
}

/// Measures and prints; writes JSON when asked.
pub fn run(args: Args) -> Result<ExitCode> {
    let cost = cost::pass_cost(INPUT_SIZE, INPUT_SIZE);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "EfficientNet-Lite0 at 224×224: {:.2} M parameters; forward {:.3} GFLOP, forward + backward {:.3} GFLOP; \
         least bytes moved {:.1} MB and {:.1} MB",
        cost.parameters as f64 / 1e6,
        cost.forward_flops / 1e9,
        cost.forward_backward_flops / 1e9,
        cost.forward_bytes / 1e6,
        cost.forward_backward_bytes / 1e6,
    );

    let explicit = args.backends.is_some();
    let wanted = args.backends.clone().unwrap_or_else(|| "cpu,gpu".into());
    let mut backends = BTreeMap::new();
    let mut input_name = String::new();
    let mut cpu_reference: Option<peers::Reference> = None;
    // The CPU session and its input, kept to time our passes again after the peers.
    let mut cpu_kept: Option<(Session, Prepared)> = None;
    for name in wanted.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let choice: BackendChoice = name.parse()?;
        let key: &'static str = match choice {
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
            BackendChoice::Auto => anyhow::bail!("--backends takes cpu and gpu, not auto"),
        };
        let session = match (ModelArgs { weights: args.model.weights.clone(), backend: choice }).session() {
            Ok(s) => s,
            Err(e) if !explicit => {
                println!("{key}: not measured ({})", format!("{e:#}").replace('\n', " "));
                continue;
            }
            Err(e) => return Err(e),
        };
        let adapter = session.backend().adapter.clone();
        if key == "gpu" && !explicit && adapter.as_deref().is_some_and(is_software_adapter) {
            println!("gpu: not measured (only a software adapter, {}; ask with --backends gpu)", adapter.unwrap_or_default());
            continue;
        }
        let (image, name) = sample(&session)?;
        input_name = name;
        let figures = measure_backend(&session, &image, &args, &cost)?;
        if key == "cpu" && args.peers {
            let net = session.model();
            let input = pollster::block_on(tensors::read_back(image.input().clone()))?;
            let logits = pollster::block_on(tensors::read_back(net.forward(image.input().clone())))?;
            let gradient = pollster::block_on(tensors::read_back(net.class_gradients(image.input().clone(), &Gates::open(), 282)?.input))?;
            cpu_reference = Some(peers::Reference { input, logits, gradient, class: 282 });
            cpu_kept = Some((session, image));
        }
        backends.insert(key, figures);
    }

    // The probes last: their buffers would otherwise be the process's peak memory.
    let peak = peak::measure();
    println!(
        "this machine ({threads} threads, {}): {:.1} GFLOP/s on one thread, {:.1} on all; copy {:.1} GB/s on one, {:.1} on all",
        peak.instructions, peak.gflops_one_thread, peak.gflops_all_threads, peak.copy_gbs_one_thread, peak.copy_gbs_all_threads
    );
    if let Some(cpu) = backends.get("cpu") {
        let share = |a: f64, b: f64| 100.0 * a / b.max(1e-9);
        println!(
            "cpu against these limits: forward {:.0}% of the all-thread multiply-add peak, {:.1}% of the copy rate; \
             forward + backward {:.0}% and {:.1}%",
            share(cpu.forward_gflops, peak.gflops_all_threads),
            share(cpu.forward_gbs, peak.copy_gbs_all_threads),
            share(cpu.forward_backward_gflops, peak.gflops_all_threads),
            share(cpu.forward_backward_gbs, peak.copy_gbs_all_threads),
        );
    }
    let mut report = Report {
        input: input_name,
        threads,
        cost: CostFigures {
            forward_flops: cost.forward_flops,
            forward_backward_flops: cost.forward_backward_flops,
            forward_bytes: cost.forward_bytes,
            forward_backward_bytes: cost.forward_backward_bytes,
            parameters: cost.parameters,
        },
        peak,
        backends,
        peers: None,
        cpu_after_peers: None,
        fwd_bwd_vs_jax: None,
        fwd_vs_jax: None,
        fwd_vs_onnxruntime: None,
        fwd_bwd_vs_jax_plain: None,
        fwd_vs_jax_plain: None,
    };
    if args.peers {
        let reference = cpu_reference.context("--peers compares with the CPU backend: include cpu in --backends")?;
        let weights = args.model.weights.clone().unwrap_or_else(|| PathBuf::from("pkg/efficientnet-lite0.f32.safetensors"));
        let peers = peers::run(&weights, &reference, args.runs)?;
        // Ours again, right after the peers: on a shared machine the speed can change for minutes
        // at a time, and a ratio of two timings taken in different states means nothing.
        let (session, image) = cpu_kept.as_ref().context("the CPU session is kept for the peers")?;
        let (forward_after, forward_backward_after) = time_passes(session, image, args.runs)?;
        let ours = &report.backends["cpu"];
        let (forward, forward_backward) = (
            (ours.forward_s.median + forward_after.median) / 2.0,
            (ours.forward_backward_s.median + forward_backward_after.median) / 2.0,
        );
        println!(
            "cpu again after the peers: forward {}, forward + backward {}",
            forward_after.ms().trim_start(),
            forward_backward_after.ms().trim_start()
        );
        let drift = (forward_after.median / ours.forward_s.median).max(ours.forward_s.median / forward_after.median);
        if drift > 1.15 {
            println!(
                "  note: our forward pass took {:.1} ms before the peers and {:.1} ms after (this machine's speed, or the \
                 state of its caches, changed): read each ratio below with its range",
                ours.forward_s.median * 1e3,
                forward_after.median * 1e3
            );
        }
        let theirs = |peer: &str, pass: &str| peers.get(peer)?.get(pass)?.get("median")?.as_f64();
        let ratio = |peer: &str, pass: &str, mine: f64| theirs(peer, pass).map(|t| mine / t);
        report.fwd_bwd_vs_jax = ratio("jax", "fwd_bwd_s", forward_backward);
        report.fwd_vs_jax = ratio("jax", "forward_s", forward);
        report.fwd_vs_onnxruntime = ratio("onnxruntime", "forward_s", forward);
        report.fwd_bwd_vs_jax_plain = ratio("jax-plain", "fwd_bwd_s", forward_backward);
        report.fwd_vs_jax_plain = ratio("jax-plain", "forward_s", forward);
        report.cpu_after_peers = Some(AfterPeers { forward_s: forward_after, forward_backward_s: forward_backward_after });
        println!(
            "peers on the CPU, same run (ours: the mean of our medians before and after them; ours ÷ theirs, and from before \
             to after; below 1 means we are faster):"
        );
        let passes = [
            ("forward_s", "forward", forward, [ours.forward_s.median, forward_after.median]),
            ("fwd_bwd_s", "forward + backward", forward_backward, [ours.forward_backward_s.median, forward_backward_after.median]),
        ];
        for (peer, label) in [("jax", "JAX/XLA, tuned"), ("jax-plain", "JAX/XLA, plain"), ("onnxruntime", "ONNX Runtime")] {
            for (pass, name, mine, [before, after]) in passes {
                if let Some(t) = theirs(peer, pass) {
                    let (low, high) = (before.min(after) / t, before.max(after) / t);
                    println!("  {label:<16} {name:<19} {:8.1} ms   ours {:8.1} ms   ours ÷ theirs {:.2} ({low:.2}–{high:.2})", t * 1e3, mine * 1e3, mine / t);
                }
            }
        }
        report.peers = Some(peers);
    }
    if let Some(path) = &args.json {
        super::output::ensure_writable(path.parent().unwrap_or(Path::new(".")))?;
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether an adapter name is a CPU pretending to be a GPU (timings would mean nothing).
fn is_software_adapter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["llvmpipe", "lavapipe", "swiftshader", "software"].iter().any(|s| name.contains(s))
}

/// The cat sample when it is there (scripts/samples.sh), else a fixed pattern.
fn sample(session: &Session) -> Result<(Prepared, String)> {
    let path = Path::new("pkg/samples/chelsea.png");
    if let Some(p) = std::fs::read(path).ok().and_then(|b| session.prepare_encoded(&b, Framing::Whole).ok()) {
        return Ok((p, path.display().to_string()));
    }
    let pattern = image::RgbImage::from_fn(INPUT_SIZE as u32, INPUT_SIZE as u32, |x, y| {
        let v = ((x * 7919 + y * 104_729) % 255) as u8;
        image::Rgb([v, v.wrapping_mul(3), v.wrapping_mul(7)])
    });
    Ok((session.prepare(pattern, Framing::Whole)?, "synthetic pattern".into()))
}

/// The forward pass and forward + backward (input and gate gradients of class 282), `runs` each.
fn time_passes(session: &Session, image: &Prepared, runs: usize) -> Result<(Timing, Timing)> {
    let (net, input) = (session.model(), image.input());
    let forward_s = time(runs, &mut || {
        pollster::block_on(tensors::read_back(net.forward(input.clone())))?;
        Ok(())
    })?;
    let forward_backward_s = time(runs, &mut || {
        let g = net.class_gradients(input.clone(), &Gates::open(), 282)?;
        pollster::block_on(tensors::read_back(g.input))?;
        Ok(())
    })?;
    Ok((forward_s, forward_backward_s))
}

fn measure_backend(session: &Session, image: &Prepared, args: &Args, cost: &cost::PassCost) -> Result<BackendFigures> {
    let runs = args.runs;
    let backend = session.backend().backend.name();
    let adapter = session.backend().adapter.clone();
    println!("{backend}{}:", adapter.as_ref().map_or(String::new(), |a| format!(" ({a})")));
    let (forward_s, forward_backward_s) = time_passes(session, image, runs)?;
    let rate = |amount: f64, t: &Timing| amount / t.median / 1e9;
    println!(
        "  forward            {}  {:6.1} GFLOP/s {:6.1} GB/s",
        forward_s.ms(),
        rate(cost.forward_flops, &forward_s),
        rate(cost.forward_bytes, &forward_s)
    );
    println!(
        "  forward + backward {}  {:6.1} GFLOP/s {:6.1} GB/s   (input and 33 gate gradients)",
        forward_backward_s.ms(),
        rate(cost.forward_backward_flops, &forward_backward_s),
        rate(cost.forward_backward_bytes, &forward_backward_s)
    );
    let mut methods = BTreeMap::new();
    if !args.passes_only {
        println!("  every method, class 282, whole default run (median of {runs}):");
        for method in Method::ALL {
            let options = ExplainOptions::new(method);
            let mut trace = Vec::new();
            let run_s = time(runs, &mut || {
                let mut e = pollster::block_on(session.explain(image, &[282], &options, &mut |_| Flow::Continue(())))?;
                trace = e.remove(0).trace;
                Ok(())
            })?;
            // One iteration: the time between the first record and the last, per iteration (the
            // set-up pass before the first record and the read-out after the last are not
            // iterations); a one-pass method's single iteration is its whole run.
            let iterations = trace.len().saturating_sub(1);
            let iteration_s = match (trace.first(), trace.last()) {
                (Some(a), Some(b)) if iterations > 1 => Some((b.elapsed_ms - a.elapsed_ms) / 1e3 / iterations as f64),
                _ if iterations == 1 => Some(run_s.median),
                _ => None,
            };
            let detail = trace.last().map_or(String::new(), |r| {
                format!(
                    "  {iterations} iterations ({:.1} ms each, {:.2}× a forward + backward), {} backward passes, p {:.3} → {:.3}",
                    iteration_s.unwrap_or(0.0) * 1e3,
                    iteration_s.unwrap_or(0.0) / forward_backward_s.median,
                    r.backward_passes,
                    trace[0].probability,
                    r.probability
                )
            });
            println!("    {:<15} {:8.1} ms{detail}", method.name(), run_s.median * 1e3);
            let backward_passes = trace.last().map_or(0, |r| r.backward_passes);
            methods.insert(method.name(), MethodFigures { run_s, iterations, iteration_s, backward_passes });
        }
    }
    let peak_resident_bytes = peak_resident_bytes();
    if let Some(b) = peak_resident_bytes {
        println!("  peak resident memory of the process so far: {:.1} MB", b as f64 / 1e6);
    }
    Ok(BackendFigures {
        adapter,
        forward_gflops: rate(cost.forward_flops, &forward_s),
        forward_backward_gflops: rate(cost.forward_backward_flops, &forward_backward_s),
        forward_gbs: rate(cost.forward_bytes, &forward_s),
        forward_backward_gbs: rate(cost.forward_backward_bytes, &forward_backward_s),
        forward_s,
        forward_backward_s,
        methods,
        peak_resident_bytes,
    })
}

/// The process's peak resident set (Linux: VmHWM), or `None` where the system does not say.
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
