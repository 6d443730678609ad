//! The corpus encoder: files -> tokens -> shards, in parallel, streaming.
