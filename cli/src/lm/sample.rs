//! `lm sample`: generate text from a run's checkpoint, token by token.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use model::run::RunDir;
use model::sample::{Sampler, SamplingConfig};

use crate::Threads;

/// Generate text from a trained run.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run directory.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Text to start from (encoded with the run's tokenizer).
    #[arg(long, default_value = "\n")]
    pub prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub tokens: usize,
    /// Softmax temperature (0: greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Sample among the K most likely tokens only.
    #[arg(long, value_name = "K")]
    pub top_k: Option<usize>,
    /// Sampling seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not print the prompt before the sample.
    #[arg(long)]
    pub no_prompt: bool,
    #[command(flatten)]
    pub threads: Threads,
}

/// Generates `n` tokens after `prompt` with a run's checkpoint; returns the text's bytes.
pub fn generate(
    run: &std::path::Path,
    prompt: &str,
    n: usize,
    config: SamplingConfig,
    seed: u64,
    mut on_bytes: impl FnMut(&[u8]) -> std::io::Result<ControlFlow<()>>,
) -> Result<Vec<u8>> {
    let rd = RunDir::new(run);
    if !run.is_dir() {
        anyhow::bail!("{}: no such run directory", run.display());
    }
    let cfg = rd.read_config()?;
    let tok = model::train::run_tokenizer(run, &cfg)?;
    let loaded = model::checkpoint::load_model(&rd.model())?;
    let ids = tok.encode_ordinary(prompt.as_bytes()).context("--prompt")?;
    if ids.is_empty() {
        anyhow::bail!("--prompt: give at least one character to start from");
    }
    let mut stepper = model::fast::Stepper::new(&loaded.layout, &loaded.params);
    let mut sampler = Sampler::new(config, seed)?;
    // Byte-level tokens can split a character: print whole characters only.
    let mut pending = Vec::new();
    let mut all = Vec::new();
    let mut io_err = None;
    model::sample::generate(&mut stepper, &ids, n, &mut sampler, |t| {
        let bytes = tok.token_bytes(t).unwrap_or_default();
        all.extend_from_slice(bytes);
        pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&pending) {
            Ok(_) => pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => pending.len(),
        };
        if valid > 0 {
            let flow = on_bytes(&pending[..valid]);
            pending.drain(..valid);
            match flow {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => return false,
                Err(e) => {
                    io_err = Some(e);
                    return false;
                }
            }
        }
        true
    })?;
    if let Some(e) = io_err {
        return Err(e.into());
    }
    if !pending.is_empty() {
        let _ = on_bytes(&pending)?;
    }
    Ok(all)
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let config = SamplingConfig { temperature: args.temperature, top_k: args.top_k };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !args.no_prompt {
        out.write_all(args.prompt.as_bytes())?;
    }
    generate(&args.run, &args.prompt, args.tokens, config, args.seed, |b| {
        out.write_all(b)?;
        out.flush()?;
        Ok(ControlFlow::Continue(()))
    })?;
    writeln!(out)?;
    Ok(())
}
