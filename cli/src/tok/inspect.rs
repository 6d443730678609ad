//! `tok inspect`: what a shard directory holds: the manifest's summary, the
//! shard list, the most frequent tokens with their text, and a decoded
//! sample window. Opening the directory validates every shard.

use std::path::PathBuf;

use anyhow::{Result, bail};
use dataset::{ShardSet, Split};
use tokenizer::Tokenizer;

/// Show a shard directory: manifest, shards, token histogram head, a decoded sample.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shard directory (from `tok encode`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// How many of the most frequent tokens to list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,

    /// The split for the histogram and the sample.
    #[arg(long, default_value = "train", value_parser = parse_split)]
    pub split: Split,

    /// Tokens in the decoded sample window.
    #[arg(long, default_value_t = 48, value_name = "N")]
    pub sample: usize,

    /// Where the sample window starts (token index in the split).
    #[arg(long, default_value_t = 0, value_name = "I")]
    pub offset: u64,
}

fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "train" => Ok(Split::Train),
        "val" => Ok(Split::Val),
        _ => Err(format!("unknown split {s:?}: expected train or val")),
    }
}

/// Token text for a table cell: escapes and quotes, lossy for partial UTF-8.
fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// The first 16 characters of a hash, for the tables. The manifest's hashes
/// are checked as hex when it is loaded; counting characters, not bytes,
/// keeps this from panicking whatever it is given.
fn short_hash(h: &str) -> String {
    h.chars().take(16).collect()
}

pub fn run(args: Args) -> Result<()> {
    let set = ShardSet::open(&args.dir)?;
    let m = set.manifest();
    let t = &m.tokenizer;
    crate::outln!("{}", args.dir.display())?;
    crate::outln!(
        "  tokenizer   {} ({:?}, {} ids{}), hash {}",
        t.name,
        t.kind,
        t.vocab_size,
        if t.pretrained { ", pretrained".to_string() } else { format!(", from {}", t.source) },
        short_hash(&t.content_hash)
    )?;
    crate::outln!(
        "  format      llm.c {} (magic {}, version {}), at most {} tokens per shard",
        m.token_width.numpy_dtype(),
        m.token_width.magic(),
        m.token_width.version(),
        m.shard_tokens
    )?;
    crate::outln!("  split       {} with val_fraction {}", m.split.rule, m.split.val_fraction)?;
    crate::outln!(
        "  eot         {}",
        m.eot_id.map_or("no".to_string(), |id| format!(
            "{} (id {id}) before each document part",
            tokenizer::END_OF_TEXT
        ))
    )?;
    crate::outln!("  corpus      {} files, {} bytes", m.corpus.files, m.corpus.bytes)?;
    crate::outln!()?;
    crate::outln!(
        "  split         tokens         bytes         chars    docs  tokens/char  bytes/token  text hash"
    )?;
    for split in [Split::Train, Split::Val] {
        let s = m.splits.get(split);
        let ratio = |a: u64, b: u64| if b > 0 { format!("{:.4}", a as f64 / b as f64) } else { "-".into() };
        crate::outln!(
            "  {:<5} {:>14} {:>13} {:>13} {:>7} {:>12} {:>12}  {}",
            split.name(),
            s.tokens,
            s.bytes,
            s.chars,
            s.documents,
            ratio(s.tokens, s.chars),
            ratio(s.bytes, s.tokens),
            short_hash(&s.text_hash)
        )?;
    }
    crate::outln!()?;
    crate::outln!("  shards")?;
    for split in [Split::Train, Split::Val] {
        for e in &m.splits.get(split).shards {
            let size = 1024 + e.tokens * m.token_width.bytes() as u64;
            crate::outln!("    {:<24} {:>12} tokens {:>14} bytes", e.file, e.tokens, size)?;
        }
    }

    let tok = set.tokenizer()?;
    let stream = set.split(args.split);
    if stream.is_empty() {
        crate::outln!("\n  the {} split is empty", args.split.name())?;
        return Ok(());
    }
    let counts = histogram(&set, args.split, &tok)?;
    let used = counts.iter().filter(|&&c| c > 0).count();
    let total = stream.len();
    let mut order: Vec<u32> = (0..counts.len() as u32).filter(|&id| counts[id as usize] > 0).collect();
    order.sort_by_key(|&id| (std::cmp::Reverse(counts[id as usize]), id));
    crate::outln!()?;
    crate::outln!(
        "  {} histogram: {} distinct ids of {} ({:.1}% of the vocabulary); top {}:",
        args.split.name(),
        used,
        t.vocab_size,
        100.0 * used as f64 / t.vocab_size as f64,
        args.top.min(order.len())
    )?;
    for &id in order.iter().take(args.top) {
        let c = counts[id as usize];
        let text = tok.token_bytes(id).map_or("?".to_string(), show);
        crate::outln!("    {id:>8} {c:>14} {:>7.3}%  {text}", 100.0 * c as f64 / total as f64)?;
    }

    let start = args.offset.min(total);
    let n = (args.sample as u64).min(total - start) as usize;
    let mut ids = vec![0; n];
    stream.copy_to(start, &mut ids);
    crate::outln!()?;
    crate::outln!(
        "  sample: tokens {start}..{} of {}, ids and text (tokens separated by |)",
        start + n as u64,
        args.split.name()
    )?;
    crate::outln!("    {ids:?}")?;
    let pieces: Vec<String> = ids
        .iter()
        .map(|&id| {
            let b = tok.token_bytes(id).unwrap_or(b"?");
            let s = format!("{:?}", String::from_utf8_lossy(b));
            s[1..s.len() - 1].to_string()
        })
        .collect();
    crate::outln!("    {}", pieces.join("|"))?;
    let text = tok.decode(&ids)?;
    crate::outln!("  decoded:")?;
    for line in String::from_utf8_lossy(&text).lines() {
        crate::outln!("    {line}")?;
    }
    Ok(())
}

/// Token counts over a split; an id outside the vocabulary is an error
/// naming the shard.
fn histogram(set: &ShardSet, split: Split, tok: &Tokenizer) -> Result<Vec<u64>> {
    let vocab = tok.vocab_size();
    let mut counts = vec![0u64; vocab];
    let stream = set.split(split);
    let mut buf = vec![0; 1 << 16];
    let mut shard_start = 0;
    for (path, n) in stream.shards() {
        let mut pos = 0;
        while pos < n {
            let k = (buf.len() as u64).min(n - pos) as usize;
            stream.copy_to(shard_start + pos, &mut buf[..k]);
            for &id in &buf[..k] {
                match counts.get_mut(id as usize) {
                    Some(c) => *c += 1,
                    None => bail!(
                        "{}: token id {id} is outside the vocabulary of the shards' tokenizer ({vocab} ids)",
                        path.display()
                    ),
                }
            }
            pos += k as u64;
        }
        shard_start += n;
    }
    Ok(counts)
}
