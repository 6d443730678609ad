//! Every kernel of every available ISA against the scalar reference and
//! against f64 math, on random inputs whose lengths are not multiples of any
//! vector width (1, 7, 15, 17, 33, 100, ...).
//!
//! Tolerances (stated here once, asserted below):
//! - exp: at most 2 ulp relative to the f64 value over [-87, 88];
//!   sigmoid: 4 ulp over [-80, 80]; tanh: 3 ulp over [-20, 20] (including
//!   tiny arguments, where tanh x ~ x). The scalar reference (libm) is held
//!   to the same bounds.
//! - GEMM: every element within 1e-5 * (sum_k |a_ik b_kj| + |c_ij|) of an f64
//!   product (f32 accumulation of k terms has relative error ~k*eps in the
//!   worst case; this bound is k-independent because the FMA chains keep it
//!   far lower in practice), and bit-identical for 1, 2 and 3 threads.
//! - Fused cells, softmax cross-entropy, AdamW, sums of squares: within a
//!   few f32 ulps (relative 1e-5, absolute 1e-6) of the f64 formulas.

use model::kernels::gemm::{
    gemm, gemm_a_grouped, gemm_prepacked, gemm_rows, gemm_rows_g, group_a, group_rows,
};
use model::kernels::{Isa, Kernels, PackedB};
use model::optim::{AdamWConfig, AdamWScalars, adamw_update};
use model::rng::Rng;

/// The kernels of every ISA this CPU runs; fails when `TOKLAB_REQUIRE_ISA`
/// names one it does not (see `Isa::tested`).
fn kernels() -> Vec<&'static Kernels> {
    Isa::tested().into_iter().filter_map(Kernels::get).collect()
}

fn rand_vec(rng: &mut Rng, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi) as f32).collect()
}

const LENS: [usize; 12] = [0, 1, 2, 7, 8, 15, 16, 17, 31, 33, 100, 1000];

fn ulp_err(got: f32, want: f64) -> f64 {
    if want == 0.0 {
        return if got == 0.0 { 0.0 } else { f64::INFINITY };
    }
    let w = want as f32;
    let ulp = if w.is_finite() && w != 0.0 {
        let bits = w.abs().to_bits();
        (f32::from_bits(bits + 1) - f32::from_bits(bits)) as f64
    } else {
        f32::MIN_POSITIVE as f64 * f32::EPSILON as f64
    };
    (got as f64 - want).abs() / ulp
}

/// Sweeps `f` over [lo, hi] and returns the max error in ulps.
fn max_ulp(
    k: &Kernels,
    f: fn(&Kernels, &[f32], &mut [f32]),
    want: fn(f64) -> f64,
    lo: f64,
    hi: f64,
) -> (f64, f32) {
    let n = 200_001;
    let x: Vec<f32> = (0..n).map(|i| (lo + (hi - lo) * i as f64 / (n - 1) as f64) as f32).collect();
    let mut y = vec![0.0; n];
    f(k, &x, &mut y);
    let mut worst = (0.0, 0.0);
    for (&xi, &yi) in x.iter().zip(&y) {
        let e = ulp_err(yi, want(xi as f64));
        if e > worst.0 {
            worst = (e, xi);
        }
    }
    worst
}

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn math_accuracy_vs_f64() {
    for k in kernels() {
        let (e, at) = max_ulp(k, Kernels::exp, f64::exp, -87.0, 88.0);
        println!("{:?} exp: max {e:.2} ulp at {at}", k.isa());
        assert!(e <= 2.0, "{:?} exp: {e} ulp at {at}", k.isa());
        let (e, at) = max_ulp(k, Kernels::sigmoid, sigmoid64, -80.0, 80.0);
        println!("{:?} sigmoid: max {e:.2} ulp at {at}", k.isa());
        assert!(e <= 4.0, "{:?} sigmoid: {e} ulp at {at}", k.isa());
        for (lo, hi) in [(-20.0, 20.0), (-1e-3, 1e-3), (-0.7, 0.7)] {
            let (e, at) = max_ulp(k, Kernels::tanh, f64::tanh, lo, hi);
            println!("{:?} tanh [{lo}, {hi}]: max {e:.2} ulp at {at}", k.isa());
            assert!(e <= 3.0, "{:?} tanh: {e} ulp at {at}", k.isa());
        }
    }
}

