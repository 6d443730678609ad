//! Checkpoints: bit-exact round trips with PyTorch's names, resuming that
//! continues bit for bit, and every kind of bad file as a typed error naming
//! the file.
//!
//! `python_cross_check` also runs `scripts/check_checkpoint.py` on
//! checkpoints written here when `python3` (or `$TOKLAB_PYTHON`) has
//! `safetensors` and `numpy` (and, optionally, `torch`); with
//! `TOKLAB_REQUIRE_PYTHON=1` (CI) a missing package is a failure.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use model::Error;
use model::checkpoint::{
    self, FORWARD_CHECK_FILE, MODEL_FILE, OPTIMIZER_FILE, load_checkpoint, load_model, load_optimizer,
    save_checkpoint, save_model, save_optimizer, write_forward_probe,
};
use model::config::{Cell, ModelConfig};
use model::optim::{AdamW, AdamWConfig, clip_grad_norm};
use model::params::ParamLayout;
use model::reference::Reference;
use model::rng::Rng;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

fn config(cell: Cell, tie: bool) -> ModelConfig {
    ModelConfig { cell, vocab: 65, embed: 16, hidden: 16, layers: 2, tie }
}

fn batch(v: usize, b: usize, t: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng::new(seed);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for _ in 0..b {
        let row: Vec<u32> = (0..=t).map(|_| rng.below(v as u64) as u32).collect();
        x.extend_from_slice(&row[..t]);
        y.extend_from_slice(&row[1..]);
    }
    (x, y)
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// `steps` training steps (clip 1.0, AdamW 2e-3 with a little weight decay) on batches from `seed`.
fn train(layout: &ParamLayout, params: &mut [f32], opt: &mut AdamW, from: u64, steps: u64) -> Vec<f32> {
    let mut model = Reference::<f32>::new(layout, 2, 8).unwrap();
    let mut grads = layout.zeros();
    let mut losses = Vec::new();
    for step in from..from + steps {
        let (x, y) = batch(layout.config().vocab, 2, 8, step);
        losses.push(model.forward_backward(params, &mut grads, &x, &y).unwrap());
        clip_grad_norm(layout, &mut grads, 1.0);
        opt.step(params, &grads, 2e-3).unwrap();
    }
    losses
}

fn adamw() -> AdamWConfig {
    AdamWConfig { weight_decay: 0.1, ..AdamWConfig::default() }
}

/// The same weights give the same file, byte for byte (the metadata map is
/// written in sorted order, not a hash map's), and the header stays a valid
/// safetensors header: 8-byte aligned, readable by the safetensors crate.
#[test]
fn the_same_weights_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let layout = ParamLayout::new(&config(Cell::Lstm, false));
    let params = layout.init(3);
    let files: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let path = dir.path().join(format!("m{i}.safetensors"));
            save_model(&path, &layout, &params, 5).unwrap();
            std::fs::read(&path).unwrap()
        })
        .collect();
    assert!(files.iter().all(|f| *f == files[0]), "the files differ");
    let n = u64::from_le_bytes(files[0][..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "header length {n}");
    let header = std::str::from_utf8(&files[0][8..8 + n]).unwrap();
    let meta = header.find("\"__metadata__\"").unwrap();
    let keys = ["config", "format", "num_params", "step", "toklab.kind", "toklab.version"];
    let at: Vec<usize> = keys.iter().map(|k| header[meta..].find(&format!("\"{k}\"")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "metadata keys not sorted: {header}");
    SafeTensors::deserialize(&files[0]).unwrap();
}

#[test]
fn model_round_trip_is_bit_exact_and_gives_the_same_loss() {
    for (cell, tie) in [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false), (Cell::Rnn, true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MODEL_FILE);
        let layout = ParamLayout::new(&config(cell, tie));
        let params = layout.init(11);
        save_model(&path, &layout, &params, 7).unwrap();
        let loaded = load_model(&path).unwrap();
        assert_eq!(loaded.config, *layout.config());
        assert_eq!(loaded.layout, layout);
        assert_eq!(loaded.step, 7);
        assert_eq!(bits(&loaded.params), bits(&params), "{cell:?} tie={tie}");
        let (x, y) = batch(65, 2, 8, 0);
        let mut m = Reference::<f32>::new(&layout, 2, 8).unwrap();
        let a = m.forward_loss(&params, &x, &y).unwrap();
        let b = m.forward_loss(&loaded.params, &x, &y).unwrap();
        assert_eq!(a.to_bits(), b.to_bits());
        // Only the final file is left behind: no temporary files.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(MODEL_FILE)]);
    }
}

