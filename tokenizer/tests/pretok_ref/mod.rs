//! The reference pre-tokenizer: tiktoken's regex run by `fancy-regex` (the
//! engine tiktoken uses), over the text with every invalid UTF-8 byte replaced
//! by U+FFFD, the match boundaries mapped back to byte offsets of the input.
//!
//! Shared by `tests/pretok.rs` and `benches/pretok.rs` (included with
//! `#[path]`), so that both compare against the same thing.

#![allow(dead_code)]

use std::sync::OnceLock;

use tokenizer::Pattern;

/// The compiled regex of `pattern` (`None` for [`Pattern::None`]).
pub fn regex(pattern: Pattern) -> Option<&'static fancy_regex::Regex> {
    static CELLS: [OnceLock<fancy_regex::Regex>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = match pattern {
        Pattern::Gpt4 => 0,
        Pattern::Gpt4o => 1,
        Pattern::Gpt2 => 2,
        Pattern::None => return None,
    };
    let src = pattern.regex()?;
    Some(CELLS[i].get_or_init(|| fancy_regex::Regex::new(src).expect("tiktoken pattern compiles")))
}

/// The pieces of a valid UTF-8 text as `(start, end)` byte offsets.
pub fn split_str(pattern: Pattern, text: &str) -> Vec<(usize, usize)> {
    let Some(re) = regex(pattern) else {
        return if text.is_empty() { Vec::new() } else { vec![(0, text.len())] };
    };
    re.find_iter(text)
        .map(|m| {
            let m = m.expect("fancy-regex backtrack limit");
            (m.start(), m.end())
        })
        .collect()
}

/// The pieces of any byte string as `(start, end)` byte offsets: each byte
/// that is not part of a valid UTF-8 sequence is replaced by U+FFFD.
pub fn split_offsets(pattern: Pattern, text: &[u8]) -> Vec<(usize, usize)> {
    if let Ok(s) = std::str::from_utf8(text) {
        return split_str(pattern, s);
    }
    // Build the substituted string and a map from its offsets to the input's.
    let mut s = String::with_capacity(text.len() + 16);
    let mut map = Vec::with_capacity(text.len() + 16); // map[i] = input offset of s byte i
    let mut pos = 0;
    for chunk in text.utf8_chunks() {
        let valid = chunk.valid();
        map.extend(pos..pos + valid.len());
        s.push_str(valid);
        pos += valid.len();
        for _ in chunk.invalid() {
            map.extend(std::iter::repeat_n(pos, '\u{FFFD}'.len_utf8()));
            s.push('\u{FFFD}');
            pos += 1;
        }
    }
    map.push(text.len());
    split_str(pattern, &s).into_iter().map(|(a, b)| (map[a], map[b])).collect()
}

/// The pieces of any byte string.
pub fn split(pattern: Pattern, text: &[u8]) -> Vec<&[u8]> {
    split_offsets(pattern, text).into_iter().map(|(a, b)| &text[a..b]).collect()
}
