//! AVX2 + FMA kernels (8 lanes). GEMM tile 6 x 16: 12 accumulators, two B
//! vectors and one broadcast in the 16 ymm registers.
#![allow(unsafe_op_in_unsafe_fn)]

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
    isa: crate::kernels::Isa::Avx2, vector: Avx2, mr: 6, nv: 2, mc: 96, kc: 256
}
