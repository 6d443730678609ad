//! Pre-tokenizers: how text is cut into pieces before BPE merges run inside
//! each piece.
//!
//! The patterns are tiktoken's: `gpt4` is cl100k_base's split, `gpt4o` is
//! o200k_base's, `gpt2` is r50k/p50k's; `none` keeps the whole text as one
//! piece (no pieces for an empty text). Each is a hand-written splitter that
//! produces exactly the pieces that tiktoken's regex, run by `fancy-regex`
//! (tiktoken's engine), produces on every valid UTF-8 text, at 10 to 25 times
//! its speed. The regexes themselves are kept as constants ([`GPT4_REGEX`],
//! ...) for exports and for the reference in the tests; this module does not
//! run them, and is not a regex engine: it knows these three patterns only.
//!
//! API: [`Pattern::split`] is an allocation-free iterator of pieces;
//! [`Pattern::for_each_piece`] is the same as a callback with the pattern
//! dispatch hoisted out of the loop; [`Pattern::first_piece_len`] gives one
//! piece at a time. [`Pattern::cut_point`] finds where a long text can be cut
//! into chunks for threads without changing its pieces. [`Pattern::hf_regex`]
//! is the spelling of the pattern for a Hugging Face `tokenizer.json`.
//!
//! Invalid UTF-8: every byte that is not part of a valid UTF-8 sequence is a
//! character of its own that behaves exactly like U+FFFD (a symbol: not a
//! letter, number or whitespace). So any byte string splits, the pieces are
//! never empty and always concatenate back to the input, and the boundaries
//! are those of the text with U+FFFD in place of each invalid byte.
//!
//! # The rules, derived from the regexes
//!
//! A regex alternation is tried left to right at the start of each piece, and
//! the first alternative that matches wins, after backtracking inside it; no
//! pattern can match the empty string, and together the alternatives cover
//! every character, so `find_iter` cuts the whole text into pieces. No pattern
//! looks behind, so a piece depends only on the text from its start. The
//! rules below are what the alternatives come to, in order, for a piece
//! starting at character `c` followed by `c'`. Notation: `L` = `\p{L}`,
//! `N` = `\p{N}`, `S` = `\s` (Unicode `White_Space`), `Sym` =
//! `[^\s\p{L}\p{N}]` (punctuation, symbols, controls, marks, U+FFFD), `P` =
//! `[^\r\n\p{L}\p{N}]` (a symbol, or whitespace other than `\r` `\n`), and `W`
//! = the maximal run of whitespace starting at `c`.
//!
//! **gpt4** (cl100k), `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
//! ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`:
//! 1. `c` is `'` and the next characters are `s d m t ll ve re` in any case
//!    (Unicode simple case folding, so `'S`, `'Ll`, and `'ſ` with U+017F LONG S
//!    too): the contraction, whatever follows it (`'Sorry` → `'S` `orry`).
//! 2. `c` ∈ `L`: `c` and the letters after it.
//! 3. `c` ∈ `P` and `c'` ∈ `L`: `c`, `c'` and the letters after it (` word`,
//!    `\tword`, `(word`, `'word`). The prefix is possessive (`?+`) but this
//!    makes no difference: without a letter after it, no prefix can match.
//! 4. `c` ∈ `N`: up to three numbers (`1234567` → `123` `456` `7`; any `N`:
//!    Arabic-Indic, fullwidth, `Ⅻ`, `½`); no space before a number.
//! 5. `c` ∈ `Sym`: the run of `Sym`, then the run of `\r` `\n` after it.
//! 6. `c` is a space (U+0020 only) and `c'` ∈ `Sym`: the space, the run of
//!    `Sym`, then the run of `\r` `\n`.
//! 7. `c` ∈ `S` (and rules 3 and 6 did not apply):
//!    - `W` reaches the end of the text: `W` (`\s++$`);
//!    - `W` holds a `\r` or `\n`: `W` up to and including its last one
//!      (`\s*[\r\n]`: `\s*` backtracks to the last newline);
//!    - `W` has two characters or more: `W` but its last character
//!      (`\s+(?!\S)` gives one back), which then starts the next piece, where
//!      rule 3 or 6 may join it to what follows (`a   b` → `a` `  ` ` b`);
//!    - otherwise `W`, one character (`\s`).
//!
//! **gpt4o** (o200k). Let `Up` = `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` and `Lo` =
//! `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`; together they are the letters and the marks
//! `M`, and both hold `Lm`, `Lo` and `M`. Marks are not letters: they are in
//! `Sym` and `P`. `word(s)`, for a letter or mark at `s`: let `U` be the
//! maximal run of `Up` from `s`, ending at `e`;
//! - if the character at `e` is in `Lo` (so `Ll`): up to the end of the run of
//!   `Lo` from `e` (alternative 1; `HTTPServer` is one word, `iPhone` is `i`
//!   `Phone`);
//! - else if `U` holds a character of `Lo` (`Lm`, `Lo` or `M`): up to and
//!   including the last one (`[Up]*` backtracks until `[Lo]+` matches one:
//!   `AB\u{301}CD` → `AB\u{301}` `CD`);
//! - else (`U` is all `Lu`/`Lt`): `U` (alternative 2).
//!
//! and `+'` appends `(?i:'s|'t|'re|'ve|'m|'ll|'d)` when it follows (same case
//! folding as above; `they'rest` → `they're` `st`). The rules:
//! 1. `c` ∈ `L`: `word(c)+'`.
//! 2. `c` ∈ `N`: up to three numbers.
//! 3. `c` ∈ `P` and `c'` is a letter or mark: `c` then `word(c')+'`; but if
//!    `c` is a mark and `word(c')` falls to its third case, alternative 1
//!    without the prefix matches first: the mark alone, `+'`
//!    (`\u{301}AB` → `\u{301}` `AB`, while `(AB` is one piece).
//! 4. `c` is a mark (not followed by a letter or mark): the mark, `+'`.
//! 5. `c` ∈ `Sym`: the run of `Sym` (marks included), then the run of
//!    `[\r\n/]` (in effect `\r` `\n`: a `/` would have been in the run).
//! 6. `c` is a space and `c'` ∈ `Sym`: the space, the run of `Sym`, then
//!    `[\r\n/]*`.
//! 7. `c` ∈ `S`:
//!    - `W` holds a `\r` or `\n`: `W` up to and including its last one
//!      (`\s*[\r\n]+`; unlike cl100k this comes before the end of text:
//!      `a\n  ` → `a` `\n` `  `);
//!    - `W` reaches the end of the text, or is one character: `W`;
//!    - otherwise `W` but its last character.
//!
//! **gpt2** (r50k/p50k), `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++|
//! ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`:
//! 1. `c` is `'` followed by `s d m t ll ve re`, lower case only: the
//!    contraction.
//! 2. `c` ∈ `L`, `N` or `Sym`: the run of that class (numbers unlimited).
//! 3. `c` is a space and `c'` ∈ `L`, `N` or `Sym`: the space and the run of
//!    the class of `c'`.
//! 4. `c` ∈ `S`: `W` if it reaches the end of the text, else `W` but its last
//!    character if it has two or more, else `W` (`a\n\nb` → `a` `\n` `\n`
//!    `b`: no newline rule).
//!
//! Every rule scans forward only, and a character is scanned at most three
//! times (a whitespace run is rescanned by the pieces that start inside it;
//! o200k's upper run after its last `Lo` by the next piece), so splitting is
//! linear in the text: a megabyte of spaces or of capitals is one fast pass.
//!
//! The Unicode classes come from `regex-syntax` (see `tables.rs`), the crate
//! whose tables `fancy-regex` uses, so the splitters and the regexes agree on
//! every code point by construction; the tests check it on all of them, and
//! that Cargo.lock holds a single `regex-syntax`.
//!
//! # Performance notes
//!
//! Measured on the 26 MB benchmark corpus (`scripts/bench/make-corpus.sh`: `en/` 11 MB of
//! Shakespeare and Milton, `code/` 14 MB of Python, `tiny/` 1 MB), single
//! thread, as thread CPU time (best of 8) on a loaded 2-core VM, against
//! `fancy-regex` 0.20 on the same text; MB/s, `split` / `for_each_piece`:
//!
//! | input | gpt4 | gpt4o | gpt2 | fancy-regex gpt4 / gpt4o / gpt2 |
//! |---|---|---|---|---|
//! | whole corpus, 25.9 MB | 448 / 491 | 386 / 448 | 446 / 487 | 21 / 35 / 23 |
//! | en | 467 / 516 | 391 / 450 | 445 / 475 | 24 / 43 / 24 |
//! | code | 398 / 450 | 384 / 446 | 439 / 474 | 20 / 33 / 23 |
//! | multilingual (generated, 4 MB) | 249 / 282 | 227 / 252 | 234 / 267 | 23 / 42 / 22 |
//!
//! Inlining and code layout move these figures by up to 10% from one build to
//! the next, more than most of the ideas below; they were compared side by
//! side in one run.
//!
//! - Kept: one straight-line function per pattern that computes the end of
//!   the piece from the rules above; no backtracking and no allocation.
//! - Kept: a 256-entry table of class bits for bytes, and a two-level table
//!   (64-code-point blocks, deduplicated: 57 KB, built in about 2 ms at first
//!   use) for the rest, so a character's class is one or two loads.
//! - Kept: runs of ASCII letters, digits, symbols and whitespace are skipped
//!   eight bytes at a time with SWAR range tests on a `u64` (`scan.rs`):
//!   +40–60% on English, +12–26% on code against a byte-at-a-time table loop,
//!   but about 10% slower on the multilingual text, whose runs are short and
//!   broken by non-ASCII characters.
//!   The whitespace scan finds the last newline of each eight bytes with
//!   `leading_zeros`, so indentation costs one step per eight spaces.
//! - Kept: the non-ASCII part of a run is decoded character by character, out
//!   of line, going back to eight-byte steps only at an ASCII member; calling
//!   the eight-byte loop for each CJK character cost multilingual text 15–20%
//!   against the plain byte loop; this recovers part of it (the 10% above).
//! - Kept: UTF-8 is decoded and validated per character where needed (ASCII
//!   never is), with `decode_utf8` forced inline (0 to +10% on multilingual
//!   text). Not tried: validating the whole text up front to decode unchecked.
//! - Rejected: fast paths for `word` and ` word` at the top of each pattern's
//!   function: no consistent gain (−3% to +3%); the general path already tests
//!   for them first.
//! - The callback form is 5–15% faster than the iterator in this build (the
//!   iterator dispatches on the pattern for each piece); in earlier builds
//!   they were level or the other way round.
//! - What is left is presumably branch misprediction at piece boundaries
//!   (the kind of the next piece is data; a piece is about 4 bytes of English
//!   text), not scanning; this VM has no hardware counters to confirm it.

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

