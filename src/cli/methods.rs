//! `thinktwice methods`: the method table, as text or as the README's markdown list.

use std::process::ExitCode;

use anyhow::Result;
use thinktwice::localize::BoxRule;
use thinktwice::saliency::{METHODS, Method, MethodInfo};

/// Arguments of `methods`.
#[derive(clap::Args)]
pub struct Args {
    /// Print the markdown table that README.md holds.
    #[arg(long)]
    markdown: bool,
}

/// Prints every method: name, label, what it does and how it boxes.
pub fn run(args: Args) -> Result<ExitCode> {
    print!("{}", if args.markdown { markdown() } else { text() });
    Ok(ExitCode::SUCCESS)
}

/// How a row boxes, e.g. "35% of the peak" or "80% of the mass".
fn boxes(m: &MethodInfo) -> String {
    let of = match m.boxes.rule {
        BoxRule::Peak => "peak",
        BoxRule::Mass => "mass",
    };
    let looks = if m.looks.looks > 0 { format!("; up to {} closer looks", m.looks.looks) } else { String::new() };
    format!("{:.0}% of the {of}{looks}", 100.0 * m.boxes.threshold)
}

/// The README's table (between its `methods` markers).
pub fn markdown() -> String {
    let mut out = String::from("| method | what it does | box |\n|---|---|---|\n");
    for m in &METHODS {
        let default = if m.method == Method::FEEDBACK { " (also `feedback`, the default)" } else { "" };
        out += &format!("| `{}`{default} | {} | {} |\n", m.name, m.about, boxes(m));
    }
    out
}

fn text() -> String {
    let mut out = String::new();
    for m in &METHODS {
        let default = if m.method == Method::FEEDBACK { ", also `feedback`, the default" } else { "" };
        out += &format!("{:<16} {}{default}\n{:<16} {}\n{:<16} box: {}\n", m.name, m.label, "", m.about, "", boxes(m));
    }
    out
}
