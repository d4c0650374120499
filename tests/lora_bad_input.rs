//! Malformed safetensors and LoRA files: every reader gives a typed error naming the file, never
//! panics, and never allocates from a hostile size (a counting allocator checks the largest
//! single allocation).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lorabench::lora::inspect::inspect;
use lorabench::lora::model::{LoraError, LoraFile};
use lorabench::lora::safetensors::{SafetensorsError, SafetensorsFile};

/// Records the largest single allocation made by this test binary.
struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// No hostile input here may make the readers allocate more than this in one piece.
const ALLOCATION_LIMIT: usize = 16 << 20;

/// A file: length prefix (given or computed), header bytes, data bytes.
fn write(dir: &Path, name: &str, len: Option<u64>, header: &[u8], data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    let mut bytes = len.unwrap_or(header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(data);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Opens the file every way the program does; returns the container error.
fn open_all_ways(path: &Path) -> SafetensorsError {
    let open = SafetensorsFile::open(path).expect_err("malformed file opened");
    let shown = open.to_string();
    assert!(
        shown.contains(&path.display().to_string()),
        "error does not name the file: {shown}"
    );
    assert!(
        inspect(path).is_err(),
        "inspect accepted {}",
        path.display()
    );
    match LoraFile::read(path) {
        Err(LoraError::File(_)) => {}
        other => panic!("LoraFile::read on {}: {other:?}", path.display()),
    }
    assert!(
        LARGEST.load(Ordering::Relaxed) < ALLOCATION_LIMIT,
        "a hostile size was allocated"
    );
    open
}

fn tensor_header(entries: &str) -> Vec<u8> {
    format!("{{{entries}}}").into_bytes()
}

#[test]
fn empty_and_short_files() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("zero.safetensors", &b""[..]),
        ("five.safetensors", &b"\x01\x02\x03\x04\x05"[..]),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        assert!(matches!(
            open_all_ways(&path),
            SafetensorsError::TooShort { .. }
        ));
    }
}

#[test]
fn header_length_past_the_end_or_absurd() {
    let dir = tempfile::tempdir().unwrap();
    let past = write(dir.path(), "past.safetensors", Some(4096), b"{}", b"");
    assert!(matches!(
        open_all_ways(&past),
        SafetensorsError::HeaderPastEnd {
            header_len: 4096,
            ..
        }
    ));
    let huge = write(dir.path(), "huge.safetensors", Some(u64::MAX), b"{}", b"");
    assert!(matches!(
        open_all_ways(&huge),
        SafetensorsError::NotSafetensors { .. }
    ));
}

#[test]
fn other_files_are_called_not_safetensors_without_quoting_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(4, 4)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    for (name, bytes) in [
        ("image.safetensors", png.into_inner()),
        (
            "notes.safetensors",
            b"just some text, long enough to read".to_vec(),
        ),
        (
            "pickle.ckpt",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00".repeat(8),
        ),
        (
            "small.safetensors",
            [2u64.to_le_bytes().to_vec(), b"[]".to_vec()].concat(),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = open_all_ways(&path);
        assert!(
            matches!(err, SafetensorsError::NotSafetensors { .. }),
            "{name}: {err}"
        );
        let shown = err.to_string();
        assert!(shown.contains("is not a safetensors file"), "{shown}");
        let read_as_length = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        assert!(
            read_as_length < 1000 || !shown.contains(&read_as_length.to_string()),
            "no header length quoted: {shown}"
        );
    }
}

#[test]
fn header_not_utf8_or_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let utf8 = write(dir.path(), "utf8.safetensors", None, b"{\"a\xff\": 1}", b"");
    assert!(matches!(
        open_all_ways(&utf8),
        SafetensorsError::HeaderUtf8 { at: 3, .. }
    ));
    let json = write(dir.path(), "json.safetensors", None, b"{\"a\": [1, 2", b"");
    assert!(matches!(
        open_all_ways(&json),
        SafetensorsError::HeaderJson { .. }
    ));
    let array = write(dir.path(), "array.safetensors", None, b"[1, 2, 3]", b"");
    assert!(matches!(
        open_all_ways(&array),
        SafetensorsError::NotSafetensors { .. }
    ));
    let entry = write(
        dir.path(),
        "entry.safetensors",
        None,
        &tensor_header(r#""w": {"dtype": "F32", "shape": [1]}"#),
        b"1234",
    );
    assert!(matches!(
        open_all_ways(&entry),
        SafetensorsError::BadEntry { .. }
    ));
}

