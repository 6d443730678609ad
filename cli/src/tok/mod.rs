//! The `tok` subcommands, one module each.

pub mod encode;
pub mod inspect;
pub mod merge_manifests;