#[test]
fn math_edge_cases() {
    for k in kernels() {
        let x = [f32::NEG_INFINITY, -1000.0, -88.0, 0.0, -0.0, 89.0, 1000.0, f32::INFINITY, f32::NAN];
        let mut y = [0.0f32; 9];
        k.exp(&x, &mut y);
        assert_eq!(y[0], 0.0, "{:?} exp(-inf)", k.isa());
        assert_eq!(y[1], 0.0);
        assert!(y[2] >= 0.0 && y[2] < 1e-37);
        assert_eq!(y[3], 1.0);
        assert_eq!(y[4], 1.0);
        assert_eq!(y[5], f32::INFINITY);
        assert_eq!(y[6], f32::INFINITY);
        assert_eq!(y[7], f32::INFINITY);
        assert!(y[8].is_nan(), "{:?} exp(NaN) = {}", k.isa(), y[8]);
        k.sigmoid(&x, &mut y);
        assert_eq!(&y[..2], &[0.0, 0.0], "{:?} sigmoid", k.isa());
        assert_eq!(y[3], 0.5);
        assert_eq!(&y[5..8], &[1.0, 1.0, 1.0]);
        assert!(y[8].is_nan());
        k.tanh(&x, &mut y);
        assert_eq!(&y[..3], &[-1.0, -1.0, -1.0], "{:?} tanh", k.isa());
        assert_eq!(y[3], 0.0);
        assert_eq!(&y[5..8], &[1.0, 1.0, 1.0]);
        assert!(y[8].is_nan());
    }
}

/// Every length, including empty and partial-vector tails, through the
/// slice entry points (no out-of-bounds read or write: the tails use masked
/// moves, checked here by canaries past the end).
#[test]
fn partial_lengths_touch_nothing_past_the_end() {
    let mut rng = Rng::new(1);
    for k in kernels() {
        for n in LENS {
            let x = rand_vec(&mut rng, n, -3.0, 3.0);
            let mut y = vec![7.0f32; n + 16];
            k.tanh(&x, &mut y[..n]);
            assert!(y[n..].iter().all(|&v| v == 7.0), "{:?} tanh n={n} wrote past the end", k.isa());
            for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
                assert!((yi as f64 - (xi as f64).tanh()).abs() < 1e-6, "{:?} n={n} i={i}", k.isa());
            }
            let mut z = vec![7.0f32; n + 16];
            z[..n].copy_from_slice(&x);
            k.scale(&mut z[..n], 0.5);
            assert!(z[n..].iter().all(|&v| v == 7.0));
            assert!(z[..n].iter().zip(&x).all(|(a, b)| *a == b * 0.5));
            let mut s = vec![1.0f32; n];
            k.add(&mut s, &x);
            assert!(s.iter().zip(&x).all(|(a, b)| *a == 1.0 + b));
        }
    }
}

#[test]
fn sum_squares_vs_f64() {
    let mut rng = Rng::new(2);
    for k in kernels() {
        for n in LENS.into_iter().chain([4097, 100_003]) {
            let x = rand_vec(&mut rng, n, -2.0, 2.0);
            let want: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
            let got = k.sum_squares(&x);
            assert!((got - want).abs() <= 1e-6 * want + 1e-12, "{:?} n={n}: {got} vs {want}", k.isa());
        }
    }
}

/// PyTorch's AdamW, written out in f64 from its documentation.
fn adamw64(p: &mut [f64], g: &[f32], m: &mut [f64], v: &mut [f64], c: &AdamWConfig, lr: f64, step: i32) {
    let (b1, b2, wd, eps) = (c.beta1, c.beta2, c.weight_decay, c.eps);
    for i in 0..p.len() {
        let gi = g[i] as f64;
        p[i] *= 1.0 - lr * wd;
        m[i] = b1 * m[i] + (1.0 - b1) * gi;
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
        let mh = m[i] / (1.0 - b1.powi(step));
        let vh = v[i] / (1.0 - b2.powi(step));
        p[i] -= lr * mh / (vh.sqrt() + eps);
    }
}

