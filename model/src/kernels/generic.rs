//! Every kernel, written once over [`Simd`] and instantiated per ISA by
//! `scalar.rs`, `x86_64/avx2.rs` and `x86_64/avx512.rs`.
//!
//! Shape legend: B = batch rows, H = hidden units, w = units in one gate
//! block (at most [`crate::kernels::UNIT_BLOCK`]), V = vocabulary, MR x NR =
//! the GEMM register tile.
//!
//! Everything here is `#[inline(always)]` so that it is compiled with the
//! target features of the entry point that instantiates it. All functions
//! take raw pointers; the `# Safety` contract common to all of them: the CPU
//! supports the ISA of `V`, and every pointer is valid for the reads/writes
//! the shape arguments imply (stated per function). Null is allowed only
//! where a function says so.
#![allow(unsafe_op_in_unsafe_fn)]
#![allow(clippy::too_many_arguments)]

use crate::kernels::simd::Simd;
use crate::optim::AdamWScalars;

/// Runs `body` over `0..w` in steps of `LANES` with `j` the offset and `n`
/// the lanes valid (`LANES`, or `w - j` on the last step).
///
/// A macro, not a closure: a closure's body is its own function, compiled
/// without the entry point's target features, so every intrinsic in it
/// would become an out-of-line call.
macro_rules! lanes {
    ($V:ty, $w:expr, |$j:ident, $n:ident| $body:block) => {{
        let w: usize = $w;
        let l = <$V as Simd>::LANES;
        let mut $j = 0usize;
        while $j + l <= w {
            let $n = l;
            $body
            $j += l;
        }
        if $j < w {
            let $n = w - $j;
            $body
        }
    }};
}

#[inline(always)]
unsafe fn ld<V: Simd>(p: *const f32, n: usize) -> V {
    if n == V::LANES { V::load(p) } else { V::load_partial(p, n) }
}

#[inline(always)]
unsafe fn st<V: Simd>(v: V, p: *mut f32, n: usize) {
    if n == V::LANES { v.store(p) } else { v.store_partial(p, n) }
}

// ---------------------------------------------------------------------------
// Math: exp, sigmoid, tanh on vectors.
//
// exp: Cody-Waite reduction x = n*ln2 + r with a two-part ln2, then the
// degree-7 polynomial of Cephes' expf on r in [-ln2/2, ln2/2], scaled by 2^n.
// Max error measured against f64 (tests/kernels.rs, `math_accuracy_vs_f64`,
// 200k points per range): exp 1.21 ulp over [-87, 88]; tanh 1.14 ulp over
// [-20, 20], 0.50 ulp over [-1e-3, 1e-3]; sigmoid 3.04 ulp over [-80, 80]
// (the division and 1 + e add their roundings to exp's). For comparison the
// platform libm used by the scalar reference measured exp 0.50, tanh 2.09,
// sigmoid (1/(1+expf(-x))) 2.08 ulp.
//
// tanh: |x| < 0.625 uses an odd minimax polynomial x + x^3 P(x^2) (degree 4
// in x^2, fitted here in f64 by iteratively reweighted least squares; its
// approximation error is 0.07 ulp, rounding dominates); larger |x| uses
// 1 - 2/(exp(2|x|) + 1), which has no cancellation there. Sign restored.
//
// sigmoid: 1/(1 + exp(-x)), a true division (not a reciprocal estimate).

const EXP_HI: f32 = 88.722_83;
const EXP_LO: f32 = -87.336_55;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4; // 0.693359375, exact in 9 bits
const LN2_LO: f32 = -2.121_944_4e-4;
const EXP_P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5e-1];
const TANH_SMALL: f32 = 0.625;
const TANH_P: [f32; 5] = [-5.705_002_6e-3, 2.063_910_3e-2, -5.373_972e-2, 1.333_144_2e-1, -3.333_328e-1];

