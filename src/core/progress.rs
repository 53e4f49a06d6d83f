//! Progress reporting. The library never prints: stages report through this trait and the CLI
//! decides how to show it (indicatif bars, or nothing).

/// Receives progress events from the stages.
pub trait Progress: Send + Sync {
    /// A stage starts with `total` units of work (frames).
    fn begin(&self, stage: &'static str, total: u64);
    /// `n` more units of the running stage are done.
    fn advance(&self, stage: &'static str, n: u64);
    /// The stage has finished.
    fn finish(&self, stage: &'static str);
}

/// Discards all progress events (library users and tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _stage: &'static str, _total: u64) {}
    fn advance(&self, _stage: &'static str, _n: u64) {}
    fn finish(&self, _stage: &'static str) {}
}
