//! The comparison as Markdown: the same text goes to the terminal and to `report.md`.

use crate::Comparison;

/// `1234567` -> `"1.23M"`, `65000` -> `"65.0k"`, `512` -> `"512"`.
pub fn si(n: f64) -> String {
    let a = n.abs();
    if a >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", n / 1e3)
    } else if a >= 100.0 || n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

/// A loss or a bits figure with `decimals` decimals, or in scientific
/// notation from a million up: a diverging run's losses (say with a learning
/// rate of 1e30) stay one short word instead of 30 digits.
pub fn fixed(x: f64, decimals: usize) -> String {
    if x.is_finite() && x.abs() >= 1e6 { format!("{x:.3e}") } else { format!("{x:.decimals$}") }
}

/// Seconds as `"9m41s"`, `"42.0s"` or `"1h02m"`.
pub fn duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{}h{:02}m", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1}s")
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// The main table, one row per run, then the pretrained tokenizers' rows.
pub fn markdown(c: &Comparison) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "Validation text: {} bytes, {} characters (hash {}).\n\n",
        c.val.bytes,
        c.val.chars,
        c.val.text_hash.chars().take(16).collect::<String>()
    ));
    // Runs of several widths: the width and N of each row (the scaling fit's inputs).
    let mut widths: Vec<usize> = c.rows.iter().map(|r| r.hidden).collect();
    widths.sort_unstable();
    widths.dedup();
    let grid = widths.len() > 1;
    s.push_str(if grid {
        "| run | vocab | H | params | non-emb | emb+head "
    } else {
        "| run | vocab | params | emb+head "
    });
    s.push_str(
        "| tokens/char | val nats/token | **val bits/char** | val bits/byte \
         | tokens/s | chars/s | train time | tokens seen | chars seen | status |\n",
    );
    s.push_str(if grid { "|---|---:|---:|---:|---:|---:" } else { "|---|---:|---:|---:" });
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in &c.rows {
        let e = r.eval.as_ref();
        let size = if grid {
            format!(
                "{} | {} | {} | {}",
                r.hidden,
                si(r.params as f64),
                si(r.non_embedding_params as f64),
                si(r.embed_head_params as f64)
            )
        } else {
            format!("{} | {}", si(r.params as f64), si(r.embed_head_params as f64))
        };
        s.push_str(&format!(
            "| {} | {} | {size} | {:.4} | {} | **{}** | {} | {} | {} | {} | {} | {} | {} |\n",
            r.run,
            r.vocab_size,
            r.tokens_per_char,
            opt(e.map(|e| e.val_loss), |v| fixed(v, 4)),
            opt(e.map(|e| e.bits_per_char), |v| fixed(v, 4)),
            opt(e.map(|e| e.bits_per_byte), |v| fixed(v, 4)),
            opt(r.tokens_per_s, si),
            opt(r.chars_per_s, si),
            opt(r.train_s, duration),
            opt(r.tokens.map(|v| v as f64), si),
            opt(r.chars.map(|v| v as f64), si),
            r.status,
        ));
    }
    if !c.references.is_empty() {
        s.push_str("\nPretrained tokenizers on the same validation text (no model):\n\n");
        s.push_str("| tokenizer | vocab | tokens | tokens/char |\n|---|---:|---:|---:|\n");
        for r in &c.references {
            s.push_str(&format!(
                "| {} | {} | {} | {:.4} |\n",
                r.tokenizer, r.vocab_size, r.tokens, r.tokens_per_char
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(si(3_234_567.0), "3.23M");
        assert_eq!(fixed(1.234_56, 4), "1.2346");
        assert_eq!(fixed(999_999.0, 1), "999999.0");
        assert_eq!(fixed(-2.5e30, 4), "-2.500e30");
        assert_eq!(fixed(f64::INFINITY, 4), "inf");
        assert_eq!(fixed(f64::NAN, 4), "NaN");
        assert_eq!(si(65_000.0), "65.0k");
        assert_eq!(si(512.0), "512");
        assert_eq!(si(2.5), "2.50");
        assert_eq!(duration(581.0), "9m41s");
        assert_eq!(duration(42.0), "42.0s");
        assert_eq!(duration(3720.0), "1h02m");
    }
}
