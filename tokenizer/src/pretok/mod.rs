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

use std::sync::OnceLock;

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

    /// Splits `text` into non-empty pieces whose concatenation is `text`.
    pub fn split(self, text: &[u8]) -> Pieces<'_> {
        Pieces { pieces: reference_split(self, text), next: 0, text }
    }
}

/// The pieces of a text, in order. See [`Pattern::split`].
pub struct Pieces<'a> {
    text: &'a [u8],
    pieces: Vec<(usize, usize)>,
    next: usize,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let &(s, e) = self.pieces.get(self.next)?;
        self.next += 1;
        Some(&self.text[s..e])
    }
}

fn compiled(pattern: Pattern) -> &'static fancy_regex::Regex {
    static CELLS: [OnceLock<fancy_regex::Regex>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (i, src) = match pattern {
        Pattern::Gpt4 => (0, GPT4_REGEX),
        Pattern::Gpt4o => (1, GPT4O_REGEX),
        Pattern::Gpt2 => (2, GPT2_REGEX),
        Pattern::None => unreachable!("no regex for Pattern::None"),
    };
    CELLS[i].get_or_init(|| fancy_regex::Regex::new(src).expect("tiktoken pattern compiles"))
}

/// The slow reference: fancy-regex over the text with each invalid byte
/// replaced by U+FFFD, boundaries mapped back to byte offsets.
fn reference_split(pattern: Pattern, text: &[u8]) -> Vec<(usize, usize)> {
    if text.is_empty() {
        return Vec::new();
    }
    if pattern == Pattern::None {
        return vec![(0, text.len())];
    }
    // Build the substituted string and a map from its offsets to the input's.
    let mut s = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1); // map[i] = input offset of s byte i
    let mut pos = 0;
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid();
        for i in 0..valid.len() {
            map.push(pos + i);
        }
        s.push_str(valid);
        pos += valid.len();
        for _ in chunk.invalid() {
            for _ in 0..'\u{FFFD}'.len_utf8() {
                map.push(pos);
            }
            s.push('\u{FFFD}');
            pos += 1;
        }
    }
    map.push(text.len());
    let re = compiled(pattern);
    let mut out = Vec::new();
    for m in re.find_iter(&s) {
        let m = m.expect("fancy-regex backtrack limit");
        out.push((map[m.start()], map[m.end()]));
    }
    out
}
