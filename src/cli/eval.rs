//! `thinktwice eval`: every method on a folder of photos with ground-truth boxes, in one run.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use thinktwice::feedback::Flow;
use thinktwice::geometry::{BBox, Framing, INPUT_SIZE};
use thinktwice::localize::metrics::{self, THRESHOLDS};
use thinktwice::localize::{self, BoxOptions, BoxRule};
use thinktwice::model;
use thinktwice::saliency::Method;
use thinktwice::{ExplainOptions, Session};

use super::args::{ModelArgs, TuningArgs};
use super::output;

/// Pointing-game tolerance in stored-image pixels (Zhang et al. 2016).
const POINTING_TOLERANCE: f32 = 15.0;

/// Arguments of `eval`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<EvalCommand>,
    /// Folder with boxes.csv and the images it names.
    #[arg(long, required = true)]
    data: Option<PathBuf>,
    /// Only every n-th photo, starting at the i-th (`i/n`, 0 ≤ i < n): one job of a job array.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Append one JSON line per photo and method here as each is done; photos already recorded
    /// there are skipped, so a killed run resumes. `eval merge` joins the records of many runs.
    #[arg(long)]
    records: Option<PathBuf>,
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

/// `eval merge`.
#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// Joins the records of several runs or shards into one report: the table and JSON a single
    /// run over all their photos would give.
    Merge(MergeArgs),
}

/// Arguments of `eval merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// Record files written with `eval --records`.
    #[arg(required = true)]
    records: Vec<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one CSV row per method here.
    #[arg(long)]
    csv: Option<PathBuf>,
}

fn parse_shard(spec: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = spec.split_once('/').ok_or("expected i/n, e.g. 0/8")?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| "i is not a number")?, n.trim().parse().map_err(|_| "n is not a number")?);
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 ≤ i < n"));
    }
    Ok((i, n))
}

/// One photo × method, as `--records` stores it (one JSON line each).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The photo, as boxes.csv names it.
    image: String,
    /// The method's name.
    method: String,
    /// The box options it ran with.
    box_threshold: f32,
    box_sigma: f32,
    /// The box rule (records written before there was a choice used the peak rule).
    #[serde(default)]
    box_rule: BoxRule,
    #[serde(flatten)]
    tally: Tally,
    /// Per object: GT-known localization at IoU 0.5 (for paired tests between methods).
    hits: Vec<bool>,
}

