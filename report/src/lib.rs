//! Comparing runs: bits per character and per byte on identical held-out text,
//! the table, and the plots. The arithmetic lives here so it can be tested
//! exactly; the `lm compare` command only prints what this crate computes.