/// The vector AdamW equals `optim::adamw_update` (the plain-loop reference,
/// itself pinned to PyTorch) bit for bit, and the f64 formula within 1e-6.
#[test]
fn adamw_vs_reference_and_f64() {
    let mut rng = Rng::new(3);
    for k in kernels() {
        for n in [1, 17, 1000, 70_001] {
            for wd in [0.0, 0.1] {
                let cfg = AdamWConfig { weight_decay: wd, ..AdamWConfig::default() };
                let lr = 1e-2;
                let mut p = rand_vec(&mut rng, n, -1.0, 1.0);
                let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
                let (mut pr, mut mr, mut vr) = (p.clone(), m.clone(), v.clone());
                let mut p64: Vec<f64> = p.iter().map(|&x| x as f64).collect();
                let (mut m64, mut v64) = (vec![0.0; n], vec![0.0; n]);
                for step in 1..=5u64 {
                    let g = rand_vec(&mut rng, n, -1.0, 1.0);
                    k.adamw_step(&mut p, &g, &mut m, &mut v, &cfg, lr, step);
                    adamw_update(&mut pr, &g, &mut mr, &mut vr, &AdamWScalars::new(&cfg, lr, step));
                    adamw64(&mut p64, &g, &mut m64, &mut v64, &cfg, lr, step as i32);
                }
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&p),
                    bits(&pr),
                    "{:?} n={n} wd={wd}: params differ from optim::adamw_update",
                    k.isa()
                );
                assert_eq!(bits(&m), bits(&mr), "{:?}: m", k.isa());
                assert_eq!(bits(&v), bits(&vr), "{:?}: v", k.isa());
                for i in 0..n {
                    assert!(
                        (p[i] as f64 - p64[i]).abs() <= 1e-6,
                        "{:?} n={n} wd={wd} i={i}: {} vs {}",
                        k.isa(),
                        p[i],
                        p64[i]
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_xent_vs_f64() {
    let mut rng = Rng::new(4);
    for k in kernels() {
        for v in [1, 2, 7, 16, 17, 65, 100, 8000] {
            let z0 = rand_vec(&mut rng, v, -8.0, 8.0);
            let bias = rand_vec(&mut rng, v, -1.0, 1.0);
            let target = rng.below(v as u64) as usize;
            let zb: Vec<f64> = z0.iter().zip(&bias).map(|(a, b)| (*a + *b) as f64).collect();
            let m = zb.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = zb.iter().map(|x| (x - m).exp()).sum();
            let want = s.ln() + m - zb[target];
            let scale = 0.25f32;
            let mut z = z0.clone();
            let loss = k.softmax_xent(&mut z, &bias, target, scale, true);
            assert!(
                (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{:?} V={v}: {loss} vs {want}",
                k.isa()
            );
            for j in 0..v {
                let p = (zb[j] - m).exp() / s;
                let dw = scale as f64 * (p - if j == target { 1.0 } else { 0.0 });
                assert!((z[j] as f64 - dw).abs() <= 1e-6, "{:?} V={v} j={j}: {} vs {dw}", k.isa(), z[j]);
            }
            // Loss only: logits get the bias, nothing else.
            let mut z2 = z0.clone();
            let l2 = k.softmax_xent(&mut z2, &bias, target, scale, false);
            assert_eq!(l2, loss);
        }
        // Extreme logits stay finite.
        let mut z = vec![1e4f32, -1e4, 0.0];
        let l = k.softmax_xent(&mut z, &[0.0; 3], 1, 1.0, true);
        assert!((l - 2e4).abs() < 1.0 && z.iter().all(|x| x.is_finite()), "{:?}: {l} {z:?}", k.isa());
    }
}

fn sig(x: f64) -> f64 {
    sigmoid64(x)
}

/// The fused LSTM cell (forward and backward) against the f64 equations,
/// for block widths 1..=16.
#[test]
fn lstm_cell_vs_f64() {
    let mut rng = Rng::new(5);
    for k in kernels() {
        for w in [1, 3, 8, 15, 16] {
            for with_prev in [false, true] {
                let pre = rand_vec(&mut rng, 4 * w, -4.0, 4.0);
                let bias = rand_vec(&mut rng, 4 * w, -1.0, 1.0);
                let cp = rand_vec(&mut rng, w, -2.0, 2.0);
                let mut gates = pre.clone();
                let (mut c, mut tc, mut h) = (vec![0.0; w], vec![0.0; w], vec![0.0; w]);
                k.lstm_cell_forward(&mut gates, &bias, with_prev.then_some(&cp[..]), &mut c, &mut tc, &mut h);
                let dh = rand_vec(&mut rng, w, -1.0, 1.0);
                let dc0 = rand_vec(&mut rng, w, -1.0, 1.0);
                let db0 = rand_vec(&mut rng, 4 * w, -1.0, 1.0);
                let acts = gates.clone();
                let (mut dc, mut db) = (dc0.clone(), db0.clone());
                k.lstm_cell_backward(&mut gates, &tc, with_prev.then_some(&cp[..]), &dh, &mut dc, &mut db);
                for j in 0..w {
                    let p = |q: usize| (pre[q * w + j] + bias[q * w + j]) as f64;
                    let (i, f, g, o) = (sig(p(0)), sig(p(1)), p(2).tanh(), sig(p(3)));
                    let cprev = if with_prev { cp[j] as f64 } else { 0.0 };
                    let cn = f * cprev + i * g;
                    let t = cn.tanh();
                    let close = |a: f32, b: f64, what: &str| {
                        assert!(
                            (a as f64 - b).abs() <= 1e-6 + 1e-5 * b.abs(),
                            "{:?} w={w} j={j} {what}: {a} vs {b}",
                            k.isa()
                        )
                    };
                    close(acts[j], i, "i");
                    close(acts[w + j], f, "f");
                    close(acts[2 * w + j], g, "g");
                    close(acts[3 * w + j], o, "o");
                    close(c[j], cn, "c");
                    close(tc[j], t, "tanh c");
                    close(h[j], o * t, "h");
                    // Backward from the stored (f32) activations.
                    let (i, f, g, o, t) = (
                        acts[j] as f64,
                        acts[w + j] as f64,
                        acts[2 * w + j] as f64,
                        acts[3 * w + j] as f64,
                        tc[j] as f64,
                    );
                    let dhj = dh[j] as f64;
                    let dct = dc0[j] as f64 + dhj * o * (1.0 - t * t);
                    let d = [
                        dct * g * i * (1.0 - i),
                        dct * cprev * f * (1.0 - f),
                        dct * i * (1.0 - g * g),
                        dhj * t * o * (1.0 - o),
                    ];
                    for q in 0..4 {
                        close(gates[q * w + j], d[q], "dgate");
                        close(db[q * w + j], db0[q * w + j] as f64 + d[q], "db");
                    }
                    close(dc[j], dct * f, "dc_prev");
                }
            }
        }
    }
}

#[test]
fn rnn_cell_vs_f64() {
    let mut rng = Rng::new(6);
    for k in kernels() {
        for w in LENS {
            let pre = rand_vec(&mut rng, w, -3.0, 3.0);
            let bias = rand_vec(&mut rng, w, -1.0, 1.0);
            let mut h = vec![0.0; w];
            k.rnn_cell_forward(&pre, &bias, &mut h);
            let dh = rand_vec(&mut rng, w, -1.0, 1.0);
            let db0 = rand_vec(&mut rng, w, -1.0, 1.0);
            let (mut dpre, mut db) = (vec![0.0; w], db0.clone());
            k.rnn_cell_backward(&h, &dh, &mut dpre, &mut db);
            for j in 0..w {
                let want = ((pre[j] + bias[j]) as f64).tanh();
                assert!((h[j] as f64 - want).abs() <= 1e-6, "{:?} w={w}", k.isa());
                let d = dh[j] as f64 * (1.0 - (h[j] as f64).powi(2));
                assert!((dpre[j] as f64 - d).abs() <= 1e-6);
                assert!((db[j] as f64 - (db0[j] as f64 + d)).abs() <= 1e-6);
            }
        }
    }
}

/// C (+)= A.B in f64, plus the error scale sum |a||b| + |c| per element.
#[allow(clippy::too_many_arguments)]
fn gemm64(
    m: usize,
    n: usize,
    kk: usize,
    a: &[f32],
    ars: usize,
    acs: usize,
    b: &[f32],
    brs: usize,
    bcs: usize,
    c: &[f32],
    ldc: usize,
    acc: bool,
) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; m * n];
    let mut scale = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut sa) =
                if acc { (c[i * ldc + j] as f64, (c[i * ldc + j] as f64).abs()) } else { (0.0, 0.0) };
            for p in 0..kk {
                let t = a[i * ars + p * acs] as f64 * b[p * brs + j * bcs] as f64;
                s += t;
                sa += t.abs();
            }
            out[i * n + j] = s;
            scale[i * n + j] = sa;
        }
    }
    (out, scale)
}

