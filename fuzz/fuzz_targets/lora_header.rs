//! Any bytes as a safetensors file: the header parser and `lora inspect` must return Ok or a
//! typed error, never panic, hang or allocate from a hostile size.
#![no_main]

use std::io::Write;
use std::path::Path;

use std::alloc::{GlobalAlloc, Layout, System};

use libfuzzer_sys::fuzz_target;
use lorabench::lora::inspect::inspect;
use lorabench::lora::safetensors::{header_len, parse_header};

/// No input of at most 64 KiB may make the parser allocate this much: a hostile size or
/// shape in a header must be refused, not trusted.
const MAX_ALLOCATION: usize = 256 << 20;

/// The system allocator, aborting (a crash libFuzzer reports with its input) on any single
/// allocation over [`MAX_ALLOCATION`].
struct Capped;

// SAFETY: forwards to the system allocator unchanged; only refuses oversized requests.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // No formatting here: it could allocate inside the allocator.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"fuzz target: allocation over 256 MiB from a header\n",
        );
        std::process::abort();
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;

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
