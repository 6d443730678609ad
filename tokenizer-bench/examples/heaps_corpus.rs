//! Generates a large corpus that keeps producing new distinct words as it
//! grows, the way real text does (Heaps' law), from a small real corpus:
//! for `scripts/bench/scale.sh`.
//!
//! ```text
//! cargo run --release -p tokenizer-bench --example heaps_corpus -- SRC_DIR OUT_DIR BYTES
//! ```
//!
//! The source files (walked as `tok` walks a corpus) are concatenated and
//! written out again and again, copy `k = 0, 1, 2, ...`, into `OUT_DIR/part-NNNNN.txt`
//! files of about 64 MiB, until BYTES (suffixes K, M, G: powers of 1024)
//! are written. Copy 0 is the source as it is. In later copies, each
//! occurrence of a word of three ASCII letters or more is, with
//! probability 1/3, replaced by one of `4k` variants of it (a letter changed,
//! and for the higher variants a suffix of letters added), chosen by a hash
//! of the word, the copy and the occurrence. Frequent words stay frequent
//! (two thirds of their occurrences are unchanged) while every copy brings
//! variants never seen before, rarer the further they are from the
//! original, so the number of distinct pieces grows with the corpus but
//! slower than it: it is not the source repeated. The output depends only
//! on the source and BYTES.

use std::io::Write;
use std::path::{Path, PathBuf};

const PART_BYTES: usize = 64 << 20;

fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_uppercase();
    let (num, shift) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 10),
        'M' => (&t[..t.len() - 1], 20),
        'G' => (&t[..t.len() - 1], 30),
        _ => (&t[..], 0),
    };
    let x: f64 = num.parse().ok()?;
    (x > 0.0).then(|| (x * (1u64 << shift) as f64) as u64)
}

/// splitmix64's finalizer.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hash_word(w: &[u8]) -> u64 {
    w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Appends copy `k` of `src` to `out`.
fn mutate(src: &[u8], k: u64, out: &mut Vec<u8>) {
    if k == 0 {
        out.extend_from_slice(src);
        return;
    }
    let variants = 4 * k;
    let mut i = 0;
    let mut occurrence = 0u64;
    while i < src.len() {
        if !src[i].is_ascii_alphabetic() {
            out.push(src[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < src.len() && src[i].is_ascii_alphabetic() {
            i += 1;
        }
        let word = &src[start..i];
        occurrence += 1;
        let h = mix(hash_word(word) ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ occurrence.rotate_left(17));
        if word.len() < 3 || !h.is_multiple_of(3) {
            out.extend_from_slice(word);
            continue;
        }
        // Variant v in 1..=variants; small v (a changed letter) are the
        // likely ones, larger v (a suffix too) rarer: v is drawn as
        // variants^u for u uniform, so each copy reaches further.
        let u = ((h >> 11) as f64) / ((1u64 << 53) as f64);
        let v = ((variants as f64).powf(u) as u64).clamp(1, variants);
        let n = word.len() as u64;
        let at = (v % n) as usize;
        let letter = b'a' + ((v / n) % 26) as u8;
        let at_start = out.len();
        out.extend_from_slice(word);
        let c = &mut out[at_start + at];
        *c = if c.is_ascii_uppercase() { letter.to_ascii_uppercase() } else { letter };
        let mut rest = v / (n * 26);
        while rest > 0 {
            out.push(b'a' + (rest % 26) as u8);
            rest /= 26;
        }
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for e in entries {
        if e.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if e.is_dir() {
            files(&e, out)?;
        } else if e.is_file() {
            out.push(e);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, src, out_dir, size] = args.as_slice() else {
        return Err("usage: heaps_corpus SRC_DIR OUT_DIR BYTES (e.g. 4G)".into());
    };
    let total = parse_size(size).ok_or_else(|| format!("bad size {size:?}"))?;
    let mut paths = Vec::new();
    files(Path::new(src), &mut paths)?;
    let mut source = Vec::new();
    for p in &paths {
        source.extend_from_slice(&std::fs::read(p)?);
        source.push(b'\n');
    }
    if source.is_empty() {
        return Err(format!("{src}: no text").into());
    }
    let out_dir = Path::new(out_dir);
    std::fs::create_dir_all(out_dir)?;
    let mut written = 0u64;
    let mut part = 0usize;
    let mut buf = Vec::with_capacity(PART_BYTES + source.len());
    let mut k = 0u64;
    let flush = |buf: &mut Vec<u8>, part: &mut usize, keep: usize| -> std::io::Result<()> {
        let name = out_dir.join(format!("part-{:05}.txt", *part));
        let tmp = out_dir.join(format!(".part-{:05}.txt.tmp", *part));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&buf[..keep])?;
        drop(f);
        std::fs::rename(&tmp, &name)?;
        buf.drain(..keep);
        *part += 1;
        Ok(())
    };
    while written < total {
        mutate(&source, k, &mut buf);
        k += 1;
        while buf.len() >= PART_BYTES && written < total {
            // Cut after a newline so that no word is split across files.
            let want = PART_BYTES.min((total - written) as usize);
            let cut = buf[..want].iter().rposition(|&b| b == b'\n').map_or(want, |p| p + 1);
            written += cut as u64;
            flush(&mut buf, &mut part, cut)?;
        }
        if buf.len() as u64 >= total - written {
            let want = (total - written) as usize;
            written += want as u64;
            flush(&mut buf, &mut part, want)?;
        }
    }
    eprintln!("heaps_corpus: {written} bytes in {part} files, {k} copies of {} bytes", source.len());
    Ok(())
}
