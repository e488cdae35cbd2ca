//! Reading a data set: `DIR/boxes.csv` and the photos it names, as the objects to find in each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use thinktwice::geometry::BBox;
use thinktwice::model;

/// One object to localize: an image, a class, its boxes (and, in grids, the other objects' boxes).
#[derive(Debug, Clone)]
pub struct Object {
    /// The ImageNet class to explain.
    pub class: usize,
    /// Its ground-truth boxes, in stored-image pixels.
    pub boxes: Vec<BBox>,
    /// In a grid, the boxes of the image's other objects (empty in a plain photo).
    pub others: Vec<BBox>,
}

/// The photos of a data set, each with the objects to find in it.
pub type Dataset = Vec<(PathBuf, Vec<Object>)>;

/// Reads `DIR/boxes.csv` (columns as in the dev set; a `slot` column marks a grid set).
/// Returns the objects grouped by image, and the rows that were skipped with why.
pub fn read_dataset(dir: &Path) -> Result<(Dataset, Vec<String>)> {
    let csv = dir.join("boxes.csv");
    let text = std::fs::read_to_string(&csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let mut lines = text.lines();
    let Some(first) = lines.next() else { bail!("{} is empty", csv.display()) };
    let header = split_csv(first);
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| anyhow!("{} has no column {name}", csv.display()));
    let (c_path, c_class) = (col("path")?, col("class_idx")?);
    let (c_w, c_h) = (col("img_w")?, col("img_h")?);
    let coords = [col("x0")?, col("y0")?, col("x1")?, col("y1")?];
    let c_slot = header.iter().position(|h| h == "slot");
    let mut bad = Vec::new();
    // (path, slot) → (class, boxes), in file order.
    let mut groups: BTreeMap<(String, String), (usize, Vec<BBox>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (n, line) in lines.enumerate() {
        let row = split_csv(line);
        let field = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
        let parsed = (|| -> std::result::Result<(String, String, usize, BBox), String> {
            let path = field(c_path).to_string();
            let class: usize = field(c_class).parse().map_err(|_| "bad class_idx".to_string())?;
            model::check_class(class).map_err(|e| e.to_string())?;
            let [x0, y0, x1, y1] = coords.map(|c| field(c).parse::<f32>().unwrap_or(f32::NAN));
            let (w, h): (f32, f32) = (field(c_w).parse().unwrap_or(f32::NAN), field(c_h).parse().unwrap_or(f32::NAN));
            let inside = x0 >= -0.5 && y0 >= -0.5 && x1 <= w + 0.5 && y1 <= h + 0.5 && x0 < x1 && y0 < y1;
            if !inside {
                return Err(format!("box ({x0}, {y0}, {x1}, {y1}) outside the {w}×{h} image"));
            }
            if !dir.join(&path).exists() {
                return Err(format!("{path} not found"));
            }
            let slot = c_slot.map(|c| field(c).to_string()).unwrap_or_default();
            Ok((path, slot, class, BBox { x0, y0, x1, y1 }))
        })();
        match parsed {
            Ok((path, slot, class, b)) => {
                if !order.contains(&path) {
                    order.push(path.clone());
                }
                groups.entry((path, slot)).or_insert((class, Vec::new())).1.push(b);
            }
            Err(e) => bad.push(format!("boxes.csv row {}: {e}", n + 2)),
        }
    }
    let images = order
        .into_iter()
        .map(|path| {
            let mine: Vec<_> = groups.iter().filter(|((p, _), _)| *p == path).collect();
            let objects = mine
                .iter()
                .map(|((_, slot), (class, boxes))| Object {
                    class: *class,
                    boxes: boxes.clone(),
                    others: mine.iter().filter(|((_, s), _)| s != slot).flat_map(|(_, (_, b))| b.clone()).collect(),
                })
                .collect();
            (dir.join(&path), objects)
        })
        .collect();
    Ok((images, bad))
}

/// Splits one CSV line (double-quoted fields may hold commas and doubled quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes_and_commas() {
        assert_eq!(split_csv(r#"a,"b, c",d"#), ["a", "b, c", "d"]);
        assert_eq!(split_csv(r#""say ""hi""",2"#), [r#"say "hi""#, "2"]);
    }
}
