//! Progress of a run on stderr: a live bar on a terminal, plain lines in a log.

use std::io::Write;
use std::time::Instant;

/// Progress on stderr: a live bar on a terminal, otherwise one plain line per 10 %.
pub struct Progress {
    total: usize,
    live: bool,
    started: Instant,
    tenths_said: usize,
}

impl Progress {
    /// Progress over `total` images; `live` when stderr is a terminal.
    pub fn new(total: usize, live: bool) -> Self {
        Self { total, live, started: Instant::now(), tenths_said: 0 }
    }

    /// Shows that `done` images are finished: redraws the bar, or says each new tenth once.
    pub fn update(&mut self, done: usize) {
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

    /// Ends the live bar's line, so that what follows starts on its own.
    pub fn finish(&mut self) {
        if self.live {
            eprintln!();
        }
    }
}
