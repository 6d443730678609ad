//! SIMD kernels of the fast training path, chosen at run time.
//!
//! Three instruction sets, one set of kernels: every kernel is written once
//! over the crate-private `Simd` trait (`generic.rs`) and instantiated by
//! - `scalar.rs`: one f32 lane, always compiled, the reference every fast
//!   path is tested against (and what runs under `TOKLAB_SIMD=scalar`);
//! - `x86_64/avx2.rs`: AVX2 + FMA, 8 lanes;
//! - `x86_64/avx512.rs`: AVX-512F, 16 lanes.
//!
//! [`Kernels`] is the table of one ISA's entry points. [`Kernels::get`] is the
//! checked constructor (None when the CPU lacks the ISA); [`Kernels::detect`]
//! picks the best available once, honours the `TOKLAB_SIMD` environment
//! variable (`scalar`, `avx2`, `avx512`), logs the choice with `log::debug!`
//! and caches it. The per-ISA entry points are `unsafe` `#[target_feature]`
//! functions, reachable only through a table obtained this way.
//!
//! What is here: the GEMM driver and microkernels ([`gemm`]), the fused
//! recurrent-cell kernels (LSTM i, f, g, o and tanh RNN, forward and
//! backward), softmax cross-entropy, AdamW, sums of squares, scaling and the
//! vector math (exp, tanh, sigmoid). What is not: the model, the time loop
//! and the scheduling of threads (`crate::fast`).
//!
//! Numerics: f32 throughout. The vector exp/tanh/sigmoid are polynomial
//! (`generic.rs` documents them; `tests/kernels.rs` measures their error
//! against f64); the scalar reference uses the platform libm instead, so the
//! comparison between the two is a real check.

#[macro_use]
mod instantiate;
mod aligned;
pub mod cache;
mod dispatch;
pub mod gemm;
mod generic;
mod scalar;
mod simd;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use aligned::AlignedBuf;
pub use cache::{Blocking, CacheSizes};
pub use dispatch::{Isa, Kernels};
pub use gemm::PackedB;

/// Units per gate block in the fast path's permuted gate layout (see
/// [`gate_col`]): a block of `w <= UNIT_BLOCK` units stores its gates as
/// `[i(w) f(w) g(w) o(w)]`, so one row of a block is what the fused cell
/// kernel consumes.
pub const UNIT_BLOCK: usize = 16;

/// The column of gate `gate` (0..G) of unit `unit` (0..H) in the permuted
/// gate layout used by the fast path, for `g` gates per unit and `h` units.
///
/// Units are grouped in blocks of [`UNIT_BLOCK`]; block `u` occupies columns
/// `[g*UNIT_BLOCK*u, g*UNIT_BLOCK*u + g*w_u)` with its gates contiguous.
/// With `g == 1` (RNN) this is the identity.
#[inline]
pub fn gate_col(gate: usize, unit: usize, g: usize, h: usize) -> usize {
    let u = unit / UNIT_BLOCK;
    let start = u * UNIT_BLOCK;
    let w = UNIT_BLOCK.min(h - start);
    g * start + gate * w + (unit - start)
}

/// The inverse of [`gate_col`]: PyTorch's gate row (`gate * h + unit`) for a
/// permuted column.
#[inline]
pub fn gate_row(col: usize, g: usize, h: usize) -> usize {
    let u = col / (g * UNIT_BLOCK);
    let start = u * UNIT_BLOCK;
    let w = UNIT_BLOCK.min(h - start);
    let off = col - g * start;
    let gate = off / w;
    gate * h + start + off % w
}

/// One AdamW step over the flat buffer with the detected kernels: see
/// [`Kernels::adamw_step`].
pub fn adamw_step(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    config: &crate::optim::AdamWConfig,
    lr: f64,
    step: u64,
) {
    Kernels::detect().adamw_step(params, grads, m, v, config, lr, step)
}

/// [`Kernels::adamw_update`] with the detected kernels; pass it to
/// `optim::AdamW::step_with`.
pub fn adamw_update(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    s: &crate::optim::AdamWScalars,
) {
    Kernels::detect().adamw_update(params, grads, m, v, s)
}

