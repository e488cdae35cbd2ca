//! `thinktwice eval`: every method on a folder of photos with ground-truth boxes, in one run.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use thinktwice::feedback::Flow;
use thinktwice::geometry::{BBox, Framing, INPUT_SIZE};
use thinktwice::localize::metrics::{self, THRESHOLDS};
use thinktwice::localize::{self, BoxOptions};
use thinktwice::model;
use thinktwice::saliency::{Method, SaliencyOptions};
use thinktwice::{ExplainOptions, Session};

use super::args::{ModelArgs, TuningArgs};
use super::output;

/// Pointing-game tolerance in stored-image pixels (Zhang et al. 2016).
const POINTING_TOLERANCE: f32 = 15.0;

/// Arguments of `eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Folder with boxes.csv and the images it names.
    #[arg(long)]
    data: PathBuf,
    /// Comma-separated methods (default: all).
    #[arg(long)]
    methods: Option<String>,
    /// Evaluate only the first N images.
    #[arg(long)]
    limit: Option<usize>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one CSV row per method here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Parallel workers (images at once).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[command(flatten)]
    tuning: TuningArgs,
    #[command(flatten)]
    model: ModelArgs,
}

/// Evaluates, prints the markdown table, writes the JSON and CSV asked for.
pub fn run(args: Args) -> Result<ExitCode> {
    let methods: Vec<Method> = match &args.methods {
        Some(list) => list.split(',').map(|m| m.parse()).collect::<thinktwice::Result<_>>()?,
        None => Method::ALL.to_vec(),
    };
    let saliency = args.tuning.saliency()?;
    let (mut images, bad) = read_dataset(&args.data)?;
    for b in &bad {
        eprintln!("skipped {b}");
    }
    images.truncate(args.limit.unwrap_or(usize::MAX));
    let session = args.model.session()?;
    eprintln!("evaluating {} methods on {} images of {}", methods.len(), images.len(), args.data.display());
    let report = evaluate(&session, &images, &methods, &saliency, &|m| args.tuning.boxes(m), args.workers);
    print!("{}", markdown(&report));
    if let Some(path) = &args.json {
        output::write_json(path, &report)?;
    }
    if let Some(path) = &args.csv {
        output::write_atomically(path, csv(&report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One object to localize: an image, a class, its boxes (and, in grids, the other objects' boxes).
#[derive(Debug, Clone)]
pub struct Object {
    class: usize,
    boxes: Vec<BBox>,
    others: Vec<BBox>,
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

/// Running sums for one method.
#[derive(Debug, Default, Clone)]
struct Tally {
    objects: usize,
    correct: [usize; 3],
    top1_correct: usize,
    pointing: usize,
    iou_sum: f64,
    box_acc: [usize; 20],
    seconds: f64,
    energy_share: f64,
    grid_objects: usize,
}

/// What one worker learns about one image.
struct ImageResult {
    per_method: Vec<(Method, Tally)>,
}

/// Evaluates `methods` on every image; prints progress to stderr; returns the JSON report.
pub fn evaluate(
    session: &Session,
    images: &[(PathBuf, Vec<Object>)],
    methods: &[Method],
    options: &SaliencyOptions,
    boxes: &(dyn Fn(Method) -> BoxOptions + Sync),
    workers: usize,
) -> serde_json::Value {
    let started = Instant::now();
    let next = Mutex::new(0usize);
    let totals: Mutex<BTreeMap<&'static str, Tally>> = Mutex::new(BTreeMap::new());
    let done = Mutex::new(0usize);
    let failures = Mutex::new(Vec::<String>::new());
    let progress = Mutex::new(Progress::new(images.len(), std::io::stderr().is_terminal()));
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some((path, objects)) = images.get(i) else { break };
                match evaluate_image(session, path, objects, methods, options, boxes) {
                    Ok(result) => {
                        let mut t = totals.lock().unwrap();
                        for (m, tally) in result.per_method {
                            add(t.entry(m.name()).or_default(), &tally);
                        }
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{}: {e:#}", path.display())),
                }
                let mut d = done.lock().unwrap();
                *d += 1;
                progress.lock().unwrap().update(*d);
            });
        }
    });
    progress.into_inner().unwrap().finish();
    for f in failures.lock().unwrap().iter() {
        eprintln!("skipped {f}");
    }
    let totals = totals.into_inner().unwrap();
    let mut report = serde_json::Map::new();
    for m in methods {
        let Some(t) = totals.get(m.name()) else { continue };
        let n = t.objects.max(1) as f64;
        let curve: Vec<f64> = t.box_acc.iter().map(|&c| c as f64 / n).collect();
        let (best, best_acc) = curve.iter().enumerate().fold((0, 0.0), |b, (i, &a)| if a > b.1 { (i, a) } else { b });
        let mut entry = serde_json::json!({
            "gt_known_loc": t.correct[1] as f64 / n,
            "top1_loc": t.top1_correct as f64 / n,
            "pointing": t.pointing as f64 / n,
            "maxboxacc": best_acc,
            "mean_iou": t.iou_sum / n,
            "sec_per_image": t.seconds / images.len().max(1) as f64,
            "gt_known_loc_30": t.correct[0] as f64 / n,
            "gt_known_loc_70": t.correct[2] as f64 / n,
            "maxboxacc_threshold": THRESHOLDS[best],
            "box_threshold": boxes(*m).threshold,
            "box_sigma": boxes(*m).sigma,
            "box_accuracy_curve": curve,
            "n_objects": t.objects,
        });
        if t.grid_objects > 0 {
            entry["own_box_energy_share"] = serde_json::json!(t.energy_share / t.grid_objects as f64);
        }
        report.insert(m.name().to_string(), entry);
    }
    serde_json::json!({
        "n_images": images.len() - failures.lock().unwrap().len(),
        "seconds": started.elapsed().as_secs_f64(),
        "methods": report,
    })
}

fn add(total: &mut Tally, t: &Tally) {
    total.objects += t.objects;
    (0..3).for_each(|i| total.correct[i] += t.correct[i]);
    total.top1_correct += t.top1_correct;
    total.pointing += t.pointing;
    total.iou_sum += t.iou_sum;
    (0..20).for_each(|i| total.box_acc[i] += t.box_acc[i]);
    total.seconds += t.seconds;
    total.energy_share += t.energy_share;
    total.grid_objects += t.grid_objects;
}

fn evaluate_image(
    session: &Session,
    path: &Path,
    objects: &[Object],
    methods: &[Method],
    options: &SaliencyOptions,
    boxes: &(dyn Fn(Method) -> BoxOptions + Sync),
) -> Result<ImageResult> {
    let bytes = std::fs::read(path)?;
    let prepared = session.prepare_encoded(&bytes, Framing::Whole)?;
    let image = prepared.original();
    let top1 = model::top_k(&pollster::block_on(session.classify(&prepared))?.probabilities, 1)[0].0;
    // Boxes in map (224×224) pixels.
    let to_map = |b: &BBox| b.rescale((image.width() as usize, image.height() as usize), (INPUT_SIZE, INPUT_SIZE));
    let tolerance = POINTING_TOLERANCE * INPUT_SIZE as f32 / image.width().max(image.height()) as f32;
    let mut per_method = Vec::new();
    for &method in methods {
        let explain = ExplainOptions { saliency: options.clone(), boxes: boxes(method), ..ExplainOptions::new(method) };
        let boxes = &explain.boxes;
        let mut t = Tally::default();
        for object in objects {
            let start = Instant::now();
            let mut explained =
                pollster::block_on(session.explain(&prepared, &[object.class], &explain, &mut |_| Flow::Continue(())))?;
            t.seconds += start.elapsed().as_secs_f64();
            let map = explained.remove(0).map;
            let truth: Vec<BBox> = object.boxes.iter().map(to_map).collect();
            let smoothed = map.smoothed(boxes.sigma);
            let found = localize::box_of_smoothed(&smoothed, boxes.threshold);
            let iou = metrics::best_iou(found.as_ref(), &truth);
            t.objects += 1;
            for (i, level) in [0.3, 0.5, 0.7].iter().enumerate() {
                t.correct[i] += usize::from(iou >= *level);
            }
            t.top1_correct += usize::from(iou >= 0.5 && top1 == object.class);
            t.pointing += usize::from(metrics::pointing_hit(&map, &truth, tolerance));
            t.iou_sum += iou as f64;
            for (i, v) in metrics::iou_per_threshold(&smoothed, &truth).iter().enumerate() {
                t.box_acc[i] += usize::from(*v >= 0.5);
            }
            if !object.others.is_empty() {
                let others: Vec<BBox> = object.others.iter().map(to_map).collect();
                t.energy_share += metrics::own_box_energy_share(&map, &truth, &others) as f64;
                t.grid_objects += 1;
            }
        }
        per_method.push((method, t));
    }
    Ok(ImageResult { per_method })
}

/// Progress on stderr: a live bar on a terminal, otherwise one plain line per 10 %.
struct Progress {
    total: usize,
    live: bool,
    started: Instant,
    tenths_said: usize,
}

impl Progress {
    fn new(total: usize, live: bool) -> Self {
        Self { total, live, started: Instant::now(), tenths_said: 0 }
    }

    fn update(&mut self, done: usize) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if done > 0 { elapsed / done as f64 * (self.total - done) as f64 } else { 0.0 };
        if self.live {
            let width = 30;
            let filled = done * width / self.total.max(1);
            eprint!(
                "\r[{}{}] {done}/{} images, {elapsed:.0} s elapsed, ETA {eta:.0} s ",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.total
            );
            let _ = std::io::stderr().flush();
            return;
        }
        let tenths = done * 10 / self.total.max(1);
        if tenths > self.tenths_said {
            self.tenths_said = tenths;
            eprintln!("{}% ({done}/{} images, {elapsed:.0} s elapsed, ETA {eta:.0} s)", tenths * 10, self.total);
        }
    }

    fn finish(&mut self) {
        if self.live {
            eprintln!();
        }
    }
}

/// The methods of a report in [`Method::ALL`] order.
fn in_method_order(report: &serde_json::Value) -> Vec<(&'static str, &serde_json::Value)> {
    Method::ALL.iter().filter_map(|m| report["methods"].get(m.name()).map(|v| (m.name(), v))).collect()
}

/// The report as a markdown table.
pub fn markdown(report: &serde_json::Value) -> String {
    let mut out = String::from(
        "| method | box τ | GT-known loc | @0.3 | @0.7 | top-1 loc | MaxBoxAcc (best τ) | pointing | mean IoU | own-box energy | s/image |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (name, m) in in_method_order(report) {
        {
            let f = |k: &str| m[k].as_f64().map_or("–".into(), |v| format!("{v:.3}"));
            out += &format!(
                "| {name} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |\n",
                f("box_threshold"),
                f("gt_known_loc"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes_and_commas() {
        assert_eq!(split_csv(r#"a,"b, c",d"#), ["a", "b, c", "d"]);
        assert_eq!(split_csv(r#""say ""hi""",2"#), [r#"say "hi""#, "2"]);
    }
}
