//! The dataset model (no UI): scan, items, captions, journal, exclusion, query.
pub mod preview;
