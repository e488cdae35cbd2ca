//! `thinktwice` command line: parses the arguments and hands them to the command's module.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("thinktwice: {e:#}");
            ExitCode::FAILURE
        }
    }
}