/// `e^x`; 0 below -87.34, +inf above 88.72, NaN stays NaN.
#[inline(always)]
pub(crate) unsafe fn exp_poly<V: Simd>(x: V) -> V {
    // Clamp keeping NaN (max/min return their second operand on NaN).
    let xc = V::splat(EXP_HI).min(V::splat(EXP_LO).max(x));
    let n = xc.mul(V::splat(LOG2E)).round();
    let r = n.neg_mul_add(V::splat(LN2_HI), xc);
    let r = n.neg_mul_add(V::splat(LN2_LO), r);
    let mut p = V::splat(EXP_P[0]);
    for &c in &EXP_P[1..] {
        p = p.mul_add(r, V::splat(c));
    }
    let r2 = r.mul(r);
    let y = p.mul_add(r2, r.add(V::splat(1.0)));
    let y = y.mul(n.pow2i());
    let y = V::select(x.lt(V::splat(EXP_LO)), V::zero(), y);
    V::select(x.gt(V::splat(EXP_HI)), V::splat(f32::INFINITY), y)
}

/// `tanh(x)`.
#[inline(always)]
pub(crate) unsafe fn tanh_poly<V: Simd>(x: V) -> V {
    let ax = x.abs();
    // Small |x|: x + x^3 P(x^2).
    let t = ax.mul(ax);
    let mut p = V::splat(TANH_P[0]);
    for &c in &TANH_P[1..] {
        p = p.mul_add(t, V::splat(c));
    }
    let small = p.mul(t).mul_add(ax, ax);
    // Large |x|: 1 - 2/(e^{2|x|} + 1).
    let e = exp_poly(ax.add(ax));
    let large = V::splat(2.0).div(e.add(V::splat(1.0)));
    let large = V::splat(1.0).sub(large);
    let y = V::select(ax.lt(V::splat(TANH_SMALL)), small, large);
    // NaN: ax is NaN, both branches NaN; copysign keeps it NaN.
    y.copysign(x)
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub(crate) unsafe fn sigmoid_poly<V: Simd>(x: V) -> V {
    let e = exp_poly(V::zero().sub(x));
    V::splat(1.0).div(V::splat(1.0).add(e))
}

/// Extension: the math functions as methods, so the scalar reference can
/// route them to the platform's libm (see `Simd::exp` overrides).
pub(crate) trait SimdMath: Simd {
    unsafe fn exp(self) -> Self;
    unsafe fn tanh(self) -> Self;
    unsafe fn sigmoid(self) -> Self;
}

/// Applies exp (`OP` 0), tanh (1) or sigmoid (2) over `n` floats from `x`
/// into `y` (the slice-level math entry points used by tests). A const
/// selector rather than a closure, for the reason given at `lanes!`.
///
/// # Safety
/// `x` valid for `n` reads, `y` for `n` writes.
#[inline(always)]
pub(crate) unsafe fn map<V: SimdMath, const OP: u8>(n: usize, x: *const f32, y: *mut f32) {
    lanes!(V, n, |j, k| {
        let v = ld::<V>(x.add(j), k);
        let r = match OP {
            0 => v.exp(),
            1 => v.tanh(),
            _ => v.sigmoid(),
        };
        st(r, y.add(j), k);
    });
}

// ---------------------------------------------------------------------------
// Recurrent cells, one batch row and one gate block at a time.
//
// A gate block of w units is stored as [i(w) f(w) g(w) o(w)] (LSTM) or
// [pre(w)] (RNN), contiguous; see `crate::kernels::gate_col`.

/// LSTM forward for `rows` rows of one gate block (one call per block, so
/// the out-of-order core overlaps the rows' transcendental chains).
///
/// Per row r: `gates + r*ldg` `[4w]`: pre-activations without bias in
/// (x W_ih^T + h W_hh^T), the activated gates i, f, g, o out; `bias` `[4w]`
/// (b_ih + b_hh) is added first. `c_prev + r*ldh` `[w]` (null: zero state),
/// `c`, `tc` (= tanh c), `h` (each `+ r*ldh`) `[w]` out.
#[inline(always)]
pub(crate) unsafe fn lstm_fwd_rows<V: SimdMath>(
    rows: usize,
    w: usize,
    gates: *mut f32,
    ldg: usize,
    bias: *const f32,
    c_prev: *const f32,
    c: *mut f32,
    tc: *mut f32,
    h: *mut f32,
    ldh: usize,
) {
    for r in 0..rows {
        let gates = gates.add(r * ldg);
        let c_prev = if c_prev.is_null() { c_prev } else { c_prev.add(r * ldh) };
        let (c, tc, h) = (c.add(r * ldh), tc.add(r * ldh), h.add(r * ldh));
        lstm_fwd_row::<V>(w, gates, bias, c_prev, c, tc, h);
    }
}

#[inline(always)]
unsafe fn lstm_fwd_row<V: SimdMath>(
    w: usize,
    gates: *mut f32,
    bias: *const f32,
    c_prev: *const f32,
    c: *mut f32,
    tc: *mut f32,
    h: *mut f32,
) {
    lanes!(V, w, |j, n| {
        let pi = gates.add(j);
        let pf = gates.add(w + j);
        let pg = gates.add(2 * w + j);
        let po = gates.add(3 * w + j);
        let i = ld::<V>(pi, n).add(ld::<V>(bias.add(j), n)).sigmoid();
        let f = ld::<V>(pf, n).add(ld::<V>(bias.add(w + j), n)).sigmoid();
        let g = ld::<V>(pg, n).add(ld::<V>(bias.add(2 * w + j), n)).tanh();
        let o = ld::<V>(po, n).add(ld::<V>(bias.add(3 * w + j), n)).sigmoid();
        let cp = if c_prev.is_null() { V::zero() } else { ld::<V>(c_prev.add(j), n) };
        let cn = f.mul_add(cp, i.mul(g));
        let t = cn.tanh();
        st(i, pi, n);
        st(f, pf, n);
        st(g, pg, n);
        st(o, po, n);
        st(cn, c.add(j), n);
        st(t, tc.add(j), n);
        st(o.mul(t), h.add(j), n);
    });
}

/// LSTM backward for `rows` rows of one gate block.
///
/// Per row r: `gates + r*ldg` `[4w]`: the activated gates in, the
/// pre-activation gradients (di, df, dg, do before the nonlinearities) out.
/// `tc` `[w]` = tanh(c_t), `c_prev` `[w]` (null: zero state), `dh` `[w]` =
/// dL/dh_t (from above and from step t+1), `dc` `[w]`: dL/dc_t from step t+1
/// in, dL/dc_{t-1} out (each `+ r*ldh`). `db` `[4w]` accumulates the
/// pre-activation gradients (bias gradient), rows in order.
#[inline(always)]
pub(crate) unsafe fn lstm_bwd_rows<V: Simd>(
    rows: usize,
    w: usize,
    gates: *mut f32,
    ldg: usize,
    tc: *const f32,
    c_prev: *const f32,
    dh: *const f32,
    dc: *mut f32,
    ldh: usize,
    db: *mut f32,
) {
    for r in 0..rows {
        let c_prev = if c_prev.is_null() { c_prev } else { c_prev.add(r * ldh) };
        let o = r * ldh;
        lstm_bwd_row::<V>(w, gates.add(r * ldg), tc.add(o), c_prev, dh.add(o), dc.add(o), db);
    }
}

#[inline(always)]
unsafe fn lstm_bwd_row<V: Simd>(
    w: usize,
    gates: *mut f32,
    tc: *const f32,
    c_prev: *const f32,
    dh: *const f32,
    dc: *mut f32,
    db: *mut f32,
) {
    let one = V::splat(1.0);
    lanes!(V, w, |j, n| {
        let pi = gates.add(j);
        let pf = gates.add(w + j);
        let pg = gates.add(2 * w + j);
        let po = gates.add(3 * w + j);
        let i = ld::<V>(pi, n);
        let f = ld::<V>(pf, n);
        let g = ld::<V>(pg, n);
        let o = ld::<V>(po, n);
        let t = ld::<V>(tc.add(j), n);
        let dhv = ld::<V>(dh.add(j), n);
        let cp = if c_prev.is_null() { V::zero() } else { ld::<V>(c_prev.add(j), n) };
        // dc_t = dc_next + dh * o * (1 - tanh^2 c)
        let dct = dhv.mul(o).mul(t.neg_mul_add(t, one)).add(ld::<V>(dc.add(j), n));
        let d_o = dhv.mul(t).mul(o).mul(one.sub(o));
        let d_i = dct.mul(g).mul(i).mul(one.sub(i));
        let d_g = dct.mul(i).mul(g.neg_mul_add(g, one));
        let d_f = dct.mul(cp).mul(f).mul(one.sub(f));
        st(d_i, pi, n);
        st(d_f, pf, n);
        st(d_g, pg, n);
        st(d_o, po, n);
        st(dct.mul(f), dc.add(j), n);
        st(ld::<V>(db.add(j), n).add(d_i), db.add(j), n);
        st(ld::<V>(db.add(w + j), n).add(d_f), db.add(w + j), n);
        st(ld::<V>(db.add(2 * w + j), n).add(d_g), db.add(2 * w + j), n);
        st(ld::<V>(db.add(3 * w + j), n).add(d_o), db.add(3 * w + j), n);
    });
}

/// RNN forward for `rows` rows: `h = tanh(pre + bias)` over `w` units,
/// `pre + r*ldg`, `h + r*ldh`.
#[inline(always)]
pub(crate) unsafe fn rnn_fwd_rows<V: SimdMath>(
    rows: usize,
    w: usize,
    pre: *const f32,
    ldg: usize,
    bias: *const f32,
    h: *mut f32,
    ldh: usize,
) {
    for r in 0..rows {
        let (pre, h) = (pre.add(r * ldg), h.add(r * ldh));
        lanes!(V, w, |j, n| {
            st(ld::<V>(pre.add(j), n).add(ld::<V>(bias.add(j), n)).tanh(), h.add(j), n);
        });
    }
}

/// RNN backward for `rows` rows: `dpre = dh * (1 - h^2)`, `db += dpre`
/// (rows in order); `h`, `dh` `+ r*ldh`, `dpre + r*ldg`.
#[inline(always)]
pub(crate) unsafe fn rnn_bwd_rows<V: Simd>(
    rows: usize,
    w: usize,
    h: *const f32,
    dh: *const f32,
    ldh: usize,
    dpre: *mut f32,
    ldg: usize,
    db: *mut f32,
) {
    let one = V::splat(1.0);
    for r in 0..rows {
        let (h, dh, dpre) = (h.add(r * ldh), dh.add(r * ldh), dpre.add(r * ldg));
        lanes!(V, w, |j, n| {
            let hv = ld::<V>(h.add(j), n);
            let d = ld::<V>(dh.add(j), n).mul(hv.neg_mul_add(hv, one));
            st(d, dpre.add(j), n);
            st(ld::<V>(db.add(j), n).add(d), db.add(j), n);
        });
    }
}

// ---------------------------------------------------------------------------
// Softmax cross-entropy, one row of V logits.

/// Adds `bias` `[v]` to the logits row `z` `[v]`, returns the cross-entropy
/// `logsumexp(z) - z[target]` in nats, and with `grad` overwrites `z` with
/// `scale * (softmax(z) - onehot(target))`.
///
/// Stable: exponents are taken of `z - max z`.
#[inline(always)]
pub(crate) unsafe fn softmax_xent_row<V: SimdMath>(
    v: usize,
    z: *mut f32,
    bias: *const f32,
    target: usize,
    scale: f32,
    grad: bool,
) -> f64 {
    debug_assert!(target < v);
    let l = V::LANES;
    // Pass 1: add the bias, running maximum.
    let mut mx = V::splat(f32::NEG_INFINITY);
    let mut j = 0;
    while j + l <= v {
        let zz = V::load(z.add(j)).add(V::load(bias.add(j)));
        zz.store(z.add(j));
        mx = mx.max(zz);
        j += l;
    }
    let tail = v - j;
    if tail > 0 {
        let zz = V::load_partial(z.add(j), tail).add(V::load_partial(bias.add(j), tail));
        zz.store_partial(z.add(j), tail);
        mx = mx.max(V::select(V::first(tail), zz, V::splat(f32::NEG_INFINITY)));
    }
    let m = mx.reduce_max();
    let zt = *z.add(target);
    // Pass 2: e = exp(z - m) (stored when the gradient is wanted), sum.
    let mv = V::splat(m);
    let mut s0 = V::zero();
    let mut s1 = V::zero();
    let mut j = 0;
    while j + 2 * l <= v {
        let e0 = V::load(z.add(j)).sub(mv).exp();
        let e1 = V::load(z.add(j + l)).sub(mv).exp();
        if grad {
            e0.store(z.add(j));
            e1.store(z.add(j + l));
        }
        s0 = s0.add(e0);
        s1 = s1.add(e1);
        j += 2 * l;
    }
    while j < v {
        let n = (v - j).min(l);
        let e = V::select(V::first(n), ld::<V>(z.add(j), n).sub(mv).exp(), V::zero());
        if grad {
            st(e, z.add(j), n);
        }
        s0 = s0.add(e);
        j += n;
    }
    let s = s0.add(s1).reduce_add();
    let loss = (s as f64).ln() + m as f64 - zt as f64;
    if grad {
        let k = V::splat(scale / s);
        lanes!(V, v, |j, n| {
            st(ld::<V>(z.add(j), n).mul(k), z.add(j), n);
        });
        *z.add(target) -= scale;
    }
    loss
}

// ---------------------------------------------------------------------------
// Flat-buffer kernels: AdamW, sum of squares, scale, add.

/// One AdamW step over `n` floats in PyTorch's operation order, the same
/// arithmetic as `crate::optim::adamw_update` (bit for bit, on every ISA):
/// `p *= decay`; `m = fma(g - m, w, m)` (torch.lerp, weight w < 0.5; the
/// other branch `g - (g - m)*(1 - w)` for w >= 0.5); `v = fma((1-b2)*g, g,
/// v*b2)`; `p += (neg_step * m) / (sqrt(v)/sqrt(bc2) + eps)`.
#[inline(always)]
pub(crate) unsafe fn adamw<V: Simd>(
    n: usize,
    p: *mut f32,
    g: *const f32,
    m: *mut f32,
    v: *mut f32,
    c: AdamWScalars,
) {
    let decay = V::splat(c.decay);
    let w = c.beta1_lerp;
    let (wv, w1) = (V::splat(w), V::splat(1.0 - w));
    let b2 = V::splat(c.beta2);
    let one_b2 = V::splat(c.one_minus_beta2);
    let bc2 = V::splat(c.bias2_sqrt);
    let eps = V::splat(c.eps);
    let step = V::splat(c.neg_step_size);
    let low = w < 0.5;
    lanes!(V, n, |j, k| {
        let gv = ld::<V>(g.add(j), k);
        let mut pv = ld::<V>(p.add(j), k);
        if c.apply_decay {
            pv = pv.mul(decay);
        }
        let mv = ld::<V>(m.add(j), k);
        let mv = if low { gv.sub(mv).fma(wv, mv) } else { gv.sub(gv.sub(mv).mul(w1)) };
        let vv = one_b2.mul(gv).fma(gv, ld::<V>(v.add(j), k).mul(b2));
        let denom = vv.sqrt().div(bc2).add(eps);
        let pv = pv.add(step.mul(mv).div(denom));
        st(pv, p.add(j), k);
        st(mv, m.add(j), k);
        st(vv, v.add(j), k);
    });
}

/// Sum of squares of `n` floats: f32 vector partials over blocks of 1024,
/// each block's sum added into an f64 total (order fixed by `n` alone).
#[inline(always)]
pub(crate) unsafe fn sumsq<V: Simd>(n: usize, x: *const f32) -> f64 {
    let mut total = 0.0f64;
    let mut start = 0;
    while start < n {
        let len = (n - start).min(1024);
        let mut a0 = V::zero();
        let mut a1 = V::zero();
        let p = x.add(start);
        let l = V::LANES;
        let mut j = 0;
        while j + 2 * l <= len {
            let u = V::load(p.add(j));
            let w = V::load(p.add(j + l));
            a0 = u.mul_add(u, a0);
            a1 = w.mul_add(w, a1);
            j += 2 * l;
        }
        while j < len {
            let k = (len - j).min(l);
            let u = ld::<V>(p.add(j), k);
            a0 = u.mul_add(u, a0);
            j += k;
        }
        total += a0.add(a1).reduce_add() as f64;
        start += len;
    }
    total
}

/// `x *= s` over `n` floats.
#[inline(always)]
pub(crate) unsafe fn scale<V: Simd>(n: usize, x: *mut f32, s: f32) {
    let sv = V::splat(s);
    lanes!(V, n, |j, k| {
        st(ld::<V>(x.add(j), k).mul(sv), x.add(j), k);
    });
}

/// `y += x` over `n` floats.
#[inline(always)]
pub(crate) unsafe fn add<V: Simd>(n: usize, y: *mut f32, x: *const f32) {
    lanes!(V, n, |j, k| {
        st(ld::<V>(y.add(j), k).add(ld::<V>(x.add(j), k)), y.add(j), k);
    });
}

/// Row sums of an A operand grouped by `mr` rows (the layout
/// `gemm_grouped_a` reads: row `g*mr + r` at depth p is
/// `a[g*gs + p*mr + r]`): `s[g*mr + r] (+)= a(g*mr + r, 0) + a(.., 1) + ...`
/// for g < `groups`, r < `mr`, depths 0..`kc` added one at a time in order,
/// the same f32 sums as a loop over the depths adding one row vector at a
/// time. `acc`: start from `s`, else from +0. Four groups' dependent chains
/// run side by side.
///
/// # Safety
/// `a` readable at `g*gs + p*mr + r`, `s` writable at `g*mr + r`.
#[inline(always)]
pub(crate) unsafe fn group_sums<V: Simd>(
    groups: usize,
    mr: usize,
    kc: usize,
    a: *const f32,
    gs: usize,
    s: *mut f32,
    acc: bool,
) {
    let mut r0 = 0;
    while r0 < mr {
        let n = V::LANES.min(mr - r0);
        let mut g = 0;
        while g + 4 <= groups {
            group_chains::<V, 4>(g, r0, n, mr, kc, a, gs, s, acc);
            g += 4;
        }
        while g < groups {
            group_chains::<V, 1>(g, r0, n, mr, kc, a, gs, s, acc);
            g += 1;
        }
        r0 += n;
    }
}

/// [`group_sums`] of groups `g0..g0+G`, lanes `r0..r0+n`: G independent
/// chains of adds side by side.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn group_chains<V: Simd, const G: usize>(
    g0: usize,
    r0: usize,
    n: usize,
    mr: usize,
    kc: usize,
    a: *const f32,
    gs: usize,
    s: *mut f32,
    acc: bool,
) {
    let mut sum = [V::zero(); G];
    if acc {
        for (j, x) in sum.iter_mut().enumerate() {
            *x = ld::<V>(s.add((g0 + j) * mr + r0), n);
        }
    }
    let ap: [*const f32; G] = std::array::from_fn(|j| a.add((g0 + j) * gs + r0));
    for p in 0..kc {
        for j in 0..G {
            sum[j] = sum[j].add(ld::<V>(ap[j].add(p * mr), n));
        }
    }
    for (j, x) in sum.iter().enumerate() {
        st(*x, s.add((g0 + j) * mr + r0), n);
    }
}

