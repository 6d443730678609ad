//! Bakes the pretrained OpenAI vocabularies into compact tables at compile
//! time, so that loading one at run time is a parse and two table builds
//! (milliseconds) instead of building `tiktoken-rs`'s `CoreBPE` and then
//! ours (0.34 s for o200k_base).
//!
//! For each vocabulary it reads the ranks through `tiktoken-rs` (which
//! embeds the `.tiktoken` files) exactly as `pretrained::from_core_bpe`
//! does, and lists every cut of every token into two tokens (the encoder's
//! pair table). The format is described in `src/pretrained.rs` (`parse`);
//! tests check that the baked vocabularies equal the ones rebuilt from
//! `tiktoken-rs`.

#[path = "src/ranks.rs"]
mod ranks;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

const NAMES: [&str; 4] = ["cl100k_base", "o200k_base", "r50k_base", "p50k_base"];
const MAGIC: &[u8; 4] = b"TKPT";
const VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/ranks.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in NAMES {
        let core = match name {
            "cl100k_base" => tiktoken_rs::cl100k_base(),
            "o200k_base" => tiktoken_rs::o200k_base(),
            "r50k_base" => tiktoken_rs::r50k_base(),
            _ => tiktoken_rs::p50k_base(),
        }
        .unwrap_or_else(|e| panic!("tiktoken-rs could not build {name}: {e}"));
        let blob = bake(&core);
        let path = out.join(format!("{name}.bin"));
        let mut f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        f.write_all(&blob).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

fn put(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn pad(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn bake(core: &tiktoken_rs::CoreBPE) -> Vec<u8> {
    // Specials and ranks, as pretrained::from_core_bpe reads them.
    let specials =
        ranks::specials(core).unwrap_or_else(|s| panic!("special token {s:?} does not encode to one id"));
    let tokens = ranks::tokens(core, &specials);
    // Every cut of every token into two tokens, by id then cut.
    let index: HashMap<&[u8], u32> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_empty())
        .map(|(i, t)| (t.as_slice(), i as u32))
        .collect();
    let mut entries = Vec::new();
    for (id, t) in tokens.iter().enumerate() {
        for k in 1..t.len() {
            if let (Some(&l), Some(&r)) = (index.get(&t[..k]), index.get(&t[k..])) {
                entries.push([l, r, id as u32]);
            }
        }
    }
    let n_bytes: usize = tokens.iter().map(Vec::len).sum();
    let mut v = Vec::new();
    v.extend_from_slice(MAGIC);
    for x in [VERSION, tokens.len() as u32, n_bytes as u32, entries.len() as u32, specials.len() as u32] {
        put(&mut v, x);
    }
    let mut start = 0u32;
    put(&mut v, 0);
    for t in &tokens {
        start += t.len() as u32;
        put(&mut v, start);
    }
    for t in &tokens {
        v.extend_from_slice(t);
    }
    pad(&mut v);
    for e in &entries {
        for x in e {
            put(&mut v, *x);
        }
    }
    for (s, id) in &specials {
        put(&mut v, *id);
        put(&mut v, s.len() as u32);
        v.extend_from_slice(s.as_bytes());
        pad(&mut v);
    }
    v
}
