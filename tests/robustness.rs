//! Hostile input, generated (tests/common/badfiles.rs, seeded): over a thousand truncated, flipped,
//! spliced, mislabelled, huge-header, bomb and odd-but-valid files go through the library's
//! decode + prepare path and through `thinktwice classify`. No panic, no abort, no hang; every
//! bad file a one-line error naming it; every valid odd one classified; memory bounded.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::badfiles::{self, Expect};
use thinktwice::geometry::Framing;

const SEED: u64 = 20_151_207;

#[test]
fn over_a_thousand_generated_files_decode_or_fail_cleanly_in_the_library() {
    let cases = badfiles::generate(SEED);
    assert!(cases.len() >= 1000, "{} cases", cases.len());
    let session = common::session();
    let (mut ok, mut failed) = (0, 0);
    for case in &cases {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.prepare_encoded(&case.bytes, Framing::CenterCrop)));
        let prepared = outcome.unwrap_or_else(|_| panic!("{}: panicked", case.name));
        assert!(started.elapsed() < Duration::from_secs(10), "{}: took {:?}", case.name, started.elapsed());
        match (&prepared, case.expect) {
            (Ok(p), Expect::Valid | Expect::Either) => {
                assert_eq!(p.input().dims(), [1, 3, 224, 224], "{}", case.name);
                ok += 1;
            }
            (Err(e), Expect::Invalid | Expect::Either) => {
                assert_eq!(e.code(), "bad-image", "{}: {e}", case.name);
                assert!(!e.to_string().contains('\n'), "{}: a one-line message, got {e:?}", case.name);
                failed += 1;
            }
            (Ok(_), Expect::Invalid) => panic!("{}: decoded, but must be refused", case.name),
            (Err(e), Expect::Valid) => panic!("{}: valid, but failed: {e}", case.name),
        }
    }
    println!("{} generated files: {ok} prepared, {failed} refused with a typed error", cases.len());
}

#[test]
fn exif_orientation_is_applied_natively_as_in_browsers() {
    for orientation in 1..=8u16 {
        let bytes = badfiles::jpeg(
            &badfiles::picture(64, 48).into_raw(),
            64,
            48,
            jpeg_encoder::ColorType::Rgb,
            false,
            Some(&badfiles::exif_orientation(orientation)),
        );
        let image = thinktwice::imaging::decode(&bytes).unwrap();
        let expected = if orientation >= 5 { (48, 64) } else { (64, 48) };
        assert_eq!(image.dimensions(), expected, "orientation {orientation}");
    }
}

/// Peak resident memory of a running child (VmHWM, polled until it exits), in bytes.
fn run_measuring_memory(command: &mut Command) -> (std::process::Output, u64) {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("thinktwice runs");
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watcher = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while let Ok(status) = std::fs::read_to_string(&status_file) {
                let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) else { break };
                let kb: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                peak.fetch_max(kb * 1024, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let output = child.wait_with_output().unwrap();
    watcher.join().unwrap();
    (output, peak.load(std::sync::atomic::Ordering::Relaxed))
}

#[test]
fn thinktwice_classify_gives_one_line_per_bad_file_and_stays_under_a_gigabyte() {
    let weights = common::weights_path("f16");
    if !weights.exists() {
        common::missing("the f16 weights", "run `cargo run --release -- weights`");
        return;
    }
    let cases = badfiles::generate(SEED);
    let dir = std::env::temp_dir().join(format!("thinktwice-badfiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut expect = HashMap::new();
    let paths: Vec<PathBuf> = cases
        .iter()
        .map(|c| {
            let path = dir.join(&c.name);
            std::fs::write(&path, &c.bytes).unwrap();
            expect.insert(path.display().to_string(), c.expect);
            path
        })
        .collect();
    let started = Instant::now();
    let (output, peak) = run_measuring_memory(Command::new(env!("CARGO_BIN_EXE_thinktwice")).arg("classify").args(&paths).arg("--weights").arg(&weights).arg("--top").arg("1"));
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.status.code().is_some(), "killed by a signal: {:?}\n{stderr}", output.status);
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    // Each refused file: exactly one line, starting with its path.
    let mut refused = HashMap::new();
    for line in stderr.lines() {
        let (path, why) = line.split_once(": ").unwrap_or_else(|| panic!("not `path: cause`: {line}"));
        assert!(expect.contains_key(path), "a line that names no input: {line}");
        assert!(!why.trim().is_empty(), "{line}");
        assert!(refused.insert(path.to_string(), why.to_string()).is_none(), "two lines for {path}");
    }
    let classified: Vec<&str> = stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(classified.len() + refused.len(), cases.len(), "every file is either classified or refused");
    for path in &classified {
        assert_ne!(expect[*path], Expect::Invalid, "{path} must be refused");
    }
    for (path, why) in &refused {
        assert_ne!(expect[path.as_str()], Expect::Valid, "{path} is valid but was refused: {why}");
    }
    assert!(peak < 1 << 30, "peak resident memory {} MB", peak >> 20);
    println!(
        "thinktwice classify on {} generated files: {} classified, {} refused in one line each; {seconds:.0} s; peak resident memory {} MB",
        cases.len(),
        classified.len(),
        refused.len(),
        peak >> 20
    );
}
