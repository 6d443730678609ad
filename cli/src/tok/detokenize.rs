//! `tok detokenize`: token ids in, the exact bytes out.

use std::path::PathBuf;

use tokenizer::TokenId;

use crate::Input;

/// Decode whitespace-separated token ids (a file or stdin) back to the exact bytes.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub tokenizer: crate::TokenizerArg,

    /// File of token ids separated by whitespace, or - for stdin.
    #[arg(default_value = "-", value_name = "FILE|-")]
    pub input: String,

    /// Write the bytes to this file (atomically) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Parses whitespace-separated decimal ids; errors name the input, the
/// offending word and its byte offset. A word of digits past `u32::MAX` is
/// out of range; anything else that is not all ASCII digits is not an id.
/// (Ids under `u32::MAX` but past the vocabulary are refused by the decode.)
pub fn parse_ids(text: &[u8], origin: &str) -> anyhow::Result<Vec<TokenId>> {
    let mut ids = Vec::with_capacity(text.len() / 4);
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && !text[i].is_ascii_whitespace() {
            i += 1;
        }
        let word = &text[start..i];
        if !word.iter().all(u8::is_ascii_digit) {
            anyhow::bail!(
                "{origin}: {:?} at byte offset {start} is not a token id (expected a non-negative integer)",
                String::from_utf8_lossy(word)
            );
        }
        // All ASCII digits, so valid UTF-8; only the value can fail.
        let digits = std::str::from_utf8(word).unwrap_or_default();
        match digits.parse::<TokenId>() {
            Ok(id) => ids.push(id),
            Err(_) => anyhow::bail!(
                "{origin}: token id {digits} at byte offset {start} is out of range (token ids are at most {})",
                TokenId::MAX
            ),
        }
    }
    Ok(ids)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let input = Input::parse(&args.input);
    if let Some(out) = &args.output {
        crate::refuse_output_over_inputs(out, input.path().into_iter().chain([args.tokenizer.path()]))?;
    }
    let tok = args.tokenizer.load()?;
    let ids = parse_ids(&input.read()?, &input.name())?;
    // Decode fully before writing anything: a bad id leaves no output.
    let bytes = tok.decode(&ids).map_err(|e| anyhow::anyhow!("{}: {e}", input.name()))?;
    crate::write_output(args.output.as_deref(), |w| w.write_all(&bytes))
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn ids_are_whitespace_separated_integers() {
        assert_eq!(parse_ids(b" 1 22\n333\t4 ", "x").unwrap(), vec![1, 22, 333, 4]);
        assert_eq!(parse_ids(b"", "x").unwrap(), Vec::<u32>::new());
        let e = parse_ids(b"1 2 abc", "ids.txt").unwrap_err().to_string();
        assert_eq!(
            e,
            "ids.txt: \"abc\" at byte offset 4 is not a token id (expected a non-negative integer)"
        );
        assert!(parse_ids(b"-1", "x").is_err());
        assert!(parse_ids(b"+1", "x").is_err());
        let e = parse_ids(b"7 99999999999", "ids.txt").unwrap_err().to_string();
        assert_eq!(
            e,
            "ids.txt: token id 99999999999 at byte offset 2 is out of range (token ids are at most 4294967295)"
        );
        assert_eq!(parse_ids(b"4294967295 0", "x").unwrap(), vec![u32::MAX, 0]);
        let e = parse_ids(b"4294967296", "x").unwrap_err().to_string();
        assert!(
            e.ends_with(
                "token id 4294967296 at byte offset 0 is out of range (token ids are at most 4294967295)"
            ),
            "{e}"
        );
    }
}
