//! Learning a tokenizer from a corpus on disk: the corpus-level driver of
//! `tokenizer::train`, as [`crate::encode_corpus`] is of the encoder.
//!
//! Documents are read in batches of [`BATCH_BYTES`], so memory holds one
//! batch of text plus the counts, whatever the corpus size. The result
//! depends only on the documents' bytes and their order.
//!
//! The counts themselves grow with the number of distinct pieces. With a
//! [`CountLimit`], [`count_words`] keeps them under a memory limit: when the
//! table of distinct pieces would pass it, the table is written to disk as a
//! sorted run (a word-count file, `tokenizer::train::counts_file`) and
//! counting starts afresh; at the end the runs are merged by streaming, the
//! rare pieces dropped if asked, and the result loaded for learning. Without
//! dropping, the counts, and so every vocabulary learned from them, are
//! exactly those of an unlimited run.

use std::path::{Path, PathBuf};

use tokenizer::Tokenizer;
use tokenizer::train::{
    BpeConfig, CharCounter, CountsReader, Observer, SORT_BYTES_PER_PIECE, WordCounter, merge_counts,
};

use crate::corpus::{self, Document};
use crate::{Error, Result};

/// Corpus documents are read and counted in batches of about this many bytes.
pub const BATCH_BYTES: u64 = 64 << 20;

/// What to learn.
#[derive(Clone, Debug)]
pub enum VocabSpec {
    /// One token per distinct character (code-point order), plus the 256 byte
    /// tokens with `byte_fallback` (invalid UTF-8 is then skipped, not refused).
    Char { byte_fallback: bool, specials: Vec<String> },
    /// Byte-level BPE.
    Bpe(BpeConfig),
}

/// Learns BPE vocabularies of every size in `sizes` from one training on
/// `docs` (`config.vocab_size` is ignored): the first k merges of a run are
/// the k-merge vocabulary, so each is identical to a separate run
/// (`tokenizer::train::train_bpe_ladder`). Errors as [`train_tokenizer`].
pub fn train_bpe_ladder(
    docs: &[Document],
    config: &BpeConfig,
    sizes: &[usize],
    observer: &mut dyn Observer,
) -> Result<Vec<Tokenizer>> {
    let largest =
        sizes.iter().copied().max().ok_or_else(|| Error::Config("no vocabulary size given".into()))?;
    let config = BpeConfig { vocab_size: largest, ..config.clone() };
    let (words, _) = count_words(docs, config.pattern, None, observer)?;
    tokenizer::train::train_bpe_ladder(&config, sizes, words, observer).map_err(|e| trainer_error(docs, e))
}

/// [`train_bpe_ladder`] with the counting kept under `limit` (see
/// [`count_words`]); with `limit.min_count` at 0 or 1 the vocabularies are
/// byte-identical to [`train_bpe_ladder`]'s. Also returns how counting went.
pub fn train_bpe_ladder_limited(
    docs: &[Document],
    config: &BpeConfig,
    sizes: &[usize],
    limit: &CountLimit,
    observer: &mut dyn Observer,
) -> Result<(Vec<Tokenizer>, CountStats)> {
    let largest =
        sizes.iter().copied().max().ok_or_else(|| Error::Config("no vocabulary size given".into()))?;
    let config = BpeConfig { vocab_size: largest, ..config.clone() };
    let (words, stats) = count_words(docs, config.pattern, Some(limit), observer)?;
    let toks = tokenizer::train::train_bpe_ladder(&config, sizes, words, observer)
        .map_err(|e| trainer_error(docs, e))?;
    Ok((toks, stats))
}

