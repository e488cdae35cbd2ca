//! `thinktwice-bindgen INPUT.wasm OUT_DIR NAME`: what `wasm-bindgen --target web
//! --remove-name-section --out-dir OUT_DIR --out-name NAME INPUT.wasm` writes (the same library,
//! with the CLI's defaults).

use std::process::ExitCode;

use wasm_bindgen_cli_support::Bindgen;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [input, out_dir, name] => match generate(input, out_dir, name) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("thinktwice-bindgen: {e:#}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: thinktwice-bindgen INPUT.wasm OUT_DIR NAME");
            ExitCode::from(2)
        }
    }
}

#[allow(deprecated)] // reference_types: set as the CLI sets it (off unless the module says so)
fn generate(input: &str, out_dir: &str, name: &str) -> anyhow::Result<()> {
    Bindgen::new()
        .web(true)?
        .input_path(input)
        .out_name(name)
        .remove_name_section(true)
        .typescript(true)
        // The CLI's default: the glue knows where its .wasm lies (`new URL(…, import.meta.url)`).
        .omit_default_module_path(false)
        .reference_types(false)
        .generate(out_dir)
}
