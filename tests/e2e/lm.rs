use std::path::Path;

use e2e::{run_err, run_ok, s, tinyshakespeare};

/// tinyshakespeare as char shards in `dir/shards`; returns that path.
fn char_shards(dir: &Path) -> std::path::PathBuf {
    let corpus = tinyshakespeare();
    let char_json = dir.join("char.json");
    run_ok("tok", &["train", s(&corpus), "--char", "-o", s(&char_json), "-q"]);
    let shards = dir.join("shards");
    run_ok("tok", &["encode", s(&corpus), "-t", s(&char_json), "-o", s(&shards), "-q"]);
    shards
}

#[test]
fn a_char_model_learns_tinyshakespeare() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let run = tmp.path().join("run");
    let r = s(&run);
    let out = run_ok(
        "lm",
        &[
            "train",
            s(&shards),
            "-o",
            r,
            "--hidden",
            "128",
            "--seq",
            "64",
            "--steps",
            "300",
            "--eval-every",
            "1h",
            "--quiet",
        ],
    );
    assert!(out.contains("finished at step 300"), "{out}");
    let eval: serde_json::Value = serde_json::from_str(&run_ok("lm", &["eval", r, "--json"])).unwrap();
    let loss = eval["val_loss"].as_f64().unwrap();
    assert_eq!(eval["loss"], eval["val_loss"]);
    assert_eq!(eval["split"], "val");
    // On the train split the loss is not called a validation loss.
    let train: serde_json::Value =
        serde_json::from_str(&run_ok("lm", &["eval", r, "--json", "--split", "train"])).unwrap();
    assert_eq!(train["split"], "train");
    assert!(train.get("val_loss").is_none(), "{train}");
    let train_loss = train["loss"].as_f64().unwrap();
    assert!(train_loss.is_finite() && train_loss != loss, "{train}");
    eprintln!("val loss after 300 steps: {loss}");
    // From ln(65) = 4.17 nats; measured 2.12 after these 300 steps (threshold with margin).
    assert!(loss < 2.4, "val loss {loss} nats/token after 300 steps");
    assert_eq!(eval["tokens"], 111_537);
    assert_eq!(eval["chars"], 111_537);
    let ln2 = std::f64::consts::LN_2;
    assert!((eval["bits_per_char"].as_f64().unwrap() - loss / ln2).abs() < 1e-12);
    // The final evaluation in state.json is the same number.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["last_eval"]["val_loss"], eval["val_loss"]);

    // Samples continue the prompt, deterministically for a seed.
    let a = run_ok("lm", &["sample", r, "--prompt", "ROMEO:", "--tokens", "200", "--seed", "3"]);
    let b = run_ok("lm", &["sample", r, "--prompt", "ROMEO:", "--tokens", "200", "--seed", "3"]);
    assert_eq!(a, b);
    // A character per token, and nothing else on a pipe: the prompt and the
    // 200 characters (a newline was added before, the model's or not).
    assert!(a.starts_with("ROMEO:") && a.chars().count() == 6 + 200, "{a:?}");
    run_err("lm", &["sample", r, "--prompt", "ROMEO: ✓"], &["--prompt", "'✓'"]);

    // The table of one run, with the pretrained tokenizers' rows.
    let table = run_ok("lm", &["compare", r, "-o", s(&tmp.path().join("report"))]);
    assert!(table.contains("| run | 65 |"), "{table}");
    assert!(table.contains("| o200k_base |"), "{table}");
    for f in ["report.md", "report.json", "bpc_vs_time.svg", "bpc_vs_chars.svg", "tokens_per_char.svg"] {
        assert!(tmp.path().join("report").join(f).exists(), "{f}");
    }
}

