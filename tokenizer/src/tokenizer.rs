//! The [`Tokenizer`] type: one face over the BPE and character vocabularies.
//!
//! A tokenizer is a vocabulary ([`crate::bpe::Bpe`] or
//! [`crate::chars::CharVocab`]) plus special tokens and a name. It is cheap
//! to clone (the tables are shared) and safe to use from many threads.
//!
//! Special tokens: [`Tokenizer::encode`] matches the *allowed* special texts
//! before pre-tokenization, leftmost first and the longest where two start at
//! the same byte; every other special text is ordinary text.
//! [`Tokenizer::encode_ordinary`] never produces a special id. Decoding a
//! special id gives its text.
//!
//! Parallel encoding: [`Tokenizer::encode_batch`] encodes many documents on
//! the rayon pool; [`Tokenizer::encode_ordinary_par`] cuts one large text at
//! [`Tokenizer::chunk_boundary`] positions, where cutting provably does not
//! change the result, and encodes the chunks in parallel.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::bpe::Bpe;
use crate::chars::CharVocab;
use crate::{Error, Pattern, Result, TokenId};

/// Which kind of vocabulary a tokenizer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Byte-level BPE (our trained vocabularies and the pretrained OpenAI ones).
    Bpe,
    /// One token per distinct character of the training corpus.
    Char,
}

impl Kind {
    /// The name used in files and messages: `bpe` or `char`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bpe => "bpe",
            Kind::Char => "char",
        }
    }
}

/// Which special tokens `encode` may produce when their text appears in the input.
#[derive(Clone, Debug, Default)]
pub enum Allowed<'a> {
    /// None: special-token text is encoded as ordinary text.
    #[default]
    None,
    /// Every special token of the vocabulary.
    All,
    /// Only these (each must be a special token of the vocabulary).
    Some(&'a [&'a str]),
}

/// The vocabulary inside a tokenizer.
// One per tokenizer, behind an `Arc`: the size difference is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Model {
    Bpe(Bpe),
    Char(CharVocab),
}

#[derive(Debug)]
struct Inner {
    name: String,
    model: Model,
    /// Sorted by id.
    specials: Vec<(String, TokenId)>,
    vocab_size: usize,
}

/// A loaded tokenizer: a trained BPE or character vocabulary, or a pretrained one.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.inner.name)
            .field("kind", &self.kind())
            .field("vocab_size", &self.inner.vocab_size)
            .field("specials", &self.inner.specials)
            .finish()
    }
}

/// Special-token ids must be below this (4,194,304).
const MAX_SPECIAL_ID: TokenId = 1 << 22;

/// Checks special tokens against a vocabulary whose ids are those for which
/// `taken` holds, and sorts them by id.
fn check_specials(
    mut specials: Vec<(String, TokenId)>,
    taken: impl Fn(TokenId) -> bool,
) -> Result<Vec<(String, TokenId)>> {
    for (text, id) in &specials {
        if text.is_empty() {
            return Err(Error::Config(format!("special token {id} has empty text")));
        }
        if taken(*id) {
            return Err(Error::Config(format!(
                "special token {text:?} has id {id}, which a vocabulary token already has"
            )));
        }
        if *id >= MAX_SPECIAL_ID {
            // Ids size tables (decoding, stats): a stray huge id would cost
            // gigabytes for nothing.
            return Err(Error::Config(format!(
                "special token {text:?} has id {id}; ids must be below {MAX_SPECIAL_ID}"
            )));
        }
    }
    specials.sort_by_key(|(_, id)| *id);
    if let Some(w) = specials.windows(2).find(|w| w[0].1 == w[1].1) {
        return Err(Error::Config(format!(
            "special tokens {:?} and {:?} both have id {}",
            w[0].0, w[1].0, w[0].1
        )));
    }
    let mut texts: Vec<&str> = specials.iter().map(|(t, _)| t.as_str()).collect();
    texts.sort_unstable();
    if let Some(w) = texts.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::Config(format!("special token {:?} is listed twice", w[0])));
    }
    Ok(specials)
}

/// Shifts the byte offset of an encoding error by `base` (errors from a
/// segment of a larger text must name offsets in the whole text).
fn at_offset(e: Error, base: usize) -> Error {
    match e {
        Error::UnknownChar { ch, code, offset } => Error::UnknownChar { ch, code, offset: offset + base },
        Error::InvalidUtf8 { offset } => Error::InvalidUtf8 { offset: offset + base },
        e => e,
    }
}

