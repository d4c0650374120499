//! Where lorabench keeps its own state inside a dataset folder.

/// lorabench's folder inside a dataset; skipped by scans.
pub const STATE_DIR: &str = ".lorabench";
/// Excluded images keep their relative path under here.
pub const EXCLUDED_DIR: &str = ".lorabench/excluded";
/// Undo/redo journal.
pub const JOURNAL_DIR: &str = ".lorabench/journal";