/// Bounded-memory counting: what [`count_words`] may hold.
#[derive(Clone, Debug)]
pub struct CountLimit {
    /// Bytes the distinct-piece table may take, with what counting needs
    /// beside it (the batch of text being counted, the workers' private
    /// tables, the sort before a spill), and, at the end, the trainer's
    /// copy of the words (see [`count_words`]).
    pub max_memory: u64,
    /// Pieces counted fewer times than this in the whole corpus are dropped
    /// before learning, whether or not anything was spilled (so the result
    /// does not depend on the limit). 0 and 1 drop nothing: the counts stay
    /// exact. Dropping changes the vocabulary: pairs inside the dropped
    /// pieces lose those occurrences.
    pub min_count: u64,
    /// Where the sorted runs go: a fresh hidden directory
    /// (`.tok-spill-XXXXXX`) is made in it and removed when counting ends,
    /// also on an error or a cancellation. `None`: the system's temporary
    /// directory (which may be in memory, as tmpfs: prefer a disk).
    pub spill_dir: Option<PathBuf>,
    /// Text is read and counted in batches of about this many bytes, and
    /// the limit checked between batches ([`CountLimit::new`] picks
    /// min(64 MiB, max_memory / 16), at least 1 MiB).
    pub batch_bytes: u64,
}

impl CountLimit {
    /// A limit of `max_memory` bytes, keeping every piece, spilling under
    /// `spill_dir`.
    pub fn new(max_memory: u64, spill_dir: Option<PathBuf>) -> CountLimit {
        CountLimit {
            max_memory,
            min_count: 0,
            spill_dir,
            batch_bytes: (max_memory / 16).clamp(1 << 20, BATCH_BYTES),
        }
    }
}

/// How counting went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountStats {
    /// Sorted runs written to disk (0: everything fit).
    pub spills: usize,
    /// Distinct pieces in the corpus, before dropping rare ones.
    pub distinct: u64,
    /// Distinct pieces kept for learning.
    pub kept: u64,
    /// Bytes of the largest run written.
    pub largest_run: u64,
    /// The estimate of the memory the kept table and the trainer's copy of it
    /// take (the figure checked against the limit at the end).
    pub final_bytes: u64,
}

/// Memory the rayon workers' private tables may take while counting one
/// round of text (an allowance, not a bound: 16 MiB of text per round
/// rarely holds more than a few hundred thousand distinct pieces).
const WORKER_TABLES: u64 = 32 << 20;
/// Runs merged at once; more are first merged in groups into longer runs.
const MERGE_FAN_IN: usize = 64;

