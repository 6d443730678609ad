//! Trains BPE merges on files and reports where the time went; used by
//! `scripts/bench/train.sh` to compare with rustbpe and Hugging Face.
//!
//! Usage: `bench_bpe_train PATH... --vocab N [--pattern gpt4] [--out tokens.hex] [--repeat N] [--split-time]`
//! PATHs are files or directories (walked recursively in sorted order); each
//! file is one document. `--out` writes the bytes of every learned token, one
//! hex line per token in id order (ids 256..), for comparison with other
//! trainers. The report goes to stderr as `key=value` lines.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Instant;

use tokenizer::Pattern;
use tokenizer::train::{Observer, Stage, WordCounter, learn_merges};

struct Quiet;
impl Observer for Quiet {
    fn progress(&mut self, _: Stage, _: u64, _: u64) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut split_only = false;
    let (mut paths, mut vocab, mut pattern, mut out, mut repeat) =
        (Vec::new(), 0usize, Pattern::Gpt4, None, 1usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--vocab" => vocab = args.next().ok_or("--vocab N")?.parse()?,
            "--pattern" => {
                pattern = Pattern::from_name(&args.next().ok_or("--pattern NAME")?).ok_or("bad pattern")?
            }
            "--split-time" => split_only = true,
            "--repeat" => repeat = args.next().ok_or("--repeat N")?.parse()?,
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out FILE")?)),
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() || vocab < 256 {
        return Err("usage: bench_bpe_train PATH... --vocab N [--pattern gpt4] [--out tokens.hex]".into());
    }
    let t0 = Instant::now();
    // The corpus as `tok train` reads it.
    let files = dataset::corpus::list_files(&paths)?;
    let docs: Vec<Vec<u8>> =
        files.iter().map(|f| dataset::corpus::read(&f.path)).collect::<Result<_, _>>()?;
    let read = t0.elapsed();

    if split_only {
        // The pre-tokenizer alone, on this thread: what counting costs beyond it
        // is the counter's own work.
        let mut best = f64::MAX;
        for _ in 0..repeat {
            let t = Instant::now();
            let pieces: usize = docs.iter().map(|d| pattern.split(d).count()).sum();
            best = best.min(t.elapsed().as_secs_f64());
            std::hint::black_box(pieces);
        }
        eprintln!("time_split_1thread={best:.3}");
    }
    let t1 = Instant::now();
    let mut counter = WordCounter::new(pattern);
    counter.feed_many_observed(&docs, &mut Quiet)?;
    let mut counting = t1.elapsed();
    // `--repeat N` also counts N times, keeping the fastest.
    for _ in 1..repeat {
        let t = Instant::now();
        let mut again = WordCounter::new(pattern);
        again.feed_many_observed(&docs, &mut Quiet)?;
        counting = counting.min(t.elapsed());
        assert_eq!(again.distinct(), counter.distinct());
    }
    drop(docs);

    let mut learned = learn_merges(&counter, vocab - 256, 0, &mut Quiet)?;
    let total = t0.elapsed();
    // `--repeat N`: learn N times too and keep the fastest merge loop, for
    // a steadier figure on a busy machine.
    for _ in 1..repeat {
        let again = learn_merges(&counter, vocab - 256, 0, &mut Quiet)?;
        assert_eq!(again.merges, learned.merges, "learning is deterministic");
        if again.stats.merge_time < learned.stats.merge_time {
            learned = again;
        }
    }
    let s = &learned.stats;
    eprintln!("threads={}", rayon::current_num_threads());
    eprintln!(
        "files={} bytes={} pieces={} distinct={}",
        files.len(),
        counter.bytes_fed(),
        counter.pieces(),
        counter.distinct()
    );
    eprintln!(
        "words={} symbols={} merges={} steps={} duplicates={} stop={:?} last_count={}",
        s.words,
        s.symbols,
        learned.merges.len(),
        s.steps,
        s.duplicates,
        s.stop,
        s.last_count
    );
    eprintln!(
        "word_visits={} parallel_steps={} parallel_visits={} pair_updates={} heap_pops={} peak_pairs={}",
        s.word_visits, s.parallel_steps, s.parallel_visits, s.pair_updates, s.heap_pops, s.peak_pairs
    );
    eprintln!(
        "time_read={:.3} time_count={:.3} time_setup={:.3} time_pairs={:.3} time_merge={:.3} time_total={:.3}",
        read.as_secs_f64(),
        counting.as_secs_f64(),
        s.setup_time.as_secs_f64(),
        s.pairs_time.as_secs_f64(),
        s.merge_time.as_secs_f64(),
        total.as_secs_f64()
    );
    if let Some(out) = out {
        let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut text = String::new();
        for &(a, b) in &learned.merges {
            let t = [tokens[a as usize].as_slice(), tokens[b as usize].as_slice()].concat();
            for byte in &t {
                text.push_str(&format!("{byte:02x}"));
            }
            text.push('\n');
            tokens.push(t);
        }
        std::fs::write(out, text)?;
    }
    Ok(())
}
