//! The pretrained OpenAI vocabularies, loaded offline from `tiktoken-rs`'s
//! rank files.
//!
//! `tiktoken-rs` embeds the `.tiktoken` rank files in its crate. At compile
//! time `build.rs` reads every rank's bytes back with
//! `CoreBPE::decode_bytes` (the special tokens from `special_tokens()`),
//! lists every cut of every token into two tokens, and writes both as a
//! compact table that [`load`] parses and turns into ours
//! (`Bpe::from_baked`): milliseconds, where building `CoreBPE` and then our
//! tables from it took 0.34 s for o200k. [`from_core_bpe`] still builds the
//! same tokenizer from any `CoreBPE` (the tests compare the two).
//! OpenAI byte tokens are not at ranks 0..=255 in byte order (in cl100k, `!`
//! is rank 0), which [`Bpe::from_ranks`] handles. Each vocabulary is built
//! once per process and shared (cloning a [`Tokenizer`] is cheap).
//!
//! The baked format (little-endian `u32`s): `TKPT`, version 1, number of
//! ids, number of token bytes, number of pair entries, number of specials;
//! the ids + 1 token offsets; the token bytes, zero-padded to 4; the
//! entries as `(left, right, token)`; each special as id, byte length,
//! bytes zero-padded to 4.
//!
//! What it is not: a downloader. Only the four vocabularies shipped in
//! `tiktoken-rs` are available.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

use crate::bpe::Bpe;
use crate::{Error, Pattern, Result, TokenId, Tokenizer};

/// The pretrained names, as `--tokenizer` accepts them.
pub const NAMES: [&str; 4] = ["cl100k_base", "o200k_base", "r50k_base", "p50k_base"];

/// The split pattern of a pretrained vocabulary.
pub fn pattern(name: &str) -> Option<Pattern> {
    match name {
        "cl100k_base" => Some(Pattern::Gpt4),
        "o200k_base" => Some(Pattern::Gpt4o),
        "r50k_base" | "p50k_base" => Some(Pattern::Gpt2),
        _ => None,
    }
}

/// The `tiktoken-rs` encoder of a pretrained name (freshly built: callers
/// that keep it around should keep the [`Tokenizer`] instead).
pub fn core_bpe(name: &str) -> Option<Result<CoreBPE>> {
    let r = match name {
        "cl100k_base" => tiktoken_rs::cl100k_base(),
        "o200k_base" => tiktoken_rs::o200k_base(),
        "r50k_base" => tiktoken_rs::r50k_base(),
        "p50k_base" => tiktoken_rs::p50k_base(),
        _ => return None,
    };
    Some(r.map_err(|e| Error::Config(format!("tiktoken-rs could not build {name}: {e}"))))
}

/// Loads a pretrained vocabulary by name; `None` when `name` is not one.
pub fn load(name: &str) -> Option<Result<Tokenizer>> {
    static CELLS: [OnceLock<std::result::Result<Tokenizer, String>>; 4] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let i = NAMES.iter().position(|n| *n == name)?;
    let cell = CELLS[i].get_or_init(|| build(name).map_err(|e| e.to_string()));
    Some(cell.clone().map_err(Error::Config))
}

fn build(name: &str) -> Result<Tokenizer> {
    let pattern = pattern(name).ok_or_else(|| Error::UnknownTokenizer { spec: name.to_string() })?;
    let blob: &[u8] = match name {
        "cl100k_base" => include_bytes!(concat!(env!("OUT_DIR"), "/cl100k_base.bin")),
        "o200k_base" => include_bytes!(concat!(env!("OUT_DIR"), "/o200k_base.bin")),
        "r50k_base" => include_bytes!(concat!(env!("OUT_DIR"), "/r50k_base.bin")),
        "p50k_base" => include_bytes!(concat!(env!("OUT_DIR"), "/p50k_base.bin")),
        _ => return Err(Error::UnknownTokenizer { spec: name.to_string() }),
    };
    parse(blob, pattern, name)
}

/// Reads `n` little-endian `u32`s from `blob` at `*at`, advancing it.
fn words(blob: &[u8], at: &mut usize, n: usize, name: &str) -> Result<Vec<u32>> {
    let end = n.checked_mul(4).and_then(|len| at.checked_add(len)).filter(|&e| e <= blob.len());
    let end = end.ok_or_else(|| Error::Config(format!("{name}: the baked vocabulary is truncated")))?;
    let v = blob[*at..end].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    *at = end;
    Ok(v)
}

/// Reads `n` bytes from `blob` at `*at` and skips the padding to 4.
fn bytes<'a>(blob: &'a [u8], at: &mut usize, n: usize, name: &str) -> Result<&'a [u8]> {
    let b = blob
        .get(*at..at.saturating_add(n))
        .ok_or_else(|| Error::Config(format!("{name}: the baked vocabulary is truncated")))?;
    *at = (*at + n).next_multiple_of(4);
    Ok(b)
}