// ---------------------------------------------------------------------------
// GEMM microkernels.
//
// C[MR x NR] (+)= A[MR x kc] . B[kc x NR], NR = NV * LANES, with B a packed
// panel (row k at b + k*NR) and C row-major with leading dimension ldc.
// The k loop keeps MR x NV accumulators in registers and issues one FMA per
// (row, vector) per k: every output element is the sequence
// acc = c (or 0); acc = fma(a_k, b_k, acc) for k = 0, 1, ..., which is what
// makes the result independent of how the caller tiles M and N.

/// The C tile's starting accumulators: C's MR x NR block, or zeros.
#[inline(always)]
unsafe fn tile_load<V: Simd, const MR: usize, const NV: usize>(
    c: *const f32,
    ldc: usize,
    accumulate: bool,
) -> [[V; NV]; MR] {
    let mut acc = [[V::zero(); NV]; MR];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, x) in row.iter_mut().enumerate() {
                *x = V::load(c.add(r * ldc + v * V::LANES));
            }
        }
    }
    acc
}

/// One depth step: `acc[r] = fma(a(r), B row, acc[r])` for every row r, with
/// the B row (NR floats) at `b`.
#[inline(always)]
unsafe fn tile_step<V: Simd, const MR: usize, const NV: usize>(
    acc: &mut [[V; NV]; MR],
    b: *const f32,
    a: impl Fn(usize) -> f32,
) {
    let mut bv = [V::zero(); NV];
    for (v, x) in bv.iter_mut().enumerate() {
        *x = V::load(b.add(v * V::LANES));
    }
    for (r, row) in acc.iter_mut().enumerate() {
        let av = V::splat(a(r));
        for (v, x) in row.iter_mut().enumerate() {
            *x = av.mul_add(bv[v], *x);
        }
    }
}

