//! `thinktwice` command line: parses the arguments and hands them to the command's module.

#[cfg(not(target_family = "wasm"))]
mod cli;

#[cfg(not(target_family = "wasm"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    keep_freed_memory();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("thinktwice: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Every pass allocates and frees the same large tensors. glibc's defaults give each allocation
/// over 128 KiB its own mapping and trim the heap's top, so every pass faults its memory in again
/// (a fifth of `bench --passes-only`'s profile); kept, the next pass reuses it. Measured
/// (docs/PERFORMANCE.md): forward + backward about a quarter faster, `eval` a few percent, peak
/// memory a few MB more. A process setting, so the command line's, not the library's; glibc only.
#[cfg(not(target_family = "wasm"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes the allocator's thresholds; called first, before any thread.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20); // glibc's largest: every tensor here is smaller
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// The command line reads files and runs threads: native only. On wasm32 the library is the
/// product (the browser's engine); this stub only lets `cargo test --target wasm32-…` build.
#[cfg(target_family = "wasm")]
fn main() {}
