//! The workers: photos handed out one at a time to a few threads, each photo's records passed on
//! as soon as it is done.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use thinktwice::saliency::Method;
use thinktwice::{ExplainOptions, Session};

use super::dataset::Object;
use super::measure::evaluate_image;
use super::progress::Progress;
use super::records::Record;

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
