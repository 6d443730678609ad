//! Fuzz target for the ids text `tok detokenize` reads (see
//! `tokenizer/tests/fuzz_harness`): arbitrary bytes and mutations of valid
//! id lists. The parser must never panic and must agree with a plain
//! reference: whitespace-separated words, each all ASCII digits and at most
//! `u32::MAX`, or an error naming the input and the first bad word.

#[path = "../../tokenizer/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

use cli::tok::detokenize::parse_ids;
use fuzz_harness::*;
use proptest::prelude::*;

/// The reference: what the parser must return.
fn reference(text: &[u8]) -> Option<Vec<u32>> {
    text.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(w).ok()?.parse::<u32>().ok()
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn fuzz_detokenize_ids() {
    let valid = prop::collection::vec(prop_oneof![0..300u32, any::<u32>()], 0..20)
        .prop_map(|ids| ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ").into_bytes());
    let input = prop_oneof![
        arbitrary_bytes(64),
        prop::collection::vec(prop::sample::select(&b"0123456789 \t\n\x0b\x0c\r-+x\xff\xc3\xa9"[..]), 0..40),
        (valid.clone(), byte_mutations()).prop_map(|(v, e)| apply_bytes(&v, &e)),
        valid,
    ];
    fuzz("detokenize_ids", 1024, input.prop_map(Bytes), |Bytes(text)| {
        match (parse_ids(&text, "ids.txt"), reference(&text)) {
            (Ok(ids), Some(want)) if ids == want => Ok(()),
            (Err(e), None) => {
                let msg = e.to_string();
                if msg.starts_with("ids.txt: ") && msg.contains("is not a token id") && !msg.contains('\n') {
                    Ok(())
                } else {
                    Err(format!("bad message {msg:?}"))
                }
            }
            (got, want) => {
                Err(format!("parse_ids gave {:?}, the reference {want:?}", got.map_err(|e| e.to_string())))
            }
        }
    });
}
