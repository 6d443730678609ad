//! `lm compare`: runs side by side, in bits per character on the same
//! validation text; refuses runs evaluated on different text.

use std::path::{Path, PathBuf};

use anyhow::Result;
use dataset::{ShardSet, Split};
use report::{Comparison, RunSummary};

pub use report::table::duration;

/// Compare finished (or unfinished) runs: table, report files and plots.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run directories (from `lm train` or `lm experiment`).
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Write report.md, report.json and the SVG plots into this directory.
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Pretrained tokenizers to measure on the same validation text (tokens
    /// per character only, no model); `--reference none` for none.
    #[arg(long, value_delimiter = ',', default_value = "cl100k_base,o200k_base")]
    pub reference: Vec<String>,
    /// Print report.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// The validation text of a run's shards (special tokens left out).
pub fn val_text(shards: &Path) -> Result<Vec<u8>> {
    let set = ShardSet::open(shards)?;
    let tok = set.tokenizer()?;
    let specials: Vec<u32> = tok.special_tokens().iter().map(|(_, id)| *id).collect();
    let mut text = Vec::new();
    let mut ids = Vec::new();
    set.split(Split::Val).for_each_block(|block| {
        ids.clear();
        ids.extend(block.iter().copied().filter(|t| !specials.contains(t)));
        // Ids come from validated shards of this tokenizer; decoding cannot fail.
        let _ = tok.decode_into(&ids, &mut text);
    });
    Ok(text)
}

/// Builds the comparison (with reference rows) for `runs`.
pub fn build(runs: &[PathBuf], references: &[String]) -> Result<Comparison> {
    let summaries = runs.iter().map(|r| RunSummary::load(r)).collect::<report::Result<Vec<_>>>()?;
    let mut c = Comparison::new(&summaries)?;
    let names: Vec<&str> = references.iter().map(String::as_str).filter(|n| *n != "none").collect();
    if !names.is_empty() {
        let shards = &summaries[0].config.data.shards;
        match val_text(shards) {
            Ok(text) => c.add_references(report::compare::reference_rows(&text, &names)?),
            Err(e) => eprintln!("lm compare: no reference rows: {}", crate::one_line(&e)),
        }
    }
    Ok(c)
}

/// Writes report.md, report.json and the plots into `dir`; returns the Markdown.
pub fn write_report(c: &Comparison, dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let mut md = String::from("# Char vs BPE\n\n");
    md.push_str(&report::table::markdown(c));
    md.push_str("\n![validation bits per character vs training time](bpc_vs_time.svg)\n");
    md.push_str("![validation bits per character vs characters seen](bpc_vs_chars.svg)\n");
    md.push_str("![tokens per character](tokens_per_char.svg)\n");
    if !c.samples.is_empty() {
        md.push_str("\n## Samples\n");
        for (run, text) in &c.samples {
            md.push_str(&format!("\n### {run}\n\n```\n{}\n```\n", text.trim_end()));
        }
    }
    model::run::write_atomic(&dir.join("report.md"), md.as_bytes())?;
    model::run::write_json(&dir.join("report.json"), c)?;
    report::plot::write_all(c, dir)?;
    Ok(md)
}

pub fn run(args: Args) -> Result<()> {
    let c = build(&args.runs, &args.reference)?;
    if let Some(dir) = &args.output {
        write_report(&c, dir)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", report::table::markdown(&c));
        if let Some(dir) = &args.output {
            println!("\nwrote {}/report.md, report.json and 3 SVG plots", dir.display());
        }
    }
    Ok(())
}
