//! Writes lorabench's sample data and its bad-input corpus, byte for byte the same every run.
//!
//! ```text
//! cargo run --release --example make_sample_data -- sample-data            # lighthouse + messy
//! cargo run --release --example make_sample_data -- --corpus tests/corpus # reader corpus
//! ```
//!
//! Existing files of the same names are overwritten; nothing else is touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

mod scene;
mod sets;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, dir] if flag == "--corpus" => sets::write_corpus(&PathBuf::from(dir)),
        [dir] if !dir.starts_with('-') => sets::write_samples(&PathBuf::from(dir)),
        _ => {
            eprintln!("usage: make_sample_data DIR | make_sample_data --corpus DIR");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_sample_data: {e}");
            ExitCode::FAILURE
        }
    }
}
