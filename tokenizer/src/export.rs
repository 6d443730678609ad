//! Exports: Hugging Face `tokenizer.json` and tiktoken's base64 rank file.
//!
//! **Hugging Face** (`tokenizers`, loaded with `Tokenizer.from_file`):
//! - BPE: a byte-level vocabulary (each token's bytes through GPT-2's
//!   `bytes_to_unicode`), a `Sequence` pre-tokenizer (`Split` with an
//!   HF-safe spelling of the pattern, behaviour `Isolated`, then `ByteLevel`
//!   with `use_regex: false`), a `ByteLevel` decoder, and a BPE model with
//!   `ignore_merges: true` (tiktoken looks whole pieces up first, and so does
//!   HF with that flag).
//! - The merge list reproduces tiktoken's byte-keyed rule: for each token in
//!   id (rank) order, every way of cutting it into two tokens, shorter left
//!   part first. A pair then merges in HF exactly when its concatenation is
//!   a token, and pairs of different tokens keep the order of the tokens.
//!   The one place where HF can still differ: two *different* cuts of the
//!   same token competing at the same moment (e.g. `aa|a` and `a|aa` of
//!   `aaa`). tiktoken takes the leftmost; HF takes the cut listed first. We
//!   list the trained merge first (for files from `tok train`), which is the
//!   cut that training saw. `scripts/check_interop.py` measures agreement on
//!   real text.
//! - HF's added tokens are always matched in the input, so the HF export
//!   encodes like our `encode(text, Allowed::All)`.
//! - A character vocabulary exports as a BPE model without merges and
//!   without pre-tokenizer: the text is split into characters and each is
//!   looked up; with the byte fallback, unseen characters become `<0xXX>`
//!   tokens (HF's `byte_fallback`), which have our fallback ids.
//!
//! **HF-safe patterns**: [`crate::Pattern::hf_regex`] (HF's Oniguruma reads
//! cl100k's possessive `\p{N}{1,3}+` as unbounded digit runs).
//!
//! **tiktoken**: one line per token, `base64(bytes) SP rank LF`, by rank; BPE
//! only. Load it with `tiktoken.Encoding(name, pat_str=<Pattern::tiktoken_pat_str>,
//! mergeable_ranks=load_tiktoken_bpe(path), special_tokens=...)`.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;

use crate::tokenizer::Model;
use crate::{Error, Result, TokenId, Tokenizer};

/// An export target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Hugging Face `tokenizer.json`.
    Hf,
    /// tiktoken's base64 rank file.
    Tiktoken,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Hf => "hf",
            Format::Tiktoken => "tiktoken",
        }
    }
}

/// GPT-2's byte-to-character map: printable Latin-1 bytes map to
/// themselves, the other 68 bytes to U+0100 + n in byte order.
pub fn bytes_to_unicode() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[b as usize] = if printable {
            b as char
        } else {
            n += 1;
            char::from_u32(0x100 + n - 1).unwrap_or('\0')
        };
    }
    map
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The Hugging Face `tokenizer.json` of `tok`.
pub fn to_hf_json(tok: &Tokenizer) -> Result<String> {
    let mut o = String::new();
    o.push_str("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n");
    o.push_str("  \"added_tokens\": [");
    for (i, (text, id)) in tok.special_tokens().iter().enumerate() {
        o.push_str(if i == 0 { "\n    " } else { ",\n    " });
        let _ = write!(
            o,
            "{{\"id\": {id}, \"content\": {}, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \
             \"normalized\": false, \"special\": true}}",
            json_str(text)
        );
    }
    o.push_str(if tok.special_tokens().is_empty() { "],\n" } else { "\n  ],\n" });
    o.push_str("  \"normalizer\": null,\n");
    // Vocabulary keys, by id; the specials are in the vocabulary too, so that
    // HF keeps their ids (it would otherwise renumber them from the model's
    // size, and pretrained vocabularies have gaps before their specials).
    let mut vocab: Vec<(String, TokenId)> = Vec::new();
    let mut merges: Vec<(String, String)> = Vec::new();
    match tok.model() {
        Model::Bpe(bpe) => {
            let map = bytes_to_unicode();
            let key = |id: TokenId| -> String {
                bpe.token_bytes(id).unwrap_or_default().iter().map(|&b| map[b as usize]).collect()
            };
            match bpe.pattern().hf_regex() {
                Some(re) => {
                    let _ = writeln!(
                        o,
                        "  \"pre_tokenizer\": {{\"type\": \"Sequence\", \"pretokenizers\": [\
                         {{\"type\": \"Split\", \"pattern\": {{\"Regex\": {}}}, \"behavior\": \"Isolated\", \
                         \"invert\": false}}, \
                         {{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \
                         \"use_regex\": false}}]}},",
                        json_str(re)
                    );
                }
                None => o.push_str(
                    "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \
                     \"trim_offsets\": true, \"use_regex\": false},\n",
                ),
            }
            o.push_str("  \"post_processor\": null,\n");
            o.push_str(
                "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \
                 \"use_regex\": true},\n",
            );
            vocab.extend((0..bpe.len() as TokenId).filter(|&id| !bpe.is_unused(id)).map(|id| (key(id), id)));
            let mut pairs = bpe.all_pairs();
            if let Some(m) = bpe.merges() {
                // The trained merge of each token first among its cuts.
                pairs.sort_by_key(|&(a, b, id)| (id, id >= 256 && m[id as usize - 256] != (a, b)));
            }
            merges.extend(pairs.into_iter().map(|(a, b, _)| (key(a), key(b))));
        }
        Model::Char(chars) => {
            o.push_str("  \"pre_tokenizer\": null,\n  \"post_processor\": null,\n");
            o.push_str(
                "  \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, \
                 {\"type\": \"Fuse\"}]},\n",
            );
            vocab.extend(chars.chars().iter().enumerate().map(|(i, c)| (c.to_string(), i as TokenId)));
            if chars.byte_fallback() {
                let n = chars.chars().len() as TokenId;
                vocab.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), n + b as TokenId)));
            }
        }
    }
    // A special whose text is also an ordinary token's key would make the
    // vocabulary object ambiguous.
    let mut keys: Vec<&str> = vocab.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    for (text, _) in tok.special_tokens() {
        if keys.binary_search(&text.as_str()).is_ok() {
            return Err(Error::Unsupported {
                format: "hf",
                reason: format!(
                    "special token {text:?} is spelled like an ordinary token in HF's vocabulary"
                ),
            });
        }
    }
    vocab.extend(tok.special_tokens().iter().cloned());
    let byte_fallback = tok.as_chars().is_some_and(|c| c.byte_fallback());
    let ignore_merges = tok.kind() == crate::Kind::Bpe;
    let _ = write!(
        o,
        "  \"model\": {{\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \
         \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \
         \"byte_fallback\": {byte_fallback},\n    \"ignore_merges\": {ignore_merges},\n    \"vocab\": {{"
    );
    for (i, (k, id)) in vocab.iter().enumerate() {
        o.push_str(if i == 0 { "\n      " } else { ",\n      " });
        let _ = write!(o, "{}: {id}", json_str(k));
    }
    o.push_str("\n    },\n    \"merges\": [");
    for (i, (a, b)) in merges.iter().enumerate() {
        o.push_str(if i == 0 { "\n      " } else { ",\n      " });
        let _ = write!(o, "[{}, {}]", json_str(a), json_str(b));
    }
    o.push_str(if merges.is_empty() { "]\n  }\n}\n" } else { "\n    ]\n  }\n}\n" });
    Ok(o)
}

