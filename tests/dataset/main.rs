//! Dataset core, lint, buckets, tokens and captions, against sd-scripts' own code where it applies.
//! One test binary per area (not one per file): each binary links the whole crate, and
//! dozens of links were most of CI's build time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "../kohya_env/mod.rs"]
mod kohya_env;
// The sample-data generator, for preview_corpus; `sets` names `crate::scene`, so both sit at
// the crate root as in the example.
#[allow(dead_code)]
#[path = "../../examples/make_sample_data/scene.rs"]
mod scene;
#[allow(dead_code)]
#[path = "../../examples/make_sample_data/sets.rs"]
mod sets;

mod basics;
mod buckets;
mod cli_captions;
mod cli_promises;
mod crash;
mod kohya_buckets;
mod kohya_tokens;
mod lint;
mod lint_messy;
mod preview_corpus;
mod tokens;
