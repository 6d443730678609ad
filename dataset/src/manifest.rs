//! `manifest.json`: what a shard directory holds, and how partial manifests
//! of a `--part i/N` encoding are joined into one.
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "tokenizer": { "kind": "bpe", "name": "bpe8k", "source": "bpe8k.json", "pretrained": false,
//!                  "vocab_size": 8000, "content_hash": "…", "file": "tokenizer.json" },
//!   "token_width": "u16",
//!   "split": { "rule": "tail-fraction-to-next-newline", "val_fraction": 0.1 },
//!   "eot": false, "eot_id": null,
//!   "shard_tokens": 100000000,
//!   "corpus": { "files": 3, "bytes": 1115394 },
//!   "splits": {
//!     "train": { "tokens": …, "bytes": …, "chars": …, "documents": 3, "text_hash": "…",
//!                "shards": [ { "file": "train_000000.bin", "tokens": … } ] },
//!     "val":   { … }
//!   }
//! }
//! ```
//!
//! # The text hash
//! A split's `text_hash` is the blake3 hex digest of the concatenation of the
//! 32-byte blake3 digests of its documents' parts, in corpus order, skipping
//! empty parts (the EOT token is not text and is not hashed):
//! `blake3(blake3(part_1) || blake3(part_2) || ...)`. Hashing per document
//! makes the value independent of how the work was partitioned: a partial
//! manifest lists its documents' digests (`doc_hashes`), and
//! [`merge_parts`] combines them into exactly the hash a single run gives.
//! Two encodings of the same corpus with the same split rule and fraction
//! have the same val `text_hash`, whatever their tokenizers.
//!
//! What it is not: the manifest is not validated against the shard files
//! here; [`crate::ShardSet::open`] does that.

use std::path::{Path, PathBuf};

use tokenizer::Kind;

use crate::shard::TokenWidth;
use crate::{Error, Result, Split};

/// The manifest format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The copy of the tokenizer beside the shards.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The file name of part `index`'s partial manifest.
pub fn part_manifest_file(index: u32) -> String {
    format!("manifest_p{index}.json")
}

/// The manifest of a shard directory (or, with `part` set, of one part).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The tokenizer the shards were encoded with.
    pub tokenizer: TokenizerInfo,
    /// How tokens are stored (u16 or u32).
    pub token_width: TokenWidth,
    /// The train/validation split rule.
    pub split: SplitRule,
    /// Whether each document's part in each split starts with the
    /// end-of-text token.
    pub eot: bool,
    /// The end-of-text token's id when `eot` is set.
    pub eot_id: Option<u32>,
    /// The shard size cap in tokens.
    pub shard_tokens: u64,
    /// The whole input corpus (all parts).
    pub corpus: CorpusInfo,
    /// Set in a partial manifest (`manifest_p{i}.json`), absent in the final one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<PartInfo>,
    /// The two splits.
    pub splits: Splits,
}

/// Which tokenizer made the shards, and where to find it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenizerInfo {
    /// BPE or character vocabulary.
    pub kind: Kind,
    /// The tokenizer's short name.
    pub name: String,
    /// What the user gave: the tokenizer file's path, or the pretrained name.
    pub source: String,
    /// A pretrained vocabulary built into the binary (`cl100k_base`, ...).
    pub pretrained: bool,
    /// Number of ids, special tokens included.
    pub vocab_size: usize,
    /// [`tokenizer::Tokenizer::content_hash`].
    pub content_hash: String,
    /// The copy next to the shards ([`TOKENIZER_FILE`]); `None` for a
    /// pretrained vocabulary, which the name identifies.
    pub file: Option<String>,
}

impl TokenizerInfo {
    /// `name (vocabulary V, hash abcdef123456)`, for messages.
    pub fn describe(&self) -> String {
        describe_tokenizer(&self.name, self.vocab_size, &self.content_hash)
    }
}

pub(crate) fn describe_tokenizer(name: &str, vocab_size: usize, hash: &str) -> String {
    // By characters, not bytes: `hash` may come from a caller's file (a
    // checkpoint's config) that was not validated as hex.
    let short: String = hash.chars().take(12).collect();
    format!("{name:?} (vocabulary {vocab_size}, hash {short})")
}

/// Length of a blake3 digest in hex digits.
pub const HASH_HEX_LEN: usize = 64;