#[test]
fn bad_input_gives_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = char_shards(tmp.path());
    let sh = s(&shards);
    let run = tmp.path().join("run");
    let r = s(&run);
    run_err("lm", &["eval", "/no/such/run"], &["/no/such/run"]);
    run_err("lm", &["sample", "/no/such/run"], &["/no/such/run"]);
    run_err("lm", &["train", "/no/such/shards", "-o", r, "--steps", "1"], &["/no/such/shards"]);
    run_err("lm", &["train", sh, "-o", r], &["--steps", "--time"]);
    run_err(
        "lm",
        &["train", sh, "-o", r, "--tie", "--embed", "64", "--hidden", "32", "--steps", "1"],
        &["--tie", "64", "32"],
    );
    run_err("lm", &["train", sh, "-o", r, "--resume"], &["no run to resume"]);

    let small = ["--hidden", "16", "--seq", "16", "--batch", "2", "--steps", "2", "--quiet"];
    let mut args = vec!["train", sh, "-o", r];
    args.extend(small);
    run_ok("lm", &args);
    run_err("lm", &args, &["a run already exists", "--resume"]);

    // Shards of another vocabulary under a finished run.
    let bpe = tmp.path().join("bpe.json");
    run_ok("tok", &["train", s(&tinyshakespeare()), "--vocab", "300", "-o", s(&bpe), "-q"]);
    let bpe_shards = tmp.path().join("bpe_shards");
    run_ok("tok", &["encode", s(&tinyshakespeare()), "-t", s(&bpe), "-o", s(&bpe_shards), "-q"]);
    run_err("lm", &["train", s(&bpe_shards), "-o", r, "--resume"], &["vocabulary has 300 tokens", "V = 65"]);
    run_err("lm", &["eval", r, "--shards", s(&bpe_shards)], &["tokenizer"]);

    // Runs on different validation text are not compared.
    let other_shards = tmp.path().join("other");
    let char_json = tmp.path().join("char.json");
    run_ok(
        "tok",
        &[
            "encode",
            s(&tinyshakespeare()),
            "-t",
            s(&char_json),
            "-o",
            s(&other_shards),
            "--val-fraction",
            "0.2",
            "-q",
        ],
    );
    let other = tmp.path().join("other_run");
    let mut args = vec!["train", s(&other_shards), "-o", s(&other)];
    args.extend(small);
    run_ok("lm", &args);
    run_err("lm", &["compare", r, s(&other)], &["not evaluated on the same validation text"]);

    // A corrupt checkpoint is named.
    let model = run.join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    run_err("lm", &["eval", r], &["model.safetensors"]);
    run_err("lm", &["sample", r], &["model.safetensors"]);
}

