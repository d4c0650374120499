//! Any bytes as a safetensors file: the header parser and `lora inspect` must return Ok or a
//! typed error, never panic, hang or allocate from a hostile size.
#![no_main]

use std::io::Write;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lorabench::lora::inspect::inspect;
use lorabench::lora::safetensors::{header_len, parse_header};

mod capped;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    // The pure parser on the bytes as a whole file.
    if let Ok(n) = header_len(path, data, data.len() as u64) {
        let json = &data[8..8 + n as usize];
        let _ = parse_header(path, json, (data.len() - 8 - n as usize) as u64);
    }
    // The whole inspection through a real file (open, read alphas, hash).
    let Ok(mut file) = tempfile_in_tmp() else {
        return;
    };
    if file.1.write_all(data).is_ok() {
        let _ = inspect(&file.0);
    }
    let _ = std::fs::remove_file(&file.0);
});

/// A per-process scratch file (libFuzzer runs one input at a time per process).
fn tempfile_in_tmp() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let path =
        std::env::temp_dir().join(format!("lorabench-fuzz-{}.safetensors", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}