/// Checks that `value`, the field `field` of the file `path`, is a blake3
/// digest in lowercase hex (64 digits), or empty, as this crate and
/// [`tokenizer::Tokenizer::content_hash`] write them. Hand-edited JSON can
/// hold anything; after this check every hash is ASCII and can be shortened
/// by slicing.
pub fn check_hex_hash(path: &Path, field: &str, value: &str) -> Result<()> {
    // Empty is accepted too: manifests made by hand (tests, tools) may
    // leave a hash out, and an empty string cannot be sliced wrong.
    let ok = value.is_empty()
        || (value.len() == HASH_HEX_LEN && value.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    if ok {
        return Ok(());
    }
    let shown: String = value.chars().take(80).collect();
    let more = if value.chars().count() > 80 { "..." } else { "" };
    Err(Error::corrupt(
        path,
        format!(
            "\"{field}\" is {shown:?}{more}, not a hash ({HASH_HEX_LEN} lowercase hex digits, as toklab writes it)"
        ),
    ))
}

/// The split rule and its parameter.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitRule {
    /// [`crate::split::RULE`].
    pub rule: String,
    /// The fraction of each file's bytes (before moving to a newline) that is validation.
    pub val_fraction: f64,
}

/// The input corpus as a whole.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CorpusInfo {
    /// Number of files (documents).
    pub files: usize,
    /// Their total size in bytes when listed.
    pub bytes: u64,
}

/// Which part of a `--part i/N` encoding a partial manifest describes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartInfo {
    /// `i`, from 0.
    pub index: u32,
    /// `N`.
    pub count: u32,
    /// The part's files are `first_file..end_file` of the sorted corpus listing.
    pub first_file: usize,
    /// One past the part's last file.
    pub end_file: usize,
}

/// The train and validation splits.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Splits {
    pub train: SplitInfo,
    pub val: SplitInfo,
}

impl Splits {
    /// One split.
    pub fn get(&self, split: Split) -> &SplitInfo {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
        }
    }

    pub(crate) fn get_mut(&mut self, split: Split) -> &mut SplitInfo {
        match split {
            Split::Train => &mut self.train,
            Split::Val => &mut self.val,
        }
    }
}

/// One split's totals and shard list.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitInfo {
    /// Tokens in all shards, end-of-text tokens included.
    pub tokens: u64,
    /// Bytes of text.
    pub bytes: u64,
    /// Characters of text ([`tokenizer::stats::count_chars`]).
    pub chars: u64,
    /// Documents (files) with a non-empty part in this split.
    pub documents: u64,
    /// See the module docs.
    pub text_hash: String,
    /// The shards in order.
    pub shards: Vec<ShardEntry>,
    /// Per-document digests (hex), in a partial manifest only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_hashes: Option<Vec<String>>,
}

/// One shard file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardEntry {
    /// File name, relative to the manifest's directory.
    pub file: String,
    /// Tokens in the file.
    pub tokens: u64,
}