/// Reads record files; a torn last line (a killed run) is ignored; later records of the same
/// photo and method replace earlier ones.
fn read_records(paths: &[PathBuf]) -> Result<Vec<Record>> {
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

/// Evaluates, prints the markdown table, writes the JSON and CSV asked for.
pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(EvalCommand::Merge(m)) = args.command {
        return merge(m);
    }
    let data = args.data.clone().ok_or_else(|| anyhow!("--data is required"))?;
    let methods: Vec<Method> = match &args.methods {
        Some(list) => list.split(',').map(|m| m.parse()).collect::<thinktwice::Result<_>>()?,
        None => Method::ALL.to_vec(),
    };
    let saliency = args.tuning.saliency()?;
    // Every method's whole settings, fixed before any work: a bad flag fails now.
    let plans: Vec<(Method, ExplainOptions)> = methods
        .iter()
        .map(|&m| -> Result<_> {
            Ok((m, ExplainOptions { saliency: saliency.clone(), boxes: args.tuning.boxes(m)?, closer: args.tuning.closer(m), ..ExplainOptions::new(m) }))
        })
        .collect::<Result<_>>()?;
    let plan = |m: Method| plans.iter().find(|(p, _)| *p == m).map(|(_, o)| o.clone()).unwrap_or_else(|| ExplainOptions::new(m));
    // An output that cannot be written fails now, not after an hour of evaluation.
    for path in args.json.iter().chain(&args.csv).chain(&args.records) {
        output::ensure_writable(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))?;
    }
    let (mut images, bad) = read_dataset(&data)?;
    for b in &bad {
        eprintln!("skipped {b}");
    }
    images.truncate(args.limit.unwrap_or(usize::MAX));
    if let Some((i, n)) = args.shard {
        images = images.into_iter().enumerate().filter(|(k, _)| k % n == i).map(|(_, image)| image).collect();
    }
    let name_of = |path: &Path| path.strip_prefix(&data).unwrap_or(path).to_string_lossy().into_owned();
    let wanted: BTreeSet<String> = images.iter().map(|(p, _)| name_of(p)).collect();
    let method_names: BTreeSet<&str> = methods.iter().map(|m| m.name()).collect();
    // Records of an earlier, interrupted run of this same job count; their photos are not redone.
    let mut records: Vec<Record> = match &args.records {
        Some(path) if path.exists() => read_records(std::slice::from_ref(path))?
            .into_iter()
            .filter(|r| wanted.contains(&r.image) && method_names.contains(r.method.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    let recorded = |image: &str| methods.iter().all(|m| records.iter().any(|r| r.image == image && r.method == m.name()));
    let todo: Vec<_> = images.iter().filter(|(p, _)| !recorded(&name_of(p))).cloned().collect();
    if todo.len() < images.len() {
        eprintln!("{} of {} images already recorded in {}", images.len() - todo.len(), images.len(), args.records.as_ref().unwrap().display());
    }
    let sink_file = Mutex::new(match &args.records {
        Some(path) => Some(
            std::fs::OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("cannot write {}", path.display()))?,
        ),
        None => None,
    });
    let new_records = Mutex::new(Vec::new());
    let session = args.model.session()?;
    eprintln!("evaluating {} methods on {} images of {}", methods.len(), todo.len(), data.display());
    let started = Instant::now();
    evaluate(&session, &todo, &methods, &plan, args.workers, &name_of, &|record| {
        // One whole line per photo × method, flushed at once: a killed run leaves only whole records.
        if let Some(file) = sink_file.lock().unwrap().as_mut() {
            let line = serde_json::to_string(&record).map(|l| l + "\n").unwrap_or_default();
            if let Err(e) = file.write_all(line.as_bytes()).and_then(|_| file.flush()) {
                eprintln!("cannot append to the records: {e}");
            }
        }
        new_records.lock().unwrap().push(record);
    });
    records.extend(new_records.into_inner().unwrap());
    publish(&report(&records, &methods, started.elapsed().as_secs_f64()), args.json.as_deref(), args.csv.as_deref())
}

/// Prints the report's table and writes its JSON and CSV where asked.
fn publish(report: &serde_json::Value, json: Option<&Path>, csv_path: Option<&Path>) -> Result<ExitCode> {
    print!("{}", markdown(report));
    if let Some(path) = json {
        output::write_json(path, report)?;
    }
    if let Some(path) = csv_path {
        output::write_atomically(path, csv(report).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `eval merge`: one report from the records of many runs.
fn merge(args: MergeArgs) -> Result<ExitCode> {
    let records = read_records(&args.records)?;
    if records.is_empty() {
        bail!("no records in {}", args.records.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let methods: Vec<Method> = Method::ALL.into_iter().filter(|m| records.iter().any(|r| r.method == m.name())).collect();
    let seconds = records.iter().map(|r| r.tally.seconds).sum();
    publish(&report(&records, &methods, seconds), args.json.as_deref(), args.csv.as_deref())
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
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
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

/// What one worker learns about one image: per method, the sums and the per-object hits.
struct ImageResult {
    per_method: Vec<(Method, Tally, Vec<bool>)>,
}

/// Evaluates `methods` on every image, handing each photo × method to `sink` as a [`Record`];
/// prints progress to stderr.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    session: &Session,
    images: &[(PathBuf, Vec<Object>)],
    methods: &[Method],
    plan: &(dyn Fn(Method) -> ExplainOptions + Sync),
    workers: usize,
    name_of: &(dyn Fn(&Path) -> String + Sync),
    sink: &(dyn Fn(Record) + Sync),
) {
    let next = Mutex::new(0usize);
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
                match evaluate_image(session, path, objects, methods, plan) {
                    Ok(result) => {
                        for (m, tally, hits) in result.per_method {
                            let b = plan(m).boxes;
                            sink(Record { image: name_of(path), method: m.name().into(), box_threshold: b.threshold, box_sigma: b.sigma, box_rule: b.rule, tally, hits });
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
}

/// The JSON report of `records` for `methods` (`seconds`: the run's wall time).
fn report(records: &[Record], methods: &[Method], seconds: f64) -> serde_json::Value {
    let mut totals: BTreeMap<&str, (Tally, BoxOptions)> = BTreeMap::new();
    let mut images = BTreeSet::new();
    // Summed in one fixed order, so that any split of the same records gives the same floats.
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| (&a.image, &a.method).cmp(&(&b.image, &b.method)));
    for r in sorted {
        let Some(m) = methods.iter().find(|m| m.name() == r.method) else { continue };
        images.insert(r.image.as_str());
        let entry = totals
            .entry(m.name())
            .or_insert_with(|| (Tally::default(), BoxOptions { threshold: r.box_threshold, sigma: r.box_sigma, rule: r.box_rule }));
        add(&mut entry.0, &r.tally);
    }
    let n_images = images.len();
    let mut report = serde_json::Map::new();
    for m in methods {
        let Some((t, b)) = totals.get(m.name()) else { continue };
        let n = t.objects.max(1) as f64;
        let curve: Vec<f64> = t.box_acc.iter().map(|&c| c as f64 / n).collect();
        let (best, best_acc) = curve.iter().enumerate().fold((0, 0.0), |b, (i, &a)| if a > b.1 { (i, a) } else { b });
        let mut entry = serde_json::json!({
            "gt_known_loc": t.correct[1] as f64 / n,
            "top1_loc": t.top1_correct as f64 / n,
            "pointing": t.pointing as f64 / n,
            "maxboxacc": best_acc,
            "mean_iou": t.iou_sum / n,
            "sec_per_image": t.seconds / n_images.max(1) as f64,
            "gt_known_loc_30": t.correct[0] as f64 / n,
            "gt_known_loc_70": t.correct[2] as f64 / n,
            "maxboxacc_threshold": THRESHOLDS[best],
            "box_threshold": b.threshold,
            "box_rule": b.rule,
            "box_sigma": b.sigma,
            "box_accuracy_curve": curve,
            "n_objects": t.objects,
        });
        if t.grid_objects > 0 {
            entry["own_box_energy_share"] = serde_json::json!(t.energy_share / t.grid_objects as f64);
        }
        if *m != Method::Cam
            && let Some(paired) = paired_with(records, m.name(), Method::Cam.name())
        {
            entry["vs_cam"] = paired;
        }
        report.insert(m.name().to_string(), entry);
    }
    serde_json::json!({
        "n_images": n_images,
        "seconds": seconds,
        "methods": report,
    })
}

/// `method` against `base` on the objects both localized (GT-known loc, IoU ≥ 0.5): the
/// difference, the objects only one of them got, and the exact two-sided McNemar p-value, so that a
/// difference inside the noise reads as a tie.
fn paired_with(records: &[Record], method: &str, base: &str) -> Option<serde_json::Value> {
    let hits = |name: &str| -> BTreeMap<&str, &Vec<bool>> {
        records.iter().filter(|r| r.method == name).map(|r| (r.image.as_str(), &r.hits)).collect()
    };
    let (ours, theirs) = (hits(method), hits(base));
    let (mut n, mut wins, mut losses) = (0usize, 0usize, 0usize);
    for (image, a) in &ours {
        let Some(b) = theirs.get(image) else { continue };
        for (&x, &y) in a.iter().zip(b.iter()) {
            n += 1;
            wins += usize::from(x && !y);
            losses += usize::from(!x && y);
        }
    }
    (n > 0).then(|| {
        serde_json::json!({
            "objects": n,
            "difference": (wins as f64 - losses as f64) / n as f64,
            "wins": wins,
            "losses": losses,
            "mcnemar_p": mcnemar_p(wins, losses),
        })
    })
}

/// Exact two-sided McNemar test: the probability of a split at least this uneven of the
/// `wins + losses` discordant objects if both methods were equally good (binomial, p = ½).
pub fn mcnemar_p(wins: usize, losses: usize) -> f64 {
    let n = wins + losses;
    let k = wins.min(losses);
    // Σ_{i ≤ k} C(n, i) / 2ⁿ, in logarithms so that large n does not overflow.
    let ln_choose = |i: usize| -> f64 { (1..=i).map(|j| ((n - i + j) as f64 / j as f64).ln()).sum() };
    let tail: f64 = (0..=k).map(|i| (ln_choose(i) - n as f64 * std::f64::consts::LN_2).exp()).sum();
    (2.0 * tail).min(1.0)
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
    plan: &(dyn Fn(Method) -> ExplainOptions + Sync),
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
        let explain = plan(method);
        let boxes = &explain.boxes;
        let mut t = Tally::default();
        let mut hits = Vec::with_capacity(objects.len());
        for object in objects {
            let start = Instant::now();
            let mut explained =
                pollster::block_on(session.explain(&prepared, &[object.class], &explain, &mut |_| Flow::Continue(())))?;
            t.seconds += start.elapsed().as_secs_f64();
            let map = explained.remove(0).map;
            let truth: Vec<BBox> = object.boxes.iter().map(to_map).collect();
            let smoothed = map.smoothed(boxes.sigma);
            let found = localize::box_by_rule(&smoothed, boxes);
            let iou = metrics::best_iou(found.as_ref(), &truth);
            t.objects += 1;
            for (i, level) in [0.3, 0.5, 0.7].iter().enumerate() {
                t.correct[i] += usize::from(iou >= *level);
            }
            hits.push(iou >= 0.5);
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
        per_method.push((method, t, hits));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes_and_commas() {
        assert_eq!(split_csv(r#"a,"b, c",d"#), ["a", "b, c", "d"]);
        assert_eq!(split_csv(r#""say ""hi""",2"#), [r#"say "hi""#, "2"]);
    }

    #[test]
    fn mcnemar_p_is_the_exact_binomial_tail() {
        assert!((mcnemar_p(10, 0) - 2.0 / 1024.0).abs() < 1e-12);
        assert!((mcnemar_p(0, 10) - 2.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_p(5, 5), 1.0);
        assert_eq!(mcnemar_p(0, 0), 1.0);
        // 7 against 20: Σ_{i ≤ 7} C(27, i) / 2²⁷, doubled.
        let tail: f64 = (0..=7u64).map(|i| (0..i).fold(1.0, |c, j| c * (27 - j) as f64 / (j + 1) as f64)).sum::<f64>() / 2f64.powi(27);
        assert!((mcnemar_p(7, 20) - 2.0 * tail).abs() < 1e-12 && (mcnemar_p(7, 20) - 0.0192).abs() < 1e-3);
        assert!(mcnemar_p(400, 600) < 1e-9);
    }
}
