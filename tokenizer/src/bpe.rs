//! The byte-level BPE vocabulary and encoder.
//!
//! Encoding follows tiktoken: the text is cut into pieces by the pre-tokenizer;
//! a piece that is a whole token becomes that token; otherwise, starting from
//! single bytes, the adjacent pair whose concatenation has the lowest rank is
//! merged (leftmost on ties) until no adjacent pair concatenates to a token.