/// The combined text hash of a split from its documents' digests (module docs).
pub fn combine_doc_hashes<'a>(doc_hashes: impl IntoIterator<Item = &'a blake3::Hash>) -> String {
    let mut h = blake3::Hasher::new();
    for d in doc_hashes {
        h.update(d.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

impl Manifest {
    /// A manifest for shards written directly with
    /// [`crate::shard::ShardWriter`] instead of by the encoder (benchmarks and
    /// tests): a `synthetic` tokenizer of `vocab_size` ids with no file, one
    /// corpus file of no known size, no text hashes.
    pub fn synthetic(
        kind: Kind,
        vocab_size: usize,
        token_width: TokenWidth,
        shard_tokens: u64,
        splits: Splits,
    ) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            tokenizer: TokenizerInfo {
                kind,
                name: "synthetic".into(),
                source: "synthetic".into(),
                pretrained: false,
                vocab_size,
                content_hash: "00".repeat(32),
                file: None,
            },
            token_width,
            split: SplitRule { rule: crate::split::RULE.into(), val_fraction: 0.1 },
            eot: false,
            eot_id: None,
            shard_tokens,
            corpus: CorpusInfo { files: 1, bytes: 0 },
            part: None,
            splits,
        }
    }

    /// Reads and checks a manifest: it parses, has our format version, and
    /// each split's token total equals the sum of its shards'.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let json = serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| Error::corrupt(path, format!("not valid JSON: {e}")))?;
        let version = json.get("format_version");
        if version.and_then(|v| v.as_u64()) != Some(FORMAT_VERSION as u64) {
            return Err(Error::mismatch(
                path,
                "manifest format_version",
                FORMAT_VERSION,
                // As written (a string "1" shows its quotes); "none" only
                // when the field is missing.
                version.map_or("none".to_string(), |v| v.to_string()),
                Some("written by another version of toklab, or not a toklab shard manifest"),
            ));
        }
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(path, format!("not a valid shard manifest: {e}")))?;
        m.check(path)?;
        Ok(m)
    }

    fn check(&self, path: &Path) -> Result<()> {
        check_hex_hash(path, "tokenizer.content_hash", &self.tokenizer.content_hash)?;
        for split in [Split::Train, Split::Val] {
            let s = self.splits.get(split);
            let field = |name: &str| format!("splits.{}.{name}", split.name());
            check_hex_hash(path, &field("text_hash"), &s.text_hash)?;
            for (i, h) in s.doc_hashes.iter().flatten().enumerate() {
                check_hex_hash(path, &field(&format!("doc_hashes[{i}]")), h)?;
            }
            // Checked: hand-edited counts can add up past u64 (a panic in
            // debug builds, a wrong total in release).
            let sum = s.shards.iter().try_fold(0u64, |a, e| a.checked_add(e.tokens));
            if sum != Some(s.tokens) {
                return Err(Error::mismatch(
                    path,
                    format!("{} tokens (the sum of its shards' counts)", split.name()),
                    s.tokens,
                    sum.map_or("more than 2^64".to_string(), |n| n.to_string()),
                    None,
                ));
            }
        }
        if self.split.rule != crate::split::RULE {
            return Err(Error::mismatch(path, "split.rule", crate::split::RULE, &self.split.rule, None));
        }
        let f = self.split.val_fraction;
        if !(0.0..1.0).contains(&f) {
            return Err(Error::corrupt(
                path,
                format!("split.val_fraction is {f}; it must be at least 0 and below 1"),
            ));
        }
        if self.eot && self.eot_id.is_none() {
            return Err(Error::corrupt(path, "\"eot\" is true but \"eot_id\" is missing"));
        }
        if TokenWidth::for_vocab(self.tokenizer.vocab_size).bytes() > self.token_width.bytes() {
            return Err(Error::mismatch(
                path,
                format!("token width for a vocabulary of {}", self.tokenizer.vocab_size),
                "u32",
                "u16",
                None,
            ));
        }
        Ok(())
    }

    /// Writes the manifest atomically (pretty JSON, trailing newline).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| Error::corrupt(path, e.to_string()))?;
        text.push('\n');
        atomicfile::write(path, text.as_bytes()).map_err(|e| Error::io(path, e))
    }

    /// The shard files of both splits, train first.
    pub fn shard_files(&self) -> impl Iterator<Item = &str> {
        self.splits.train.shards.iter().chain(&self.splits.val.shards).map(|e| e.file.as_str())
    }
}

