//! `manifest.json`: what a shard directory holds.

/// The manifest of a shard directory.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Manifest {}

/// One split's totals and shard list.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SplitInfo {}
