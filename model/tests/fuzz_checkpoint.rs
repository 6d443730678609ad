//! Fuzz targets for checkpoint loading (see `tokenizer/tests/fuzz_harness`):
//! `model.safetensors` and `optimizer.safetensors` from arbitrary bytes, byte
//! mutations of valid files, and structure-aware mutations of their JSON
//! header (tensor entries, offsets, shapes, dtypes) and of the model config
//! inside `__metadata__`. No input may panic or abort: a file either loads
//! with its invariants holding or gives a typed error naming it.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "../../tokenizer/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;

use std::collections::BTreeMap;
use std::path::Path;

use fuzz_harness::*;
use model::checkpoint::{
    MODEL_FILE, OPTIMIZER_FILE, load_checkpoint, load_model, load_optimizer, save_checkpoint,
};
use model::config::{Cell, ModelConfig};
use model::optim::{AdamW, AdamWConfig};
use model::params::ParamLayout;
use proptest::prelude::*;
use serde_json::Value;

fn config(cell: Cell, tie: bool) -> ModelConfig {
    ModelConfig { cell, vocab: 11, embed: 4, hidden: 4, layers: 2, tie }
}

/// The two files of a valid checkpoint, as bytes, for three configs.
fn valid() -> Vec<(ParamLayout, Vec<u8>, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false)]
        .into_iter()
        .map(|(cell, tie)| {
            let layout = ParamLayout::new(&config(cell, tie));
            let params = layout.init(5);
            let opt = AdamW::new(&layout, AdamWConfig::default()).unwrap();
            let extra = BTreeMap::from([("data_step".to_string(), "0".to_string())]);
            save_checkpoint(dir.path(), &layout, &params, &opt, &extra).unwrap();
            let m = std::fs::read(dir.path().join(MODEL_FILE)).unwrap();
            let o = std::fs::read(dir.path().join(OPTIMIZER_FILE)).unwrap();
            (layout, m, o)
        })
        .collect()
}

/// Splits a safetensors file into its JSON header and the data after it.
fn split(bytes: &[u8]) -> (String, &[u8]) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (String::from_utf8(bytes[8..8 + n].to_vec()).unwrap(), &bytes[8 + n..])
}

fn join(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// How to damage a checkpoint file.
#[derive(Clone, Debug)]
enum Damage {
    Bytes(Vec<ByteEdit>),
    /// Edits of the JSON header (tensor entries and the metadata strings).
    Header(Vec<JsonEdit>),
    /// Edits of the model config, the JSON string in `__metadata__.config`.
    Config(Vec<JsonEdit>),
    /// Edits of the data after the header.
    Data(Vec<ByteEdit>),
    /// A wrong header length prefix.
    HeaderLen(u64),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => byte_mutations().prop_map(Damage::Bytes),
        3 => json_mutations().prop_map(Damage::Header),
        3 => json_mutations().prop_map(Damage::Config),
        1 => byte_mutations().prop_map(Damage::Data),
        1 => prop_oneof![Just(0u64), Just(u64::MAX), Just(1 << 40), 0..2000u64].prop_map(Damage::HeaderLen),
    ]
}

fn apply(base: &[u8], d: &Damage) -> Vec<u8> {
    let (header, data) = split(base);
    match d {
        Damage::Bytes(e) => apply_bytes(base, e),
        Damage::Header(e) => join(&apply_json(&header, e), data),
        Damage::Config(e) => {
            let mut h: Value = serde_json::from_str(&header).unwrap();
            let cfg = h["__metadata__"]["config"].as_str().unwrap().to_string();
            h["__metadata__"]["config"] = Value::String(apply_json(&cfg, e));
            join(&h.to_string(), data)
        }
        Damage::Data(e) => join(&header, &apply_bytes(data, e)),
        Damage::HeaderLen(n) => {
            let mut b = base.to_vec();
            b[..8].copy_from_slice(&n.to_le_bytes());
            b
        }
    }
}

fn one_line(e: &model::Error, path: &Path) -> Result<(), String> {
    let msg = e.to_string();
    if msg.contains('\n') || !msg.contains(&*path.file_name().unwrap().to_string_lossy()) {
        return Err(format!("error is not one line naming the file: {msg:?}"));
    }
    Ok(())
}

