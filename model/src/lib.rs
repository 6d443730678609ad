//! The CPU language model: embedding -> L recurrent layers (LSTM or vanilla
//! RNN) -> unembedding head -> softmax cross-entropy, trained with full
//! backpropagation through time, gradient clipping and AdamW.
//!
//! Shape legend used in every module: B = batch rows, T = time steps,
//! V = vocabulary, E = embedding width, H = hidden width, G = gates per cell
//! (4 for the LSTM, in PyTorch's order i, f, g, o; 1 for the RNN), L = layers.
//!
//! Parameters live in one flat `Vec<f32>` described by a [`ParamLayout`], with
//! PyTorch's names, so a checkpoint loads into `torch.nn.LSTM` unchanged.
//!
//! What it is not: it never prints; training reports through a callback.
//!
//! Module map, in the order to read them:
//! - [`config`], [`params`]: the model's shape and the flat parameter layout.
//! - [`reference`](mod@reference): the clean scalar model (f32 and f64), forward and backward
//!   side by side: the oracle every fast path and PyTorch fixture is checked
//!   against.
//! - [`kernels`]: SIMD kernels (AVX-512, AVX2+FMA, scalar) behind one run-time
//!   dispatch: GEMM, fused LSTM/RNN cells, softmax cross-entropy, AdamW.
//! - [`fast`]: the training workspace (`Workspace`: forward, backward and
//!   evaluation of a B x T batch) and the batch-1 `Stepper` for sampling.
//! - [`optim`]: AdamW, gradient norms and clipping, the learning-rate schedule.
//! - [`checkpoint`]: safetensors files with PyTorch's names.
//! - [`sample`]: temperature and top-k sampling over any [`sample::Stepper`].
//!
//! The run directory and the training loop that streams batches from shards
//! are the `trainer` crate's; this crate depends on no other crate of the
//! workspace but the leaf `atomicfile`.

pub mod checkpoint;
pub mod config;
mod error;
pub mod fast;
pub mod kernels;
pub mod optim;
pub mod params;
pub mod reference;
pub mod rng;
pub mod sample;

pub use config::{Cell, ModelConfig};
pub use error::{Error, Result};
pub use params::{ParamLayout, ParamSpec};

/// A token id: an index into the embedding and the head (the tokenizer's ids).
pub type TokenId = u32;