/// One match for any text, newlines included: [`Pattern::None`] as a regex.
pub const WHOLE_TEXT_REGEX: &str = r"[\s\S]+";

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

    /// tiktoken's `pat_str` for this pattern: [`Pattern::regex`], and for
    /// [`Pattern::None`] a regex whose one match is the whole text (an empty
    /// `pat_str` made tiktoken panic on the first `encode`).
    pub fn tiktoken_pat_str(self) -> &'static str {
        self.regex().unwrap_or(WHOLE_TEXT_REGEX)
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

    /// The first position `k >= from` at which `text` can be cut for parallel
    /// work: the pieces of `text[..k]` followed by the pieces of `text[k..]`
    /// are exactly the pieces of `text`. `None` if there is no such position
    /// at or after `from` (always for [`Pattern::None`]).
    ///
    /// Positions are only ever found between an ASCII letter and an ASCII
    /// character that is neither a letter nor `'` (`word| word`,
    /// `end|.\n`), which is safe in every pattern: the piece holding the
    /// letter ends there whether the text goes on or not (a letter run stops
    /// at both, and no contraction can follow), every earlier piece stopped
    /// reading before it, and a piece's end never depends on what precedes
    /// it. Text without such positions (a long CJK line) has no cut.
    pub fn cut_point(self, text: &[u8], from: usize) -> Option<usize> {
        if self == Pattern::None {
            return None;
        }
        let start = from.max(1);
        let rest = text.get(start..)?;
        rest.iter()
            .zip(&text[start - 1..])
            .position(|(&b, &before)| {
                before.is_ascii_alphabetic() && b.is_ascii() && !b.is_ascii_alphabetic() && b != b'\''
            })
            .map(|i| start + i)
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
