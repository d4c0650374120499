//! Progress reporting and cancellation for long LoRA operations, free of any UI: the CLI draws
//! a bar from the callback, the TUI a gauge; both set the cancel flag (Ctrl-C, a key).

use std::sync::atomic::{AtomicBool, Ordering};

/// One step of a long operation.
#[derive(Debug, Clone, Copy)]
pub struct Step<'s> {
    /// Units finished so far (tensors, modules...).
    pub done: u64,
    pub total: u64,
    /// What is being worked on now (a tensor or module name).
    pub item: &'s str,
}

/// The operation was cancelled; nothing was left under the output name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled; no output was written")]
pub struct Cancelled;

/// What a long operation is given: a flag it checks between units, and a progress callback.
pub struct Task<'a> {
    cancel: &'a AtomicBool,
    report: Box<dyn FnMut(Step<'_>) + 'a>,
}

impl<'a> Task<'a> {
    pub fn new(cancel: &'a AtomicBool, report: impl FnMut(Step<'_>) + 'a) -> Self {
        Self {
            cancel,
            report: Box::new(report),
        }
    }

    /// A task nobody watches (tests, scripts).
    pub fn quiet(cancel: &'a AtomicBool) -> Self {
        Self::new(cancel, |_| {})
    }

    /// Reports progress, then fails if cancellation was asked for.
    pub fn step(&mut self, done: u64, total: u64, item: &str) -> Result<(), Cancelled> {
        (self.report)(Step { done, total, item });
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        Ok(())
    }
}