#[test]
fn names_shapes_and_dtypes_are_exactly_pytorchs() {
    let dir = tempfile::tempdir().unwrap();
    let expect = |cell: Cell, tie: bool, names: &[(&str, &[usize])]| {
        let path = dir.path().join(format!("{cell:?}-{tie}.safetensors"));
        let layout = ParamLayout::new(&config(cell, tie));
        save_model(&path, &layout, &layout.init(1), 0).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut found: Vec<(String, Vec<usize>)> =
            st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec())).collect();
        found.sort();
        let mut want: Vec<(String, Vec<usize>)> =
            names.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
        want.sort();
        assert_eq!(found, want, "{cell:?} tie={tie}");
        assert!(st.tensors().iter().all(|(_, v)| v.dtype() == Dtype::F32));
        let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().unwrap();
        let cfg: ModelConfig = serde_json::from_str(&meta["config"]).unwrap();
        assert_eq!(cfg, config(cell, tie));
        assert_eq!(meta["format"], "pt");
    };
    let rec = |m: &'static str| {
        let mut v: Vec<(String, Vec<usize>)> = Vec::new();
        for k in 0..2 {
            v.push((format!("{m}.weight_ih_l{k}"), vec![if m == "lstm" { 64 } else { 16 }, 16]));
            v.push((format!("{m}.weight_hh_l{k}"), vec![if m == "lstm" { 64 } else { 16 }, 16]));
            v.push((format!("{m}.bias_ih_l{k}"), vec![if m == "lstm" { 64 } else { 16 }]));
            v.push((format!("{m}.bias_hh_l{k}"), vec![if m == "lstm" { 64 } else { 16 }]));
        }
        v
    };
    for (cell, m) in [(Cell::Lstm, "lstm"), (Cell::Rnn, "rnn")] {
        let r = rec(m);
        let mut untied: Vec<(&str, &[usize])> = vec![("embedding.weight", &[65, 16]), ("head.bias", &[65])];
        untied.extend(r.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
        let tied = untied.clone();
        untied.push(("head.weight", &[65, 16]));
        expect(cell, false, &untied);
        expect(cell, true, &tied);
    }
    // The layout's names are the PyTorch fixture's names, tensor for tensor.
    let fixture =
        std::fs::read(format!("{}/tests/fixtures/lstm/params.safetensors", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let st = SafeTensors::deserialize(&fixture).unwrap();
    let mut torch: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !["inputs", "targets", "tokens"].contains(n))
        .map(String::from)
        .collect();
    torch.sort();
    let mut ours: Vec<String> =
        ParamLayout::new(&config(Cell::Lstm, false)).specs().iter().map(|s| s.name.clone()).collect();
    ours.sort();
    assert_eq!(ours, torch);
}

#[test]
fn optimizer_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let layout = ParamLayout::new(&config(Cell::Lstm, false));
    let mut params = layout.init(3);
    let mut opt = AdamW::new(&layout, adamw()).unwrap();
    train(&layout, &mut params, &mut opt, 0, 2);
    let extra =
        BTreeMap::from([("seed".to_string(), "0".to_string()), ("tokens".to_string(), "32".to_string())]);
    save_checkpoint(dir.path(), &layout, &params, &opt, &extra).unwrap();
    let ck = load_checkpoint(dir.path()).unwrap();
    assert_eq!(bits(&ck.model.params), bits(&params));
    assert_eq!(ck.model.step, 2);
    assert_eq!(ck.optimizer.step_count(), 2);
    assert_eq!(ck.optimizer.config(), opt.config());
    assert_eq!(bits(ck.optimizer.exp_avg()), bits(opt.exp_avg()));
    assert_eq!(bits(ck.optimizer.exp_avg_sq()), bits(opt.exp_avg_sq()));
    assert_eq!(ck.extra, extra);
    // PyTorch-style names for the moments.
    let bytes = std::fs::read(dir.path().join(OPTIMIZER_FILE)).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("exp_avg.lstm.weight_hh_l1").unwrap().shape(), &[64, 16]);
    assert_eq!(st.tensor("exp_avg_sq.head.bias").unwrap().shape(), &[65]);
    assert_eq!(st.len(), 2 * layout.specs().len());
}