/// Writes the accumulators back to C's MR x NR block.
#[inline(always)]
unsafe fn tile_store<V: Simd, const MR: usize, const NV: usize>(
    acc: &[[V; NV]; MR],
    c: *mut f32,
    ldc: usize,
) {
    for (r, row) in acc.iter().enumerate() {
        for (v, x) in row.iter().enumerate() {
            x.store(c.add(r * ldc + v * V::LANES));
        }
    }
}

/// A packed: MR-interleaved, element (r, k) at `a[k*MR + r]`. Hints one
/// line into L2 every two depths, from `pf` on, as `ukernel_rows`.
#[inline(always)]
pub(crate) unsafe fn ukernel_packed<V: Simd, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    pf: *const f32,
) {
    let mut acc = tile_load::<V, MR, NV>(c, ldc, accumulate);
    let nr = NV * V::LANES;
    // Two depths per iteration: the same FMA sequence, half the loop and
    // address arithmetic (the AVX2 loop was near the front end's limit).
    let mut k = 0;
    while k + 2 <= kc {
        let ak = a.add(k * MR);
        prefetch_l2(pf.wrapping_add(k * 8));
        tile_step(&mut acc, b.add(k * nr), |r| *ak.add(r));
        tile_step(&mut acc, b.add(k * nr + nr), |r| *ak.add(MR + r));
        k += 2;
    }
    if k < kc {
        let ak = a.add(k * MR);
        tile_step(&mut acc, b.add(k * nr), |r| *ak.add(r));
    }
    tile_store(&acc, c, ldc);
}

