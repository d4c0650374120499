//! The dataset model (no UI): scan, items, captions, journal, exclusion, query.
//!
//! Every change to a dataset goes through [`journal::Journal`], so it is atomic, undoable,
//! and survives a crash. The TUI and the `lorabench captions` command call the same functions.

pub mod caption;
pub mod error;
pub mod exclude;
pub mod fsio;
pub mod journal;
mod jpeg;
pub mod ops;
pub mod paths;
pub mod preview;
pub mod query;
pub mod scan;

pub mod buckets;
pub mod lint;
pub mod similarity;
pub mod stats;
pub mod tag_list;
pub mod tokens;

pub use error::DatasetError;
pub use journal::Journal;
pub use query::Query;
pub use scan::{CaptionState, Dataset, Item, ScanOptions, scan};
