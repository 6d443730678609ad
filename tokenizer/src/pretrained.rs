//! The pretrained OpenAI vocabularies, loaded offline through `tiktoken-rs`.
//!
//! `tiktoken-rs` embeds the `.tiktoken` rank files in its crate. We read every
//! rank's bytes back with `CoreBPE::decode_bytes` and build our own tables
//! ([`Bpe::from_ranks`]); the special tokens come from `special_tokens()`.
//! OpenAI byte tokens are not at ranks 0..=255 in byte order (in cl100k, `!`
//! is rank 0), which [`Bpe::from_ranks`] handles. Each vocabulary is built
//! once per process and shared (cloning a [`Tokenizer`] is cheap).
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
    let core = core_bpe(name).ok_or_else(|| Error::UnknownTokenizer { spec: name.to_string() })??;
    from_core_bpe(&core, pattern, name)
}

/// Builds our tokenizer from any `tiktoken-rs` encoder. Ranks that no token
/// has (o200k skips 199998; p50k's `<|endoftext|>` sits at 50256 among its
/// ranks) stay unused ids.
pub fn from_core_bpe(core: &CoreBPE, pattern: Pattern, name: &str) -> Result<Tokenizer> {
    let mut specials: Vec<(String, TokenId)> = core
        .special_tokens()
        .into_iter()
        .map(|s| {
            let ids = core.encode_with_special_tokens(s);
            match ids.as_slice() {
                [id] => Ok((s.to_string(), *id)),
                _ => Err(Error::Config(format!("{name}: special token {s:?} does not encode to one id"))),
            }
        })
        .collect::<Result<_>>()?;
    specials.sort_by_key(|(_, id)| *id);
    let last_special = specials.last().map_or(0, |(_, id)| *id);
    // Read ranks until one fails past the last special; ids that fail
    // earlier, and the specials' ids, are unused ranks (empty entries).
    let mut tokens: Vec<Vec<u8>> = Vec::new();
    for id in 0.. {
        let is_special = specials.iter().any(|(_, s)| *s == id);
        match core.decode_bytes(&[id]) {
            Ok(b) if !is_special => tokens.push(b),
            Ok(_) => tokens.push(Vec::new()),
            Err(_) if id < last_special => tokens.push(Vec::new()),
            Err(_) => break,
        }
    }
    while tokens.last().is_some_and(|t| t.is_empty()) {
        tokens.pop();
    }
    let bpe = Bpe::from_ranks(tokens, pattern)?;
    Tokenizer::from_bpe(bpe, specials, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_not_pretrained() {
        assert!(load("gpt5_base").is_none());
        assert!(core_bpe("cl100k").is_none());
    }
}
