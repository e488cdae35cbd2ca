//! The JSON report of one image explained: what `thinktwice localize` writes and the page's
//! "Download JSON" gives, in one shape. The CLI builds it from a run; the page hands what it shows
//! to the engine, which reads it through these types and writes it back, so neither can drift.

use serde::{Deserialize, Serialize};

use crate::closer::Look;
use crate::feedback::TraceRecord;
use crate::geometry::BBox;
use crate::localize::BoxRule;
use crate::session::{Explanation, Frame};

/// One image explained by one method (and, on the page, a second method beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The image's file name.
    pub image: String,
    /// Original width in pixels.
    #[serde(default)]
    pub width: u32,
    /// Original height in pixels.
    #[serde(default)]
    pub height: u32,
    /// The method's name.
    pub method: String,
    /// How the image was framed for the network (`whole`, `center-crop`).
    #[serde(default)]
    pub framing: String,
    /// The backend that ran it, where not the native CPU's (the page: `gpu` or `cpu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Seconds the whole explanation took, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The box threshold used.
    pub threshold: f32,
    /// What the threshold is a fraction of.
    pub box_rule: BoxRule,
    /// Each class explained.
    pub classes: Vec<ClassReport>,
    /// Every frame (look, region, iteration, probability, box), without maps.
    pub frames: Vec<Frame>,
    /// The second method the page shows beside the first, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Comparison>,
}

/// A second method's results for the same image and classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The method's name.
    pub method: String,
    /// Its box threshold.
    pub threshold: f32,
    /// What its threshold is a fraction of.
    pub box_rule: BoxRule,
    /// Each class explained.
    pub classes: Vec<ClassReport>,
}

/// One class explained: its score, box, peak, feedback trace and looks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassReport {
    /// Class index (0–999).
    pub class: usize,
    /// Class name.
    pub name: String,
    /// Logit without gates.
    pub score: f32,
    /// Probability without gates.
    pub probability: f32,
    /// The box in original pixels (none for an empty map).
    #[serde(rename = "box")]
    pub bbox: Option<BBox>,
    /// The map's maximum in original pixels, `[x, y]`.
    pub peak: (f32, f32),
    /// The feedback trace (one step for a baseline).
    pub trace: Vec<TraceRecord>,
    /// Where each look looked (the whole photo, then each closer look) and its box.
    pub looks: Vec<Look>,
}

impl From<&Explanation> for ClassReport {
    fn from(e: &Explanation) -> Self {
        Self {
            class: e.class,
            name: e.name.to_owned(),
            score: e.score,
            probability: e.probability,
            bbox: e.bbox,
            peak: e.peak,
            trace: e.trace.iter().map(|r| TraceRecord { map: None, ..r.clone() }).collect(),
            looks: e.looks.clone(),
        }
    }
}

impl Report {
    /// The report as the file both the CLI and the page write: pretty JSON.
    pub fn to_json(&self) -> String {
        // A report holds only strings, numbers and lists: serialising it cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_what_it_writes_and_ignores_what_the_page_adds() {
        let step = TraceRecord { iteration: 0, score: 9.5, probability: 0.5, open_fraction: vec![1.0; 33], elapsed_ms: 1.5, backward_passes: 0, map: None };
        let class = ClassReport {
            class: 281,
            name: "tabby".into(),
            score: 9.5,
            probability: 0.5,
            bbox: Some(BBox { x0: 1.0, y0: 2.0, x1: 30.0, y1: 40.0 }),
            peak: (10.0, 20.0),
            trace: vec![step],
            looks: vec![],
        };
        let report = Report {
            image: "cat.png".into(),
            width: 64,
            height: 48,
            method: "feedback".into(),
            framing: "whole".into(),
            backend: None,
            seconds: Some(1.25),
            threshold: 0.5,
            box_rule: BoxRule::Peak,
            classes: vec![class],
            frames: vec![],
            compare: None,
        };
        let json = report.to_json();
        assert!(json.contains("\"openFraction\"") && json.contains("\"boxRule\"") && json.contains("\"box\""), "{json}");
        assert!(!json.contains("compare") && !json.contains("backend"), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        // What the page holds carries more (maps, sizes, colour scales): read past, not written.
        let mut page: serde_json::Value = serde_json::from_str(&json).unwrap();
        page["classes"][0]["mapWidth"] = 224.into();
        page["classes"][0]["scale"] = serde_json::json!({"top": 1.0, "mass": 2.0});
        assert_eq!(serde_json::from_value::<Report>(page).unwrap(), report);
    }
}