#[test]
fn experiment_runs_every_vocabulary_and_skips_finished_work() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let text = std::fs::read(tinyshakespeare()).unwrap();
    std::fs::write(corpus.join("a.txt"), &text[..120_000]).unwrap();
    std::fs::write(corpus.join("b.txt"), &text[120_000..240_000]).unwrap();
    let out = tmp.path().join("exp");
    // `scripts/demo.sh` appends the user's flags after its own: a repeated
    // flag takes its last value (here --hidden 64, then 16).
    let args = [
        "experiment",
        s(&corpus),
        "--hidden",
        "64",
        "--vocab",
        "char,300",
        "-o",
        s(&out),
        "--steps",
        "6",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--batch",
        "4",
        "--seq",
        "16",
        "--sample-chars",
        "50",
        "--quiet",
    ];
    let table = run_ok("lm", &args);
    assert!(table.contains("| char | 65 |") || table.contains("| char |"), "{table}");
    assert!(table.contains("| bpe300 | 300 |"), "{table}");
    for f in [
        "report.md",
        "report.json",
        "bpc_vs_time.svg",
        "runs/char/sample.txt",
        "runs/bpe300/model.safetensors",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // Both vocabularies were scored on the same text.
    // 10% of each 120,000-byte file, each moved forward to the next line start.
    assert_eq!(report["val"]["bytes"], 23_974);
    let cfg = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(out.join("runs").join(name).join("config.json")).unwrap(),
        )
        .unwrap()
    };
    let (a, b) = (cfg("char"), cfg("bpe300"));
    assert_eq!(a["model"]["hidden"], 16);
    for key in ["bytes", "chars", "text_hash"] {
        assert_eq!(a["data"]["val"][key], b["data"]["val"][key], "{key}");
    }
    assert!(b["data"]["val"]["tokens"].as_u64() < a["data"]["val"]["tokens"].as_u64());
    // A second run finds everything done.
    let again = e2e::run("lm", &args);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success());
    assert!(err.contains("finished, kept") && err.contains("exists, kept"), "{err}");
    // Other sample settings draw the samples again and keep the models (the
    // old samples were kept, with exit 0).
    let sample = out.join("runs/char/sample.txt");
    let model = std::fs::read(out.join("runs/char/model.safetensors")).unwrap();
    assert!(std::fs::read_to_string(&sample).unwrap().starts_with('\n'));
    let mut prompted = args.to_vec();
    prompted.extend(["--prompt", "ROMEO:", "--sample-chars", "20"]);
    let redraw = e2e::run("lm", &prompted);
    assert!(redraw.status.success(), "{}", String::from_utf8_lossy(&redraw.stderr));
    let drawn = std::fs::read_to_string(&sample).unwrap();
    assert!(drawn.starts_with("ROMEO:") && drawn.chars().count() == 6 + 20, "{drawn:?}");
    assert_eq!(std::fs::read(out.join("runs/char/model.safetensors")).unwrap(), model);
    assert!(std::fs::read_to_string(out.join("report.md")).unwrap().contains("ROMEO:"));
    // The default settings again: the first sample comes back.
    run_ok("lm", &args);
    assert!(std::fs::read_to_string(&sample).unwrap().starts_with('\n'));
    // BPE learned from the train split only: the tokenizer is the one
    // `tok train --val-fraction` makes, and not the one of all the text.
    let own = tmp.path().join("own");
    std::fs::create_dir(&own).unwrap();
    for (name, extra) in [("split", &["--val-fraction", "0.1"][..]), ("all", &[][..])] {
        let path = own.join(format!("{name}.json"));
        let mut targs = vec!["train", s(&corpus), "--vocab", "300", "--name", "bpe300", "-o", s(&path), "-q"];
        targs.extend(extra);
        run_ok("tok", &targs);
    }
    let made = std::fs::read(out.join("tokenizers/bpe300.json")).unwrap();
    assert_eq!(made, std::fs::read(own.join("split.json")).unwrap());
    assert_ne!(made, std::fs::read(own.join("all.json")).unwrap());
    // So does `tok count --val-fraction` -> `tok train --counts`.
    let counts = own.join("counts.bin");
    run_ok("tok", &["count", s(&corpus), "--val-fraction", "0.1", "-o", s(&counts), "-q"]);
    let path = own.join("counted.json");
    run_ok(
        "tok",
        &["train", "--counts", s(&counts), "--vocab", "300", "--name", "bpe300", "-o", s(&path), "-q"],
    );
    assert_eq!(made, std::fs::read(&path).unwrap());
    // A directory made when BPE still learned from the validation text too
    // is refused, untouched, with the way out.
    let stamp_path = out.join("experiment.json");
    let stamp = std::fs::read_to_string(&stamp_path).unwrap();
    let mut old: serde_json::Value = serde_json::from_str(&stamp).unwrap();
    old["data"].as_object_mut().unwrap().remove("bpe_text");
    std::fs::write(&stamp_path, old.to_string()).unwrap();
    run_err("lm", &args, &["earlier version", "validation text", "pass --force"]);
    assert_eq!(std::fs::read(out.join("tokenizers/bpe300.json")).unwrap(), made);
    std::fs::write(&stamp_path, &stamp).unwrap();
    // A changed corpus invalidates everything made from it.
    std::fs::write(corpus.join("b.txt"), &text[120_000..250_000]).unwrap();
    let third = e2e::run("lm", &args);
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(third.status.success(), "{err}");
    assert!(err.contains("the corpus changed") && !err.contains("kept"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["val"]["bytes"], 24_985);
    // A file edited in place keeps its size: the contents, not the listing,
    // decide (this kept every step and reported the old text's scores).
    let hash_before = cfg("char")["data"]["val"]["text_hash"].clone();
    std::fs::write(corpus.join("b.txt"), &text[130_000..260_000]).unwrap();
    let fourth = e2e::run("lm", &args);
    let err = String::from_utf8_lossy(&fourth.stderr);
    assert!(fourth.status.success(), "{err}");
    assert!(err.contains("the corpus changed") && !err.contains("kept"), "{err}");
    assert_ne!(cfg("char")["data"]["val"]["text_hash"], hash_before);
    // Other data settings are refused before anything is touched (a changed
    // --val-fraction re-encoded the shards, then refused the runs, leaving
    // them scored on other text); `lm eval` of a run still works after.
    let manifest = || std::fs::read_to_string(out.join("shards/char/manifest.json")).unwrap();
    let before = manifest();
    for (flag, value, message) in
        [("--val-fraction", "0.2", "--val-fraction 0.2: "), ("--pattern", "gpt2", "--pattern gpt2: ")]
    {
        let mut changed: Vec<&str> = args.to_vec();
        changed.extend([flag, value]);
        run_err("lm", &changed, &[message, "pass --force"]);
        assert_eq!(manifest(), before, "{flag} touched the shards");
    }
    run_ok("lm", &["eval", s(&out.join("runs/char"))]);
    // Shards re-encoded from other text under a run: its eval refuses them,
    // unless they are named deliberately with --shards.
    let other = tmp.path().join("other.txt");
    std::fs::write(&other, &text[..100_000]).unwrap();
    let shards = out.join("shards/char");
    let tok_json = out.join("tokenizers/char.json");
    run_ok("tok", &["encode", s(&other), "-t", s(&tok_json), "-o", s(&shards), "-q"]);
    run_err("lm", &["eval", s(&out.join("runs/char"))], &["no longer hold the text the run was trained"]);
    run_ok("lm", &["eval", s(&out.join("runs/char")), "--shards", s(&shards)]);
}

/// Two files of tinyshakespeare (120,000 bytes each) in `dir/corpus`.
fn small_corpus(dir: &Path) -> std::path::PathBuf {
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let text = std::fs::read(tinyshakespeare()).unwrap();
    std::fs::write(corpus.join("a.txt"), &text[..120_000]).unwrap();
    std::fs::write(corpus.join("b.txt"), &text[120_000..240_000]).unwrap();
    corpus
}

