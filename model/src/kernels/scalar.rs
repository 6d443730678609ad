//! The scalar reference kernels: one f32 lane, plain arithmetic, the
//! platform libm for exp/tanh. Always compiled; every vector path is tested
//! against it, and `TOKLAB_SIMD=scalar` runs the whole model on it.
#![allow(unsafe_op_in_unsafe_fn)]
// Kernel entry points take dimensions, pointers and strides as arguments.
#![allow(clippy::too_many_arguments)]

use crate::kernels::generic::SimdMath;
use crate::kernels::simd::Scalar;

impl SimdMath for Scalar {
    #[inline(always)]
    unsafe fn exp(self) -> Self {
        Scalar(self.0.exp())
    }
    #[inline(always)]
    unsafe fn tanh(self) -> Self {
        Scalar(self.0.tanh())
    }
    #[inline(always)]
    unsafe fn sigmoid(self) -> Self {
        Scalar(1.0 / (1.0 + (-self.0).exp()))
    }
}

instantiate_kernels! {
    isa: crate::kernels::Isa::Scalar, vector: Scalar, mr: 4, nv: 4
}
