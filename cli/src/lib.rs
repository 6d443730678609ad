//! Shared glue for the `tok` and `lm` binaries: progress bars, exit codes,
//! thread-pool setup. Nothing here is a library for other crates.
