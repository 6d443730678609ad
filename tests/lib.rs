//! Helpers shared by the end-to-end tests (see `e2e/main.rs`).
