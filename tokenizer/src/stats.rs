//! Tokens per character, bytes per token, share of the vocabulary used.