/// Joins the partial manifests `manifest_p{i}.json` of a `--part i/N`
/// encoding in `dir` into `manifest.json`, checking that all N parts are
/// there, that they agree on tokenizer, settings and corpus, and that their
/// file ranges tile the corpus. Totals are summed, shard lists concatenated
/// in part order, text hashes recombined from the documents' digests (module
/// docs), so the result equals what one unpartitioned run writes, shard file
/// names aside. The shard files and the tokenizer copy are checked against
/// the joined manifest ([`crate::ShardSet::with_manifest`]) before it is
/// written, so a failed merge writes nothing. Returns the written manifest.
pub fn merge_parts(dir: &Path) -> Result<Manifest> {
    let parts = find_part_manifests(dir)?;
    let (first_path, first) = parts.first().ok_or_else(|| {
        Error::Empty(format!(
            "{}: no partial manifests (manifest_p<i>.json) to merge; encode with --part i/N first",
            dir.display()
        ))
    })?;
    let count = first.part.as_ref().map_or(0, |p| p.count);
    // By index, not a slot per part: a hand-edited count can be 2^32.
    let mut seen = std::collections::BTreeMap::new();
    for (path, m) in &parts {
        let p = m.part.as_ref().ok_or_else(|| Error::corrupt(path, "a partial manifest without \"part\""))?;
        if p.count != count {
            return Err(Error::mismatch(
                path,
                "number of parts",
                format!("{count} (as in {})", first_path.display()),
                p.count,
                None,
            ));
        }
        if p.index >= count {
            return Err(Error::mismatch(path, "part index", format!("< {count}"), p.index, None));
        }
        // A copied or renamed file: the same part twice was merged as one
        // (the later silently replacing the earlier) and counted as another.
        let named = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if named != part_manifest_file(p.index) {
            return Err(Error::mismatch(
                path,
                "part index",
                format!("the index in the file name ({named})"),
                p.index,
                Some("a partial manifest was copied or renamed; re-encode that part"),
            ));
        }
        seen.insert(p.index, (path, m));
        let same = |what: &str, a: String, b: String| -> Result<()> {
            if a == b {
                Ok(())
            } else {
                Err(Error::mismatch(
                    path,
                    format!("{what} (every part must be encoded the same way)"),
                    format!("{a} (as in {})", first_path.display()),
                    b,
                    None,
                ))
            }
        };
        same("tokenizer", first.tokenizer.describe(), m.tokenizer.describe())?;
        // As a user reads them (the flags that set them), not Rust's Debug.
        let width = |m: &Manifest| format!("{}-bit ids", m.token_width.bytes() * 8);
        let split = |m: &Manifest| format!("--val-fraction {} ({})", m.split.val_fraction, m.split.rule);
        let eot = |m: &Manifest| m.eot_id.map_or("none (no --eot)".into(), |id| format!("id {id} (--eot)"));
        same("token width", width(first), width(m))?;
        same("split rule", split(first), split(m))?;
        same("eot", eot(first), eot(m))?;
        same("shard_tokens", first.shard_tokens.to_string(), m.shard_tokens.to_string())?;
        same(
            "corpus",
            format!("{} files, {} bytes", first.corpus.files, first.corpus.bytes),
            format!("{} files, {} bytes", m.corpus.files, m.corpus.bytes),
        )?;
    }
    // The first ten missing indices; with fewer parts than the count, the
    // search stops early whatever the count.
    let mut missing: Vec<String> =
        (0..count).filter(|i| !seen.contains_key(i)).take(11).map(|i| i.to_string()).collect();
    if missing.len() > 10 {
        missing[10] = "...".into();
    }
    if !missing.is_empty() {
        return Err(Error::Empty(format!(
            "{}: parts {} of {count} are missing (no manifest_p<i>.json); encode them with --part i/{count}",
            dir.display(),
            missing.join(", ")
        )));
    }

    let mut merged = first.clone();
    merged.part = None;
    merged.splits = Splits { train: SplitInfo::default(), val: SplitInfo::default() };
    let mut next_file = 0;
    let mut digests: [Vec<blake3::Hash>; 2] = [Vec::new(), Vec::new()];
    for (path, m) in seen.into_values() {
        let p = m.part.as_ref().expect("checked above");
        if p.first_file != next_file || p.end_file < p.first_file {
            return Err(Error::mismatch(
                path,
                "the part's first file (parts must tile the corpus listing)",
                next_file,
                p.first_file,
                Some("the parts were encoded from different corpus listings"),
            ));
        }
        next_file = p.end_file;
        for (k, split) in [Split::Train, Split::Val].into_iter().enumerate() {
            let s = m.splits.get(split);
            let hashes = s.doc_hashes.as_ref().ok_or_else(|| {
                Error::corrupt(path, format!("the {} split has no \"doc_hashes\"", split.name()))
            })?;
            if hashes.len() as u64 != s.documents {
                return Err(Error::mismatch(
                    path,
                    format!("{} doc_hashes (one per document)", split.name()),
                    s.documents,
                    hashes.len(),
                    None,
                ));
            }
            for h in hashes {
                digests[k].push(blake3::Hash::from_hex(h).map_err(|e| {
                    Error::corrupt(path, format!("bad digest {h:?} in {} doc_hashes: {e}", split.name()))
                })?);
            }
            let out = merged.splits.get_mut(split);
            let add = |total: &mut u64, n: u64, what: &str| -> Result<()> {
                *total = total.checked_add(n).ok_or_else(|| {
                    Error::corrupt(
                        path,
                        format!("{} {what}: the total over the parts passes 2^64", split.name()),
                    )
                })?;
                Ok(())
            };
            add(&mut out.tokens, s.tokens, "tokens")?;
            add(&mut out.bytes, s.bytes, "bytes")?;
            add(&mut out.chars, s.chars, "chars")?;
            add(&mut out.documents, s.documents, "documents")?;
            out.shards.extend(s.shards.iter().cloned());
        }
    }
    if next_file != merged.corpus.files {
        return Err(Error::mismatch(
            dir,
            "files covered by the parts",
            merged.corpus.files,
            next_file,
            Some("the parts were encoded from different corpus listings"),
        ));
    }
    merged.splits.train.text_hash = combine_doc_hashes(&digests[0]);
    merged.splits.val.text_hash = combine_doc_hashes(&digests[1]);
    // Every shard and the tokenizer copy are checked against the joined
    // manifest before it is written: a failed merge leaves no manifest.json
    // that looks complete.
    let set = crate::ShardSet::with_manifest(dir, merged)?;
    if set.manifest().tokenizer.file.is_some() {
        set.tokenizer()?;
    }
    let merged = set.manifest().clone();
    merged.save(&dir.join(MANIFEST_FILE))?;
    Ok(merged)
}