impl Tokenizer {
    fn new(name: &str, model: Model, specials: Vec<(String, TokenId)>) -> Result<Tokenizer> {
        let base = match &model {
            Model::Bpe(b) => b.len(),
            Model::Char(c) => c.len(),
        };
        let specials = check_specials(specials, |id| match &model {
            Model::Bpe(b) => (id as usize) < base && !b.is_unused(id),
            Model::Char(_) => (id as usize) < base,
        })?;
        let vocab_size = specials.last().map_or(base, |(_, id)| base.max(*id as usize + 1));
        Ok(Tokenizer { inner: Arc::new(Inner { name: name.to_string(), model, specials, vocab_size }) })
    }

    /// Wraps a BPE vocabulary; `specials` get the ids given (they must not
    /// collide with the vocabulary's ids); `name` is what tables show.
    pub fn from_bpe(bpe: Bpe, specials: Vec<(String, TokenId)>, name: &str) -> Result<Tokenizer> {
        Tokenizer::new(name, Model::Bpe(bpe), specials)
    }

    /// Wraps a character vocabulary; `specials` get the ids given (at or
    /// above `chars.len()`).
    pub fn from_chars(chars: CharVocab, specials: Vec<(String, TokenId)>, name: &str) -> Result<Tokenizer> {
        Tokenizer::new(name, Model::Char(chars), specials)
    }

    /// Loads `spec`: a pretrained name (`cl100k_base`, `o200k_base`, `r50k_base`,
    /// `p50k_base`) or the path of a file we wrote. Errors name the file and
    /// say what is wrong with it. A pretrained name wins over a file of the
    /// same name in the working directory (write `./o200k_base` for the file).
    pub fn load(spec: &str) -> Result<Tokenizer> {
        if let Some(t) = crate::pretrained::load(spec) {
            return t;
        }
        let path = Path::new(spec);
        if path.exists() {
            return Tokenizer::from_file(path);
        }
        Err(Error::UnknownTokenizer { spec: spec.to_string() })
    }

