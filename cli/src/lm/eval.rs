//! `lm eval`: the validation loss of a run's checkpoint, in nats per token,
//! bits per token, bits per character and bits per byte.

use std::path::PathBuf;

use anyhow::Result;
use dataset::Split;
use report::table::fixed;

use crate::Threads;

/// Evaluate a run's checkpoint on the validation (or training) text.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run directory.
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// Shards to evaluate on (default: the ones the run trained on); they must
    /// use the run's tokenizer.
    #[arg(long, value_name = "DIR")]
    pub shards: Option<PathBuf>,
    /// Which split.
    #[arg(long, default_value = "val", value_parser = ["val", "train"])]
    pub split: String,
    /// Windows per batch (default: the run's).
    #[arg(long, value_name = "B")]
    pub batch: Option<usize>,
    /// Print one JSON object: split, step, loss (nats/token), bits_per_token, bits_per_char,
    /// bits_per_byte, tokens, chars, bytes, nats (and val_loss, the same as loss, for the val split).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub threads: Threads,
}

pub fn run(args: Args) -> Result<()> {
    args.threads.init()?;
    let split = if args.split == "train" { Split::Train } else { Split::Val };
    let r = trainer::eval::evaluate_run(&args.run, args.shards.as_deref(), split, args.batch)?;
    let (e, shards_dir) = (&r.eval, &r.shards);
    let loaded_step = r.step;
    if args.json {
        let mut v = serde_json::json!({
            "loss": e.val_loss,
            "bits_per_token": e.bits_per_token,
            "bits_per_char": e.bits_per_char,
            "bits_per_byte": e.bits_per_byte,
            "tokens": e.tokens,
            "chars": e.chars,
            "bytes": e.bytes,
            "nats": e.nats,
            "split": args.split,
            "step": loaded_step,
        });
        // The key older scripts read, kept where it is true: on the train
        // split the number is not a validation loss.
        if split == Split::Val {
            v["val_loss"] = e.val_loss.into();
        }
        crate::outln!("{v}")?;
    } else {
        crate::outln!(
            "{} at step {} on the {} split of {}:",
            args.run.display(),
            loaded_step,
            args.split,
            shards_dir.display()
        )?;
        crate::outln!(
            "  loss          {} nats/token ({} bits/token)",
            fixed(e.val_loss, 6),
            fixed(e.bits_per_token, 6)
        )?;
        crate::outln!("  bits/char     {}  ({} characters)", fixed(e.bits_per_char, 6), e.chars)?;
        crate::outln!("  bits/byte     {}  ({} bytes)", fixed(e.bits_per_byte, 6), e.bytes)?;
        crate::outln!("  tokens        {} predicted", e.tokens)?;
    }
    Ok(())
}
