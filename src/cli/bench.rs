//! `thinktwice bench`: forward and forward + backward passes and every method on one image.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use thinktwice::feedback::Flow;
use thinktwice::geometry::{Framing, INPUT_SIZE};
use thinktwice::model::{self, Gates};
use thinktwice::saliency::Method;
use thinktwice::ExplainOptions;
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
}

/// Median milliseconds of `runs` calls of `f` after one warm-up call.
fn time(runs: usize, f: &mut dyn FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Prints the timings.
pub fn run(args: Args) -> Result<ExitCode> {
    let session = args.model.session()?;
    let runs = args.runs;
    // The cat sample when it is there (scripts/samples.sh), else a fixed pattern.
    let sample = Path::new("pkg/samples/chelsea.png");
    let photo = std::fs::read(sample).ok().and_then(|b| session.prepare_encoded(&b, Framing::Whole).ok());
    println!("input: {}", if photo.is_some() { "pkg/samples/chelsea.png" } else { "synthetic pattern" });
    let image = match photo {
        Some(p) => p,
        None => {
            let pattern = image::RgbImage::from_fn(INPUT_SIZE as u32, INPUT_SIZE as u32, |x, y| {
                let v = ((x * 7919 + y * 104_729) % 255) as u8;
                image::Rgb([v, v.wrapping_mul(3), v.wrapping_mul(7)])
            });
            session.prepare(pattern, Framing::Whole)?
        }
    };
    let (net, input) = (session.model(), image.input());
    let forward = time(runs, &mut || {
        pollster::block_on(model::read_back(net.forward(input.clone())))?;
        Ok(())
    })?;
    let backward = time(runs, &mut || {
        let g = net.class_gradients(input.clone(), &Gates::open(), 282)?;
        pollster::block_on(model::read_back(g.input))?;
        Ok(())
    })?;
    let backend = session.backend().backend.name();
    println!("backend {backend}: forward {forward:.1} ms, forward+backward (input and 33 gate gradients) {backward:.1} ms (median of {runs})");
    println!("saliency per image (224×224 input, class 282, median of {runs}):");
    for method in Method::ALL {
        let options = ExplainOptions::new(method);
        let mut trace = Vec::new();
        let ms = time(runs, &mut || {
            let mut e = pollster::block_on(session.explain(&image, &[282], &options, &mut |_| Flow::Continue(())))?;
            trace = e.remove(0).trace;
            Ok(())
        })?;
        let detail = trace.last().map_or(String::new(), |r| {
            format!(", {} trace records, {} backward passes, S {:.2} → {:.2}", trace.len(), r.backward_passes, trace[0].score, r.score)
        });
        println!("  {:<14} {ms:8.1} ms{detail}", method.name());
    }
    Ok(ExitCode::SUCCESS)
}
