//! The allocator both targets run under: the system's, aborting (a crash libFuzzer reports
//! with its input) on any single allocation over [`MAX_ALLOCATION`]. No input of at most
//! 64 KiB may make the code under test allocate this much: a hostile size in a header must
//! be refused, not trusted.

use std::alloc::{GlobalAlloc, Layout, System};

/// Largest single allocation allowed.
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
            b"fuzz target: allocation over 256 MiB\n",
        );
        std::process::abort();
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
