//! LoRA files: inspect, convert, merge, mix, resize and extract.
//! One test binary per area (not one per file): each binary links the whole crate, and
//! dozens of links were most of CI's build time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

mod convert;
mod inspect;
mod merge;
mod rank_files;
mod rank_maths;
mod strength;
