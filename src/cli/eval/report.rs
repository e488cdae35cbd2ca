//! The report written out: a markdown table on stdout, and the JSON and CSV files asked for.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use thinktwice::saliency::Method;

use crate::cli::output;

/// Prints the report's table and writes its JSON and CSV where asked.
pub fn publish(report: &serde_json::Value, json: Option<&Path>, csv_path: Option<&Path>) -> Result<ExitCode> {
    print!("{}", markdown(report));
    if let Some(path) = json {
        output::write_json(path, report)?;
    }
    if let Some(path) = csv_path {
        output::write_atomically(path, csv(report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The methods of a report in [`Method::ALL`] order.
fn in_method_order(report: &serde_json::Value) -> Vec<(&'static str, &serde_json::Value)> {
    Method::ALL.iter().filter_map(|m| report["methods"].get(m.name()).map(|v| (m.name(), v))).collect()
}

/// The report as a markdown table.
pub fn markdown(report: &serde_json::Value) -> String {
    let mut out = String::from(
        "| method | box τ | GT-known loc | vs CAM (McNemar p) | @0.3 | @0.7 | top-1 loc | MaxBoxAcc (best τ) | pointing | mean IoU | own-box energy | s/image |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, m) in in_method_order(report) {
        {
            let f = |k: &str| m[k].as_f64().map_or("–".into(), |v| format!("{v:.3}"));
            out += &format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
                match m["box_rule"].as_str() {
                    Some("mass") => format!("mass {}", f("box_threshold")),
                    _ => f("box_threshold"),
                },
                f("gt_known_loc"),
                m["vs_cam"]["difference"].as_f64().map_or("–".into(), |d| format!(
                    "{:+.3} ({:.3})",
                    d,
                    m["vs_cam"]["mcnemar_p"].as_f64().unwrap_or(1.0)
                )),
                f("gt_known_loc_30"),
                f("gt_known_loc_70"),
                f("top1_loc"),
                f("maxboxacc"),
                m["maxboxacc_threshold"].as_f64().map_or("–".into(), |v| format!("{v:.2}")),
                f("pointing"),
                f("mean_iou"),
                f("own_box_energy_share"),
                f("sec_per_image"),
            );
        }
    }
    out
}

/// The report as CSV, one row per method.
pub fn csv(report: &serde_json::Value) -> String {
    let keys = ["gt_known_loc", "gt_known_loc_30", "gt_known_loc_70", "top1_loc", "maxboxacc", "maxboxacc_threshold", "pointing", "mean_iou", "own_box_energy_share", "sec_per_image"];
    let mut out = format!("method,{}\n", keys.join(","));
    for (name, m) in in_method_order(report) {
        {
            let row: Vec<String> = keys.iter().map(|k| m[*k].as_f64().map_or(String::new(), |v| format!("{v:.4}"))).collect();
            out += &format!("{name},{}\n", row.join(","));
        }
    }
    out
}
