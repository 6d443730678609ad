//! `tok merge-manifests`: joins the partial manifests of a `--part i/N`
//! encoding into `manifest.json`, once every shard and the tokenizer copy
//! check out against the joined manifest.

use std::path::PathBuf;

use anyhow::Result;
use dataset::Split;

/// Join the partial manifests (manifest_p{i}.json) of `tok encode --part i/N` runs into manifest.json.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shard directory holding every part's shards and partial manifest.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    // Joins, checks every shard and the tokenizer copy, then writes: the
    // totals printed below are the checked ones (no second open).
    let m = dataset::manifest::merge_parts(&args.dir)?;
    // The partial manifests merged (each checked to be named by its own
    // index), not every file whose name starts like one.
    let mut parts = 0;
    for e in std::fs::read_dir(&args.dir)?.flatten() {
        parts += dataset::manifest::is_part_manifest_name(&e.file_name().to_string_lossy()) as usize;
    }
    crate::outln!("merged {parts} parts into {}", args.dir.join(dataset::manifest::MANIFEST_FILE).display())?;
    for split in [Split::Train, Split::Val] {
        let s = m.splits.get(split);
        crate::outln!(
            "  {:<5} {:>12} tokens  {:>12} bytes  {:>12} chars  {:>6} docs  {:>4} shards",
            split.name(),
            s.tokens,
            s.bytes,
            s.chars,
            s.documents,
            s.shards.len()
        )?;
    }
    Ok(())
}
