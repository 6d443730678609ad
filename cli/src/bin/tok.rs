//! `tok`: train tokenizers, encode corpora into shards, measure tokenizers.
fn main() {}