#[test]
fn gemm_vs_f64_odd_shapes() {
    let mut rng = Rng::new(7);
    let shapes = [
        (1, 1, 1),
        (1, 33, 17),
        (7, 5, 3),
        (9, 31, 65),
        (33, 17, 1),
        (64, 64, 64),
        (65, 100, 97),
        (130, 513, 40),
        (3, 1030, 70),
        // The per-step batch of 32 rows over two depth blocks (AVX2 covers
        // it with 6- and 5-row tiles, see `gemm::row_split`), and 20 rows
        // (5-row tiles only).
        (32, 48, 600),
        (20, 16, 7),
    ];
    for k in kernels() {
        let mut scratch = PackedB::new();
        for &(m, n, kk) in &shapes {
            for (a_t, b_t, acc) in
                [(false, false, false), (true, false, true), (false, true, true), (true, true, false)]
            {
                let a = rand_vec(&mut rng, m * kk, -1.0, 1.0);
                let b = rand_vec(&mut rng, kk * n, -1.0, 1.0);
                let ldc = n + 3;
                let c0 = rand_vec(&mut rng, m * ldc, -1.0, 1.0);
                let (ars, acs) = if a_t { (1, m) } else { (kk, 1) };
                let (brs, bcs) = if b_t { (1, kk) } else { (n, 1) };
                let mut c = c0.clone();
                gemm(k, m, n, kk, &a, ars, acs, &b, brs, bcs, &mut c, ldc, acc, &mut scratch);
                let (want, scale) = gemm64(m, n, kk, &a, ars, acs, &b, brs, bcs, &c0, ldc, acc);
                for i in 0..m {
                    for j in 0..n {
                        let (g, w) = (c[i * ldc + j] as f64, want[i * n + j]);
                        assert!(
                            (g - w).abs() <= 1e-5 * scale[i * n + j] + 1e-30,
                            "{:?} {m}x{n}x{kk} a_t={a_t} b_t={b_t} acc={acc} ({i},{j}): {g} vs {w}",
                            k.isa()
                        );
                    }
                    // The padding columns between n and ldc are untouched.
                    for j in n..ldc {
                        assert_eq!(c[i * ldc + j], c0[i * ldc + j]);
                    }
                }
                // A in the grouped layout of the weight gradients (read with
                // no packing, one microkernel call over all of k): the same bits.
                let (ga, gs) = group_a(k, m, kk, &a, ars, acs);
                let mut c3 = c0.clone();
                gemm_a_grouped(k, m, ga.as_slice(), gs, &scratch, &mut c3, ldc, acc);
                assert!(
                    c.iter().zip(&c3).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{:?} {m}x{n}x{kk} a_t={a_t}: gemm_a_grouped differs from gemm",
                    k.isa()
                );
                // A in row groups (the head's activation panels and the per-token
                // sums, read in place), for a few group widths: the same bits.
                // gw >= K is a row-major A (the head's dh reads the dlogits so),
                // over several depth blocks at K = 1030.
                for gw in [1, 3, k.tile().0, k.tile().1, 64, kk, kk + 5] {
                    let (ra, rgs) = group_rows(m, kk, gw, &a, ars, acs);
                    let mut c4 = c0.clone();
                    gemm_rows_g(k, m, ra.as_slice(), gw, rgs, &scratch, &mut c4, ldc, acc);
                    assert!(
                        c.iter().zip(&c4).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{:?} {m}x{n}x{kk} a_t={a_t} gw={gw}: gemm_rows_g differs from gemm",
                        k.isa()
                    );
                }
                // The per-time-step path (A row-major in place) gives the same bits
                // as the packed path: every element is the same FMA sequence.
                if !a_t {
                    let mut c2 = c0.clone();
                    gemm_rows(k, m, &a, kk, &scratch, &mut c2, ldc, acc);
                    assert!(
                        c.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{:?} {m}x{n}x{kk}: gemm_rows differs from gemm",
                        k.isa()
                    );
                }
            }
        }
    }
}

