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

pub mod checkpoint;
pub mod config;
mod error;
pub mod fast;
pub mod kernels;
pub mod optim;
pub mod params;
pub mod reference;
pub mod rng;
pub mod run;
pub mod sample;
pub mod train;

pub use config::{Cell, ModelConfig};
pub use error::{Error, Result};
pub use params::{ParamLayout, ParamSpec};
