//! The CPU kernels' threads: one team that stays awake between the passes of a forward pass.
//!
//! A forward pass is some fifty kernels of 50 to 400 µs each, one after another. rayon's workers
//! go to sleep as soon as a kernel is done, and waking a sleeping thread costs tens of
//! microseconds on a virtual machine (its processor was halted too): on two cores that took a
//! third of every kernel's time (133 context switches per forward pass; both cores together ran
//! the pass 1.59× faster than one). Here the workers spin for a while after each kernel, as ONNX
//! Runtime's do, and only then sleep; the calling thread takes parts too. One kernel runs on the
//! team at a time: a second caller (another thread, or a kernel inside a kernel) runs its parts
//! itself, so nothing waits on the team.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Condvar, Mutex, OnceLock, TryLockError};
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps: longer than the gaps between the kernels of
/// one pass, short enough that an idle program soon stops using the processor.
const SPIN: Duration = Duration::from_micros(300);

/// Runs `f(0)`, …, `f(parts − 1)`, on the team's threads and the calling one.
pub(super) fn each_part(parts: usize, f: &(dyn Fn(usize) + Sync)) {
    let team = Team::get();
    if parts <= 1 || team.workers == 0 {
        return (0..parts).for_each(f);
    }
    let _running = match team.running.try_lock() {
        Ok(running) => running,
        // A part panicked while the team ran it (and the caller was told): the team is sound.
        Err(TryLockError::Poisoned(running)) => running.into_inner(),
        Err(TryLockError::WouldBlock) => return (0..parts).for_each(f),
    };
    let job = Job { f, parts, next: AtomicUsize::new(0), done: AtomicUsize::new(0), panicked: AtomicBool::new(false) };
    team.job.store(&job as *const Job as *mut Job, SeqCst);
    team.epoch.fetch_add(1, SeqCst);
    {
        let idle = team.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.sleeping > 0 {
            team.wake.notify_all();
        }
    }
    job.work();
    while job.done.load(SeqCst) < parts {
        std::hint::spin_loop();
    }
    // No worker touches `job` after this: one that has not yet announced itself finds no job.
    team.job.store(std::ptr::null_mut(), SeqCst);
    while team.active.load(SeqCst) != 0 {
        std::hint::spin_loop();
    }
    // Every part ran (a panicking one counts as done, so nothing waits forever); the panic's own
    // message was printed where it happened.
    assert!(!job.panicked.load(SeqCst), "a part of a kernel panicked");
}

/// The threads that run a kernel's parts, the caller's included.
pub(super) fn threads() -> usize {
    Team::get().workers + 1
}

struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Takes parts until none are left; a part that panics counts as done (and is reported).
    fn work(&self) {
        loop {
            let part = self.next.fetch_add(1, SeqCst);
            if part >= self.parts {
                return;
            }
            let result = catch_unwind(AssertUnwindSafe(|| (self.f)(part)));
            self.done.fetch_add(1, SeqCst);
            if let Err(panic) = result {
                self.panicked.store(true, SeqCst);
                drop(panic);
            }
        }
    }
}

struct Team {
    workers: usize,
    /// Held by the kernel running on the team.
    running: Mutex<()>,
    /// The running kernel's job (null between kernels), a `Job` on its caller's stack.
    job: AtomicPtr<Job<'static>>,
    /// Counts the jobs posted; a worker waits for it to move.
    epoch: AtomicU64,
    /// Workers inside a job.
    active: AtomicUsize,
    idle: Mutex<Idle>,
    wake: Condvar,
}

struct Idle {
    sleeping: usize,
}

impl Team {
    fn get() -> &'static Team {
        static TEAM: OnceLock<&'static Team> = OnceLock::new();
        TEAM.get_or_init(|| {
            // As many threads as rayon's pool (RAYON_NUM_THREADS, else the cores).
            let workers = rayon::current_num_threads().saturating_sub(1);
            let team: &'static Team = Box::leak(Box::new(Team {
                workers,
                running: Mutex::new(()),
                job: AtomicPtr::new(std::ptr::null_mut()),
                epoch: AtomicU64::new(0),
                active: AtomicUsize::new(0),
                idle: Mutex::new(Idle { sleeping: 0 }),
                wake: Condvar::new(),
            }));
            for i in 0..workers {
                let spawned = std::thread::Builder::new().name(format!("thinktwice-{i}")).spawn(move || team.serve());
                if spawned.is_err() {
                    // Fewer threads than asked: the caller's own share grows, nothing waits.
                    break;
                }
            }
            team
        })
    }

    fn serve(&self) {
        let mut seen = self.epoch.load(SeqCst);
        loop {
            seen = self.next_epoch(seen);
            self.active.fetch_add(1, SeqCst);
            let job = self.job.load(SeqCst);
            if !job.is_null() {
                // SAFETY: the caller keeps its job alive until `active` is back to zero, and this
                // thread announced itself in `active` before it read the pointer.
                unsafe { (*job).work() };
            }
            self.active.fetch_sub(1, SeqCst);
        }
    }

    /// Waits for an epoch after `seen`: spinning for [`SPIN`], then asleep.
    fn next_epoch(&self, seen: u64) -> u64 {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let epoch = self.epoch.load(SeqCst);
            if epoch != seen {
                return epoch;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                break;
            }
            std::hint::spin_loop();
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.sleeping += 1;
        while self.epoch.load(SeqCst) == seen {
            idle = self.wake.wait(idle).unwrap_or_else(|e| e.into_inner());
        }
        idle.sleeping -= 1;
        self.epoch.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_however_often_the_team_is_called() {
        for parts in [0, 1, 2, 7, 64] {
            for _ in 0..200 {
                let counts: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
                each_part(parts, &|i| _ = counts[i].fetch_add(1, SeqCst));
                assert!(counts.iter().all(|c| c.load(SeqCst) == 1), "{parts} parts");
            }
        }
    }

    #[test]
    fn a_kernel_inside_a_kernel_and_callers_on_other_threads_run_their_parts() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..50 {
                        each_part(4, &|_| each_part(3, &|_| _ = total.fetch_add(1, SeqCst)));
                    }
                });
            }
        });
        assert_eq!(total.load(SeqCst), 3 * 50 * 4 * 3);
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_the_team_goes_on() {
        let result = catch_unwind(|| each_part(8, &|i| assert!(i != 5, "part five")));
        assert!(result.is_err());
        let count = AtomicUsize::new(0);
        each_part(8, &|_| _ = count.fetch_add(1, SeqCst));
        assert_eq!(count.load(SeqCst), 8);
        // And it still runs parts on its workers (where it has any). Other tests run kernels at
        // the same time, and while one of them holds the team this caller runs its parts alone:
        // try for as long as it takes them to let go, not a fixed number of times.
        if threads() > 1 {
            let caller = std::thread::current().id();
            let elsewhere = AtomicBool::new(false);
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                each_part(64, &|_| {
                    if std::thread::current().id() != caller {
                        elsewhere.store(true, SeqCst);
                    }
                    std::hint::black_box((0..2000).sum::<u64>());
                });
                if elsewhere.load(SeqCst) {
                    break;
                }
            }
            assert!(elsewhere.load(SeqCst), "no part ran on a worker after a panic");
        }
    }
}
