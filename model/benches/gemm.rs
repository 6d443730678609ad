//! Our GEMM against the `gemm` crate (x86-v4, AVX-512) and `matrixmultiply`
//! (threading) on the shapes the LSTM trainer runs, with the operand
//! layouts it has (W^T for the projections, dG^T for the weight gradients).
//!
//! "toklab" uses a B packed once outside the timing (the trainer packs
//! weights once per optimizer step and reuses them for every call);
//! "toklab A in place" also has A already in the layout the trainer writes
//! it in (dG^T grouped by MR for the weight gradients, activation panels
//! for the head), so nothing is packed inside the timing;
//! "toklab+pack" packs B inside the timing, as the two crates do. All on
//! the same number of threads (TOKLAB_BENCH_THREADS, default 2).
//!
//! `cargo bench -p model --bench gemm`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use model::kernels::gemm::{gemm, gemm_a_grouped, gemm_prepacked, gemm_rows_g, group_a, group_rows};
use model::kernels::{Kernels, PackedB};
use model::rng::Rng;

struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    /// A stored transposed (element (i, p) at a[p*m + i]).
    a_t: bool,
    /// B stored transposed (a weight matrix [N, K] used as W^T).
    b_t: bool,
}

const SHAPES: &[Shape] = &[
    Shape { name: "recurrent step 32x512x2048 (h W_hh^T)", m: 32, k: 512, n: 2048, a_t: false, b_t: true },
    Shape { name: "recurrent bwd 32x2048x512 (dG W_hh)", m: 32, k: 2048, n: 512, a_t: false, b_t: false },
    Shape {
        name: "input projection 4096x512x2048 (X W_ih^T)",
        m: 4096,
        k: 512,
        n: 2048,
        a_t: false,
        b_t: true,
    },
    Shape { name: "weight grad 2048x4096x512 (dG^T X)", m: 2048, k: 4096, n: 512, a_t: true, b_t: false },
    Shape { name: "dX 4096x2048x512 (dG W_ih)", m: 4096, k: 2048, n: 512, a_t: false, b_t: false },
    Shape { name: "head V=65 4096x512x65 (h W^T)", m: 4096, k: 512, n: 65, a_t: false, b_t: true },
    Shape { name: "head V=8000 512x512x8000 (h W^T)", m: 512, k: 512, n: 8000, a_t: false, b_t: true },
    Shape {
        name: "head grad V=8000 8000x512x512 (dlogits^T h)",
        m: 8000,
        k: 512,
        n: 512,
        a_t: true,
        b_t: false,
    },
];

fn threads() -> usize {
    std::env::var("TOKLAB_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

fn bench(c: &mut Criterion) {
    let t = threads();
    let _ = rayon::ThreadPoolBuilder::new().num_threads(t).build_global();
    // SAFETY: set before matrixmultiply's pool reads it, single-threaded here.
    unsafe { std::env::set_var("MATMUL_NUM_THREADS", t.to_string()) };
    let kern = Kernels::detect();
    let mut rng = Rng::new(1);
    for s in SHAPES {
        let (m, k, n) = (s.m, s.k, s.n);
        let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let mut cbuf = vec![0.0f32; m * n];
        let (ars, acs) = if s.a_t { (1, m) } else { (k, 1) };
        let (brs, bcs) = if s.b_t { (1, k) } else { (n, 1) };
        let mut g = c.benchmark_group(s.name);
        g.sample_size(10)
            .warm_up_time(std::time::Duration::from_millis(500))
            .measurement_time(std::time::Duration::from_secs(2));
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        let mut packed = PackedB::new();
        packed.pack(kern, k, n, &b, brs, bcs);
        g.bench_function(BenchmarkId::new("toklab", kern.isa().name()), |bch| {
            bch.iter(|| gemm_prepacked(kern, m, &a, ars, acs, &packed, &mut cbuf, n, false))
        });
        // The trainer's own layouts, A read in place with no packing: dG^T
        // and dlogits^T grouped by MR (`gemm_a_grouped`), activations in
        // row groups of NR (`gemm_rows_g`). Not for the per-step shapes,
        // which run through the single-threaded per-task path.
        if s.a_t {
            let (ga, gs) = group_a(kern, m, k, &a, ars, acs);
            g.bench_function(BenchmarkId::new("toklab A in place", kern.isa().name()), |bch| {
                bch.iter(|| gemm_a_grouped(kern, m, ga.as_slice(), gs, &packed, &mut cbuf, n, false))
            });
        } else if m > 32 {
            let gw = kern.tile().1;
            let (ra, rgs) = group_rows(m, k, gw, &a, ars, acs);
            g.bench_function(BenchmarkId::new("toklab A in place", kern.isa().name()), |bch| {
                bch.iter(|| gemm_rows_g(kern, m, ra.as_slice(), gw, rgs, &packed, &mut cbuf, n, false))
            });
        }
        let mut scratch = PackedB::new();
        g.bench_function(BenchmarkId::new("toklab+pack", kern.isa().name()), |bch| {
            bch.iter(|| gemm(kern, m, n, k, &a, ars, acs, &b, brs, bcs, &mut cbuf, n, false, &mut scratch))
        });
        g.bench_function("gemm-0.19 x86-v4", |bch| {
            bch.iter(|| {
                // SAFETY: all strides describe the live buffers above.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        cbuf.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        acs as isize,
                        ars as isize,
                        b.as_ptr(),
                        bcs as isize,
                        brs as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::Rayon(t),
                    )
                }
            })
        });
        g.bench_function("matrixmultiply-0.3", |bch| {
            bch.iter(|| {
                // SAFETY: all strides describe the live buffers above.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        ars as isize,
                        acs as isize,
                        b.as_ptr(),
                        brs as isize,
                        bcs as isize,
                        0.0,
                        cbuf.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
