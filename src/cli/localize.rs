//! `thinktwice localize`: per image and class an overlay PNG and the raw map; one JSON per image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use thinktwice::feedback::Flow;
use thinktwice::Frame;
use thinktwice::geometry::{Framing, INPUT_SIZE};
use thinktwice::localize::grabcut::GrabCutOptions;
use thinktwice::model::labels;
use thinktwice::overlay::{self, Heat, Label};
use thinktwice::report::{ClassReport, Report};
use thinktwice::saliency::Method;
use thinktwice::{ExplainOptions, Session};
use web_time::Instant;

use super::args::{ModelArgs, TuningArgs};
use super::output;

/// Arguments of `localize`.
#[derive(clap::Args)]
pub struct Args {
    /// Image files.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Classes: an index, a name, top1, top5, or a comma-separated list.
    #[arg(long, default_value = "top1")]
    class: String,
    /// The method (`thinktwice methods` lists them).
    #[arg(long, default_value = "feedback", help = super::args::method_help())]
    method: String,
    #[command(flatten)]
    tuning: TuningArgs,
    /// Refine the box by GrabCut-style colour segmentation seeded from the map.
    #[arg(long)]
    refine: bool,
    /// Centre-crop as for classification instead of using the whole image.
    #[arg(long)]
    crop: bool,
    /// Heat map opacity in the overlay, 0–1.
    #[arg(long, default_value_t = overlay::DEFAULT_OPACITY)]
    opacity: f32,
    /// Output folder.
    #[arg(long, default_value = "thinktwice-out")]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
}

/// What every image of one `localize` call shares.
struct Job {
    classes: String,
    options: ExplainOptions,
    framing: Framing,
    opacity: f32,
    out: PathBuf,
}

/// Localizes every image; a bad one gets a line on stderr and a non-zero exit.
pub fn run(args: Args) -> Result<ExitCode> {
    let method: Method = args.method.parse()?;
    let mut options = ExplainOptions::new(method);
    options.boxes = args.tuning.boxes(method)?;
    options.closer = args.tuning.closer(method);
    options.saliency = args.tuning.saliency()?;
    options.refine = args.refine.then(GrabCutOptions::default);
    let job = Job {
        classes: args.class,
        options,
        framing: if args.crop { Framing::CenterCrop } else { Framing::Whole },
        opacity: args.opacity.clamp(0.0, 1.0),
        out: args.out,
    };
    std::fs::create_dir_all(&job.out).with_context(|| format!("cannot create {}", job.out.display()))?;
    output::ensure_writable(&job.out)?;
    let session = args.model.session()?;
    let mut failed = 0;
    for path in &args.images {
        match localize_one(&session, path, &job) {
            Ok(written) => written.iter().for_each(|w| println!("wrote {}", w.display())),
            Err(e) => {
                eprintln!("{}: {e:#}", path.display());
                failed += 1;
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn localize_one(session: &Session, path: &Path, job: &Job) -> Result<Vec<PathBuf>> {
    let bytes = std::fs::read(path)?;
    let image = session.prepare_encoded(&bytes, job.framing)?;
    let scores = pollster::block_on(session.classify(&image))?;
    let classes = labels::parse_class_list(&job.classes, &scores.probabilities)?;
    let started = Instant::now();
    // Every frame as the page gets it (look, region, iteration, probability, box), for the JSON.
    let mut frames = Vec::new();
    let mut options = job.options.clone();
    options.frame_map_size = Some((INPUT_SIZE, INPUT_SIZE));
    let results = pollster::block_on(session.explain(&image, &classes, &options, &mut |f| {
        frames.push(Frame { map: None, ..f.clone() });
        Flow::Continue(())
    }))?;
    let seconds = started.elapsed().as_secs_f64();
    let stem = path.file_stem().map_or("image".into(), |s| s.to_string_lossy().into_owned());
    let method = job.options.method.name();
    let mut written = Vec::new();
    for (i, r) in results.iter().enumerate() {
        // Each class in its colour on the page: the i-th chosen class's.
        let text = overlay::label_text(r.name, r.class, r.probability, method);
        let labels: Vec<Label> = r.bbox.iter().map(|b| Label { bbox: *b, text: text.clone(), colour: overlay::CLASS_COLOURS[i % overlay::CLASS_COLOURS.len()] }).collect();
        let heat = Heat { map: &r.map, top: r.map.colour_top() };
        let file = job.out.join(format!("{stem}.{}.{method}.png", r.class));
        output::write_png(&file, &overlay::render(image.original(), Some(heat), image.region(), &labels, job.opacity, overlay::OWN_SCALE))?;
        written.push(file);
        let file = job.out.join(format!("{stem}.{}.{method}.map.png", r.class));
        output::write_map_png(&file, &r.map, image.region())?;
        written.push(file);
    }
    let report = Report {
        image: path.display().to_string(),
        width: image.original().width(),
        height: image.original().height(),
        method: method.to_owned(),
        framing: image.framing().name().to_owned(),
        backend: None,
        seconds: Some(seconds),
        threshold: job.options.boxes.threshold,
        box_rule: job.options.boxes.rule,
        classes: results.iter().map(ClassReport::from).collect(),
        frames,
        compare: None,
    };
    let file = job.out.join(format!("{stem}.{method}.json"));
    output::write_atomically(&file, report.to_json().as_bytes())?;
    written.push(file);
    Ok(written)
}
