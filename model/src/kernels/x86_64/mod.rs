//! x86-64 instantiations: AVX2 + FMA and AVX-512F.

pub(crate) mod avx2;
pub(crate) mod avx512;
mod simd_avx2;
mod simd_avx512;
