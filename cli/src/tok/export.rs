//! `tok export`: write a tokenizer in Hugging Face or tiktoken format.

use std::path::PathBuf;

use tokenizer::export::Format;

/// Export a tokenizer for Hugging Face `tokenizers` (tokenizer.json) or tiktoken (rank file).
///
/// hf: loads with `tokenizers.Tokenizer.from_file` and encodes like ours
/// (HF always matches added tokens, like `--allow-special all`; a character
/// vocabulary without byte fallback: HF drops a character outside it, where
/// `tok tokenize` refuses the text).
/// tiktoken: the base64 rank file; load it with `tiktoken.Encoding(name,
/// pat_str=..., mergeable_ranks=tiktoken.load.load_tiktoken_bpe(path),
/// special_tokens=...)` (BPE only; the pattern and the special tokens are
/// printed on stderr).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub tokenizer: crate::TokenizerArg,

    /// Target format.
    #[arg(long, value_parser = ["hf", "tiktoken"])]
    pub format: String,

    /// Output file, written atomically; - for stdout.
    #[arg(short, long, value_name = "FILE|-")]
    pub output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let stdout = args.output.as_os_str() == "-";
    if !stdout {
        crate::refuse_output_over_inputs(&args.output, [args.tokenizer.path()])?;
    }
    let tok = args.tokenizer.load()?;
    let format = if args.format == "hf" { Format::Hf } else { Format::Tiktoken };
    // A tokenizer the format cannot hold is the input's problem; a write
    // error names its file itself (the path was printed twice).
    let text = match format {
        Format::Hf => tokenizer::export::to_hf_json(&tok),
        Format::Tiktoken => tokenizer::export::to_tiktoken(&tok),
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.tokenizer.spec))?;
    crate::write_output((!stdout).then_some(args.output.as_path()), |w| w.write_all(text.as_bytes()))?;
    if format == Format::Tiktoken {
        let specials: Vec<String> =
            tok.special_tokens().iter().map(|(t, id)| format!("{t:?}: {id}")).collect();
        crate::errln!(
            "tok: wrote {}; pat_str = {:?}, special_tokens = {{{}}}",
            if stdout { "the ranks to stdout".into() } else { args.output.display().to_string() },
            tok.pattern().map_or("", |p| p.tiktoken_pat_str()),
            specials.join(", ")
        );
    }
    Ok(())
}