/// Counts the pre-tokenized pieces of `docs`, cut with `pattern`, reading
/// them in batches.
///
/// Without a limit the table grows with the number of distinct pieces.
/// With one ([`CountLimit`]), before each batch the table's memory is
/// projected from [`WordCounter::memory_bytes_growing`] (buckets of its
/// hash tables, empty ones included, and the doubled table a growing one
/// allocates beside the old) for as many new pieces as the last batch
/// brought, plus the sort of a spill ([`SORT_BYTES_PER_PIECE`] each), the
/// batch's text and the workers' tables; when that passes the limit, the
/// table is spilled to a sorted run and emptied. At the end the runs are
/// merged twice by streaming (once to size the table, once to fill it),
/// dropping pieces counted fewer than `min_count` times.
///
/// Errors: those of reading the corpus; [`Error::OverMemory`] when the kept
/// table and the trainer's copy of it
/// ([`WordCounter::exact_memory_bytes`] + [`WordCounter::learn_memory_bytes`])
/// need more than the limit, with the figure; [`Error::Io`] for the spill
/// directory; [`Error::Cancelled`].
pub fn count_words(
    docs: &[Document],
    pattern: tokenizer::Pattern,
    limit: Option<&CountLimit>,
    observer: &mut dyn Observer,
) -> Result<(WordCounter, CountStats)> {
    let mut words = WordCounter::new(pattern);
    let Some(limit) = limit else {
        corpus::for_each_batch(docs, BATCH_BYTES, |_, texts| {
            poll(observer)?;
            words.feed_many_observed(texts, observer).map_err(|e| trainer_error(docs, e))
        })?;
        let distinct = words.distinct() as u64;
        return Ok((words, CountStats { distinct, kept: distinct, ..CountStats::default() }));
    };
    let spill_parent = limit.spill_dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut spill: Option<(tempfile::TempDir, Vec<PathBuf>)> = None;
    let mut stats = CountStats::default();
    let mut growth = 0usize;
    let mut total_fed = 0u64;
    let mut spill_now =
        |words: &mut WordCounter, stats: &mut CountStats, observer: &mut dyn Observer| -> Result<()> {
            if words.distinct() == 0 {
                return Ok(());
            }
            if spill.is_none() {
                let dir = tempfile::Builder::new()
                    .prefix(".tok-spill-")
                    .tempdir_in(&spill_parent)
                    .map_err(|e| Error::io(&spill_parent, e))?;
                spill = Some((dir, Vec::new()));
            }
            if let Some((dir, runs)) = &mut spill {
                let path = dir.path().join(format!("run-{:06}.bin", runs.len()));
                words.write_counts(&path, observer).map_err(|e| trainer_error(docs, e))?;
                stats.largest_run = stats.largest_run.max(std::fs::metadata(&path).map_or(0, |m| m.len()));
                runs.push(path);
                stats.spills += 1;
            }
            total_fed += words.bytes_fed();
            *words = WordCounter::new(pattern);
            Ok(())
        };
    let fixed = |batch: u64| batch + WORKER_TABLES;
    corpus::for_each_batch(docs, limit.batch_bytes, |_, texts| {
        poll(observer)?;
        let batch: u64 = texts.iter().map(|t| t.len() as u64).sum();
        let projected = words.memory_bytes_growing(growth)
            + SORT_BYTES_PER_PIECE * (words.distinct() + growth) as u64
            + fixed(batch);
        if projected > limit.max_memory {
            spill_now(&mut words, &mut stats, observer)?;
        }
        let before = words.distinct();
        words.feed_many_observed(texts, observer).map_err(|e| trainer_error(docs, e))?;
        growth = words.distinct() - before;
        // Past the limit already (a batch brought far more new pieces than
        // the one before): spill now rather than carry it.
        if words.memory_bytes() + SORT_BYTES_PER_PIECE * words.distinct() as u64 > limit.max_memory {
            spill_now(&mut words, &mut stats, observer)?;
        }
        Ok::<_, Error>(())
    })?;
    if stats.spills == 0 {
        stats.distinct = words.distinct() as u64;
        words.retain_min_count(limit.min_count);
        stats.kept = words.distinct() as u64;
        let (pieces, piece_bytes) = (words.distinct(), words.iter().map(|(p, _)| p.len()).sum());
        stats.final_bytes = words.memory_bytes() + WordCounter::learn_memory_bytes(pieces, piece_bytes);
        check_final(&stats, limit)?;
        return Ok((words, stats));
    }
    spill_now(&mut words, &mut stats, observer)?;
    drop(words);
    let Some((dir, mut runs)) = spill else {
        return Err(Error::Config("internal: spilled without a spill directory".into()));
    };
    // Merge in groups until one streaming merge can take every run.
    let mut level = 0;
    while runs.len() > MERGE_FAN_IN {
        let mut next = Vec::new();
        for (g, group) in runs.chunks(MERGE_FAN_IN).enumerate() {
            let out = dir.path().join(format!("merge-{level}-{g:06}.bin"));
            tokenizer::train::merge_count_files(group, &out, observer).map_err(|e| trainer_error(docs, e))?;
            for r in group {
                let _ = std::fs::remove_file(r);
            }
            next.push(out);
        }
        runs = next;
        level += 1;
    }
    let open = |runs: &[PathBuf]| -> Result<Vec<CountsReader<std::fs::File>>> {
        runs.iter().map(|p| CountsReader::open(p).map_err(|e| trainer_error(docs, e))).collect()
    };
    // Pass 1: how big is the kept table?
    let (mut distinct, mut short, mut long, mut long_bytes, mut piece_bytes) =
        (0u64, 0usize, 0usize, 0usize, 0usize);
    merge_counts(&mut open(&runs)?, 0, observer, |piece, count| {
        distinct += 1;
        if count >= limit.min_count {
            if WordCounter::is_short(piece) {
                short += 1;
            } else {
                long += 1;
                long_bytes += piece.len();
            }
            piece_bytes += piece.len();
        }
        Ok(())
    })
    .map_err(|e| trainer_error(docs, e))?;
    stats.distinct = distinct;
    stats.kept = (short + long) as u64;
    stats.final_bytes = WordCounter::exact_memory_bytes(short, long, long_bytes)
        + WordCounter::learn_memory_bytes(short + long, piece_bytes);
    check_final(&stats, limit)?;
    // Pass 2: fill it.
    let mut words = WordCounter::with_capacity(pattern, short, long, long_bytes);
    merge_counts(&mut open(&runs)?, limit.min_count, observer, |piece, count| {
        words.add(piece, count);
        Ok(())
    })
    .map_err(|e| trainer_error(docs, e))?;
    words.add_bytes_fed(total_fed);
    drop(dir);
    Ok((words, stats))
}

