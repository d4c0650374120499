//! `kill -9` in the middle of a bulk operation on 1,000 captions: every caption must be wholly
//! old or wholly new, and the next start must finish the interrupted entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const N: usize = 1000;

fn old(i: usize) -> String {
    format!("img{i}, sea, rocks, a caption long enough to take a moment to write\n")
}

fn new(i: usize) -> String {
    format!("img{i}, sea, rocks, a caption long enough to take a moment to write, crashtag\n")
}

fn make_dataset(root: &Path) {
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(1, 1)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    for i in 0..N {
        fs::write(root.join(format!("{i:04}.png")), &png).unwrap();
        fs::write(root.join(format!("{i:04}.txt")), old(i)).unwrap();
    }
}

/// How many captions are old and new; panics on anything else (a torn file).
fn census(root: &Path) -> (usize, usize) {
    let (mut olds, mut news) = (0, 0);
    for i in 0..N {
        let text = fs::read_to_string(root.join(format!("{i:04}.txt"))).unwrap();
        if text == old(i) {
            olds += 1;
        } else if text == new(i) {
            news += 1;
        } else {
            panic!("caption {i} is neither old nor new: {text:?}");
        }
    }
    (olds, news)
}

fn lorabench(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lorabench"));
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn kill_during_bulk_edit_leaves_old_or_new_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let root_s = root.to_str().unwrap();
    make_dataset(root);
    let state = root.join(".lorabench/journal/state.json");
    // Each round undoes the last, so the new entry always gets id 1.
    let entry = root.join(".lorabench/journal/00000001.entry");
    let mut mid_operation = 0;
    let mut runs = 0;
    // Wait until the journal marks the entry pending and its entry file is on disk, then kill
    // after a growing extra delay: this lands in the middle of the caption writes, or after.
    for extra_us in (0..80u64).map(|k| k * 100) {
        if mid_operation >= 3 {
            break;
        }
        runs += 1;
        let mut child = lorabench(&["captions", root_s, "add", "crashtag"])
            .spawn()
            .unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            let pending = fs::read_to_string(&state).is_ok_and(|s| s.contains("\"pending\":{"))
                && entry.exists();
            if pending || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_micros(extra_us));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();

        let (olds, news) = census(root);
        if olds > 0 && news > 0 {
            mid_operation += 1;
        }
        // The next start (any command opening the journal) completes the entry...
        let status = lorabench(&["captions", root_s, "history"])
            .status()
            .unwrap();
        assert!(status.success());
        let (olds, news) = census(root);
        assert!(
            olds == N || news == N,
            "after recovery: {olds} old, {news} new"
        );
        let leftovers: Vec<_> = fs::read_dir(root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".lbtmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary files left: {}",
            leftovers.len()
        );
        // ...and undo brings everything back to old, ready for the next round.
        if news == N {
            assert!(
                lorabench(&["captions", root_s, "undo"])
                    .status()
                    .unwrap()
                    .success()
            );
            assert_eq!(census(root), (N, 0));
        }
    }
    assert!(
        mid_operation >= 1,
        "never caught the operation in the middle in {runs} runs (machine too fast?)"
    );
}
