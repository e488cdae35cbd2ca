//! `thinktwice` command line: parses the arguments and hands them to the command's module.

#[cfg(not(target_family = "wasm"))]
mod cli;

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("thinktwice: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The command line reads files and runs threads: native only. On wasm32 the library is the
/// product (the browser's engine); this stub only lets `cargo test --target wasm32-…` build.
#[cfg(target_family = "wasm")]
fn main() {}