/// The `manifest_p<i>.json` files in `dir`, loaded, sorted by file name.
fn find_part_manifests(dir: &Path) -> Result<Vec<(PathBuf, Manifest)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_part_manifest_name(&name) {
            let path = entry.path();
            let m = Manifest::load(&path)?;
            out.push((path, m));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// `manifest_p<digits>.json`.
pub fn is_part_manifest_name(name: &str) -> bool {
    name.strip_prefix("manifest_p")
        .and_then(|r| r.strip_suffix(".json"))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            tokenizer: TokenizerInfo {
                kind: Kind::Char,
                name: "char".into(),
                source: "char.json".into(),
                pretrained: false,
                vocab_size: 65,
                content_hash: "ab".repeat(32),
                file: Some(TOKENIZER_FILE.into()),
            },
            token_width: TokenWidth::U16,
            split: SplitRule { rule: crate::split::RULE.into(), val_fraction: 0.1 },
            eot: false,
            eot_id: None,
            shard_tokens: 100,
            corpus: CorpusInfo { files: 2, bytes: 30 },
            part: None,
            splits: Splits {
                train: SplitInfo {
                    tokens: 25,
                    bytes: 25,
                    chars: 25,
                    documents: 2,
                    text_hash: combine_doc_hashes(&[]),
                    shards: vec![ShardEntry { file: "train_000000.bin".into(), tokens: 25 }],
                    doc_hashes: None,
                },
                val: SplitInfo::default(),
            },
        }
    }

    #[test]
    fn round_trip_and_fraction_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let m = sample();
        m.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"val_fraction\": 0.1\n"), "{text}");
        assert!(text.contains("\"kind\": \"char\""), "{text}");
        assert!(!text.contains("doc_hashes") && !text.contains("\"part\""), "{text}");
        assert_eq!(Manifest::load(&path).unwrap(), m);
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("manifest.json"), "{err}");

        std::fs::write(&path, "{ not json").unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("manifest.json: not valid JSON"), "{err}");

        std::fs::write(&path, r#"{"format_version": 99}"#).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("format_version: expected 1, found 99"), "{err}");
        // The wrong type is shown as written, not as a missing field.
        std::fs::write(&path, r#"{"format_version": "1"}"#).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains(r#"format_version: expected 1, found "1""#), "{err}");
        std::fs::write(&path, r#"{"version": 1}"#).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("format_version: expected 1, found none"), "{err}");

        let mut m = sample();
        m.splits.train.tokens = 26;
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("train tokens") && err.contains("expected 26, found 25"), "{err}");
    }

    /// Issue 11 item 6: a hand-edited hash with non-ASCII text loaded fine and
    /// then panicked where it was shortened for a message (a byte slice in the
    /// middle of a character). Now loading refuses it, naming file and field.
    #[test]
    fn non_ascii_hash_is_refused_when_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut m = sample();
        m.tokenizer.content_hash = "é".repeat(32);
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: \"tokenizer.content_hash\" is {:?}, not a hash (64 lowercase hex digits, as toklab writes it)",
                path.display(),
                "é".repeat(32)
            )
        );

        let mut m = sample();
        m.splits.val.text_hash = "ab€".into();
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("manifest.json: \"splits.val.text_hash\" is \"ab€\", not a hash"), "{err}");

        let mut m = sample();
        m.splits.train.doc_hashes = Some(vec!["00".repeat(32), "0".repeat(63) + "G"]);
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("\"splits.train.doc_hashes[1]\" is \"000"), "{err}");

        // Upper case and a wrong length are refused too; a valid one loads.
        for bad in ["AB".repeat(32), "ab".repeat(31), " ".into()] {
            let mut m = sample();
            m.tokenizer.content_hash = bad.clone();
            m.save(&path).unwrap();
            assert!(Manifest::load(&path).is_err(), "{bad:?}");
        }
        sample().save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), sample());
    }

    #[test]
    fn describe_shortens_any_text_by_characters() {
        assert_eq!(
            describe_tokenizer("t", 5, &"é".repeat(20)),
            format!("\"t\" (vocabulary 5, hash {})", "é".repeat(12))
        );
        assert_eq!(describe_tokenizer("t", 5, "abc"), "\"t\" (vocabulary 5, hash abc)");
    }

    /// Found by fuzzing (`fuzz_manifest`): shard counts whose sum passes
    /// 2^64 panicked with "attempt to add with overflow" in `check`.
    #[test]
    fn shard_counts_adding_past_u64_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut m = sample();
        m.splits.train.shards.push(ShardEntry { file: "train_000001.bin".into(), tokens: u64::MAX });
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("manifest.json: train tokens (the sum of its shards' counts): expected 25, found more than 2^64"),
            "{err}"
        );
    }

    /// The split the manifest records is the one toklab makes: another rule
    /// or a fraction outside [0, 1) (hand-edited) is refused when loaded, not
    /// carried into every run's record of its data.
    #[test]
    fn a_foreign_split_is_refused_when_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        let mut m = sample();
        m.split.rule = "other".into();
        m.save(&path).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("split.rule")
                && err.contains("tail-fraction-to-next-newline")
                && err.contains("other"),
            "{err}"
        );
        for f in [5.0, -1.0, 1.0] {
            let mut m = sample();
            m.split.val_fraction = f;
            m.save(&path).unwrap();
            let err = Manifest::load(&path).unwrap_err().to_string();
            assert!(err.contains("split.val_fraction"), "{f}: {err}");
        }
        let mut m = sample();
        m.split.val_fraction = 0.0;
        m.save(&path).unwrap();
        assert!(Manifest::load(&path).is_ok());
    }

    /// A partial manifest of part `index` of `count` covering files `first..end`.
    fn part(index: u32, count: u32, first: usize, end: usize) -> Manifest {
        let mut m = sample();
        m.part = Some(PartInfo { index, count, first_file: first, end_file: end });
        m.splits.train.documents = (end - first) as u64;
        m.splits.train.doc_hashes = Some(vec!["00".repeat(32); end - first]);
        m.splits.val.doc_hashes = Some(vec![]);
        m
    }

    /// Found by fuzzing (`fuzz_merge_part_manifests`): a hand-edited part
    /// count of 2^32 - 1 allocated a slot per part and listed every missing
    /// index (out of memory); now the first ten are named.
    #[test]
    fn a_huge_part_count_names_the_first_missing_parts() {
        let dir = tempfile::tempdir().unwrap();
        part(0, u32::MAX, 0, 2).save(&dir.path().join(part_manifest_file(0))).unwrap();
        let err = merge_parts(dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: parts 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ... of 4294967295 are missing (no manifest_p<i>.json); \
                 encode them with --part i/4294967295",
                dir.path().display()
            )
        );
    }

    /// Found by fuzzing (`fuzz_merge_part_manifests`): totals over the parts
    /// that pass 2^64 panicked with "attempt to add with overflow".
    #[test]
    fn part_totals_adding_past_u64_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = part(0, 2, 0, 1);
        a.splits.train.tokens = u64::MAX;
        a.splits.train.shards = vec![ShardEntry { file: "train_000000.bin".into(), tokens: u64::MAX }];
        a.save(&dir.path().join(part_manifest_file(0))).unwrap();
        part(1, 2, 1, 2).save(&dir.path().join(part_manifest_file(1))).unwrap();
        let err = merge_parts(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("manifest_p1.json: train tokens: the total over the parts passes 2^64"),
            "{err}"
        );
        assert!(!dir.path().join(MANIFEST_FILE).exists());
    }

    #[test]
    fn part_manifest_names() {
        assert!(is_part_manifest_name("manifest_p0.json"));
        assert!(is_part_manifest_name("manifest_p12.json"));
        assert!(!is_part_manifest_name("manifest_p.json"));
        assert!(!is_part_manifest_name("manifest.json"));
        assert!(!is_part_manifest_name("manifest_px.json"));
        assert_eq!(part_manifest_file(3), "manifest_p3.json");
    }
}