/// Hints the cache line at `p` into L2 (x86-64; nothing elsewhere). Never
/// faults, whatever the address.
#[inline(always)]
pub(crate) fn prefetch_l2(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no architectural effect.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A row-major, unpacked: element (r, k) at `a[r*lda + k]`. Every two
/// depths the kernel also hints one cache line into L2, the lines from `pf`
/// on (64 bytes apart, kc/2 of them): the driver points it at the B panel
/// it runs next, whose load from L3 then overlaps this tile's FMAs.
#[inline(always)]
pub(crate) unsafe fn ukernel_rows<V: Simd, const MR: usize, const NV: usize>(
    kc: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
    pf: *const f32,
) {
    let mut acc = tile_load::<V, MR, NV>(c, ldc, accumulate);
    let nr = NV * V::LANES;
    // Two depths per iteration, as in `ukernel_packed`.
    let mut k = 0;
    while k + 2 <= kc {
        let ak = a.add(k);
        prefetch_l2(pf.wrapping_add(k * 8));
        tile_step(&mut acc, b.add(k * nr), |r| *ak.add(r * lda));
        tile_step(&mut acc, b.add(k * nr + nr), |r| *ak.add(r * lda + 1));
        k += 2;
    }
    if k < kc {
        tile_step(&mut acc, b.add(k * nr), |r| *a.add(r * lda + k));
    }
    tile_store(&acc, c, ldc);
}

/// A in row groups: element (r, k) at `a[(k / gw) * gs + r * gw + k % gw]`
/// (the fast path's activation panels and grouped dlogits, read in place:
/// within a group of `gw` depths the MR rows are `gw` floats apart).
/// B's rows are `BNV` vectors apart: `BNV == NV` is the full-width kernel,
/// `NV < BNV` computes only the first NV vectors of a wider panel (the
/// head's last, mostly empty panel at a small vocabulary).
#[inline(always)]
pub(crate) unsafe fn ukernel_rows_g<V: Simd, const MR: usize, const NV: usize, const BNV: usize>(
    kc: usize,
    a: *const f32,
    gw: usize,
    gs: usize,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let mut acc = tile_load::<V, MR, NV>(c, ldc, accumulate);
    let mut b = b;
    let mut ag = a;
    let mut k0 = 0;
    let nr = BNV * V::LANES;
    if gw == MR {
        // Groups of exactly MR depths (the per-token sums S of dE += S W_ih): the
        // group is unrolled with constant offsets, so the MR row addresses
        // need no arithmetic and the loop runs once per group instead of
        // MR/2 times with a group switch in between. Same FMA sequence.
        while k0 + MR <= kc {
            for k in 0..MR {
                tile_step(&mut acc, b.add(k * nr), |r| *ag.add(r * MR + k));
            }
            b = b.add(MR * nr);
            ag = ag.add(gs);
            k0 += MR;
        }
        for k in 0..kc - k0 {
            tile_step(&mut acc, b.add(k * nr), |r| *ag.add(r * MR + k));
        }
        tile_store(&acc, c, ldc);
        return;
    }
    while k0 < kc {
        let len = gw.min(kc - k0);
        // Two depths per iteration, as in `ukernel_packed`.
        let mut k = 0;
        while k + 2 <= len {
            let ak = ag.add(k);
            tile_step(&mut acc, b, |r| *ak.add(r * gw));
            tile_step(&mut acc, b.add(nr), |r| *ak.add(r * gw + 1));
            b = b.add(2 * nr);
            k += 2;
        }
        if k < len {
            tile_step(&mut acc, b, |r| *ag.add(r * gw + k));
            b = b.add(nr);
        }
        ag = ag.add(gs);
        k0 += len;
    }
    tile_store(&acc, c, ldc);
}

/// GEMV against one packed panel: `y[NR] (+)= x[k] . B[k x NR]`.
/// Four k-interleaved accumulator sets hide the FMA latency; they are summed
/// in a fixed order at the end.
#[inline(always)]
pub(crate) unsafe fn gemv_panel<V: Simd, const NV: usize>(
    k: usize,
    x: *const f32,
    b: *const f32,
    y: *mut f32,
    accumulate: bool,
) {
    let l = V::LANES;
    let nr = NV * l;
    let mut acc = [[V::zero(); NV]; 4];
    let mut kk = 0;
    while kk + 4 <= k {
        for (u, set) in acc.iter_mut().enumerate() {
            let xv = V::splat(*x.add(kk + u));
            let row = b.add((kk + u) * nr);
            for (v, a) in set.iter_mut().enumerate() {
                *a = xv.mul_add(V::load(row.add(v * l)), *a);
            }
        }
        kk += 4;
    }
    while kk < k {
        let xv = V::splat(*x.add(kk));
        let row = b.add(kk * nr);
        for (v, a) in acc[0].iter_mut().enumerate() {
            *a = xv.mul_add(V::load(row.add(v * l)), *a);
        }
        kk += 1;
    }
    #[allow(clippy::needless_range_loop)] // four arrays indexed alike
    for v in 0..NV {
        let mut s = acc[0][v].add(acc[1][v]).add(acc[2][v].add(acc[3][v]));
        if accumulate {
            s = s.add(V::load(y.add(v * l)));
        }
        s.store(y.add(v * l));
    }
}