#[test]
fn gemm_is_bit_identical_across_thread_counts() {
    let mut rng = Rng::new(8);
    let (m, n, kk) = (300, 200, 700);
    let a = rand_vec(&mut rng, m * kk, -1.0, 1.0);
    let b = rand_vec(&mut rng, kk * n, -1.0, 1.0);
    for k in kernels() {
        let mut pb = PackedB::new();
        pb.pack(k, kk, n, &b, n, 1);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut c = vec![0.0f32; m * n];
            pool.install(|| gemm_prepacked(k, m, &a, 1, m, &pb, &mut c, n, false));
            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        let one = run(1);
        assert_eq!(one, run(2), "{:?}", k.isa());
        assert_eq!(one, run(3), "{:?}", k.isa());
        let (ga, gs) = group_a(k, m, kk, &a, 1, m);
        let grouped = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut c = vec![0.0f32; m * n];
            pool.install(|| gemm_a_grouped(k, m, ga.as_slice(), gs, &pb, &mut c, n, false));
            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(one, grouped(1), "{:?}: grouped A", k.isa());
        assert_eq!(one, grouped(2), "{:?}: grouped A", k.isa());
        assert_eq!(one, grouped(3), "{:?}: grouped A", k.isa());
        let (ra, rgs) = group_rows(m, kk, k.tile().1, &a, 1, m);
        let rows_g = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut c = vec![0.0f32; m * n];
            pool.install(|| gemm_rows_g(k, m, ra.as_slice(), k.tile().1, rgs, &pb, &mut c, n, false));
            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        assert_eq!(one, rows_g(1), "{:?}: A in row groups", k.isa());
        assert_eq!(one, rows_g(2), "{:?}: A in row groups", k.isa());
        assert_eq!(one, rows_g(3), "{:?}: A in row groups", k.isa());
    }
}

