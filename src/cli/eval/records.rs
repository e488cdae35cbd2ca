//! The `--records` file: one JSON line per photo × method, appended as each is done, read back to
//! resume a killed run or to merge the runs of many shards.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use thinktwice::localize::BoxRule;

use super::tally::Tally;

/// One photo × method, as `--records` stores it (one JSON line each).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The photo, as boxes.csv names it.
    pub image: String,
    /// The method's name.
    pub method: String,
    /// The box options it ran with.
    pub box_threshold: f32,
    pub box_sigma: f32,
    /// The box rule (records written before there was a choice used the peak rule).
    #[serde(default)]
    pub box_rule: BoxRule,
    #[serde(flatten)]
    pub tally: Tally,
    /// Per object: GT-known localization at IoU 0.5 (for paired tests between methods).
    pub hits: Vec<bool>,
}

/// Reads record files; a torn last line (a killed run) is ignored; later records of the same
/// photo and method replace earlier ones.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Record>> {
    let mut by_key: BTreeMap<(String, String), Record> = BTreeMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Ok(r) = serde_json::from_str::<Record>(line) {
                by_key.insert((r.image.clone(), r.method.clone()), r);
            }
        }
    }
    Ok(by_key.into_values().collect())
}

/// The records an earlier, interrupted run of this same job left at `path`, of the `images` and
/// `methods` still wanted: they count, and their photos are not redone.
pub fn resumed(path: Option<&Path>, images: &BTreeSet<String>, methods: &BTreeSet<&str>) -> Result<Vec<Record>> {
    Ok(match path {
        Some(path) if path.exists() => {
            read(&[path.to_path_buf()])?.into_iter().filter(|r| images.contains(&r.image) && methods.contains(r.method.as_str())).collect()
        }
        _ => Vec::new(),
    })
}

/// Where the workers hand new records: appended to the `--records` file (if any) and kept for the report.
pub struct RecordSink {
    file: Mutex<Option<File>>,
    made: Mutex<Vec<Record>>,
}

impl RecordSink {
    /// Opens `path` for appending (created if missing); `None` keeps the records in memory only.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let file = match path {
            Some(path) => Some(std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("cannot write {}", path.display()))?),
            None => None,
        };
        Ok(Self { file: Mutex::new(file), made: Mutex::new(Vec::new()) })
    }

    /// Appends `record` to the file and keeps it; a failed write is reported, not fatal.
    pub fn push(&self, record: Record) {
        // One whole line per photo × method, flushed at once: a killed run leaves only whole records.
        if let Some(file) = self.file.lock().unwrap().as_mut() {
            let line = serde_json::to_string(&record).map(|l| l + "\n").unwrap_or_default();
            if let Err(e) = file.write_all(line.as_bytes()).and_then(|_| file.flush()) {
                eprintln!("cannot append to the records: {e}");
            }
        }
        self.made.lock().unwrap().push(record);
    }

    /// The records made since the sink was opened, in the order they came.
    pub fn into_records(self) -> Vec<Record> {
        self.made.into_inner().unwrap()
    }
}
