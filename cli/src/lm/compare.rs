//! `lm compare`: runs side by side, in bits per character on the same
//! validation text; refuses runs evaluated on different text.

use std::path::PathBuf;

use anyhow::Result;
use dataset::Split;
use report::{Comparison, RunSummary};

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

/// Builds the comparison (with reference rows) for `runs`.
pub fn build(runs: &[PathBuf], references: &[String]) -> Result<Comparison> {
    // The same directory twice would print its row twice (and weigh it
    // twice in the fits); a path that does not resolve fails below, with
    // the loader's message.
    let mut seen = std::collections::HashMap::new();
    for r in runs {
        if let Ok(canon) = std::fs::canonicalize(r)
            && let Some(first) = seen.insert(canon, r)
        {
            anyhow::bail!("{}: the same run as {} (given twice)", r.display(), first.display());
        }
    }
    let summaries = runs.iter().map(|r| RunSummary::load(r)).collect::<report::Result<Vec<_>>>()?;
    let mut c = Comparison::new(&summaries)?;
    c.scaling = report::scaling::ScalingAxis::build(&c);
    let names: Vec<&str> = references.iter().map(String::as_str).filter(|n| *n != "none").collect();
    let sweep = c.rows.iter().any(|r| r.budget_flops.is_some());
    if !names.is_empty() || sweep {
        let shards = &summaries[0].config.data.shards;
        match trainer::eval::split_text(shards, Split::Val) {
            Ok(text) => {
                if !names.is_empty() {
                    c.add_references(report::compare::reference_rows(&text, &names)?);
                }
                c.compute = report::compute::ComputeAxis::build(&c, &summaries, &text)?;
            }
            Err(e) => crate::errln!("lm compare: no reference rows: {}", crate::one_line(&e.into())),
        }
    }
    Ok(c)
}

pub fn run(args: Args) -> Result<()> {
    let c = build(&args.runs, &args.reference)?;
    if let Some(dir) = &args.output {
        report::write_report(&c, dir)?;
    }
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&c)?)?;
    } else {
        crate::out!("{}", report::table::markdown(&c))?;
        if let Some(dir) = &args.output {
            crate::outln!("\nwrote {}/report.md, report.json and 3 SVG plots", dir.display())?;
        }
    }
    Ok(())
}
