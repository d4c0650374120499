//! Bulk caption edit on a generated 10,000-image dataset: scan + plan + apply through the
//! journal (entry fsynced, atomic replace of every caption, one file-system sync), then undo.
//! Compared in the same run with benches/bulk_edit_reference.py, a plain Python loop doing the
//! same edit in place with no journal and no safety. Target (issue 2): under 1 s.
//!
//! Run: `cargo bench --bench dataset_bulk` (`LORABENCH_PYTHON` picks the interpreter,
//! default `python3`; the reference needs only the standard library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use lorabench::dataset::ops::{self, BulkOp, Position};
use lorabench::dataset::{Journal, ScanOptions, scan};

#[path = "support/python.rs"]
mod python;

const N: usize = 10_000;

fn generate(root: &Path) {
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 128]))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("encode png");
    let png = png.into_inner();
    for i in 0..N {
        fs::write(root.join(format!("{i:05}.png")), &png).expect("write image");
        let caption = format!(
            "lbhouse, lighthouse, sea, rocks, tag{}, tag{}, sky, clouds, waves, {} light",
            i % 97,
            i % 13,
            ["morning", "evening", "night"][i % 3]
        );
        fs::write(root.join(format!("{i:05}.txt")), caption).expect("write caption");
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    generate(root);

    let t = Instant::now();
    let dataset = scan(root, &ScanOptions::default()).expect("scan");
    let scan_s = t.elapsed().as_secs_f64();
    let all: Vec<usize> = (0..dataset.items.len()).collect();
    let (journal, _) = Journal::open(root).expect("journal");
    let op = BulkOp::Add {
        tag: "bench".into(),
        at: Position::Back,
    };
    let t = Instant::now();
    let plan = ops::plan(&dataset, &all, &op).expect("plan");
    let changed = plan.edits.len();
    plan.apply(&journal, &op.describe()).expect("apply");
    let edit_s = t.elapsed().as_secs_f64();
    assert_eq!(changed, N);

    let t = Instant::now();
    journal.undo(false).expect("undo");
    let undo_s = t.elapsed().as_secs_f64();

    let python = python::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/bulk_edit_reference.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(root)
        .arg("bench")
        .output();
    let reference = out.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .and_then(|s| s.parse::<f64>().ok())
    });

    println!("dataset_bulk: {N} images + captions");
    println!(
        "  scan (all captions loaded)        {:8.1} ms",
        scan_s * 1e3
    );
    println!(
        "  add tag, journal included          {:8.1} ms  (target < 1000 ms)",
        edit_s * 1e3
    );
    println!(
        "  undo of that edit                  {:8.1} ms",
        undo_s * 1e3
    );
    match reference {
        Some(r) => println!(
            "  python in-place loop (no journal)  {:8.1} ms  -> ratio python/lorabench {:.2}",
            r * 1e3,
            r / edit_s
        ),
        None => println!("  python reference not run ({python} missing?)"),
    }
}
