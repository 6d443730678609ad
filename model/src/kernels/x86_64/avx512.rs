//! AVX-512F kernels (16 lanes). GEMM tile 8 x 32: 16 zmm accumulators.
#![allow(unsafe_op_in_unsafe_fn)]
// Kernel entry points take dimensions, pointers and strides as arguments.
#![allow(clippy::too_many_arguments)]

use crate::kernels::generic::{SimdMath, exp_poly, sigmoid_poly, tanh_poly};
pub(crate) use crate::kernels::x86_64::simd_avx512::Avx512;

/// True when the CPU has AVX-512F (and the AVX2/FMA the 256-bit helpers
/// use), checked at compile time first, then with CPUID.
pub(crate) fn is_available() -> bool {
    if cfg!(all(target_feature = "avx512f", target_feature = "avx2", target_feature = "fma")) {
        return true;
    }
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
}

impl SimdMath for Avx512 {
    #[inline(always)]
    unsafe fn exp(self) -> Self {
        exp_poly(self)
    }
    #[inline(always)]
    unsafe fn tanh(self) -> Self {
        tanh_poly(self)
    }
    #[inline(always)]
    unsafe fn sigmoid(self) -> Self {
        sigmoid_poly(self)
    }
}

instantiate_kernels! {
    #[target_feature(enable = "avx512f,avx2,fma")]
    isa: crate::kernels::Isa::Avx512, vector: Avx512, mr: 8, nv: 2
}

/// Spins `iters` rounds of 12 independent FMA chains on 16 lanes; returns a
/// value derived from the accumulators so the work is not optimised away.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn fma_chains(iters: u64) -> f32 {
    use core::arch::x86_64::*;
    let b = _mm512_set1_ps(0.999_999);
    let c = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 12];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, b, c);
        }
    }
    let mut s = _mm512_setzero_ps();
    for a in acc {
        s = _mm512_add_ps(s, a);
    }
    _mm512_reduce_add_ps(s)
}
