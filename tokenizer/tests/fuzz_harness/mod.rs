//! A small fuzzing harness on the stable toolchain, shared by the fuzz
//! targets of every crate (each includes this file with `#[path]`).
//!
//! A target is a proptest strategy (arbitrary bytes, or structure-aware
//! mutations of a valid file: [`byte_mutations`], [`json_mutations`]) and a
//! check that must not panic and returns `Err` only for a broken invariant.
//!
//! - Under `cargo test` a target runs once with `PROPTEST_CASES` cases (the
//!   target's default when unset), so CI gets a short bounded run.
//! - With `TOKLAB_FUZZ_SECONDS=S` (`scripts/fuzz.sh`) a target runs for S
//!   seconds, restarting with fresh random seeds after each batch of cases
//!   and counting failures instead of stopping at the first.
//!
//! Either way a target prints one line on stderr,
//! `fuzz <name>: <executions> executions, <crashes> crashes, <seconds> s`,
//! and fails if anything crashed, printing the shrunk input.
#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::Value;

/// Runs the target `name` (module docs).
pub fn fuzz<S>(name: &str, default_cases: u32, strategy: S, check: impl Fn(S::Value) -> Result<(), String>)
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default_cases);
    let seconds: Option<f64> = std::env::var("TOKLAB_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok());
    let execs = AtomicU64::new(0);
    let body = |v: S::Value| {
        execs.fetch_add(1, Ordering::Relaxed);
        check(v).map_err(TestCaseError::fail)
    };
    let config = |cases: u32| Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        max_global_rejects: 1 << 20,
        ..Config::default()
    };
    let start = Instant::now();
    let mut failures = Vec::new();
    match seconds {
        None => {
            if let Err(e) = TestRunner::new(config(cases)).run(&strategy, body) {
                failures.push(describe(e));
            }
        }
        Some(s) => {
            let deadline = start + Duration::from_secs_f64(s);
            // Each crash is reported once, shrunk, below; without this the
            // default hook prints every panic met while shrinking.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            while Instant::now() < deadline {
                if let Err(e) = TestRunner::new(config(cases.max(1))).run(&strategy, body) {
                    let f = describe(e);
                    eprintln!("fuzz {name}: crash: {f}");
                    failures.push(f);
                }
            }
            std::panic::set_hook(hook);
        }
    }
    eprintln!(
        "fuzz {name}: {} executions, {} crashes, {:.1} s",
        execs.load(Ordering::Relaxed),
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(f) = failures.first() {
        panic!("fuzz {name}: {} crashes; the first: {f}", failures.len());
    }
}

fn describe<T: Debug>(e: TestError<T>) -> String {
    let s = match e {
        TestError::Abort(reason) => format!("aborted: {reason}"),
        TestError::Fail(reason, value) => format!("{reason}; minimal input: {value:?}"),
    };
    // Inputs can be large; keep the report readable.
    if s.len() > 4000 { format!("{}...", &s[..s.floor_char_boundary(4000)]) } else { s }
}

/// A byte string whose `Debug` is readable: the text (lossy) and the length,
/// for the inputs a crash report prints.
#[derive(Clone)]
pub struct Bytes(pub Vec<u8>);

impl Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes {:?}", self.0.len(), String::from_utf8_lossy(&self.0))
    }
}

/// Arbitrary bytes, mostly short.
pub fn arbitrary_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// One edit of a byte string; positions are taken modulo its length.
#[derive(Clone, Debug)]
pub enum ByteEdit {
    Flip {
        at: usize,
        mask: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Truncate {
        at: usize,
    },
    Remove {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Extend {
        bytes: Vec<u8>,
    },
    /// Writes a little-endian i32 at a 4-byte aligned offset (a header field).
    SetI32 {
        at: usize,
        value: i32,
    },
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let interesting_i32 = prop_oneof![
        Just(0),
        Just(1),
        Just(-1),
        Just(i32::MAX),
        Just(i32::MIN),
        Just(7),
        Just(20240520),
        Just(20240801),
        any::<i32>(),
    ];
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| ByteEdit::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| ByteEdit::Set { at, byte }),
        any::<usize>().prop_map(|at| ByteEdit::Truncate { at }),
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| ByteEdit::Remove { at, len }),
        (any::<usize>(), arbitrary_bytes(16)).prop_map(|(at, bytes)| ByteEdit::Insert { at, bytes }),
        arbitrary_bytes(64).prop_map(|bytes| ByteEdit::Extend { bytes }),
        (0..8usize, interesting_i32).prop_map(|(at, value)| ByteEdit::SetI32 { at, value }),
    ]
}

/// 1 to 4 byte edits.
pub fn byte_mutations() -> impl Strategy<Value = Vec<ByteEdit>> {
    prop::collection::vec(byte_edit(), 1..5)
}

