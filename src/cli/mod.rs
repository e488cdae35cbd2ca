//! The commands: a module each, the argument groups they share in [`args`], the files they
//! write in [`output`].

pub mod args;
pub mod bench;
pub mod classify;
pub mod eval;
pub mod localize;
pub mod methods;
pub mod output;
pub mod visualize;
pub mod weights;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "thinktwice", version, about = "Where does an ImageNet classifier look? Feedback inference (Look and Think Twice).")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the pretrained checkpoint (pip) and write the project's weight files.
    Weights(weights::Args),
    /// Print the top classes of each image.
    Classify(classify::Args),
    /// Saliency maps and boxes for chosen classes: an overlay PNG per class and one JSON per image.
    Localize(localize::Args),
    /// Every saliency method: what it does and how it boxes.
    Methods(methods::Args),
    /// Every method on a folder of photos with ground-truth boxes (DIR/boxes.csv): metrics table, JSON, CSV.
    Eval(eval::Args),
    /// Time forward and forward+backward passes and every method on one 224×224 image.
    Bench(bench::Args),
    /// Grow the image the network finds most like a class (class model visualisation) as a PNG.
    Visualize(visualize::Args),
}

/// Runs the parsed command; `Ok` carries the exit code (non-zero when some inputs failed).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Weights(a) => weights::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Localize(a) => localize::run(a),
        Command::Methods(a) => methods::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Visualize(a) => visualize::run(a),
    }
}
