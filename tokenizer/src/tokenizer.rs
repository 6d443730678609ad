//! The [`Tokenizer`] type: one face over the BPE and character vocabularies.
//!
//! CONTRACT (skeleton): the signatures below are what the other crates
//! (`dataset`, `model`, `report`, `cli`) program against. Bodies are filled in
//! by the tokenizer work; keep the signatures stable or update every caller.

use std::path::Path;

use crate::{Pattern, Result, TokenId};

/// Which kind of vocabulary a tokenizer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Byte-level BPE (our trained vocabularies and the pretrained OpenAI ones).
    Bpe,
    /// One token per distinct character of the training corpus.
    Char,
}

/// Which special tokens `encode` may produce when their text appears in the input.
#[derive(Clone, Debug, Default)]
pub enum Allowed<'a> {
    /// None: special-token text is encoded as ordinary text.
    #[default]
    None,
    /// Every special token of the vocabulary.
    All,
    /// Only these.
    Some(&'a [&'a str]),
}

/// A loaded tokenizer: a trained BPE or character vocabulary, or a pretrained one.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    // filled in by the implementation
    _private: (),
}

impl Tokenizer {
    /// Wraps a BPE vocabulary; `specials` get the ids given (they must not
    /// collide with the vocabulary's ids); `name` is what tables show.
    pub fn from_bpe(bpe: crate::bpe::Bpe, specials: Vec<(String, TokenId)>, name: &str) -> Result<Tokenizer> {
        let _ = (bpe, specials, name);
        todo!()
    }

    /// Loads `spec`: a pretrained name (`cl100k_base`, `o200k_base`, `r50k_base`,
    /// `p50k_base`) or the path of a file we wrote. Errors name the file and
    /// say what is wrong with it.
    pub fn load(spec: &str) -> Result<Tokenizer> {
        let _ = spec;
        todo!()
    }

    /// Loads a tokenizer file we wrote (our JSON format), validating everything.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let _ = path;
        todo!()
    }

    /// Parses our JSON format from memory; `origin` names the source in errors.
    pub fn from_json(json: &str, origin: &str) -> Result<Tokenizer> {
        let _ = (json, origin);
        todo!()
    }

    /// Serializes to our JSON format (canonical: the same tokenizer always gives
    /// the same bytes).
    pub fn to_json(&self) -> String {
        todo!()
    }

    /// Writes our JSON format atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let _ = path;
        todo!()
    }

    /// BPE or character vocabulary.
    pub fn kind(&self) -> Kind {
        todo!()
    }

    /// A short human name: the pretrained name, or the file stem.
    pub fn name(&self) -> &str {
        todo!()
    }

    /// The pre-tokenizer split pattern (BPE only).
    pub fn pattern(&self) -> Option<Pattern> {
        todo!()
    }

    /// Number of ids: one more than the largest id, special tokens included.
    pub fn vocab_size(&self) -> usize {
        todo!()
    }

    /// The special tokens and their ids, sorted by id.
    pub fn special_tokens(&self) -> &[(String, TokenId)] {
        todo!()
    }

    /// The id of a special token.
    pub fn special_id(&self, text: &str) -> Option<TokenId> {
        let _ = text;
        todo!()
    }

    /// A hex digest of the canonical JSON: two tokenizers with equal hashes
    /// encode identically.
    pub fn content_hash(&self) -> String {
        todo!()
    }

    /// Encodes `text`, treating special-token text as ordinary text. BPE never
    /// fails; a character vocabulary fails on a character it lacks (naming it
    /// and its byte offset) unless it was trained with a byte fallback.
    pub fn encode_ordinary(&self, text: &[u8]) -> Result<Vec<TokenId>> {
        let mut out = Vec::new();
        self.encode_ordinary_into(text, &mut out)?;
        Ok(out)
    }

    /// Like [`Tokenizer::encode_ordinary`], appending to `out`.
    pub fn encode_ordinary_into(&self, text: &[u8], out: &mut Vec<TokenId>) -> Result<()> {
        let _ = (text, out);
        todo!()
    }

    /// Encodes `text`, matching the `allowed` special tokens before
    /// pre-tokenization; other special-token text is ordinary text.
    pub fn encode(&self, text: &[u8], allowed: &Allowed<'_>) -> Result<Vec<TokenId>> {
        let _ = (text, allowed);
        todo!()
    }

    /// The bytes of `ids`, concatenated. Fails on an id out of range.
    pub fn decode(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.decode_into(ids, &mut out)?;
        Ok(out)
    }

    /// Like [`Tokenizer::decode`], appending to `out`.
    pub fn decode_into(&self, ids: &[TokenId], out: &mut Vec<u8>) -> Result<()> {
        let _ = (ids, out);
        todo!()
    }

    /// The bytes of one token (special tokens give their text).
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let _ = id;
        todo!()
    }

    /// The first position `p >= from` at which `text` can be cut so that
    /// `encode(text[..p]) ++ encode(text[p..]) == encode(text)`, or `None` when
    /// there is none. Used to encode large files in parallel chunks. For BPE
    /// with a split pattern: just after a `\n` that is followed by an ASCII
    /// graphic byte (0x21..=0x7E); for a character vocabulary: any character
    /// boundary; for BPE without a pattern: never.
    pub fn chunk_boundary(&self, text: &[u8], from: usize) -> Option<usize> {
        let _ = (text, from);
        todo!()
    }
}
