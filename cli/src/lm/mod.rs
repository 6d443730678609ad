//! The `lm` subcommands, one module each: its clap `Args` and its `run`.
//! `src/bin/lm.rs` only dispatches.

pub mod bench;
pub mod compare;
pub mod eval;
pub mod experiment;
pub mod sample;
pub mod train;

/// `40s`, `10m`, `1.5h`, `90` (seconds): a duration in seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let bad = || format!("bad duration {s:?}: expected a number with an optional s, m or h suffix, e.g. 10m");
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1.0),
        Some('m') => (&t[..t.len() - 1], 60.0),
        Some('h') => (&t[..t.len() - 1], 3600.0),
        _ => (t, 1.0),
    };
    let x: f64 = num.parse().map_err(|_| bad())?;
    if !x.is_finite() || x <= 0.0 {
        return Err(bad());
    }
    Ok(x * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_suffixes() {
        assert_eq!(parse_duration("40s"), Ok(40.0));
        assert_eq!(parse_duration("10m"), Ok(600.0));
        assert_eq!(parse_duration("1.5h"), Ok(5400.0));
        assert_eq!(parse_duration("90"), Ok(90.0));
        for bad in ["", "m", "-3s", "0", "10x", "inf"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
