//! The byte-level BPE vocabulary and encoder.
//!
//! Encoding follows tiktoken: the text is cut into pieces by the pre-tokenizer;
//! a piece that is a whole token becomes that token; otherwise, starting from
//! single bytes, the adjacent pair whose concatenation has the lowest rank is
//! merged (leftmost on ties) until no adjacent pair concatenates to a token.
//!
//! CONTRACT (skeleton): the trainer builds a vocabulary with
//! [`Bpe::from_merges`], the pretrained loader with [`Bpe::from_ranks`], and
//! wraps either in a [`crate::Tokenizer`] with [`crate::Tokenizer::from_bpe`].

use crate::{Pattern, Result, TokenId};

/// A byte-level BPE vocabulary (no special tokens) with its encoder.
#[derive(Clone, Debug)]
pub struct Bpe {
    _private: (),
}

impl Bpe {
    /// The vocabulary of a trained merge list: ids 0..=255 are the single
    /// bytes in byte order, and merge `i` = `(a, b)` creates id `256 + i`
    /// whose bytes are `bytes(a) ++ bytes(b)`. Fails when a merge refers to
    /// an id not yet defined or creates bytes that already exist.
    pub fn from_merges(merges: &[(TokenId, TokenId)], pattern: Pattern) -> Result<Bpe> {
        let _ = (merges, pattern);
        todo!()
    }

    /// A vocabulary given as token bytes by rank (`tokens[id]`), as tiktoken
    /// files hold them: every single byte must be present (at any rank), and
    /// no two ids may share bytes.
    pub fn from_ranks(tokens: Vec<Vec<u8>>, pattern: Pattern) -> Result<Bpe> {
        let _ = (tokens, pattern);
        todo!()
    }
}
