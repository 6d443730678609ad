//! Nothing to import: this crate holds the tokenizer's benchmarks
//! (`benches/`), the `bench_bpe_train` example and the benchmark-corpus
//! checks (`tests/`), which read a corpus with `dataset`'s walker. They live
//! here so that `tokenizer` depends on no higher stage, not even for tests.
