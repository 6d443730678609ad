//! The time loop's thread team: `ntasks` independent tasks per step, steps in
//! order, one barrier per step, with no allocation and no rayon call per step.
//!
//! Each participant has a home range of tasks (contiguous, so a thread keeps
//! touching the same weight panels and its L2 stays warm) and steals from the
//! other ranges when its own is exhausted. Tasks are claimed with a CAS on a
//! per-range cursor that only grows, so nothing is reset between steps. A
//! participant waits at a step's barrier only once no task of that step is
//! left unclaimed; claimed tasks are finished by threads that never block
//! while holding one. So the loop finishes even if rayon starts fewer
//! participants than asked (a busy pool, a nested call): one thread alone
//! runs every task. Which thread runs a task never changes its result.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counters for one run of the loop (reusable, reset by `run`).
#[derive(Debug, Default)]
pub(crate) struct StepSync {
    cursors: Vec<AtomicUsize>,
    done: AtomicUsize,
}

impl StepSync {
    pub(crate) fn new() -> StepSync {
        StepSync::default()
    }

    /// Runs `f(step, task)` for every step in `0..steps` (in order; step s+1
    /// starts after every task of step s finished) and task in `0..ntasks`,
    /// on up to `threads` participants. Allocates only when `threads` grows.
    pub(crate) fn run(
        &mut self,
        threads: usize,
        steps: usize,
        ntasks: usize,
        f: &(dyn Fn(usize, usize) + Sync),
    ) {
        if steps == 0 || ntasks == 0 {
            return;
        }
        let nranges = threads.clamp(1, ntasks);
        if nranges == 1 {
            for s in 0..steps {
                for t in 0..ntasks {
                    f(s, t);
                }
            }
            return;
        }
        if self.cursors.len() < nranges {
            self.cursors.resize_with(nranges, || AtomicUsize::new(0));
        }
        for c in &self.cursors[..nranges] {
            c.store(0, Ordering::Relaxed);
        }
        self.done.store(0, Ordering::Relaxed);
        let this = &*self;
        let worker = |p: usize| this.worker(p, nranges, steps, ntasks, f);
        rayon::scope(|sc| {
            for p in 1..nranges {
                sc.spawn(move |_| worker(p));
            }
            worker(0);
        });
    }

    fn range(r: usize, nranges: usize, ntasks: usize) -> (usize, usize) {
        (r * ntasks / nranges, (r + 1) * ntasks / nranges)
    }

    fn worker(
        &self,
        p: usize,
        nranges: usize,
        steps: usize,
        ntasks: usize,
        f: &(dyn Fn(usize, usize) + Sync),
    ) {
        for s in 0..steps {
            for rr in 0..nranges {
                let r = (p + rr) % nranges;
                let (lo, hi) = StepSync::range(r, nranges, ntasks);
                let len = hi - lo;
                let end = (s + 1) * len;
                let cursor = &self.cursors[r];
                loop {
                    let cur = cursor.load(Ordering::Relaxed);
                    if cur >= end {
                        break;
                    }
                    if cursor
                        .compare_exchange_weak(cur, cur + 1, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        f(s, lo + (cur - s * len));
                        self.done.fetch_add(1, Ordering::Release);
                    }
                }
            }
            let target = (s + 1) * ntasks;
            let mut spins = 0u32;
            while self.done.load(Ordering::Acquire) < target {
                if spins < 2000 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
}