#[test]
fn experiment_widths_are_checked_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = small_corpus(tmp.path());
    let out = tmp.path().join("exp");
    for (widths, needle) in [
        ("0", "\"0\" is not a hidden size"),
        ("-1", "\"-1\" is not a hidden size"),
        ("128,-64", "\"-64\" is not a hidden size"),
        ("NaN", "\"NaN\" is not a hidden size"),
        ("1.5", "\"1.5\" is not a hidden size"),
        ("", "--widths: "),
        ("128,,256", "an empty width"),
        ("128,128", "128 is given twice"),
    ] {
        let args =
            ["experiment", s(&corpus), "--vocab", "char", "-o", s(&out), "--steps", "2", "--widths", widths];
        let line = run_err("lm", &args, &["--widths", needle]);
        assert!(!line.contains("panicked"), "{line}");
        assert!(!out.exists(), "--widths {widths:?} wrote {}", out.display());
    }
    // The same vocabulary twice, under two spellings.
    let args = ["experiment", s(&corpus), "--vocab", "char,512,bpe512", "-o", s(&out), "--steps", "2"];
    run_err("lm", &args, &["--vocab: bpe512 is given twice"]);
    assert!(!out.exists());
    // `--widths=` (an empty list) too.
    let args = ["experiment", s(&corpus), "--vocab", "char", "-o", s(&out), "--steps", "2", "--widths="];
    run_err("lm", &args, &["--widths"]);
    assert!(!out.exists());
}

#[test]
fn experiment_widths_train_a_grid_and_fit_model_size() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = small_corpus(tmp.path());
    let out = tmp.path().join("exp");
    // Per step of 64 tokens, H = 8 costs 4.0e5 FLOPs and H = 16 1.2e6, so
    // every budget fits both; H = 64 (1.4e7 per step) gets fewer than 10
    // steps from each and is skipped.
    let args = [
        "experiment",
        s(&corpus),
        "--vocab",
        "char",
        "-o",
        s(&out),
        "--flops",
        "2e7,4e7,8e7",
        "--widths",
        "16,8,64",
        "--hidden",
        "512",
        "--layers",
        "1",
        "--batch",
        "4",
        "--seq",
        "16",
        "--sample-chars",
        "20",
        "--reference",
        "none",
        "--quiet",
    ];
    let first = e2e::run("lm", &args);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(err.contains("widths 8, 16, 64"), "{err}");
    for c in ["2e7", "4e7", "8e7"] {
        assert!(err.contains(&format!("h64: budget {c} skipped at width 64")), "{c}: {err}");
        for w in [8, 16] {
            let branch = out.join("runs/char").join(format!("h{w}")).join("branches").join(c);
            assert!(branch.join("model.safetensors").exists(), "{}", branch.display());
        }
        assert!(!out.join("runs/char/h64/branches").join(c).exists());
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["run"], "char/h8@2e7");
    assert_eq!(rows[0]["hidden"], 8);
    // One LSTM layer with E = H = 8: 8 * 8^2 + 8 * 8 recurrent parameters.
    assert_eq!(rows[0]["non_embedding_params"], 576);
    // The existing contract, and the grid's additions.
    for key in ["fits", "frontier", "intrinsic", "envelope", "scaling_fits"] {
        assert!(report.get(key).is_some(), "{key}");
    }
    assert_eq!(report["envelope"].as_array().unwrap().len(), 3);
    let fit = &report["scaling_fits"][0];
    assert_eq!(fit["vocab"], "char");
    assert_eq!(fit["points"], 6);
    for key in ["E", "A", "alpha", "B", "beta", "E_interval", "beta_interval"] {
        assert!(fit.get(key).is_some(), "{key} in {fit}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("compute-optimal envelope") && md.contains("E + A / N^alpha + B / D^beta"), "{md}");

    // A second run trains nothing.
    let again = e2e::run("lm", &args);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert_eq!(err.matches("finished, kept").count(), 2 + 6, "{err}");
    assert!(!err.contains("lstm 1x"), "a run started again: {err}");

    // Any budget makes a grid: one run per width, in runs/NAME/hW.
    let steps_out = tmp.path().join("steps");
    let args = [
        "experiment",
        s(&corpus),
        "--vocab",
        "char",
        "-o",
        s(&steps_out),
        "--steps",
        "4",
        "--widths",
        "8,16",
        "--layers",
        "1",
        "--batch",
        "4",
        "--seq",
        "16",
        "--sample-chars",
        "20",
        "--reference",
        "none",
        "--quiet",
    ];
    let table = run_ok("lm", &args);
    assert!(table.contains("| char/h8 | 62 | 8 |") && table.contains("| char/h16 | 62 | 16 |"), "{table}");
    for w in ["h8", "h16"] {
        assert!(steps_out.join("runs/char").join(w).join("model.safetensors").exists(), "{w}");
    }
}
