//! Comparing runs: bits per character and per byte on identical held-out text,
//! the table, and the plots.
//!
//! The arithmetic lives here so it can be tested exactly; `lm compare` only
//! prints what this crate computes. The crate refuses to compare runs whose
//! validation text differs: a loss on other text is not a comparison.
//!
//! - [`bits`]: nats to bits per token, character and byte.
//! - [`compare`]: reading finished (or unfinished) runs and building the rows.
//! - [`table`]: the table as Markdown (terminal and `report.md`).
//! - [`plot`]: SVG plots of validation bits per character.
//! - [`fit`]: fitted loss curves (`E + A*C^-alpha`, `L(N, D)`) with intervals.
//! - [`frontier`]: which vocabulary is best over which compute range, where
//!   the curves cross, and which intrinsic measure ordered the vocabularies.
//! - [`compute`]: the compute axis of a FLOPs sweep (fits, frontier,
//!   intrinsic measures), from the best width at each budget in a grid.
//! - [`scaling`]: with several widths, `L(N, D)` per vocabulary.

pub mod bits;
pub mod compare;
pub mod compute;
mod error;
pub mod fit;
pub mod frontier;
pub mod plot;
pub mod scaling;
pub mod table;

pub use compare::{Comparison, Curve, CurvePoint, ReferenceRow, Row, RunSummary};
pub use error::{Error, Result};
pub use fit::{FitError, FitOptions, PowerLaw, PowerLawFit, ScalingLaw, ScalingLawFit, VocabFit};
pub use frontier::{Frontier, FrontierRange, Intrinsic};

use std::path::Path;

/// Writes `report.md`, `report.json` and the plots into `dir` (created if
/// needed); returns the Markdown.
pub fn write_report(c: &Comparison, dir: &Path) -> Result<String> {
    atomicfile::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let md = markdown_report(c);
    write_file(&dir.join("report.md"), md.as_bytes())?;
    let mut json = serde_json::to_string_pretty(c)
        .map_err(|e| Error::Io { path: dir.join("report.json"), source: std::io::Error::other(e) })?;
    json.push('\n');
    write_file(&dir.join("report.json"), json.as_bytes())?;
    plot::write_all(c, dir)?;
    if let Some(axis) = &c.compute
        && let Some(f) = &axis.frontier_detail
    {
        plot::write_frontier(&axis.curves(c), f, dir)?;
    }
    Ok(md)
}

/// `report.md`: the table, the plots and the samples.
pub fn markdown_report(c: &Comparison) -> String {
    let mut md = String::from("# Char vs BPE\n\n");
    md.push_str(&table::markdown(c));
    md.push_str("\n![validation bits per character vs training time](bpc_vs_time.svg)\n");
    md.push_str("![validation bits per character vs characters seen](bpc_vs_chars.svg)\n");
    md.push_str("![tokens per character](tokens_per_char.svg)\n");
    if let Some(axis) = &c.compute {
        md.push_str(&axis.markdown());
    }
    if let Some(axis) = &c.scaling {
        md.push_str(&axis.markdown());
    }
    if c.rows.iter().any(|r| r.machine_dependent) {
        md.push_str(
            "\nThese runs had a wall-clock budget: how far each got depends on the machine's speed and load, \
             so the same command on another machine gives other figures. A FLOPs budget (--flops) does not.\n",
        );
    }
    if !c.samples.is_empty() {
        md.push_str("\n## Samples\n");
        for (run, text) in &c.samples {
            md.push_str(&format!("\n### {run}\n\n```\n{}\n```\n", text.trim_end()));
        }
    }
    md
}

/// Writes a report file atomically; errors name it.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    atomicfile::write(path, bytes).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}
