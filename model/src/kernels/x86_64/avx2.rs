//! AVX2 + FMA kernels (8 lanes). GEMM tile 6 x 16: 12 accumulators, two B
//! vectors and one broadcast in the 16 ymm registers.
#![allow(unsafe_op_in_unsafe_fn)]
// Kernel entry points take dimensions, pointers and strides as arguments.
#![allow(clippy::too_many_arguments)]

use crate::kernels::generic::{SimdMath, exp_poly, sigmoid_poly, tanh_poly};
pub(crate) use crate::kernels::x86_64::simd_avx2::Avx2;

/// True when the CPU has AVX2 and FMA (checked at compile time first, then
/// with CPUID).
pub(crate) fn is_available() -> bool {
    if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        return true;
    }
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

impl SimdMath for Avx2 {
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
    #[target_feature(enable = "avx2,fma")]
    isa: crate::kernels::Isa::Avx2, vector: Avx2, mr: 6, nv: 2
}

/// Spins `iters` rounds of 12 independent FMA chains on 8 lanes (see the
/// AVX-512 twin).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn fma_chains(iters: u64) -> f32 {
    use core::arch::x86_64::*;
    let b = _mm256_set1_ps(0.999_999);
    let c = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, b, c);
        }
    }
    let mut s = _mm256_setzero_ps();
    for a in acc {
        s = _mm256_add_ps(s, a);
    }
    let mut out = [0.0f32; 8];
    _mm256_storeu_ps(out.as_mut_ptr(), s);
    out.iter().sum()
}