#[test]
fn resuming_continues_bit_for_bit() {
    let layout = ParamLayout::new(&config(Cell::Lstm, true));
    let start = layout.init(9);

    let mut p_straight = start.clone();
    let mut opt = AdamW::new(&layout, adamw()).unwrap();
    let losses_straight = train(&layout, &mut p_straight, &mut opt, 0, 5);

    let dir = tempfile::tempdir().unwrap();
    let mut p = start.clone();
    let mut opt = AdamW::new(&layout, adamw()).unwrap();
    let mut losses = train(&layout, &mut p, &mut opt, 0, 2);
    save_checkpoint(dir.path(), &layout, &p, &opt, &BTreeMap::new()).unwrap();
    drop((p, opt));
    let ck = load_checkpoint(dir.path()).unwrap();
    let (mut p, mut opt) = (ck.model.params, ck.optimizer);
    let resume_at = opt.step_count();
    losses.extend(train(&layout, &mut p, &mut opt, resume_at, 3));

    assert_eq!(bits(&losses), bits(&losses_straight));
    assert_eq!(bits(&p), bits(&p_straight));
}

// ----------------------------------------------------------------------------
// Bad files

/// A file's tensors (name, dtype, shape, bytes) and its `__metadata__`.
type Tensors = Vec<(String, Dtype, Vec<usize>, Vec<u8>)>;
type Meta = HashMap<String, String>;

fn saved(dir: &Path, cell: Cell) -> (ParamLayout, PathBuf) {
    let layout = ParamLayout::new(&config(cell, false));
    let path = dir.join(MODEL_FILE);
    save_model(&path, &layout, &layout.init(2), 0).unwrap();
    (layout, path)
}

/// Rewrites the model file at `path` through `edit`, which may change tensors and metadata.
fn rewrite(path: &Path, edit: impl FnOnce(&mut Tensors, &mut Meta)) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Tensors = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    edit(&mut tensors, &mut meta);
    let views: Vec<(String, TensorView)> =
        tensors.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    std::fs::write(path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

fn assert_names_file(err: &Error, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "error does not name the file: {msg}");
}

