//! Pre-tokenizers: how text is cut into pieces before BPE merges run inside
//! each piece.
//!
//! The patterns are tiktoken's: `gpt4` is cl100k_base's split, `gpt4o` is
//! o200k_base's, `gpt2` is r50k/p50k's; `none` keeps the whole text as one
//! piece. The splitters must produce exactly the pieces that tiktoken's regex
//! (run by `fancy-regex`) produces on every valid UTF-8 text.
//!
//! Invalid UTF-8: every byte that is not part of a valid UTF-8 sequence is a
//! character of its own that behaves exactly like U+FFFD (a symbol: not a
//! letter, number or whitespace). So any byte string splits, and the pieces
//! always concatenate back to the input.
//!
//! CONTRACT (skeleton): the current body is a slow reference built on
//! `fancy-regex`; the fast hand-written splitters replace it behind the same
//! API.

mod gpt2;
mod gpt4;
mod gpt4o;
mod scan;
mod tables;

use tables::{Tables, tables};

/// A pre-tokenizer split rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// cl100k_base's split (GPT-4). The default for training.
    Gpt4,
    /// o200k_base's split (GPT-4o).
    Gpt4o,
    /// r50k_base / p50k_base's split (GPT-2, GPT-3).
    Gpt2,
    /// No pre-tokenization: the whole text is one piece.
    None,
}

/// cl100k_base's regex, exactly as tiktoken writes it.
pub const GPT4_REGEX: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// o200k_base's regex, exactly as tiktoken writes it.
pub const GPT4O_REGEX: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "|",
    r"\p{N}{1,3}",
    "|",
    r" ?[^\s\p{L}\p{N}]+[\r\n/]*",
    "|",
    r"\s*[\r\n]+",
    "|",
    r"\s+(?!\S)",
    "|",
    r"\s+",
);
/// [`GPT4_REGEX`] spelled for Hugging Face `tokenizers` (see
/// [`Pattern::hf_regex`]): the same with `\p{N}{1,3}` for `\p{N}{1,3}+`.
pub const GPT4_HF_REGEX: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// r50k_base / p50k_base's regex, exactly as tiktoken writes it.
pub const GPT2_REGEX: &str =
    r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";

impl Pattern {
    /// Every pattern, in the order `--help` lists them.
    pub const ALL: [Pattern; 4] = [Pattern::Gpt4, Pattern::Gpt4o, Pattern::Gpt2, Pattern::None];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Gpt4 => "gpt4",
            Pattern::Gpt4o => "gpt4o",
            Pattern::Gpt2 => "gpt2",
            Pattern::None => "none",
        }
    }

    /// The inverse of [`Pattern::name`].
    pub fn from_name(name: &str) -> Option<Pattern> {
        Pattern::ALL.into_iter().find(|p| p.name() == name)
    }

    /// tiktoken's regex for this pattern (`None` for [`Pattern::None`]).
    pub fn regex(self) -> Option<&'static str> {
        match self {
            Pattern::Gpt4 => Some(GPT4_REGEX),
            Pattern::Gpt4o => Some(GPT4O_REGEX),
            Pattern::Gpt2 => Some(GPT2_REGEX),
            Pattern::None => None,
        }
    }

    /// The spelling of the pattern for a Hugging Face `tokenizer.json` `Split`
    /// pre-tokenizer (`None` for [`Pattern::None`]).
    ///
    /// HF's default regex engine (Oniguruma, Ruby syntax) reads cl100k's
    /// possessive `\p{N}{1,3}+` as `(\p{N}{1,3})+`, i.e. unlimited digit runs;
    /// the non-possessive `\p{N}{1,3}` splits the same in tiktoken (nothing
    /// after it can backtrack into it) and right in HF. The other possessive
    /// forms (`?+`, `++`, `*+`) mean the same in Oniguruma, and the o200k and
    /// r50k patterns need no change.
    pub fn hf_regex(self) -> Option<&'static str> {
        match self {
            Pattern::Gpt4 => Some(GPT4_HF_REGEX),
            Pattern::Gpt4o => Some(GPT4O_REGEX),
            Pattern::Gpt2 => Some(GPT2_REGEX),
            Pattern::None => None,
        }
    }

    /// Splits `text` into non-empty pieces whose concatenation is `text`.
    ///
    /// The iterator does not allocate. For the tightest loop use
    /// [`Pattern::for_each_piece`], which is specialised per pattern.
    pub fn split(self, text: &[u8]) -> Pieces<'_> {
        Pieces { text, pos: 0, pattern: self, tables: tables() }
    }

    /// Calls `f` on each piece of `text`, in order: the same pieces as
    /// [`Pattern::split`], with the pattern dispatch hoisted out of the loop.
    #[inline]
    pub fn for_each_piece<'a>(self, text: &'a [u8], mut f: impl FnMut(&'a [u8])) {
        #[inline(always)]
        fn drive<'a>(
            text: &'a [u8],
            f: &mut impl FnMut(&'a [u8]),
            piece_end: impl Fn(&[u8], usize) -> usize,
        ) {
            let mut pos = 0;
            while pos < text.len() {
                let end = piece_end(text, pos);
                debug_assert!(end > pos && end <= text.len());
                f(&text[pos..end]);
                pos = end;
            }
        }
        let t = tables();
        match self {
            Pattern::Gpt4 => drive(text, &mut f, |text, p| gpt4::piece_end(t, text, p)),
            Pattern::Gpt4o => drive(text, &mut f, |text, p| gpt4o::piece_end(t, text, p)),
            Pattern::Gpt2 => drive(text, &mut f, |text, p| gpt2::piece_end(t, text, p)),
            Pattern::None => {
                if !text.is_empty() {
                    f(text)
                }
            }
        }
    }

    /// The byte length of the first piece of `text` (0 for an empty text).
    pub fn first_piece_len(self, text: &[u8]) -> usize {
        if text.is_empty() {
            return 0;
        }
        piece_end(self, tables(), text, 0)
    }
}

/// The end of the piece of `text` that starts at `pos` (`pos < text.len()`).
#[inline(always)]
fn piece_end(pattern: Pattern, t: &Tables, text: &[u8], pos: usize) -> usize {
    match pattern {
        Pattern::Gpt4 => gpt4::piece_end(t, text, pos),
        Pattern::Gpt4o => gpt4o::piece_end(t, text, pos),
        Pattern::Gpt2 => gpt2::piece_end(t, text, pos),
        Pattern::None => text.len(),
    }
}

/// The pieces of a text, in order. See [`Pattern::split`].
#[derive(Clone)]
pub struct Pieces<'a> {
    text: &'a [u8],
    pos: usize,
    pattern: Pattern,
    tables: &'static Tables,
}

impl<'a> Pieces<'a> {
    /// The byte offset in the text of the next piece (the text's length once
    /// the iterator is exhausted).
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl std::fmt::Debug for Pieces<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces")
            .field("pattern", &self.pattern)
            .field("offset", &self.pos)
            .field("len", &self.text.len())
            .finish()
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        if start >= self.text.len() {
            return None;
        }
        let end = piece_end(self.pattern, self.tables, self.text, start);
        debug_assert!(end > start && end <= self.text.len());
        self.pos = end;
        Some(&self.text[start..end])
    }
}

impl std::iter::FusedIterator for Pieces<'_> {}
