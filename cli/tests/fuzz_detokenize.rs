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

/// The reference: the ids, or the message's ending for the first bad word.
fn reference(text: &[u8]) -> Result<Vec<u32>, String> {
    text.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let word = String::from_utf8_lossy(w);
            if w.iter().all(u8::is_ascii_digit) {
                word.parse::<u32>().map_err(|_| "is out of range (token ids are at most 4294967295)".into())
            } else {
                Err(format!("{word:?} at byte offset"))
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
            (Ok(ids), Ok(want)) if ids == want => Ok(()),
            (Err(e), Err(want)) => {
                let msg = e.to_string();
                if msg.starts_with("ids.txt: ") && msg.contains(&want) && !msg.contains('\n') {
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