fn check_final(stats: &CountStats, limit: &CountLimit) -> Result<()> {
    if stats.final_bytes <= limit.max_memory {
        return Ok(());
    }
    Err(Error::OverMemory {
        what: format!("learning from {} distinct pieces (of {} in the corpus)", stats.kept, stats.distinct),
        needed: stats.final_bytes,
        limit: limit.max_memory,
        hint: Some(if limit.min_count <= 1 {
            "raise the limit, or drop rare pieces with a minimum frequency, which changes the result".into()
        } else {
            "raise the limit or the minimum frequency".into()
        }),
    })
}

/// The spill directory for an output at `output`: the directory it will be
/// written in (a disk, unlike a tmpfs temporary directory).
pub fn spill_dir_beside(output: &Path) -> PathBuf {
    match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Ctrl-C between batches: [`Error::Cancelled`].
fn poll(observer: &mut dyn Observer) -> Result<()> {
    match observer.poll() {
        std::ops::ControlFlow::Break(()) => Err(Error::Cancelled),
        std::ops::ControlFlow::Continue(()) => Ok(()),
    }
}

fn trainer_error(docs: &[Document], e: tokenizer::Error) -> Error {
    match e {
        tokenizer::Error::Config(msg) => Error::Config(msg),
        tokenizer::Error::EmptyCorpus => Error::Empty("the corpus is empty".into()),
        tokenizer::Error::Cancelled => Error::Cancelled,
        tokenizer::Error::Io { path, source } => Error::Io { path, source },
        source => Error::Tokenizer { path: docs.first().map(|d| d.path.clone()).unwrap_or_default(), source },
    }
}

/// Learns a tokenizer from `docs`.
///
/// Errors: an unreadable file or (for a character vocabulary without byte
/// fallback) invalid UTF-8, naming the file; [`Error::Config`] for settings
/// the trainer refuses; [`Error::Empty`] when the corpus holds no text;
/// [`Error::Cancelled`] when the observer breaks.
pub fn train_tokenizer(
    docs: &[Document],
    spec: &VocabSpec,
    observer: &mut dyn Observer,
) -> Result<Tokenizer> {
    let trainer_error = |e| trainer_error(docs, e);
    match spec {
        VocabSpec::Char { byte_fallback, specials } => {
            let mut counter = CharCounter::new();
            corpus::for_each_batch(docs, BATCH_BYTES, |batch, texts| {
                poll(observer)?;
                for (doc, text) in batch.iter().zip(texts) {
                    if *byte_fallback {
                        counter.feed_lossy(text);
                    } else {
                        counter.feed(text).map_err(|e| match e {
                            tokenizer::Error::InvalidUtf8 { offset } => Error::corrupt(
                                &doc.path,
                                format!(
                                    "invalid UTF-8 at byte offset {offset} (a character vocabulary needs \
                                     UTF-8 text; `tok train --char --byte-fallback` accepts any bytes)"
                                ),
                            ),
                            source => Error::Tokenizer { path: doc.path.clone(), source },
                        })?;
                    }
                }
                Ok::<_, Error>(())
            })?;
            tokenizer::train::train_char(counter, specials, *byte_fallback).map_err(trainer_error)
        }
        VocabSpec::Bpe(config) => {
            let mut toks = train_bpe_ladder(docs, config, &[config.vocab_size], observer)?;
            toks.pop().ok_or_else(|| Error::Config("no vocabulary size given".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Part;
    use tokenizer::Pattern;
    use tokenizer::train::Silent;

    /// `files` documents of text whose vocabulary keeps growing (Heaps' law):
    /// frequent words, plus rarer made-up ones and numbers.
    fn corpus(root: &Path, files: usize) -> Vec<Document> {
        let common = ["the", "of", "and", "to", "in", "king", "Lord", "shall", "thee", "love", "night"];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for f in 0..files {
            let mut text = String::new();
            for i in 0..(200 + 37 * f) {
                let r = next();
                let w = if r % 4 == 0 {
                    let len = 3 + (r >> 8) as usize % 9;
                    (0..len).map(|k| (b'a' + ((r >> (12 + 2 * k)) % 26) as u8) as char).collect::<String>()
                } else if r % 29 == 0 {
                    format!("{}", r % 100_000)
                } else {
                    common[(r >> 4) as usize % common.len()].to_string()
                };
                text.push_str(&w);
                text.push_str(if i % 13 == 12 { ".\n" } else { " " });
            }
            if f % 5 == 3 {
                text.push_str(&"=".repeat(40));
                text.push_str(" a-very-long-piece-of-a-header-line-that-passes-fifteen-bytes\n");
            }
            std::fs::write(root.join(format!("doc{f:03}.txt")), text).unwrap();
        }
        corpus::list_files(&[root]).unwrap()
    }

    fn config() -> BpeConfig {
        BpeConfig { vocab_size: 0, pattern: Pattern::Gpt4, min_frequency: 0, specials: vec!["<|e|>".into()] }
    }

    fn jsons(toks: &[Tokenizer]) -> Vec<String> {
        toks.iter().map(Tokenizer::to_json).collect()
    }

    const SIZES: [usize; 4] = [257, 300, 600, 1200];

    #[test]
    fn counts_of_parts_merge_into_the_whole_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        std::fs::create_dir(&root).unwrap();
        let docs = corpus(&root, 23);
        let whole = jsons(&train_bpe_ladder(&docs, &config(), &SIZES, &mut Silent).unwrap());
        for n in [1u32, 2, 3, 7, 30] {
            let parts = dir.path().join(format!("counts{n}"));
            std::fs::create_dir(&parts).unwrap();
            let mut files = Vec::new();
            for i in 0..n {
                let part = &docs[Part { index: i, count: n }.files(&docs)];
                let (words, _) = count_words(part, Pattern::Gpt4, None, &mut Silent).unwrap();
                let p = parts.join(format!("part-{i}.bin"));
                words.write_counts(&p, &mut Silent).unwrap();
                files.push(p);
            }
            let merged = dir.path().join(format!("merged{n}.bin"));
            tokenizer::train::merge_count_files(&files, &merged, &mut Silent).unwrap();
            let words = WordCounter::read_counts(&merged, &mut Silent).unwrap();
            assert_eq!(words.bytes_fed(), corpus::total_bytes(&docs));
            let config = BpeConfig { vocab_size: 1200, ..config() };
            let toks = tokenizer::train::train_bpe_ladder(&config, &SIZES, words, &mut Silent).unwrap();
            assert_eq!(jsons(&toks), whole, "{n} parts");
        }
    }

    /// A tokenizer learned from train parts is the one learned from files
    /// holding just those bytes (the encoder's train split), and nothing of
    /// the validation text reaches it; limited counting reads them the same.
    #[test]
    fn train_parts_learn_from_the_train_split_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        std::fs::create_dir(&root).unwrap();
        let mut docs = corpus(&root, 9);
        // A word only the validation tails hold, frequent enough to merge.
        for d in &docs {
            let mut text = std::fs::read(&d.path).unwrap();
            if text.last() != Some(&b'\n') {
                text.push(b'\n');
            }
            // About a tenth of the file: inside the last fifth.
            for _ in 0..text.len().div_ceil(650) {
                text.extend_from_slice(b"zyzzyva zyzzyva zyzzyva zyzzyva zyzzyva zyzzyva zyzzyva zyzzyva\n");
            }
            std::fs::write(&d.path, text).unwrap();
        }
        docs = corpus::list_files(&[&root]).unwrap();
        let f = 0.2;
        let cut = dir.path().join("cut");
        std::fs::create_dir(&cut).unwrap();
        for d in &docs {
            let text = std::fs::read(&d.path).unwrap();
            let s = crate::split::val_start(&text, f);
            assert!(String::from_utf8_lossy(&text[s..]).contains("zyzzyva"));
            assert!(!String::from_utf8_lossy(&text[..s]).contains("zyzzyva"));
            std::fs::write(cut.join(d.path.file_name().unwrap()), &text[..s]).unwrap();
        }
        let cut_docs = corpus::list_files(&[&cut]).unwrap();
        let parts = corpus::train_parts(&docs, f).unwrap();
        let from_parts = jsons(&train_bpe_ladder(&parts, &config(), &SIZES, &mut Silent).unwrap());
        assert_eq!(from_parts, jsons(&train_bpe_ladder(&cut_docs, &config(), &SIZES, &mut Silent).unwrap()));
        let limit =
            CountLimit { max_memory: 8 << 20, min_count: 0, spill_dir: Some(cut.clone()), batch_bytes: 4096 };
        let (toks, stats) = limited(&parts, &limit).unwrap();
        assert!(stats.spills > 1, "{stats:?}");
        assert_eq!(toks, from_parts);
        let has = |toks: &[Tokenizer]| {
            let big = toks.last().unwrap();
            (0..big.vocab_size() as u32)
                .filter_map(|id| big.token_bytes(id))
                .any(|b| b.len() > 3 && b"zyzzyva".windows(b.len()).any(|w| w == b))
        };
        let whole = train_bpe_ladder(&docs, &config(), &SIZES, &mut Silent).unwrap();
        assert!(has(&whole), "the whole files teach the validation-only word");
        assert!(!has(&train_bpe_ladder(&parts, &config(), &SIZES, &mut Silent).unwrap()));
        assert!(corpus::train_parts(&docs, 1.0).is_err());
    }

    fn limited(docs: &[Document], limit: &CountLimit) -> Result<(Vec<String>, CountStats)> {
        let (toks, stats) = train_bpe_ladder_limited(docs, &config(), &SIZES, limit, &mut Silent)?;
        Ok((jsons(&toks), stats))
    }

    #[test]
    fn spilling_gives_the_in_memory_result() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        let spill = dir.path().join("spill");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&spill).unwrap();
        let docs = corpus(&root, 70);
        let whole = jsons(&train_bpe_ladder(&docs, &config(), &SIZES, &mut Silent).unwrap());
        for min_count in [0, 1] {
            // Below the allowance for the workers' tables: every batch spills.
            let limit = CountLimit {
                max_memory: 8 << 20,
                min_count,
                spill_dir: Some(spill.clone()),
                batch_bytes: 4096,
            };
            let (toks, stats) = limited(&docs, &limit).unwrap();
            assert!(stats.spills >= 20, "{stats:?}");
            assert_eq!(stats.kept, stats.distinct);
            assert_eq!(toks, whole, "min_count {min_count}");
            // More runs than one merge takes: merged in groups first.
            let limit = CountLimit { batch_bytes: 1, ..limit };
            let (toks, stats) = limited(&docs, &limit).unwrap();
            assert!(stats.spills > MERGE_FAN_IN, "{stats:?}");
            assert_eq!(toks, whole);
            assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0, "the spill directory is removed");
        }
        // A limit that never spills gives the same too.
        let (toks, stats) = limited(&docs, &CountLimit::new(1 << 30, Some(spill.clone()))).unwrap();
        assert_eq!((stats.spills, toks), (0, whole));
    }

    #[test]
    fn rare_pieces_are_dropped_spilled_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        std::fs::create_dir(&root).unwrap();
        let docs = corpus(&root, 20);
        let (mut words, _) = count_words(&docs, Pattern::Gpt4, None, &mut Silent).unwrap();
        let distinct = words.distinct() as u64;
        words.retain_min_count(3);
        assert!((words.distinct() as u64) < distinct);
        let config = BpeConfig { vocab_size: 1200, ..config() };
        let expected =
            jsons(&tokenizer::train::train_bpe_ladder(&config, &SIZES, words, &mut Silent).unwrap());
        let base = CountLimit {
            max_memory: 8 << 20,
            min_count: 3,
            spill_dir: Some(dir.path().into()),
            batch_bytes: 2048,
        };
        let (spilled, stats) = limited(&docs, &base).unwrap();
        assert!(stats.spills > 1 && stats.kept < stats.distinct && stats.distinct == distinct, "{stats:?}");
        let (in_memory, stats) = limited(&docs, &CountLimit { max_memory: 1 << 30, ..base }).unwrap();
        assert_eq!(stats.spills, 0);
        assert_eq!(spilled, expected);
        assert_eq!(in_memory, expected);
    }

    #[test]
    fn a_limit_too_small_for_the_kept_table_is_refused_with_the_figure() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        std::fs::create_dir(&root).unwrap();
        let docs = corpus(&root, 10);
        for batch_bytes in [1024, 1 << 20] {
            let limit = CountLimit {
                max_memory: 20_000,
                min_count: 0,
                spill_dir: Some(dir.path().into()),
                batch_bytes,
            };
            let err = limited(&docs, &limit).unwrap_err();
            let Error::OverMemory { needed, limit: l, .. } = &err else { panic!("{err}") };
            assert!(*needed > 20_000 && *l == 20_000, "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&format!("needs about {needed} bytes")) && msg.contains("20000"), "{msg}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("corpus")]);
    }

    #[test]
    fn cancelling_removes_the_spill_directory() {
        struct StopSoon(usize);
        impl Observer for StopSoon {
            fn progress(&mut self, _: tokenizer::train::Stage, _: u64, _: u64) -> std::ops::ControlFlow<()> {
                std::ops::ControlFlow::Continue(())
            }
            fn poll(&mut self) -> std::ops::ControlFlow<()> {
                self.0 = self.0.saturating_sub(1);
                if self.0 == 0 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpus");
        let spill = dir.path().join("spill");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&spill).unwrap();
        let docs = corpus(&root, 20);
        // Cancelled at every poll in turn: while counting, between spills
        // and at the end of the merges; or not at all once polls run out.
        let mut cancelled = 0;
        for after in 1..40 {
            let limit = CountLimit {
                max_memory: 8 << 20,
                min_count: 0,
                spill_dir: Some(spill.clone()),
                batch_bytes: 2048,
            };
            match count_words(&docs, Pattern::Gpt4, Some(&limit), &mut StopSoon(after)) {
                Err(Error::Cancelled) => cancelled += 1,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
            assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0, "after {after} polls");
        }
        assert!(cancelled >= 15, "{cancelled}");
    }
}