#[test]
fn fuzz_checkpoint_model() {
    let valid = valid();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(MODEL_FILE);
    let input = prop_oneof![
        1 => arbitrary_bytes(600).prop_map(|b| (0usize, Damage::Bytes(vec![ByteEdit::Truncate { at: 0 }, ByteEdit::Extend { bytes: b }]))),
        6 => (0..3usize, damage()),
    ];
    fuzz("checkpoint_model", 256, input, |(k, d)| {
        let bytes = apply(&valid[k].1, &d);
        std::fs::write(&path, &bytes).map_err(|e| e.to_string())?;
        match load_model(&path) {
            Ok(m) => {
                m.config.validate()?;
                if m.params.len() != m.layout.len() || m.params.iter().any(|x| !x.is_finite()) {
                    return Err("loaded parameters are not the layout's, or not finite".into());
                }
                Ok(())
            }
            Err(e) => one_line(&e, &path),
        }
    });
}

#[test]
fn fuzz_checkpoint_optimizer() {
    let valid = valid();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(OPTIMIZER_FILE);
    fuzz("checkpoint_optimizer", 256, (0..3usize, damage()), |(k, d)| {
        let (layout, _, base) = &valid[k];
        std::fs::write(&path, apply(base, &d)).map_err(|e| e.to_string())?;
        match load_optimizer(&path, layout) {
            Ok(o) => {
                if o.optimizer.exp_avg().len() != layout.len()
                    || o.optimizer.exp_avg_sq().len() != layout.len()
                {
                    return Err("loaded moments are not the layout's length".into());
                }
                Ok(())
            }
            Err(e) => one_line(&e, &path),
        }
    });
}

/// Both files, one of them damaged: the pair loads consistently or fails.
#[test]
fn fuzz_checkpoint_directory() {
    let valid = valid();
    let tmp = tempfile::tempdir().unwrap();
    fuzz("checkpoint_directory", 128, (0..3usize, any::<bool>(), damage()), |(k, which, d)| {
        let (_, m, o) = &valid[k];
        let (m, o) = if which { (apply(m, &d), o.clone()) } else { (m.clone(), apply(o, &d)) };
        std::fs::write(tmp.path().join(MODEL_FILE), m).map_err(|e| e.to_string())?;
        std::fs::write(tmp.path().join(OPTIMIZER_FILE), o).map_err(|e| e.to_string())?;
        match load_checkpoint(tmp.path()) {
            Ok(c) => {
                if c.optimizer.step_count() != c.model.step
                    || c.optimizer.exp_avg().len() != c.model.params.len()
                {
                    return Err("model and optimiser do not match".into());
                }
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                if msg.contains('\n') || !msg.contains(".safetensors") {
                    return Err(format!("error is not one line naming the file: {msg:?}"));
                }
                Ok(())
            }
        }
    });
}

/// Found by fuzzing (`fuzz_checkpoint_model` hung, then was killed): a
/// config in `__metadata__` declaring a huge model (here vocab 10^12) made
/// loading allocate the parameters it declares before reading any tensor.
/// Now the file's size bounds the config, before anything is allocated.
#[test]
fn a_config_larger_than_the_file_is_refused_before_allocating() {
    let valid = valid();
    let tmp = tempfile::tempdir().unwrap();
    for (field, value, declared) in [
        ("vocab", 1_000_000_000_000u64, "9000000000320 parameters"),
        ("hidden", u64::MAX, "more than 2^64 parameters"),
        ("layers", 1 << 40, "175921860444259 parameters, more than"),
    ] {
        for (name, bytes) in [(MODEL_FILE, &valid[0].1), (OPTIMIZER_FILE, &valid[0].2)] {
            let path = tmp.path().join(name);
            let (header, data) = split(bytes);
            let mut h: Value = serde_json::from_str(&header).unwrap();
            let mut cfg: Value = serde_json::from_str(h["__metadata__"]["config"].as_str().unwrap()).unwrap();
            cfg[field] = value.into();
            h["__metadata__"]["config"] = Value::String(cfg.to_string());
            std::fs::write(&path, join(&h.to_string(), data)).unwrap();
            let err = if name == MODEL_FILE {
                load_model(&path).unwrap_err()
            } else {
                load_optimizer(&path, &valid[0].0).unwrap_err()
            }
            .to_string();
            assert!(err.starts_with(&format!("{}: ", path.display())), "{err}");
            assert!(
                err.contains("corrupt checkpoint: metadata \"config\" declares ") && err.contains(declared),
                "{err}"
            );
            assert!(err.contains(" bytes hold"), "{err}");
        }
    }
    // Valid files still load.
    for (layout, m, _) in &valid {
        let path = tmp.path().join(MODEL_FILE);
        std::fs::write(&path, m).unwrap();
        assert_eq!(load_model(&path).unwrap().params.len(), layout.len());
    }
}
