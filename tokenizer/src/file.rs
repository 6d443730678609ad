//! Our JSON tokenizer file format: kind, pattern, merges or ranks or
//! characters, special tokens, format version. Loading validates everything
//! and says what is wrong, naming the file.
//!
//! ```json
//! {
//!   "format": "toklab-tokenizer",
//!   "version": 1,
//!   "kind": "bpe",
//!   "name": "bpe8k",
//!   "pattern": "gpt4",
//!   "specials": [
//!     {"id": 7999, "text": "<|endoftext|>"}
//!   ],
//!   "merges": [
//!     [32, 116],
//!     ...
//!   ]
//! }
//! ```
//!
//! - `kind: "bpe"` holds `pattern` and either `merges` (a trained vocabulary:
//!   ids 0..=255 are the bytes in order, merge `i` = `[a, b]` creates id
//!   `256 + i`) or `ranks` (a vocabulary that is not a merge list, such as
//!   the pretrained OpenAI ones: the base64 of every token's bytes, by id).
//! - `kind: "char"` holds `chars` (one-character strings, sorted by code
//!   point: the id order) and `byte_fallback`.
//! - `specials`: text and id of each special token, sorted by id.
//! - `name`: what tables show; when absent, the file's stem.
//!
//! [`crate::Tokenizer::to_json`] is canonical: fixed key order, one merge / rank / character
//! per line, so that equal tokenizers give equal bytes and
//! [`crate::Tokenizer::content_hash`] is meaningful. Unknown keys are
//! rejected rather than ignored, so a typo never silently changes a
//! tokenizer.
//!
//! What it is not: the exports ([`crate::export`] writes Hugging Face and
//! tiktoken files; we do not read those).

use std::path::Path;

use base64::Engine as _;
use serde::Deserialize;

use crate::bpe::Bpe;
use crate::chars::CharVocab;
use crate::tokenizer::Model;
use crate::{Error, Pattern, Result, TokenId, Tokenizer};

/// The value of the `format` key.
pub const FORMAT: &str = "toklab-tokenizer";
/// The format version this build writes and reads.
pub const VERSION: u64 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    // Checked on the envelope before this struct is read.
    #[serde(rename = "format")]
    _format: serde::de::IgnoredAny,
    #[serde(rename = "version")]
    _version: serde::de::IgnoredAny,
    kind: String,
    name: Option<String>,
    pattern: Option<String>,
    merges: Option<Vec<(TokenId, TokenId)>>,
    ranks: Option<Vec<String>>,
    chars: Option<Vec<String>>,
    byte_fallback: Option<bool>,
    #[serde(default)]
    specials: Vec<RawSpecial>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpecial {
    id: TokenId,
    text: String,
}

fn json_str(s: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

/// The canonical JSON of `tok` (see the module docs).
pub(crate) fn to_json(tok: &Tokenizer) -> String {
    let mut o = String::new();
    o.push_str("{\n");
    o.push_str(&format!("  \"format\": {},\n", json_str(FORMAT)));
    o.push_str(&format!("  \"version\": {VERSION},\n"));
    o.push_str(&format!("  \"kind\": {},\n", json_str(tok.kind().name())));
    o.push_str(&format!("  \"name\": {},\n", json_str(tok.name())));
    match tok.model() {
        Model::Bpe(b) => o.push_str(&format!("  \"pattern\": {},\n", json_str(b.pattern().name()))),
        Model::Char(c) => o.push_str(&format!("  \"byte_fallback\": {},\n", c.byte_fallback())),
    }
    o.push_str("  \"specials\": [");
    let specials = tok.special_tokens();
    for (i, (text, id)) in specials.iter().enumerate() {
        o.push_str(if i == 0 { "\n" } else { ",\n" });
        o.push_str(&format!("    {{\"id\": {id}, \"text\": {}}}", json_str(text)));
    }
    o.push_str(if specials.is_empty() { "],\n" } else { "\n  ],\n" });
    // The bulk, one item per line.
    let (key, items): (&str, Vec<String>) = match tok.model() {
        Model::Bpe(b) => match b.merges() {
            Some(m) => ("merges", m.iter().map(|(a, b)| format!("[{a}, {b}]")).collect()),
            None => {
                let engine = base64::engine::general_purpose::STANDARD;
                let ranks = (0..b.len() as TokenId)
                    .map(|id| json_str(&engine.encode(b.token_bytes(id).unwrap_or_default())))
                    .collect();
                ("ranks", ranks)
            }
        },
        Model::Char(c) => {
            ("chars", c.chars().iter().map(|ch| json_str(ch.encode_utf8(&mut [0; 4]))).collect())
        }
    };
    o.push_str(&format!("  \"{key}\": ["));
    if !items.is_empty() {
        o.push_str("\n    ");
        o.push_str(&items.join(",\n    "));
        o.push_str("\n  ");
    }
    o.push_str("]\n}\n");
    o
}

fn bad(origin: &str, reason: impl Into<String>) -> Error {
    Error::BadFile { origin: origin.to_string(), reason: reason.into() }
}

/// Turns a validation error of a constructor into one naming the file.
fn in_file(origin: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Config(reason) => bad(origin, reason),
        e => e,
    }
}