/// Builds a tokenizer from the table `build.rs` baked (format in the module
/// docs).
fn parse(blob: &[u8], pattern: Pattern, name: &str) -> Result<Tokenizer> {
    let bad = |what: &str| Error::Config(format!("{name}: the baked vocabulary {what}"));
    if blob.get(..4) != Some(b"TKPT".as_slice()) {
        return Err(bad("has no TKPT header"));
    }
    let mut at = 4;
    let head = words(blob, &mut at, 5, name)?;
    let [version, ids, n_bytes, n_entries, n_specials] = [head[0], head[1], head[2], head[3], head[4]];
    if version != 1 {
        return Err(bad(&format!("has version {version}, this build reads 1")));
    }
    let starts = words(blob, &mut at, ids as usize + 1, name)?;
    let token_bytes = bytes(blob, &mut at, n_bytes as usize, name)?.to_vec();
    let flat = words(blob, &mut at, 3 * n_entries as usize, name)?;
    let entries: Vec<(TokenId, TokenId, TokenId)> =
        flat.chunks_exact(3).map(|e| (e[0], e[1], e[2])).collect();
    let mut specials = Vec::with_capacity(n_specials as usize);
    for _ in 0..n_specials {
        let w = words(blob, &mut at, 2, name)?;
        let text = bytes(blob, &mut at, w[1] as usize, name)?;
        let text = std::str::from_utf8(text).map_err(|_| bad("has a special token that is not UTF-8"))?;
        specials.push((text.to_string(), w[0]));
    }
    if at != blob.len() {
        return Err(bad("has trailing or missing bytes"));
    }
    let bpe = Bpe::from_baked(token_bytes, starts, &entries, pattern)?;
    Tokenizer::from_bpe(bpe, specials, name)
}

/// Builds our tokenizer from any `tiktoken-rs` encoder. Ranks that no token
/// has (o200k skips 199998; p50k's `<|endoftext|>` sits at 50256 among its
/// ranks) stay unused ids.
pub fn from_core_bpe(core: &CoreBPE, pattern: Pattern, name: &str) -> Result<Tokenizer> {
    let specials = crate::ranks::specials(core)
        .map_err(|s| Error::Config(format!("{name}: special token {s:?} does not encode to one id")))?;
    let tokens = crate::ranks::tokens(core, &specials);
    let bpe = Bpe::from_ranks(tokens, pattern)?;
    Tokenizer::from_bpe(bpe, specials, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The baked vocabularies equal the ones rebuilt from `tiktoken-rs`:
    /// every id's bytes, the specials, and the pair table on every cut of
    /// every token.
    #[test]
    fn baked_equals_rebuilt_from_tiktoken_rs() {
        for name in NAMES {
            let baked = load(name).expect("pretrained").expect("loads");
            let core = core_bpe(name).expect("known").expect("builds");
            let rebuilt = from_core_bpe(&core, pattern(name).expect("known"), name).expect("builds");
            assert_eq!(baked.vocab_size(), rebuilt.vocab_size(), "{name}");
            assert_eq!(baked.special_tokens(), rebuilt.special_tokens(), "{name}");
            let (b, r) = (baked.as_bpe().expect("bpe"), rebuilt.as_bpe().expect("bpe"));
            assert_eq!(b.len(), r.len(), "{name}");
            for id in 0..r.len() as TokenId {
                assert_eq!(b.token_bytes(id), r.token_bytes(id), "{name} id {id}");
            }
            let pairs = r.all_pairs();
            assert!(pairs.len() > r.len() / 2, "{name}: {} pairs", pairs.len());
            for (a, c, m) in pairs {
                assert_eq!(b.pair(a, c), Some(m), "{name} pair ({a}, {c})");
            }
        }
    }

    #[test]
    fn truncated_or_foreign_tables_are_errors() {
        let blob = include_bytes!(concat!(env!("OUT_DIR"), "/r50k_base.bin"));
        for cut in [0, 3, 10, 30, blob.len() / 2, blob.len() - 1] {
            let err = parse(&blob[..cut], Pattern::Gpt2, "r50k_base").map(|_| ()).unwrap_err();
            assert!(err.to_string().starts_with("r50k_base: the baked vocabulary"), "{cut}: {err}");
        }
        let mut other = blob.to_vec();
        other[4] = 2;
        let err = parse(&other, Pattern::Gpt2, "r50k_base").map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn unknown_names_are_not_pretrained() {
        assert!(load("gpt5_base").is_none());
        assert!(core_bpe("cl100k").is_none());
    }
}