    /// Loads a tokenizer file we wrote (our JSON format), validating everything.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let origin = path.display().to_string();
        let json = std::str::from_utf8(&bytes).map_err(|e| Error::BadFile {
            origin: origin.clone(),
            reason: format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()),
        })?;
        Tokenizer::from_json(json, &origin)
    }

    /// Parses our JSON format from memory; `origin` names the source in errors.
    pub fn from_json(json: &str, origin: &str) -> Result<Tokenizer> {
        crate::file::from_json(json, origin)
    }

    /// Serializes to our JSON format (canonical: the same tokenizer always gives
    /// the same bytes).
    pub fn to_json(&self) -> String {
        crate::file::to_json(self)
    }

    /// Writes our JSON format atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::file::write_atomic(path, self.to_json().as_bytes())
    }

    /// BPE or character vocabulary.
    pub fn kind(&self) -> Kind {
        match self.inner.model {
            Model::Bpe(_) => Kind::Bpe,
            Model::Char(_) => Kind::Char,
        }
    }

    /// A short human name: the pretrained name, or the name stored in the
    /// file (`tok train` stores the output file's stem), so that a copied or
    /// renamed file keeps its name and its [`Tokenizer::content_hash`].
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The same tokenizer under another name (the name is part of the file
    /// and of the content hash, nothing else changes).
    pub fn with_name(&self, name: &str) -> Tokenizer {
        let inner = &self.inner;
        Tokenizer {
            inner: Arc::new(Inner {
                name: name.to_string(),
                model: inner.model.clone(),
                specials: inner.specials.clone(),
                vocab_size: inner.vocab_size,
            }),
        }
    }

    /// The pre-tokenizer split pattern (BPE only).
    pub fn pattern(&self) -> Option<Pattern> {
        match &self.inner.model {
            Model::Bpe(b) => Some(b.pattern()),
            Model::Char(_) => None,
        }
    }

    /// The BPE vocabulary, if this is one.
    pub fn as_bpe(&self) -> Option<&Bpe> {
        match &self.inner.model {
            Model::Bpe(b) => Some(b),
            Model::Char(_) => None,
        }
    }

    /// The character vocabulary, if this is one.
    pub fn as_chars(&self) -> Option<&CharVocab> {
        match &self.inner.model {
            Model::Char(c) => Some(c),
            Model::Bpe(_) => None,
        }
    }

    /// Number of ids: one more than the largest id, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab_size
    }

    /// Number of ordinary ids: the vocabulary without its special tokens is
    /// `0..base_vocab_size()` (p50k has one special inside that range).
    pub fn base_vocab_size(&self) -> usize {
        match &self.inner.model {
            Model::Bpe(b) => b.len(),
            Model::Char(c) => c.len(),
        }
    }

    /// The special tokens and their ids, sorted by id.
    pub fn special_tokens(&self) -> &[(String, TokenId)] {
        &self.inner.specials
    }

    /// The id of a special token.
    pub fn special_id(&self, text: &str) -> Option<TokenId> {
        self.inner.specials.iter().find(|(t, _)| t == text).map(|(_, id)| *id)
    }

    /// A hex digest of the canonical JSON: two tokenizers with equal hashes
    /// encode identically.
    pub fn content_hash(&self) -> String {
        blake3::hash(self.to_json().as_bytes()).to_hex().to_string()
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
        match &self.inner.model {
            Model::Bpe(b) => {
                b.encode_into(text, out);
                Ok(())
            }
            Model::Char(c) => c.encode_into(text, out),
        }
    }

    /// Encodes `text`, matching the `allowed` special tokens before
    /// pre-tokenization; other special-token text is ordinary text.
    pub fn encode(&self, text: &[u8], allowed: &Allowed<'_>) -> Result<Vec<TokenId>> {
        let mut out = Vec::new();
        self.encode_into(text, allowed, &mut out)?;
        Ok(out)
    }

    /// Like [`Tokenizer::encode`], appending to `out`.
    pub fn encode_into(&self, text: &[u8], allowed: &Allowed<'_>, out: &mut Vec<TokenId>) -> Result<()> {
        let specials: Vec<(&[u8], TokenId)> = match allowed {
            Allowed::None => Vec::new(),
            Allowed::All => self.inner.specials.iter().map(|(t, id)| (t.as_bytes(), *id)).collect(),
            Allowed::Some(list) => list
                .iter()
                .map(|t| match self.special_id(t) {
                    Some(id) => Ok((t.as_bytes(), id)),
                    None => Err(Error::UnknownSpecial { text: t.to_string() }),
                })
                .collect::<Result<_>>()?,
        };
        if specials.is_empty() {
            return self.encode_ordinary_into(text, out);
        }
        let finders: Vec<memchr::memmem::Finder<'_>> =
            specials.iter().map(|(t, _)| memchr::memmem::Finder::new(t)).collect();
        // next[i]: where special i next occurs at or after the position it
        // was last searched from (None: nowhere). Refreshed only when the
        // cursor passes it, so the whole text is searched once per special.
        let mut next: Vec<Option<usize>> = finders.iter().map(|f| f.find(text)).collect();
        let mut pos = 0;
        loop {
            for (i, f) in finders.iter().enumerate() {
                if next[i].is_some_and(|at| at < pos) {
                    next[i] = f.find(&text[pos..]).map(|at| at + pos);
                }
            }
            // Leftmost, then longest.
            let best = (0..specials.len())
                .filter_map(|i| next[i].map(|at| (at, std::cmp::Reverse(specials[i].0.len()), i)))
                .min();
            let Some((at, _, i)) = best else { break };
            self.encode_ordinary_into(&text[pos..at], out).map_err(|e| at_offset(e, pos))?;
            out.push(specials[i].1);
            pos = at + specials[i].0.len();
        }
        self.encode_ordinary_into(&text[pos..], out).map_err(|e| at_offset(e, pos))
    }

    /// Encodes many documents in parallel on the current rayon pool, each
    /// with [`Tokenizer::encode_ordinary`]; the results are in input order.
    /// The first error (in input order) is returned.
    pub fn encode_batch<T: AsRef<[u8]> + Sync>(&self, texts: &[T]) -> Result<Vec<Vec<TokenId>>> {
        texts.par_iter().map(|t| self.encode_ordinary(t.as_ref())).collect()
    }

    /// Cuts `text` into consecutive ranges of about `target` bytes (at least
    /// one byte) at [`Tokenizer::chunk_boundary`] positions, so that encoding
    /// the ranges one by one gives the ids of the whole text. A text with no
    /// boundary is one range.
    pub fn chunk_ranges(&self, text: &[u8], target: usize) -> Vec<std::ops::Range<usize>> {
        let target = target.max(1);
        let mut out = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = if text.len() - start <= target {
                text.len()
            } else {
                self.chunk_boundary(text, start + target).unwrap_or(text.len())
            };
            out.push(start..end);
            start = end;
        }
        out
    }

    /// Encodes one large text on the current rayon pool: cuts it with
    /// [`Tokenizer::chunk_ranges`] and concatenates the chunks' ids. Equal to
    /// [`Tokenizer::encode_ordinary`]; errors name offsets in the whole text.
    pub fn encode_ordinary_par(&self, text: &[u8]) -> Result<Vec<TokenId>> {
        // Small enough chunks to balance the threads, large enough that the
        // per-chunk overhead (an allocation, a task) is noise.
        let threads = rayon::current_num_threads().max(1);
        let target = (text.len() / (threads * 8)).clamp(64 << 10, 4 << 20);
        let ranges = self.chunk_ranges(text, target);
        if ranges.len() <= 1 {
            return self.encode_ordinary(text);
        }
        let parts: Vec<Vec<TokenId>> = ranges
            .par_iter()
            .map(|r| self.encode_ordinary(&text[r.clone()]).map_err(|e| at_offset(e, r.start)))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(parts.iter().map(Vec::len).sum());
        for p in parts {
            out.extend_from_slice(&p);
        }
        Ok(out)
    }

    /// The bytes of `ids`, concatenated. Fails on an id out of range.
    pub fn decode(&self, ids: &[TokenId]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.decode_into(ids, &mut out)?;
        Ok(out)
    }

    /// Like [`Tokenizer::decode`], appending to `out`. On error `out` holds
    /// the bytes of the ids before the bad one.
    pub fn decode_into(&self, ids: &[TokenId], out: &mut Vec<u8>) -> Result<()> {
        out.reserve(ids.len() * 4);
        for &id in ids {
            match self.token_bytes(id) {
                Some(b) => out.extend_from_slice(b),
                None if (id as usize) < self.inner.vocab_size => return Err(Error::UnusedId { id }),
                None => return Err(Error::IdOutOfRange { id, vocab_size: self.inner.vocab_size }),
            }
        }
        Ok(())
    }

    /// The bytes of one token (special tokens give their text).
    #[inline]
    pub fn token_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let ordinary = match &self.inner.model {
            Model::Bpe(b) => b.token_bytes(id),
            Model::Char(c) => c.token_bytes(id),
        };
        ordinary.or_else(|| self.special_bytes(id))
    }

    #[cold]
    fn special_bytes(&self, id: TokenId) -> Option<&[u8]> {
        let s = &self.inner.specials;
        s.binary_search_by_key(&id, |(_, i)| *i).ok().map(|k| s[k].0.as_bytes())
    }

    /// The first position `p` with `max(from, 1) <= p < text.len()` at which
    /// `text` can be cut so that `encode_ordinary(text[..p]) ++
    /// encode_ordinary(text[p..]) == encode_ordinary(text)`, or `None` when
    /// there is none. Used to encode large files in parallel chunks.
    ///
    /// - BPE with a split pattern: [`Pattern::cut_point`], a place where the
    ///   pre-tokenizer's pieces do not change when the text is cut (between
    ///   an ASCII letter and an ASCII character that is neither a letter nor
    ///   `'`); merges never cross pieces, so the ids do not change either.
    /// - A character vocabulary: any character boundary (a byte that is not a
    ///   UTF-8 continuation byte; invalid bytes encode one by one anyway).
    /// - BPE without a pattern: never.
    pub fn chunk_boundary(&self, text: &[u8], from: usize) -> Option<usize> {
        let from = from.max(1);
        if from >= text.len() {
            return None;
        }
        match &self.inner.model {
            Model::Char(_) => (from..text.len()).find(|&p| text[p] & 0xC0 != 0x80),
            Model::Bpe(b) => b.pattern().cut_point(text, from).filter(|&p| p < text.len()),
        }
    }

    pub(crate) fn model(&self) -> &Model {
        &self.inner.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_bpe(pattern: Pattern) -> Tokenizer {
        let bpe = Bpe::from_merges(&[(b'a' as u32, b'b' as u32), (b' ' as u32, 256)], pattern).unwrap();
        Tokenizer::from_bpe(bpe, vec![("<|end|>".into(), 300), ("<|e|>".into(), 258)], "small").unwrap()
    }

    #[test]
    fn specials_are_sorted_and_checked() {
        let t = small_bpe(Pattern::Gpt4);
        assert_eq!(t.special_tokens(), &[("<|e|>".to_string(), 258), ("<|end|>".to_string(), 300)]);
        assert_eq!(t.vocab_size(), 301);
        assert_eq!(t.base_vocab_size(), 258);
        let bpe = || Bpe::from_merges(&[(97, 98)], Pattern::Gpt4).unwrap();
        let e = Tokenizer::from_bpe(bpe(), vec![("x".into(), 256)], "t").unwrap_err().to_string();
        assert!(e.contains("\"x\" has id 256, which a vocabulary token already has"), "{e}");
        let e = Tokenizer::from_bpe(bpe(), vec![("x".into(), 260), ("y".into(), 260)], "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"x\" and \"y\" both have id 260"), "{e}");
        let e = Tokenizer::from_bpe(bpe(), vec![("x".into(), 260), ("x".into(), 261)], "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"x\" is listed twice"), "{e}");
        let e = Tokenizer::from_bpe(bpe(), vec![("x".into(), u32::MAX)], "t").unwrap_err().to_string();
        assert!(e.contains("ids must be below 4194304"), "{e}");
    }

    #[test]
    fn allowed_specials_match_leftmost_longest() {
        let t = small_bpe(Pattern::Gpt4);
        let text = b"ab<|end|>x<|e|>";
        let ord = t.encode_ordinary(text).unwrap();
        assert!(!ord.contains(&300) && !ord.contains(&258));
        assert_eq!(t.encode(text, &Allowed::None).unwrap(), ord);
        let all = t.encode(text, &Allowed::All).unwrap();
        assert_eq!(all, vec![256, 300, b'x' as u32, 258]);
        // Only <|e|> allowed: <|end|> stays text.
        let some = t.encode(text, &Allowed::Some(&["<|e|>"])).unwrap();
        let mut want = t.encode_ordinary(b"ab<|end|>x").unwrap();
        want.push(258);
        assert_eq!(some, want);
        assert_eq!(t.decode(&all).unwrap(), text);
        let e = t.encode(text, &Allowed::Some(&["<|nope|>"])).unwrap_err();
        assert!(matches!(e, Error::UnknownSpecial { .. }));
    }

    #[test]
    fn overlapping_specials_prefer_the_longest() {
        let bpe = Bpe::from_merges(&[], Pattern::Gpt4).unwrap();
        let t = Tokenizer::from_bpe(bpe, vec![("<a>".into(), 256), ("<a><b>".into(), 257)], "t").unwrap();
        assert_eq!(t.encode(b"x<a><b><a>", &Allowed::All).unwrap(), vec![b'x' as u32, 257, 256]);
    }

    #[test]
    fn decode_errors_name_the_id() {
        let t = small_bpe(Pattern::Gpt4);
        let e = t.decode(&[1, 301]).unwrap_err().to_string();
        assert_eq!(e, "token id 301 is out of range (vocabulary size 301)");
        let e = t.decode(&[299]).unwrap_err().to_string();
        assert_eq!(e, "token id 299 is unused in this vocabulary (no token has it)");
    }

    #[test]
    fn chunk_boundaries_follow_the_pattern() {
        let text = b"ab\n\ncd\n/x \nyz\n";
        for p in [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2] {
            let t = small_bpe(p);
            assert_eq!(t.chunk_boundary(text, 0), Some(2));
            assert_eq!(t.chunk_boundary(text, 3), Some(6));
            assert_eq!(t.chunk_boundary(text, 12), Some(13));
            assert_eq!(t.chunk_boundary(text, 14), None);
        }
        assert_eq!(small_bpe(Pattern::None).chunk_boundary(text, 0), None);
    }

    #[test]
    fn char_errors_in_segments_name_whole_text_offsets() {
        let chars = CharVocab::new(vec!['a', 'b'], false).unwrap();
        let t = Tokenizer::from_chars(chars, vec![("<s>".into(), 2)], "c").unwrap();
        let e = t.encode(b"ab<s>ax", &Allowed::All).unwrap_err();
        assert!(matches!(e, Error::UnknownChar { ch: 'x', offset: 6, .. }), "{e:?}");
        assert_eq!(t.chunk_boundary("aé".as_bytes(), 2), None);
        assert_eq!(t.chunk_boundary("aéb".as_bytes(), 2), Some(3));
    }
}