#[test]
fn truncated_empty_and_garbage_files_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = saved(dir.path(), Cell::Lstm);
    let good = std::fs::read(&path).unwrap();
    for (what, bytes) in [
        ("truncated data", good[..good.len() - 10].to_vec()),
        ("truncated header", good[..100].to_vec()),
        ("shorter than the length field", good[..4].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"definitely not a safetensors file, just some text".to_vec()),
        ("one extra byte", [good.clone(), vec![0]].concat()),
    ] {
        std::fs::write(&path, &bytes).unwrap();
        let err = load_model(&path).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err:?}");
        assert_names_file(&err, &path);
    }
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join(MODEL_FILE);
    let err = load_model(&path).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_names_file(&err, &path);
    let err = load_checkpoint(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn pytorchs_own_file_without_our_metadata_is_rejected_clearly() {
    let path =
        PathBuf::from(format!("{}/tests/fixtures/lstm/params.safetensors", env!("CARGO_MANIFEST_DIR")));
    let err = load_model(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("__metadata__"), "{err}");
}

#[test]
fn tensor_level_problems_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let check = |edit: &dyn Fn(&mut Tensors, &mut Meta), matches: &dyn Fn(&Error) -> bool| {
        let (_, path) = saved(dir.path(), Cell::Lstm);
        rewrite(&path, |t, m| edit(t, m));
        let err = load_model(&path).unwrap_err();
        assert!(matches(&err), "{err:?}");
        assert_names_file(&err, &path);
    };
    // A missing tensor.
    check(
        &|t, _| t.retain(|(n, ..)| n != "lstm.bias_hh_l1"),
        &|e| matches!(e, Error::MissingTensor { name, .. } if name == "lstm.bias_hh_l1"),
    );
    // An extra one.
    check(
        &|t, _| t.push(("lstm.weight_ih_l2".into(), Dtype::F32, vec![1], vec![0; 4])),
        &|e| matches!(e, Error::UnexpectedTensor { name, .. } if name == "lstm.weight_ih_l2"),
    );
    // A transposed weight.
    check(
        &|t, _| t.iter_mut().filter(|(n, ..)| n == "lstm.weight_ih_l0").for_each(|x| x.2 = vec![16, 64]),
        &|e| {
            matches!(e, Error::Shape { name, expected, found, .. }
            if name == "lstm.weight_ih_l0" && expected == &[64, 16] && found == &[16, 64])
        },
    );
    // A float64 tensor.
    check(
        &|t, _| {
            let x = t.iter_mut().find(|(n, ..)| n == "head.bias").unwrap();
            x.1 = Dtype::F64;
            x.2 = vec![65];
            x.3 = vec![0; 65 * 8];
        },
        &|e| matches!(e, Error::Dtype { name, found, .. } if name == "head.bias" && found == "F64"),
    );
    // A NaN.
    check(
        &|t, _| {
            let x = t.iter_mut().find(|(n, ..)| n == "embedding.weight").unwrap();
            x.3[40..44].copy_from_slice(&f32::NAN.to_le_bytes());
        },
        &|e| matches!(e, Error::NonFinite { name, index: 10, .. } if name == "embedding.weight"),
    );
    // A config that does not match the tensors (vocab 64 instead of 65).
    check(
        &|_, m| {
            m.insert(
                "config".into(),
                serde_json::to_string(&ModelConfig { vocab: 64, ..config(Cell::Lstm, false) }).unwrap(),
            );
        },
        &|e| matches!(e, Error::Shape { name, .. } if name == "embedding.weight"),
    );
    // A config that cannot be built.
    check(
        &|_, m| {
            m.insert(
                "config".into(),
                serde_json::to_string(&ModelConfig { embed: 8, ..config(Cell::Lstm, true) }).unwrap(),
            );
        },
        &|e| matches!(e, Error::Corrupt { reason, .. } if reason.contains("--tie")),
    );
    // Metadata that does not parse, or is missing.
    check(
        &|_, m| {
            m.insert("config".into(), "{\"cell\": \"gru\"}".into());
        },
        &|e| matches!(e, Error::Corrupt { .. }),
    );
    check(
        &|_, m| {
            m.remove("step");
        },
        &|e| matches!(e, Error::Corrupt { reason, .. } if reason.contains("step")),
    );
}

#[test]
fn mismatched_files_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let layout = ParamLayout::new(&config(Cell::Lstm, false));
    let params = layout.init(1);
    let mut opt = AdamW::new(&layout, AdamWConfig::default()).unwrap();
    let mut p = params.clone();
    train(&layout, &mut p, &mut opt, 0, 1);
    save_checkpoint(dir.path(), &layout, &p, &opt, &BTreeMap::new()).unwrap();

    // The model file was overwritten at another step (a crash between the two renames).
    save_model(&dir.path().join(MODEL_FILE), &layout, &p, 5).unwrap();
    let err = load_checkpoint(dir.path()).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what.starts_with("step")), "{err:?}");

    // An optimiser file of another model.
    let rnn = ParamLayout::new(&config(Cell::Rnn, false));
    let err = load_optimizer(&dir.path().join(OPTIMIZER_FILE), &rnn).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "model configuration"), "{err:?}");

    // The optimiser file where the model file belongs, and the other way round.
    let err = load_model(&dir.path().join(OPTIMIZER_FILE)).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "file kind"), "{err:?}");
    let err = load_optimizer(&dir.path().join(MODEL_FILE), &layout).unwrap_err();
    assert!(matches!(&err, Error::Mismatch { what, .. } if what == "file kind"), "{err:?}");

    // A buffer of the wrong length cannot be saved.
    let err = save_model(&dir.path().join("x.safetensors"), &layout, &params[1..], 0).unwrap_err();
    assert!(matches!(err, Error::Length { .. }), "{err:?}");
    let err = save_optimizer(&dir.path().join("y.safetensors"), &rnn, &opt, &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, Error::Length { .. }), "{err:?}");
}

