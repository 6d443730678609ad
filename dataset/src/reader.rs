//! Opening a shard directory: manifest, memory maps, validation.

/// A validated, memory-mapped shard directory.
pub struct ShardSet {}
