//! `thinktwice classify`: the top classes of each image.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use thinktwice::Session;
use thinktwice::geometry::Framing;
use thinktwice::session::Prediction;

use super::args::ModelArgs;

/// Arguments of `classify`.
#[derive(clap::Args)]
pub struct Args {
    /// Image files (JPEG, PNG, WebP, GIF, BMP, TIFF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// How many classes to print per image.
    #[arg(long, default_value_t = 5)]
    top: usize,
}

/// Prints the top classes of every image; a bad one gets a line on stderr and a non-zero exit.
pub fn run(args: Args) -> Result<ExitCode> {
    let session = args.model.session()?;
    let mut failed = 0;
    for path in &args.images {
        match classify(&session, path, args.top) {
            Ok(top) => {
                println!("{}", path.display());
                for p in top {
                    println!("  {:>4}  {:<32} {:6.2}%", p.index, p.name, 100.0 * p.probability);
                }
            }
            Err(e) => {
                // One line per file, whatever the decoder's message holds.
                eprintln!("{}: {}", path.display(), format!("{e:#}").replace(['\n', '\r'], " "));
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn classify(session: &Session, path: &std::path::Path, top: usize) -> Result<Vec<Prediction>> {
    let bytes = std::fs::read(path)?;
    let image = session.prepare_encoded(&bytes, Framing::CenterCrop)?;
    Ok(pollster::block_on(session.classify(&image))?.top(top))
}
