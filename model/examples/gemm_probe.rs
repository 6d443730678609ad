//! Tuning probe for one GEMM shape (best of 3, GFLOP/s), for quick
//! blocking experiments (`TOKLAB_GEMM_BLOCK=MC,KC`); the criterion
//! comparison with other crates is `benches/gemm.rs`.
//!
//! `cargo run --release -p model --example gemm_probe -- M K N [scalar|avx2|avx512] [rows|at]`
//! (`rows`: the per-time-step path with A row-major in place; `at`: A
//! stored transposed, as dG^T in the weight gradients.)

use model::kernels::{Isa, Kernels, PackedB, gemm};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (m, k, n) = (
        args[1].parse::<usize>().unwrap(),
        args[2].parse::<usize>().unwrap(),
        args[3].parse::<usize>().unwrap(),
    );
    let isa = Isa::from_name(args.get(4).map(|s| s.as_str()).unwrap_or("avx512")).unwrap();
    let rows = args.get(5).is_some_and(|s| s == "rows");
    let at = args.get(5).is_some_and(|s| s == "at");
    let kern = Kernels::get(isa).unwrap();
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let mut pb = PackedB::new();
    pb.pack(kern, k, n, &b, n, 1);
    let reps = (2e10 / (2.0 * (m * n * k) as f64)).max(3.0) as usize;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..reps {
            if rows {
                gemm::gemm_rows(kern, m, &a, k, &pb, &mut c, n, false);
            } else {
                if at {
                    gemm::gemm_prepacked(kern, m, &a, 1, m, &pb, &mut c, n, false);
                } else {
                    gemm::gemm_prepacked(kern, m, &a, k, 1, &pb, &mut c, n, false);
                }
            }
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    println!(
        "{m}x{k}x{n} {isa:?} rows={rows}: {:.3} ms, {:.1} GFLOP/s",
        best * 1e3,
        2.0 * (m * n * k) as f64 / best / 1e9
    );
}
