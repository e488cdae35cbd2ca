//! `thinktwice eval`: every method on a folder of photos with ground-truth boxes, in one run.
//! This file holds the arguments and the two entry points (`eval` and `eval merge`); each other
//! file here is one step of a run.

mod dataset;
mod measure;
mod pool;
mod progress;
mod records;
mod report;
mod stats;
mod tally;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use thinktwice::ExplainOptions;
use thinktwice::saliency::Method;

use super::args::{ModelArgs, TuningArgs};
use super::output;
use records::{Record, RecordSink};

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
    let (mut images, bad) = dataset::read_dataset(&data)?;
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
    let mut records: Vec<Record> = records::resumed(args.records.as_deref(), &wanted, &method_names)?;
    let recorded = |image: &str| methods.iter().all(|m| records.iter().any(|r| r.image == image && r.method == m.name()));
    let todo: Vec<_> = images.iter().filter(|(p, _)| !recorded(&name_of(p))).cloned().collect();
    if todo.len() < images.len() {
        eprintln!("{} of {} images already recorded in {}", images.len() - todo.len(), images.len(), args.records.as_ref().unwrap().display());
    }
    let sink = RecordSink::open(args.records.as_deref())?;
    let session = args.model.session()?;
    eprintln!("evaluating {} methods on {} images of {}", methods.len(), todo.len(), data.display());
    let started = Instant::now();
    pool::evaluate(&session, &todo, &methods, &plan, args.workers, &name_of, &|record| sink.push(record));
    records.extend(sink.into_records());
    report::publish(&tally::report(&records, &methods, started.elapsed().as_secs_f64()), args.json.as_deref(), args.csv.as_deref())
}

/// `eval merge`: one report from the records of many runs.
fn merge(args: MergeArgs) -> Result<ExitCode> {
    let records = records::read(&args.records)?;
    if records.is_empty() {
        bail!("no records in {}", args.records.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    let methods: Vec<Method> = Method::ALL.into_iter().filter(|m| records.iter().any(|r| r.method == m.name())).collect();
    let seconds = records.iter().map(|r| r.tally.seconds).sum();
    report::publish(&tally::report(&records, &methods, seconds), args.json.as_deref(), args.csv.as_deref())
}
