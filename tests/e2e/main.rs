//! End-to-end tests: the binaries and the crates together.