/// Parses and validates our JSON format; `origin` names the source.
pub(crate) fn from_json(json: &str, origin: &str) -> Result<Tokenizer> {
    // First the envelope, so that a file of another format (or a newer
    // version of ours) gets a message about that rather than about the first
    // unexpected key.
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(origin, format!("not valid JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(bad(origin, "expected a JSON object at the top level"));
    };
    match obj.get("format").and_then(|f| f.as_str()) {
        Some(FORMAT) => {}
        Some(other) => return Err(bad(origin, format!("format is {other:?}, expected {FORMAT:?}"))),
        None if obj.contains_key("model") && obj.contains_key("added_tokens") => {
            return Err(bad(
                origin,
                "this is a Hugging Face tokenizer.json; tok reads the files `tok train` writes \
                 (or a pretrained name such as o200k_base)",
            ));
        }
        None => {
            return Err(bad(origin, format!("no \"format\": {FORMAT:?} key: not a toklab tokenizer file")));
        }
    }
    match obj.get("version").map(|v| (v.as_u64(), v)) {
        Some((Some(VERSION), _)) => {}
        Some((_, v)) => {
            return Err(bad(
                origin,
                format!("format version {v} is not supported (this build reads version {VERSION})"),
            ));
        }
        None => return Err(bad(origin, "the \"version\" key is missing")),
    }
    // Parsed again from the text, not from `value`: serde_json gives line and
    // column only when it reads text, and the messages point there.
    let raw: RawFile = serde_json::from_str(json).map_err(|e| bad(origin, e.to_string()))?;
    let specials: Vec<(String, TokenId)> = raw.specials.into_iter().map(|s| (s.text, s.id)).collect();
    let name = match raw.name {
        Some(n) if !n.is_empty() => n,
        _ => Path::new(origin).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let forbid = |present: bool, key: &str, kind: &str| -> Result<()> {
        if present { Err(bad(origin, format!("a {kind} tokenizer has no {key:?} key"))) } else { Ok(()) }
    };
    match raw.kind.as_str() {
        "bpe" => {
            forbid(raw.chars.is_some(), "chars", "bpe")?;
            forbid(raw.byte_fallback.is_some(), "byte_fallback", "bpe")?;
            let Some(pattern) = raw.pattern else {
                return Err(bad(origin, "the \"pattern\" key is missing"));
            };
            let Some(pattern) = Pattern::from_name(&pattern) else {
                let names: Vec<&str> = Pattern::ALL.iter().map(|p| p.name()).collect();
                return Err(bad(
                    origin,
                    format!("unknown pattern {pattern:?} (expected one of {})", names.join(", ")),
                ));
            };
            let bpe = match (raw.merges, raw.ranks) {
                (Some(merges), None) => Bpe::from_merges(&merges, pattern).map_err(in_file(origin))?,
                (None, Some(ranks)) => {
                    let engine = base64::engine::general_purpose::STANDARD;
                    let tokens = ranks
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            engine
                                .decode(r)
                                .map_err(|e| bad(origin, format!("ranks[{i}] = {r:?}: bad base64: {e}")))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Bpe::from_ranks(tokens, pattern).map_err(in_file(origin))?
                }
                (Some(_), Some(_)) => return Err(bad(origin, "both \"merges\" and \"ranks\": give one")),
                (None, None) => return Err(bad(origin, "a bpe tokenizer needs \"merges\" or \"ranks\"")),
            };
            Tokenizer::from_bpe(bpe, specials, &name).map_err(in_file(origin))
        }
        "char" => {
            forbid(raw.pattern.is_some(), "pattern", "char")?;
            forbid(raw.merges.is_some(), "merges", "char")?;
            forbid(raw.ranks.is_some(), "ranks", "char")?;
            let Some(chars) = raw.chars else {
                return Err(bad(origin, "the \"chars\" key is missing"));
            };
            let Some(byte_fallback) = raw.byte_fallback else {
                return Err(bad(origin, "the \"byte_fallback\" key is missing"));
            };
            let chars = chars
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let mut it = s.chars();
                    match (it.next(), it.next()) {
                        (Some(c), None) => Ok(c),
                        _ => Err(bad(origin, format!("chars[{i}] = {s:?} is not exactly one character"))),
                    }
                })
                .collect::<Result<Vec<char>>>()?;
            let vocab = CharVocab::new(chars, byte_fallback).map_err(in_file(origin))?;
            Tokenizer::from_chars(vocab, specials, &name).map_err(in_file(origin))
        }
        other => Err(bad(origin, format!("unknown kind {other:?} (expected \"bpe\" or \"char\")"))),
    }
}

