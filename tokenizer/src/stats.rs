//! Tokens per character, bytes per token, share of the vocabulary used.

/// The number of characters in `text`, as every tool in this workspace counts
/// them for "per character" figures (tokens per character, bits per
/// character): Unicode scalar values of the UTF-8 text, where each byte that
/// is not part of a valid UTF-8 sequence counts as one character.
///
/// Counting each invalid byte (rather than each maximal invalid run, as
/// lossy decoding's U+FFFD does) makes the count additive: for any cut that
/// does not fall inside a valid multi-byte character,
/// `count_chars(a ++ b) == count_chars(a) + count_chars(b)`, so a file can be
/// counted in pieces. Used by the shard manifest (`dataset`) for each split's
/// `chars`; tokenizer statistics should call this same function.
pub fn count_chars(text: &[u8]) -> u64 {
    text.utf8_chunks().map(|c| c.valid().chars().count() as u64 + c.invalid().len() as u64).sum()
}

#[cfg(test)]
mod count_chars_tests {
    use super::count_chars;

    #[test]
    fn counts_scalar_values_and_invalid_bytes() {
        assert_eq!(count_chars(b""), 0);
        assert_eq!(count_chars("héllo €𝄞".as_bytes()), 8);
        // A truncated 3-byte sequence (2 bytes) then 'A': 2 invalid bytes + 1.
        assert_eq!(count_chars(b"\xE2\x82A"), 3);
        assert_eq!(count_chars(b"\xFF\xFE"), 2);
        // Additive at any cut outside a valid multi-byte character.
        let text = "a€b\u{10348}c".as_bytes();
        let whole = count_chars(text);
        for cut in [0, 1, 4, 5, 9, 10] {
            assert_eq!(count_chars(&text[..cut]) + count_chars(&text[cut..]), whole, "cut {cut}");
        }
        let bad = b"x\xE2\x82y\xC3";
        for cut in 0..=bad.len() {
            assert_eq!(count_chars(&bad[..cut]) + count_chars(&bad[cut..]), count_chars(bad), "cut {cut}");
        }
    }
}
