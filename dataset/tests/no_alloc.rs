//! The batchers allocate nothing per batch: a counting global allocator
//! (in this test binary only) sees zero allocations across many batches.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use dataset::manifest::{self, Manifest, ShardEntry, SplitInfo, Splits};
use dataset::shard::{ShardWriter, TokenWidth};
use dataset::{ShardSet, Split};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn write_split(dir: &std::path::Path, split: &str, sizes: &[u32]) -> SplitInfo {
    let mut info = SplitInfo::default();
    for (i, &n) in sizes.iter().enumerate() {
        let file = format!("{split}_{i:06}.bin");
        let mut w = ShardWriter::create(&dir.join(&file), TokenWidth::U16).unwrap();
        w.write(&(0..n).map(|x| x % 1000).collect::<Vec<u32>>()).unwrap();
        w.finish().unwrap();
        info.tokens += n as u64;
        info.shards.push(ShardEntry { file, tokens: n as u64 });
    }
    info
}

#[test]
fn batches_do_not_allocate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let splits = Splits {
        train: write_split(dir, "train", &[50_000, 50_000, 1_234]),
        val: write_split(dir, "val", &[50_000, 777]),
    };
    let m = Manifest::synthetic(tokenizer::Kind::Char, 1000, TokenWidth::U16, 50_000, splits);
    m.save(&dir.join(manifest::MANIFEST_FILE)).unwrap();
    let set = ShardSet::open(dir).unwrap();
    let mut train = set.train_batches(32, 128, 0).unwrap();
    let mut eval = set.eval_batches(Split::Val, 32, 128).unwrap();
    let mut sum = 0u64;
    let before = ALLOCS.load(Ordering::Relaxed);
    for step in 0..200 {
        sum += train.batch(step).unwrap().targets[0] as u64;
    }
    while let Some(b) = eval.next().unwrap() {
        sum += b.predictions() as u64;
    }
    eval.reset();
    while let Some(b) = eval.next().unwrap() {
        sum += b.rows() as u64;
    }
    let after = ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations during batching");
    assert!(sum > 0);
}