// ----------------------------------------------------------------------------
// The Python cross-check

/// Writes a trained checkpoint and its forward probe into `dir`.
fn write_probe_checkpoint(dir: &Path, cell: Cell, tie: bool) {
    let layout = ParamLayout::new(&config(cell, tie));
    let mut params = layout.init(4);
    let mut opt = AdamW::new(&layout, adamw()).unwrap();
    train(&layout, &mut params, &mut opt, 0, 3);
    save_checkpoint(dir, &layout, &params, &opt, &BTreeMap::new()).unwrap();
    let (x, y) = batch(65, 2, 8, 100);
    let probe = write_forward_probe(&dir.join(FORWARD_CHECK_FILE), &layout, &params, &x, &y, 2, 8).unwrap();
    assert_eq!(probe.logits.len(), 2 * 8 * 65);
    let back: checkpoint::ForwardProbe =
        serde_json::from_slice(&std::fs::read(dir.join(FORWARD_CHECK_FILE)).unwrap()).unwrap();
    assert_eq!(back, probe, "the probe's floats survive JSON exactly");
}

#[test]
fn python_cross_check() {
    let dirs: Vec<_> = [(Cell::Lstm, false), (Cell::Lstm, true), (Cell::Rnn, false)]
        .into_iter()
        .map(|(cell, tie)| {
            let dir = tempfile::tempdir().unwrap();
            write_probe_checkpoint(dir.path(), cell, tie);
            dir
        })
        .collect();
    // The Python half needs safetensors and numpy: skipped with a notice when
    // they are missing, unless TOKLAB_REQUIRE_PYTHON=1 (CI sets it).
    let python = std::env::var("TOKLAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var("TOKLAB_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    let importable = std::process::Command::new(&python)
        .args(["-c", "import safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        assert!(!required, "TOKLAB_REQUIRE_PYTHON=1 but {python} cannot import safetensors and numpy");
        eprintln!("SKIPPED python_cross_check: {python} with safetensors and numpy not found");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_checkpoint.py");
    for dir in &dirs {
        let out = std::process::Command::new(&python).arg(&script).arg(dir.path()).output().unwrap();
        println!("{}", String::from_utf8_lossy(&out.stdout));
        assert!(
            out.status.success(),
            "check_checkpoint.py failed on {}:\n{}\n{}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The script can fail: a logit off by 1e-3 in the probe must be caught.
    let probe_path = dirs[0].path().join(FORWARD_CHECK_FILE);
    let mut probe: checkpoint::ForwardProbe =
        serde_json::from_slice(&std::fs::read(&probe_path).unwrap()).unwrap();
    probe.logits[17] += 1e-3;
    std::fs::write(&probe_path, serde_json::to_vec(&probe).unwrap()).unwrap();
    let out = std::process::Command::new(&python).arg(&script).arg(dirs[0].path()).output().unwrap();
    assert!(!out.status.success(), "a wrong logit went unnoticed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("logits differ"));
}

#[test]
fn saving_into_a_missing_directory_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let layout = ParamLayout::new(&config(Cell::Rnn, true));
    let path = dir.path().join("missing").join(MODEL_FILE);
    let err = save_model(&path, &layout, &layout.init(0), 0).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_names_file(&err, &path);
}