/// tiktoken's rank file of `tok` (BPE only; special tokens are not part of
/// the format and must be passed to `tiktoken.Encoding` separately).
pub fn to_tiktoken(tok: &Tokenizer) -> Result<String> {
    let Some(bpe) = tok.as_bpe() else {
        return Err(Error::Unsupported {
            format: "tiktoken",
            reason: "a tiktoken rank file holds byte-level BPE vocabularies only, not character vocabularies"
                .into(),
        });
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let mut o = String::with_capacity(bpe.len() * 12);
    for id in 0..bpe.len() as TokenId {
        // Unused ids have no line (tiktoken's own p50k file skips 50256).
        if let Some(bytes) = bpe.token_bytes(id) {
            let _ = writeln!(o, "{} {id}", engine.encode(bytes));
        }
    }
    Ok(o)
}

/// Writes `tok` in `format` to `path`, atomically.
pub fn export(tok: &Tokenizer, format: Format, path: &Path) -> Result<()> {
    let text = match format {
        Format::Hf => to_hf_json(tok)?,
        Format::Tiktoken => to_tiktoken(tok)?,
    };
    crate::file::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;
    use crate::bpe::Bpe;
    use crate::chars::CharVocab;

    #[test]
    fn gpt2_byte_map() {
        let m = bytes_to_unicode();
        assert_eq!(m[b' ' as usize], 'Ġ');
        assert_eq!(m[b'\n' as usize], 'Ċ');
        assert_eq!(m[b'a' as usize], 'a');
        assert_eq!(m[0], 'Ā');
        assert_eq!(m[0xAD], 'Ń');
        let mut sorted = m.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 256);
    }

    #[test]
    fn tiktoken_file_lists_ranks() {
        let bpe = Bpe::from_merges(&[(b' ' as u32, b'a' as u32)], Pattern::Gpt4).unwrap();
        let t = Tokenizer::from_bpe(bpe, vec![], "t").unwrap();
        let s = to_tiktoken(&t).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 257);
        assert_eq!(lines[0], "AA== 0");
        assert_eq!(lines[33], "IQ== 33");
        assert_eq!(lines[256], "IGE= 256");
        let c = Tokenizer::from_chars(CharVocab::new(vec!['a'], false).unwrap(), vec![], "c").unwrap();
        assert!(to_tiktoken(&c).unwrap_err().to_string().contains("not character vocabularies"));
    }

    #[test]
    fn hf_json_lists_every_cut() {
        // "ab" = a+b; "abc" = ab+c; "bc" = b+c: "abc" has cuts ab|c (trained) and a|bc.
        let (a, b, c) = (97, 98, 99);
        let bpe = Bpe::from_merges(&[(a, b), (b, c), (256, c)], Pattern::Gpt4).unwrap();
        let t = Tokenizer::from_bpe(bpe, vec![("<|e|>".into(), 300)], "t").unwrap();
        let json: serde_json::Value = serde_json::from_str(&to_hf_json(&t).unwrap()).unwrap();
        let merges = &json["model"]["merges"];
        assert_eq!(merges, &serde_json::json!([["a", "b"], ["b", "c"], ["ab", "c"], ["a", "bc"]]));
        assert_eq!(json["model"]["vocab"]["Ġ"], 32);
        assert_eq!(json["model"]["vocab"]["<|e|>"], 300);
        assert_eq!(json["added_tokens"][0]["id"], 300);
        assert_eq!(json["model"]["ignore_merges"], true);
    }
}
