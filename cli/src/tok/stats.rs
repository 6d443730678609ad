//! `tok stats`: tokens per character, bytes per token, vocabulary use.

use std::path::PathBuf;

use anyhow::Context as _;
use tokenizer::stats::{Counter, Stats};

use crate::Threads;

/// Compare tokenizers on a corpus: tokens, characters, bytes and their ratios.
///
/// Characters are Unicode scalar values of the text read as UTF-8; each byte
/// that is not valid UTF-8 counts as one character. Special-token text is
/// ordinary text. vocab_used is the share of the vocabulary's ids that occur.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Corpus files or directories (walked recursively in sorted order).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Tokenizer to measure (repeatable): a file written by `tok train`, or a
    /// pretrained name (cl100k_base, o200k_base, r50k_base, p50k_base).
    #[arg(long, short, required = true, value_name = "FILE|NAME")]
    pub tokenizer: Vec<String>,

    /// Print a JSON array of objects instead of a table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub threads: Threads,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    args.threads.init()?;
    let toks = args.tokenizer.iter().map(|t| tokenizer::Tokenizer::load(t)).collect::<Result<Vec<_>, _>>()?;
    let docs = dataset::corpus::list_files(&args.paths)?;
    let mut counters: Vec<Counter> = toks.iter().map(|t| Counter::new(t.vocab_size())).collect();
    dataset::corpus::for_each_batch(&docs, dataset::learn::BATCH_BYTES, |batch, texts| {
        for (tok, counter) in toks.iter().zip(&mut counters) {
            let c = tokenizer::stats::measure(tok, texts).map_err(|e| {
                // Name the document that failed (a character vocabulary
                // meeting a character it lacks).
                let bad = batch.iter().zip(texts).find(|(_, t)| tok.encode_ordinary(t).is_err());
                match bad {
                    Some((doc, _)) => anyhow::anyhow!("{}: {}: {e}", doc.path.display(), tok.name()),
                    None => anyhow::anyhow!("{}: {e}", tok.name()),
                }
            })?;
            counter.merge(&c);
        }
        Ok::<_, anyhow::Error>(())
    })?;
    let rows: Vec<Stats> =
        toks.iter().zip(&counters).map(|(t, c)| c.finish(t.name(), t.vocab_size())).collect();
    if rows.iter().all(|r| r.bytes == 0) {
        let names: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!("{}: the corpus is empty", names.join(", "));
    }
    crate::write_output(None, |w| {
        if args.json {
            let json = serde_json::to_string_pretty(&rows).map_err(std::io::Error::other)?;
            writeln!(w, "{json}")
        } else {
            write!(w, "{}", table(&rows))
        }
    })
    .context("writing the table")
}

/// The human table: one row per tokenizer, the columns of `--json`.
pub fn table(rows: &[Stats]) -> String {
    let header = [
        "tokenizer",
        "vocab_size",
        "tokens",
        "chars",
        "bytes",
        "tokens/char",
        "chars/token",
        "bytes/token",
        "vocab_used",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        cells.push(vec![
            r.tokenizer.clone(),
            r.vocab_size.to_string(),
            r.tokens.to_string(),
            r.chars.to_string(),
            r.bytes.to_string(),
            format!("{:.4}", r.tokens_per_char),
            format!("{:.4}", r.chars_per_token),
            format!("{:.4}", r.bytes_per_token),
            format!("{:.2}%", r.vocab_used * 100.0),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| cells.iter().map(|row| row[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> =
            row.iter()
                .enumerate()
                .map(|(c, s)| {
                    if c == 0 { format!("{s:<w$}", w = widths[c]) } else { format!("{s:>w$}", w = widths[c]) }
                })
                .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let row = Stats {
            tokenizer: "char".into(),
            vocab_size: 65,
            tokens: 100,
            chars: 100,
            bytes: 100,
            tokens_per_char: 1.0,
            chars_per_token: 1.0,
            bytes_per_token: 1.0,
            vocab_used: 0.5,
        };
        assert_eq!(
            table(&[row]),
            "tokenizer  vocab_size  tokens  chars  bytes  tokens/char  chars/token  bytes/token  vocab_used\n\
             char               65     100    100    100       1.0000       1.0000       1.0000      50.00%\n"
        );
    }
}