/// Sum of squares with the detected kernels: see [`Kernels::sum_squares`].
pub fn sum_squares(x: &[f32]) -> f64 {
    Kernels::detect().sum_squares(x)
}

/// Sum of squares of every tensor of `layout` in the flat buffer `x` (for
/// per-tensor gradient norms; the global squared norm is their sum), with
/// the detected kernels, tensors in parallel. Each value depends only on
/// the data (see [`Kernels::sum_squares`]).
///
/// # Panics
/// If `x` is not the layout's length.
pub fn sum_squares_per_tensor(layout: &crate::params::ParamLayout, x: &[f32]) -> Vec<f64> {
    use rayon::prelude::*;
    assert_eq!(x.len(), layout.len(), "sum_squares_per_tensor: buffer length does not match the layout");
    let k = Kernels::detect();
    layout.specs().par_iter().map(|s| k.sum_squares(&x[s.range()])).collect()
}

/// `x *= s` with the detected kernels (gradient clipping).
pub fn scale(x: &mut [f32], s: f32) {
    Kernels::detect().scale(x, s)
}

/// The widest vector ISA this CPU has (`Scalar` without AVX2 + FMA): the
/// peak a scalar run is measured against.
pub fn widest_isa() -> Isa {
    [Isa::Avx512, Isa::Avx2].into_iter().find(|i| i.is_available()).unwrap_or(Isa::Scalar)
}

/// The CPUs this process may run on (its affinity mask and cgroup quota,
/// as `std::thread::available_parallelism` reads them; 1 when unknown).
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The threads [`fma_peak_gflops_isa`] runs for a pool of `threads`: at
/// least one and at most one per [`usable_cpus`]. More threads than CPUs
/// share the same FMA units, so they cannot raise the peak; each burst
/// would only take longer (99,999 threads on 2 CPUs: hours).
pub fn peak_threads(threads: usize) -> usize {
    threads.clamp(1, usable_cpus())
}

/// The machine's fp32 FMA peak in GFLOP/s with `isa`'s FMA chains, on
/// `threads` OS threads (at most one per CPU, see [`peak_threads`]): each
/// runs 12 independent FMA chains (enough to cover the FMA latency on
/// current x86 cores), counting 2 flops per lane per FMA. On cores with two
/// 512-bit FMA units the AVX2 peak is half the AVX-512 one, so a path forced
/// to AVX2 is measured against the AVX2 peak. The time (about `millis` ms in
/// all) is split into eight bursts and the fastest burst counts: a peak is
/// what the cores can do, and on a shared machine other processes only ever
/// make a burst slower. 0 for `Isa::Scalar` or an ISA this CPU lacks.
pub fn fma_peak_gflops_isa(threads: usize, millis: u64, isa: Isa) -> f64 {
    if !isa.is_available() {
        return 0.0;
    }
    #[cfg(target_arch = "x86_64")]
    let (lanes, run): (f64, fn(u64) -> f32) = match isa {
        // SAFETY: the ISA's availability was checked just above.
        Isa::Avx512 => (16.0, |n| unsafe { x86_64::avx512::fma_chains(n) }),
        // SAFETY: as above.
        Isa::Avx2 => (8.0, |n| unsafe { x86_64::avx2::fma_chains(n) }),
        Isa::Scalar => return 0.0,
    };
    #[cfg(not(target_arch = "x86_64"))]
    return 0.0;
    #[cfg(target_arch = "x86_64")]
    {
        const BURSTS: u64 = 8;
        // Calibrate the iteration count of one burst on one thread.
        let burst_ms = (millis / BURSTS).max(1);
        let mut iters = 1u64 << 12;
        loop {
            let t = std::time::Instant::now();
            std::hint::black_box(run(iters));
            if t.elapsed().as_millis() as u64 >= burst_ms || iters > 1 << 40 {
                break;
            }
            iters *= 2;
        }
        let threads = peak_threads(threads);
        let flops = iters as f64 * 12.0 * lanes * 2.0 * threads as f64;
        let best = (0..BURSTS)
            .map(|_| {
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..threads {
                        s.spawn(|| std::hint::black_box(run(iters)));
                    }
                });
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        flops / best / 1e9
    }
}