pub fn apply_bytes(base: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut b = base.to_vec();
    for e in edits {
        let n = b.len();
        match e {
            ByteEdit::Flip { at, mask } if n > 0 => b[at % n] ^= mask,
            ByteEdit::Set { at, byte } if n > 0 => b[at % n] = *byte,
            ByteEdit::Truncate { at } => b.truncate(at % (n + 1)),
            ByteEdit::Remove { at, len } if n > 0 => {
                let a = at % n;
                b.drain(a..(a + len).min(n));
            }
            ByteEdit::Insert { at, bytes } => {
                let a = at % (n + 1);
                b.splice(a..a, bytes.iter().copied());
            }
            ByteEdit::Extend { bytes } => b.extend_from_slice(bytes),
            ByteEdit::SetI32 { at, value } => {
                let a = 4 * at;
                if a + 4 <= n {
                    b[a..a + 4].copy_from_slice(&value.to_le_bytes());
                }
            }
            _ => {}
        }
    }
    b
}

/// One structure-aware edit of a JSON document: a node is chosen by its
/// index in a depth-first walk (modulo the number of nodes).
#[derive(Clone, Debug)]
pub enum JsonEdit {
    Replace {
        node: usize,
        value: Value,
    },
    Remove {
        node: usize,
    },
    /// Appends a copy of an array's element (or the node itself) to an array.
    Duplicate {
        node: usize,
    },
    /// Adds a key that no format has.
    AddKey {
        node: usize,
        key: String,
    },
}

/// Values that break parsers: extreme and wrong-typed numbers, non-ASCII
/// and hex-looking strings, empty containers.
pub fn interesting_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(255),
            Just(256),
            Just(65535),
            Just(65536),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(i32::MAX as i64),
            Just(u32::MAX as i64),
            Just(u32::MAX as i64 + 1),
            -1000..100_000i64,
        ]
        .prop_map(Value::from),
        prop_oneof![Just(u64::MAX), any::<u64>()].prop_map(Value::from),
        prop_oneof![Just(0.5f64), Just(-0.0), Just(1e308), Just(-1e-308), any::<f64>()]
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just(String::new()),
            Just("é".repeat(32)),
            Just("ab".repeat(32)),
            Just("AB".repeat(32)),
            Just("../x".to_string()),
            Just("/".to_string()),
            Just("tokenizer.json".to_string()),
            Just("manifest.json".to_string()),
            Just("train_000000.bin".to_string()),
            Just("<|endoftext|>".to_string()),
            Just("gpt4".to_string()),
            Just("u32".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
        Just(Value::Array(vec![])),
        Just(Value::Object(Default::default())),
    ]
}

pub fn json_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => (any::<usize>(), interesting_value()).prop_map(|(node, value)| JsonEdit::Replace { node, value }),
        1 => any::<usize>().prop_map(|node| JsonEdit::Remove { node }),
        1 => any::<usize>().prop_map(|node| JsonEdit::Duplicate { node }),
        1 => (any::<usize>(), "[a-z_]{1,8}").prop_map(|(node, key)| JsonEdit::AddKey { node, key }),
    ]
}

/// 1 to 3 JSON edits.
pub fn json_mutations() -> impl Strategy<Value = Vec<JsonEdit>> {
    prop::collection::vec(json_edit(), 1..4)
}

/// JSON pointers of every node, depth first, the root first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                pointers(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        _ => {}
    }
}

/// Applies `edits` to the JSON text `base` (which must parse) and returns
/// the result as text (pretty-printed, as our writers do).
pub fn apply_json(base: &str, edits: &[JsonEdit]) -> String {
    let mut v: Value = serde_json::from_str(base).expect("the base of a JSON mutation parses");
    for e in edits {
        let mut ptrs = Vec::new();
        pointers(&v, String::new(), &mut ptrs);
        let pick = |node: &usize| ptrs[node % ptrs.len()].clone();
        match e {
            JsonEdit::Replace { node, value } => {
                let p = pick(node);
                if let Some(x) = v.pointer_mut(&p) {
                    *x = value.clone();
                }
            }
            JsonEdit::Remove { node } => {
                let p = pick(node);
                if let Some((parent, last)) = p.rsplit_once('/') {
                    let key = last.replace("~1", "/").replace("~0", "~");
                    match v.pointer_mut(parent) {
                        Some(Value::Object(o)) => {
                            o.remove(&key);
                        }
                        Some(Value::Array(a)) => {
                            if let Ok(i) = key.parse::<usize>()
                                && i < a.len()
                            {
                                a.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            JsonEdit::Duplicate { node } => {
                let p = pick(node);
                let copy = v.pointer(&p).cloned();
                let parent = p.rsplit_once('/').map(|(a, _)| a.to_string());
                match (v.pointer_mut(&p), copy) {
                    (Some(Value::Array(a)), _) if !a.is_empty() => a.push(a[0].clone()),
                    (_, Some(copy)) => {
                        if let Some(Value::Array(a)) = parent.as_deref().and_then(|q| v.pointer_mut(q)) {
                            a.push(copy);
                        }
                    }
                    _ => {}
                }
            }
            JsonEdit::AddKey { node, key } => {
                let p = pick(node);
                if let Some(Value::Object(o)) = v.pointer_mut(&p) {
                    o.insert(key.clone(), Value::from(1));
                }
            }
        }
    }
    serde_json::to_string_pretty(&v).expect("a Value serialises")
}