#[test]
fn offsets_out_of_bounds_or_overlapping() {
    let dir = tempfile::tempdir().unwrap();
    let oob = write(
        dir.path(),
        "oob.safetensors",
        None,
        &tensor_header(r#""w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}"#),
        &[0u8; 8],
    );
    assert!(matches!(
        open_all_ways(&oob),
        SafetensorsError::OutOfBounds {
            end: 16,
            data_len: 8,
            ..
        }
    ));
    let backwards = write(
        dir.path(),
        "backwards.safetensors",
        None,
        &tensor_header(r#""w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}"#),
        &[0u8; 8],
    );
    assert!(matches!(
        open_all_ways(&backwards),
        SafetensorsError::OutOfBounds { .. }
    ));
    let overlap = write(
        dir.path(),
        "overlap.safetensors",
        None,
        &tensor_header(
            r#""a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}"#,
        ),
        &[0u8; 12],
    );
    assert!(matches!(
        open_all_ways(&overlap),
        SafetensorsError::Overlap { .. }
    ));
}

#[test]
fn shapes_that_do_not_match_the_bytes_or_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mismatch = write(
        dir.path(),
        "mismatch.safetensors",
        None,
        &tensor_header(r#""w": {"dtype": "F16", "shape": [3, 3], "data_offsets": [0, 16]}"#),
        &[0u8; 16],
    );
    assert!(matches!(
        open_all_ways(&mismatch),
        SafetensorsError::SizeMismatch {
            expected: 18,
            actual: 16,
            ..
        }
    ));
    // A terabyte-sized tensor declared over 8 real bytes: refused, nothing allocated.
    let huge = write(
        dir.path(),
        "huge_shape.safetensors",
        None,
        &tensor_header(
            r#""w": {"dtype": "F32", "shape": [1048576, 1048576], "data_offsets": [0, 8]}"#,
        ),
        &[0u8; 8],
    );
    assert!(matches!(
        open_all_ways(&huge),
        SafetensorsError::SizeMismatch { .. }
    ));
    let overflow = write(
        dir.path(),
        "overflow.safetensors",
        None,
        &tensor_header(
            r#""w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 8]}"#,
        ),
        &[0u8; 8],
    );
    assert!(matches!(
        open_all_ways(&overflow),
        SafetensorsError::AbsurdShape { .. }
    ));
    let negative = write(
        dir.path(),
        "negative.safetensors",
        None,
        &tensor_header(r#""w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}"#),
        &[0u8; 4],
    );
    assert!(matches!(
        open_all_ways(&negative),
        SafetensorsError::BadEntry { .. }
    ));
}

#[test]
fn unknown_dtype_and_bad_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let dtype = write(
        dir.path(),
        "dtype.safetensors",
        None,
        &tensor_header(r#""w": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}"#),
        &[0u8; 16],
    );
    assert!(
        matches!(open_all_ways(&dtype), SafetensorsError::UnknownDtype { dtype, .. } if dtype == "F128")
    );
    let meta = write(
        dir.path(),
        "meta.safetensors",
        None,
        br#"{"__metadata__": {"steps": 100}}"#,
        b"",
    );
    assert!(matches!(
        open_all_ways(&meta),
        SafetensorsError::BadMetadata { .. }
    ));
}

#[test]
fn truncated_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read("tests/fixtures/lora/lora_kohya.safetensors").unwrap();
    let path = dir.path().join("truncated.safetensors");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert!(matches!(
        open_all_ways(&path),
        SafetensorsError::OutOfBounds { .. }
    ));
}

/// A well-formed container whose tensors do not make a LoRA.
fn lora_with(dir: &Path, name: &str, tensors: &[(&str, &[usize])]) -> PathBuf {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (key, shape) in tensors {
        let len = shape.iter().product::<usize>() * 4;
        header.insert(
            key.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let json = serde_json::to_vec(&header).unwrap();
    write(dir, name, None, &json, &vec![0u8; offset])
}

#[test]
fn lora_level_problems_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let half = lora_with(
        dir.path(),
        "half.safetensors",
        &[("lora_unet_x.lora_down.weight", &[4, 8])],
    );
    assert!(matches!(
        LoraFile::read(&half),
        Err(LoraError::Incomplete { missing: "up", .. })
    ));
    let ranks = lora_with(
        dir.path(),
        "ranks.safetensors",
        &[
            ("lora_unet_x.lora_down.weight", &[4, 8]),
            ("lora_unet_x.lora_up.weight", &[8, 2]),
        ],
    );
    assert!(matches!(
        LoraFile::read(&ranks),
        Err(LoraError::BadModule { .. })
    ));
    let alpha = lora_with(
        dir.path(),
        "alpha.safetensors",
        &[
            ("lora_unet_x.lora_down.weight", &[4, 8]),
            ("lora_unet_x.lora_up.weight", &[8, 4]),
            ("lora_unet_x.alpha", &[2, 2]),
        ],
    );
    assert!(matches!(
        LoraFile::read(&alpha),
        Err(LoraError::File(SafetensorsError::BadEntry { .. }))
    ));
    let not_lora = Path::new("tests/fixtures/lora/unet_base.safetensors");
    assert!(matches!(
        LoraFile::read(not_lora),
        Err(LoraError::NoModules { .. })
    ));
    let loha = lora_with(
        dir.path(),
        "loha.safetensors",
        &[
            ("lora_unet_x.hada_w1_a", &[8, 2]),
            ("lora_unet_x.hada_w1_b", &[2, 8]),
            ("lora_unet_x.hada_w2_a", &[8, 2]),
            ("lora_unet_x.hada_w2_b", &[2, 8]),
        ],
    );
    assert!(matches!(
        LoraFile::read(&loha),
        Err(LoraError::Unsupported { .. })
    ));
    // inspect still describes what merge cannot handle.
    let info = inspect(&loha).unwrap();
    assert_eq!(info.modules.len(), 1);
    assert_eq!(
        (info.modules[0].kind, info.modules[0].rank),
        ("loha", Some(2))
    );
}

#[test]
fn cli_reports_the_file_and_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad header.safetensors",
        Some(1 << 40),
        b"{}",
        b"",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(["lora", "inspect"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad header.safetensors") && stderr.contains("header length"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A weight that is not a number is called a bad weight, not a file that cannot be read.
#[test]
fn cli_mix_calls_a_word_after_the_colon_a_bad_weight() {
    let dir = tempfile::tempdir().unwrap();
    let lora = std::fs::canonicalize("tests/fixtures/lora/lora_kohya_meta.safetensors").unwrap();
    for other in ["x:abc", &format!("{}:heavy", lora.display())] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lorabench"))
            .args(["lora", "mix"])
            .arg(&lora)
            .arg(other)
            .arg("-o")
            .arg(dir.path().join("out.safetensors"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{other}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("bad weight"), "{other}: {stderr}");
        assert!(!stderr.contains("cannot read"), "{other}: {stderr}");
    }
    assert!(!dir.path().join("out.safetensors").exists());
}
