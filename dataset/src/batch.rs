//! Batches of (inputs, targets) windows from the shards.

/// Random training windows.
pub struct TrainBatches {}
/// Sequential evaluation windows.
pub struct EvalBatches {}
/// One evaluation batch.
pub struct EvalBatch {}
