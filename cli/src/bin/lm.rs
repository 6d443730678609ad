//! `lm`: train, evaluate, sample and compare language models.
fn main() {}
