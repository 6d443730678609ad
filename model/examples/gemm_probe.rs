//! Tuning probe for one GEMM shape (fastest and median call, GFLOP/s), for quick
//! blocking experiments (`TOKLAB_GEMM_BLOCK=MC,KC`); the criterion
//! comparison with other crates is `benches/gemm.rs`.
//!
//! `cargo run --release -p model --example gemm_probe -- M K N [scalar|avx2|avx512] [rows|at|grp|rg|rgm|rgr]`
//! (the ISA defaults to the one the trainer picks on this CPU)
//! (`TOKLAB_PROBE_EVICT=MiB`: stream that much memory between calls.)
//! (`rows`: the per-time-step path with A row-major in place; `at`: A
//! stored transposed, as dG^T in the weight gradients; `grp`: A in the
//! grouped layout the backward writes dG^T in, read with no packing; `rg`:
//! A in row groups of NR, as the head reads the activation panels; `rgm`:
//! row groups of MR, as dE reads the per-token sums (and dh read the grouped
//! dlogits before `rgr`); `rgr`: the same driver on a row-major A, one group
//! as wide as K, as dh reads the dlogits.)
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use model::kernels::{Isa, Kernels, PackedB, gemm};
use std::time::Instant;

const USAGE: &str = "usage: gemm_probe M K N [scalar|avx2|avx512] [rows|at|grp|rg|rgm|rgr]";

fn fail(msg: &str) -> ! {
    eprintln!("gemm_probe: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=6).contains(&args.len()) {
        fail("expected M K N and optionally an ISA and a layout");
    }
    let dim = |i: usize| match args[i].parse::<usize>() {
        Ok(d) if d >= 1 => d,
        _ => fail(&format!("{:?} is not a positive integer", args[i])),
    };
    let (m, k, n) = (dim(1), dim(2), dim(3));
    // The ISA: named, or the one the trainer would pick on this CPU.
    let isa = match args.get(4) {
        Some(name) => Isa::from_name(name).unwrap_or_else(|| fail(&format!("unknown ISA {name:?}"))),
        None => Kernels::detect().isa(),
    };
    let kern = Kernels::get(isa).unwrap_or_else(|| fail(&format!("this CPU cannot run {}", isa.name())));
    // The layout of A ("": the packed driver on a row-major A).
    let mode = args.get(5).map_or("", String::as_str);
    if !["", "rows", "at", "grp", "rg", "rgm", "rgr"].contains(&mode) {
        fail(&format!("unknown layout {mode:?}"));
    }
    let (rows, at, grp, rgr, rgm) =
        (mode == "rows", mode == "at", mode == "grp", mode == "rgr", mode == "rgm");
    let rg = mode == "rg" || rgm;
    // AlignedBuf (huge pages, as the trainer's buffers) rather than Vec:
    // with 4 KiB pages, C rows 32 KiB apart make the timing vary by 10%.
    let mut a = model::kernels::AlignedBuf::zeros(m * k);
    a.as_mut_slice().iter_mut().enumerate().for_each(|(i, x)| *x = (i % 7) as f32 * 0.1);
    let a = a.as_slice();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut cbuf = model::kernels::AlignedBuf::zeros(m * n);
    let c = cbuf.as_mut_slice();
    let mut pb = PackedB::new();
    pb.pack(kern, k, n, &b, n, 1);
    let ag = if grp { Some(gemm::group_a(kern, m, k, a, 1, m)) } else { None };
    let gw = if rgm { kern.tile().0 } else { kern.tile().1 };
    let agr = if rg { Some(gemm::group_rows(m, k, gw, a, k, 1)) } else { None };
    let reps = (2e10 / (2.0 * (m * n * k) as f64)).max(3.0) as usize;
    // The fastest single call: on a shared machine other processes only
    // ever slow a call down, and one call is short enough to often run
    // undisturbed. The median call is closer to what the same GEMM gets
    // inside training.
    let mut times = Vec::with_capacity(3 * reps);
    // TOKLAB_PROBE_EVICT=MiB: write that much other memory between calls,
    // so the operands come from DRAM as in training, where other buffers
    // pass through the caches between one GEMM and the next on the same data.
    let evict_mib: usize = std::env::var("TOKLAB_PROBE_EVICT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut junk = vec![0u8; evict_mib << 20];
    for i in 0..3 * reps {
        if evict_mib > 0 {
            junk.iter_mut().step_by(64).for_each(|x| *x = x.wrapping_add(i as u8));
        }
        let t = Instant::now();
        {
            if rgr {
                gemm::gemm_rows_g(kern, m, a, k, m * k, &pb, c, n, false);
            } else if let Some((ra, rgs)) = &agr {
                gemm::gemm_rows_g(kern, m, ra.as_slice(), gw, *rgs, &pb, c, n, false);
            } else if let Some((ga, gs)) = &ag {
                gemm::gemm_a_grouped(kern, m, ga.as_slice(), *gs, &pb, c, n, false);
            } else if rows {
                gemm::gemm_rows(kern, m, a, k, &pb, c, n, false);
            } else {
                if at {
                    gemm::gemm_prepacked(kern, m, a, 1, m, &pb, c, n, false);
                } else {
                    gemm::gemm_prepacked(kern, m, a, k, 1, &pb, c, n, false);
                }
            }
        }
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let (best, median) = (times[0], times[times.len() / 2]);
    let threads = if rows { 1 } else { rayon::current_num_threads() };
    let peak = (0..3).map(|_| model::kernels::fma_peak_gflops_isa(threads, 100, isa)).fold(0.0, f64::max);
    let gf = 2.0 * (m * n * k) as f64 / best / 1e9;
    println!(
        "{m}x{k}x{n} {isa:?} rows={rows} at={at} threads={threads}: {:.3} ms, {gf:.1} GFLOP/s = {:.1}% of {peak:.1} (median call {:.1} GFLOP/s)",
        best * 1e3,
        100.0 * gf / peak,
        2.0 * (m * n * k) as f64 / median / 1e9
    );
}