/// Writes `bytes` to `path` atomically ([`atomicfile::write`]); errors name
/// the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    atomicfile::write(path, bytes).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bpe_tok() -> Tokenizer {
        let bpe = Bpe::from_merges(&[(104, 105), (256, 33)], Pattern::Gpt4).unwrap();
        Tokenizer::from_bpe(bpe, vec![("<|endoftext|>".into(), 258)], "hi").unwrap()
    }

    #[test]
    fn canonical_json_is_exact_and_round_trips() {
        let t = bpe_tok();
        let json = t.to_json();
        assert_eq!(
            json,
            "{\n  \"format\": \"toklab-tokenizer\",\n  \"version\": 1,\n  \"kind\": \"bpe\",\n  \
             \"name\": \"hi\",\n  \"pattern\": \"gpt4\",\n  \"specials\": [\n    \
             {\"id\": 258, \"text\": \"<|endoftext|>\"}\n  ],\n  \"merges\": [\n    [104, 105],\n    \
             [256, 33]\n  ]\n}\n"
        );
        let back = Tokenizer::from_json(&json, "x.json").unwrap();
        assert_eq!(back.to_json(), json);
        assert_eq!(back.content_hash(), t.content_hash());
        assert_eq!(t.content_hash().len(), 64);
    }

    #[test]
    fn char_and_rank_files_round_trip() {
        let chars = CharVocab::new(vec!['\n', ' ', '"', 'é'], true).unwrap();
        let t = Tokenizer::from_chars(chars, vec![], "c").unwrap();
        let json = t.to_json();
        assert!(
            json.contains("\"chars\": [\n    \"\\n\",\n    \" \",\n    \"\\\"\",\n    \"é\"\n  ]"),
            "{json}"
        );
        assert_eq!(Tokenizer::from_json(&json, "c.json").unwrap().to_json(), json);

        let mut toks: Vec<Vec<u8>> = (0..=255u8).rev().map(|b| vec![b]).collect();
        toks.push(b"ab".to_vec());
        let t = Tokenizer::from_bpe(Bpe::from_ranks(toks, Pattern::Gpt2).unwrap(), vec![], "r").unwrap();
        let json = t.to_json();
        assert!(json.contains("\"ranks\": [\n    \"/w==\",\n    \"/g==\","), "{}", &json[..200]);
        assert!(json.contains("    \"YWI=\"\n  ]"));
        assert_eq!(Tokenizer::from_json(&json, "r.json").unwrap().to_json(), json);
    }

    fn err(json: &str) -> String {
        Tokenizer::from_json(json, "t.json").unwrap_err().to_string()
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let good = bpe_tok().to_json();
        assert_eq!(err("[1]"), "t.json: invalid tokenizer file: expected a JSON object at the top level");
        assert!(err("{").starts_with("t.json: invalid tokenizer file: not valid JSON: EOF"));
        assert!(
            err(&good.replace("\"version\": 1", "\"version\": 2"))
                .ends_with("format version 2 is not supported (this build reads version 1)")
        );
        assert!(
            err(&good.replace("\"kind\": \"bpe\"", "\"kind\": \"wordpiece\""))
                .ends_with("unknown kind \"wordpiece\" (expected \"bpe\" or \"char\")")
        );
        assert!(err(&good.replace("toklab-tokenizer", "other")).contains("format is \"other\""));
        assert!(
            err(r#"{"version": "1.0", "model": {}, "added_tokens": []}"#)
                .contains("Hugging Face tokenizer.json")
        );
        assert!(
            err(&good.replace("[256, 33]", "[258, 33]")).contains("merge 1 (258, 33) refers to token 258")
        );
        assert!(err(&good.replace("[256, 33]", "[104, 105]")).contains("merge 1 (104, 105) creates \"hi\""));
        assert!(
            err(&good.replace("\"id\": 258", "\"id\": 257")).contains("has id 257, which a vocabulary token")
        );
        assert!(err(&good.replace("\"gpt4\"", "\"gpt5\"")).contains("unknown pattern \"gpt5\""));
        assert!(err(&good.replace("\"pattern\"", "\"patern\"")).contains("unknown field `patern`"));
        let e = err(&good.replace("[256, 33]", "[256]"));
        assert!(e.ends_with("invalid length 1, expected a tuple of size 2 at line 12 column 9"), "{e}");
        let ranks = r#"{"format": "toklab-tokenizer", "version": 1, "kind": "bpe", "pattern": "gpt2", "ranks": ["AA==", "!!"]}"#;
        assert!(err(ranks).contains("ranks[1] = \"!!\": bad base64"), "{}", err(ranks));
        let ranks = r#"{"format": "toklab-tokenizer", "version": 1, "kind": "bpe", "pattern": "gpt2", "ranks": ["AA=="]}"#;
        assert!(err(ranks).contains("byte 0x01 is not a token"), "{}", err(ranks));
        let chars = r#"{"format": "toklab-tokenizer", "version": 1, "kind": "char", "byte_fallback": false, "chars": ["b", "a"]}"#;
        assert!(err(chars).contains("'b' (U+0062) comes before 'a' (U+0061)"));
        let chars = r#"{"format": "toklab-tokenizer", "version": 1, "kind": "char", "byte_fallback": false, "chars": ["ab"]}"#;
        assert!(err(chars).contains("chars[0] = \"ab\" is not exactly one character"));
        let chars = r#"{"format": "toklab-tokenizer", "version": 1, "kind": "char", "chars": ["a"]}"#;
        assert!(err(chars).contains("\"byte_fallback\" key is missing"));
        let chars = r#"{"format": "toklab-tokenizer", "version": 1, "kind": "char", "byte_fallback": true, "pattern": "gpt4", "chars": []}"#;
        assert!(err(chars).contains("a char tokenizer has no \"pattern\" key"));
    }

    #[test]
    fn name_defaults_to_the_file_stem() {
        let json = bpe_tok().to_json().replace("  \"name\": \"hi\",\n", "");
        assert_eq!(Tokenizer::from_json(&json, "/some/dir/bpe8k.json").unwrap().name(), "bpe8k");
    }

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_atomic(&dir.path().join("missing/out.json"), b"x").unwrap_err().to_string();
        assert!(e.contains("missing/out.json"), "{e}");
    }
}
