//! `lm sample`: generate text from a run's checkpoint, token by token.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Result;
use model::sample::SamplingConfig;

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
    #[arg(long, default_value_t = 0.8, value_parser = crate::parse_temperature)]
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

/// Generates `n` tokens after `prompt` with a run's checkpoint
/// ([`trainer::sample::generate`]); a bad prompt is reported as `--prompt`'s.
pub fn generate(
    run: &std::path::Path,
    prompt: &str,
    n: usize,
    config: SamplingConfig,
    seed: u64,
    on_bytes: impl FnMut(&[u8]) -> std::io::Result<ControlFlow<()>>,
) -> Result<trainer::sample::Generated> {
    trainer::sample::generate(run, prompt, n, config, seed, on_bytes).map_err(|e| match e {
        trainer::TrainError::Prompt(msg) => anyhow::anyhow!("--prompt: {msg}"),
        trainer::TrainError::Output(io) => io.into(),
        e => e.into(),
    })
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let config = SamplingConfig { temperature: args.temperature, top_k: args.top_k };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // The prompt goes out with the first generated text, so a run, prompt
    // or setting that fails prints nothing to stdout.
    let mut prompt = (!args.no_prompt).then_some(args.prompt.as_bytes());
    // The last byte written, for the terminal's newline below.
    let mut last = None;
    let mut put = |out: &mut std::io::StdoutLock, b: &[u8]| {
        last = b.last().copied().or(last);
        out.write_all(b)
    };
    generate(&args.run, &args.prompt, args.tokens, config, args.seed, |b| {
        if let Some(p) = prompt.take() {
            put(&mut out, p)?;
        }
        put(&mut out, b)?;
        out.flush()?;
        Ok(ControlFlow::Continue(()))
    })?;
    if let Some(p) = prompt.take() {
        put(&mut out, p)?;
    }
    // Piped or redirected, stdout gets exactly the prompt and the sample; a
    // terminal also gets a newline so that the shell's prompt starts a line.
    if out.is_terminal() && last.is_some_and(|b| b != b'\n') {
        writeln!(out)?;
    }
    Ok(())
}