#[test]
fn isa_names_and_env_parse() {
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert_eq!(Isa::from_name(" AVX2 "), Some(Isa::Avx2));
    assert_eq!(Isa::from_name("sse"), None);
    assert!(Isa::Scalar.is_available());
    assert!(Kernels::get(Isa::Scalar).is_some());
    // The detected kernels are one of the available ones.
    assert!(Isa::available().contains(&Kernels::detect().isa()));
}

/// `TOKLAB_REQUIRE_ISA=avx512|avx2` (CI on a machine that has them): the
/// named ISA's kernels must be among those these tests exercise.
#[test]
fn required_isas_are_exercised() {
    let tested: Vec<Isa> = kernels().iter().map(|k| k.isa()).collect();
    for r in Isa::required() {
        assert!(tested.contains(&r), "TOKLAB_REQUIRE_ISA={} was not exercised (tested {tested:?})", r.name());
    }
}

#[test]
fn per_tensor_sums_of_squares() {
    let cfg = model::ModelConfig {
        cell: model::Cell::Lstm,
        vocab: 37,
        embed: 24,
        hidden: 40,
        layers: 2,
        tie: false,
    };
    let layout = model::ParamLayout::new(&cfg);
    let x = layout.init(3);
    let got = model::kernels::sum_squares_per_tensor(&layout, &x);
    assert_eq!(got.len(), layout.specs().len());
    for (s, g) in layout.specs().iter().zip(&got) {
        let want: f64 = x[s.range()].iter().map(|&v| v as f64 * v as f64).sum();
        assert!((g - want).abs() <= 1e-6 * want, "{}: {g} vs {want}", s.name);
    }
}

/// The FMA peak runs one thread per CPU at most: more share the same FMA
/// units, and with 99,999 of them on 2 CPUs `lm bench` measured its peak
/// for hours. So a huge request costs the same as one thread per CPU, and a
/// request of 0 runs one thread.
#[test]
fn fma_peak_runs_at_most_one_thread_per_cpu() {
    let cpus = model::kernels::usable_cpus();
    assert_eq!(model::kernels::peak_threads(0), 1);
    assert_eq!(model::kernels::peak_threads(1), 1);
    assert_eq!(model::kernels::peak_threads(cpus), cpus);
    assert_eq!(model::kernels::peak_threads(cpus + 1), cpus);
    assert_eq!(model::kernels::peak_threads(usize::MAX), cpus);
    // Returns (within the calibration time, not hours) with a measured peak
    // on an FMA machine, 0 without one.
    let isa = [Isa::Avx512, Isa::Avx2].into_iter().find(|i| i.is_available());
    if let Some(isa) = isa {
        let peak = model::kernels::fma_peak_gflops_isa(1_000_000, 8, isa);
        assert!(peak.is_finite() && peak > 0.0, "peak {peak}");
    }
}
