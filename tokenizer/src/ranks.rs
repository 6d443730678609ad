//! Reading a `tiktoken-rs` encoder by rank: its special tokens and the bytes
//! of every rank. Shared, through `#[path]`, by `build.rs` (which bakes the
//! pretrained tables) and [`crate::pretrained::from_core_bpe`], so the two
//! read the rank files the same way. Only `std` and `tiktoken-rs` here.

use tiktoken_rs::CoreBPE;

/// The special tokens with their ids, sorted by id; `Err(text)` names a
/// special token that does not encode to one id.
pub(crate) fn specials(core: &CoreBPE) -> Result<Vec<(String, u32)>, String> {
    let mut specials = core
        .special_tokens()
        .into_iter()
        .map(|s| match core.encode_with_special_tokens(s).as_slice() {
            [id] => Ok((s.to_string(), *id)),
            _ => Err(s.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    specials.sort_by_key(|(_, id)| *id);
    Ok(specials)
}

/// The bytes of every rank, by rank: read until one fails past the last
/// special; ranks that fail earlier, and the specials' ranks, are unused
/// (empty entries), and trailing unused ranks are dropped.
pub(crate) fn tokens(core: &CoreBPE, specials: &[(String, u32)]) -> Vec<Vec<u8>> {
    let last_special = specials.last().map_or(0, |(_, id)| *id);
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
    tokens
}
