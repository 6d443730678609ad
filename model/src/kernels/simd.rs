//! The vector abstraction every kernel is written against once (memchr's
//! `Vector` trait shape): a register of `LANES` f32 lanes with the handful of
//! operations the kernels need.
//!
//! The methods are `unsafe` and `#[inline(always)]`, not `#[target_feature]`:
//! a generic kernel instantiated inside a `#[target_feature(enable = ...)]`
//! entry point (see `x86_64/avx2.rs`, `x86_64/avx512.rs`) is inlined into it
//! and compiled with those features. Calling them anywhere else is undefined
//! behaviour on a CPU without the features; the per-ISA modules only hand out
//! their entry points after detection.
//!
//! Semantics shared by every implementation (so the scalar reference and the
//! vector paths agree on edge cases):
//! - `max(a, b)` is x86's `maxps`: `a` if `a > b`, else `b` (so a NaN in `b`
//!   propagates; `max(lo, x)` keeps a NaN `x`). `min` likewise.
//! - `mul_add(a, b, c)` is `a * b + c`: fused on the vector paths, two
//!   roundings on the scalar reference.
//! - `round` is round-half-to-even.

/// One SIMD register of f32 lanes.
pub(crate) trait Simd: Copy {
    /// Number of f32 lanes.
    const LANES: usize;
    /// A lane mask as produced by comparisons.
    type Mask: Copy;

    unsafe fn splat(x: f32) -> Self;
    unsafe fn zero() -> Self;
    /// Unaligned load of `LANES` floats.
    unsafe fn load(p: *const f32) -> Self;
    /// Unaligned store of `LANES` floats.
    unsafe fn store(self, p: *mut f32);
    /// Loads the first `n < LANES` floats; the other lanes are zero.
    unsafe fn load_partial(p: *const f32, n: usize) -> Self;
    /// Stores the first `n < LANES` lanes.
    unsafe fn store_partial(self, p: *mut f32, n: usize);

    unsafe fn add(self, o: Self) -> Self;
    unsafe fn sub(self, o: Self) -> Self;
    unsafe fn mul(self, o: Self) -> Self;
    unsafe fn div(self, o: Self) -> Self;
    /// `self * b + c`.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// `c - self * b`.
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// `self * b + c` with one rounding on every ISA (the scalar reference
    /// uses `f32::mul_add`; slow without FMA hardware, so only the
    /// elementwise kernels that must match a fused reference bit for bit use
    /// it).
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        // SAFETY: the caller's contract is `mul_add`'s.
        unsafe { self.mul_add(b, c) }
    }
    unsafe fn max(self, o: Self) -> Self;
    unsafe fn min(self, o: Self) -> Self;
    unsafe fn sqrt(self) -> Self;
    /// Round to nearest, ties to even.
    unsafe fn round(self) -> Self;
    /// `2^self` for integral `self` in `[-126, 127]`.
    unsafe fn pow2i(self) -> Self;
    /// Lanes whose sign bit is clear get `self`'s magnitude with `sign`'s sign.
    unsafe fn copysign(self, sign: Self) -> Self;
    unsafe fn abs(self) -> Self;

    /// Lanes `0..n` set (`n <= LANES`).
    unsafe fn first(n: usize) -> Self::Mask;
    unsafe fn lt(self, o: Self) -> Self::Mask;
    unsafe fn gt(self, o: Self) -> Self::Mask;
    /// `m ? a : b` per lane.
    unsafe fn select(m: Self::Mask, a: Self, b: Self) -> Self;

    /// Sum of the lanes (pairwise tree).
    unsafe fn reduce_add(self) -> f32;
    /// Maximum of the lanes.
    unsafe fn reduce_max(self) -> f32;
}

/// The scalar "vector": one lane, plain f32 arithmetic. This is the reference
/// every vector path is tested against, and the fallback on any CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scalar(pub f32);

impl Simd for Scalar {
    const LANES: usize = 1;
    type Mask = bool;

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Scalar(x)
    }
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar(0.0)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller guarantees `p` is valid for one read.
        Scalar(unsafe { *p })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller guarantees `p` is valid for one write.
        unsafe { *p = self.0 }
    }
    #[inline(always)]
    unsafe fn load_partial(_p: *const f32, _n: usize) -> Self {
        // n < LANES == 1: nothing to read.
        Scalar(0.0)
    }
    #[inline(always)]
    unsafe fn store_partial(self, _p: *mut f32, _n: usize) {}

    #[inline(always)]
    unsafe fn add(self, o: Self) -> Self {
        Scalar(self.0 + o.0)
    }
    #[inline(always)]
    unsafe fn sub(self, o: Self) -> Self {
        Scalar(self.0 - o.0)
    }
    #[inline(always)]
    unsafe fn mul(self, o: Self) -> Self {
        Scalar(self.0 * o.0)
    }
    #[inline(always)]
    unsafe fn div(self, o: Self) -> Self {
        Scalar(self.0 / o.0)
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        Scalar(self.0 * b.0 + c.0)
    }
    #[inline(always)]
    unsafe fn neg_mul_add(self, b: Self, c: Self) -> Self {
        Scalar(c.0 - self.0 * b.0)
    }
    #[inline(always)]
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        Scalar(self.0.mul_add(b.0, c.0))
    }
    #[inline(always)]
    unsafe fn max(self, o: Self) -> Self {
        if self.0 > o.0 { self } else { o }
    }
    #[inline(always)]
    unsafe fn min(self, o: Self) -> Self {
        if self.0 < o.0 { self } else { o }
    }
    #[inline(always)]
    unsafe fn sqrt(self) -> Self {
        Scalar(self.0.sqrt())
    }
    #[inline(always)]
    unsafe fn round(self) -> Self {
        Scalar(self.0.round_ties_even())
    }
    #[inline(always)]
    unsafe fn pow2i(self) -> Self {
        Scalar(f32::from_bits(((self.0 as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    unsafe fn copysign(self, sign: Self) -> Self {
        Scalar(self.0.copysign(sign.0))
    }
    #[inline(always)]
    unsafe fn abs(self) -> Self {
        Scalar(self.0.abs())
    }
    #[inline(always)]
    unsafe fn first(n: usize) -> bool {
        n > 0
    }
    #[inline(always)]
    unsafe fn lt(self, o: Self) -> bool {
        self.0 < o.0
    }
    #[inline(always)]
    unsafe fn gt(self, o: Self) -> bool {
        self.0 > o.0
    }
    #[inline(always)]
    unsafe fn select(m: bool, a: Self, b: Self) -> Self {
        if m { a } else { b }
    }
    #[inline(always)]
    unsafe fn reduce_add(self) -> f32 {
        self.0
    }
    #[inline(always)]
    unsafe fn reduce_max(self) -> f32 {
        self.0
    }
}
