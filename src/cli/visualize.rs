//! `thinktwice visualize`: the image the network finds most like a class (class model
//! visualisation), grown by gradient ascent, with its steps printed as they happen.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use thinktwice::feedback::Flow;
use thinktwice::model::labels;
use thinktwice::visualize::VisualizeOptions;

use super::args::ModelArgs;
use super::output;

/// Arguments of `visualize`.
#[derive(clap::Args)]
pub struct Args {
    /// The class: an index (0–999) or a name ("tabby", "espresso").
    #[arg(long)]
    class: String,
    /// Where to write the PNG (default: visualize.CLASS.png).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write every carried frame here as STEP.png (for an animation).
    #[arg(long)]
    frames: Option<PathBuf>,
    /// Gradient steps.
    #[arg(long)]
    iterations: Option<usize>,
    /// Mean change of a pixel per step, in input units (1 ≈ 128 grey levels).
    #[arg(long)]
    step: Option<f32>,
    /// L2 decay towards grey per step.
    #[arg(long)]
    l2: Option<f32>,
    /// Gaussian blur σ in pixels, applied every --blur-every steps.
    #[arg(long)]
    blur_sigma: Option<f32>,
    /// Blur every this many steps (0: never).
    #[arg(long)]
    blur_every: Option<usize>,
    /// Seed of the jitter and the starting noise.
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    model: ModelArgs,
}

/// Grows the image and writes it as a PNG.
pub fn run(args: Args) -> Result<ExitCode> {
    let class = labels::parse_class(&args.class)?;
    let defaults = VisualizeOptions::default();
    let options = VisualizeOptions {
        iterations: args.iterations.unwrap_or(defaults.iterations),
        step: args.step.unwrap_or(defaults.step),
        l2: args.l2.unwrap_or(defaults.l2),
        seed: args.seed.unwrap_or(defaults.seed),
        blur_sigma: args.blur_sigma.unwrap_or(defaults.blur_sigma),
        blur_every: args.blur_every.unwrap_or(defaults.blur_every),
        ..defaults
    };
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("visualize.{class}.png")));
    output::ensure_writable(out.parent().unwrap_or(std::path::Path::new(".")))?;
    if let Some(dir) = &args.frames {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        output::ensure_writable(dir)?;
    }
    let session = args.model.session()?;
    println!("growing the image of {} ({class}), {} steps", labels::class_name(class), options.iterations);
    let mut frame_error = None;
    let result = pollster::block_on(session.visualize(class, &options, &mut |step| {
        if step.iteration % 10 == 0 || step.iteration == options.iterations {
            println!("  step {:>4}  S {:7.2}  p {:.3}  {:6.0} ms", step.iteration, step.score, step.probability, step.elapsed_ms);
        }
        if let (Some(dir), Some(picture)) = (&args.frames, &step.picture)
            && let Err(e) = picture.save(dir.join(format!("{:04}.png", step.iteration)))
        {
            frame_error = Some(e);
            return Flow::Break(());
        }
        Flow::Continue(())
    }));
    if let Some(e) = frame_error {
        return Err(e).context("cannot write a frame");
    }
    let result = result?;
    result.picture.save(&out).with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}: {} with probability {:.3} (S {:.2})", out.display(), labels::class_name(class), result.probability, result.score);
    Ok(ExitCode::SUCCESS)
}
