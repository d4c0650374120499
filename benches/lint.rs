//! Lint benchmark: a generated 1,000-image dataset (JPEG and PNG, 1–12 MP, captions), linted by
//! `lorabench lint` (decode check + SHA-256 + perceptual hash + buckets + CLIP tokens) against
//! a Python reference doing Pillow decode + imagehash dhash on the same files, in the same run.
//!
//! cargo bench --bench lint   (env: LINT_BENCH_IMAGES=1000, LINT_BENCH_DIR=target/lint-bench,
//!                             LORABENCH_PYTHON=python3)
//! The generated dataset is kept in LINT_BENCH_DIR and reused by later runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ImageEncoder, RgbImage};
use rayon::prelude::*;

#[path = "support/python.rs"]
mod python;
mod support;

/// (wall seconds, peak RSS in MiB, stdout) of a command that ran to the end (lint exits 0 or
/// 1 by whether it found errors; the Python reference exits 0).
fn measure(cmd: &mut Command) -> (f64, f64, String) {
    let m = support::measure(cmd);
    assert!(
        m.status.code().is_some_and(|c| c <= 1),
        "{cmd:?} failed: {}",
        m.status
    );
    (m.wall_s, m.peak_rss_mib, m.stdout)
}

const TAGS: [&str; 24] = [
    "lbhouse",
    "lighthouse",
    "sea",
    "cliff",
    "rocks",
    "sky",
    "clouds",
    "sunset",
    "golden hour",
    "waves",
    "foam",
    "grass",
    "gulls",
    "horizon",
    "fog",
    "night",
    "stars",
    "red roof",
    "keeper's house",
    "photograph",
    "wide angle",
    "highly detailed",
    "sharp focus",
    "film grain",
];

/// A cheap xorshift so the dataset is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Image `i`: 1–12 MP, varied aspect, smooth scene plus grain (so JPEGs have a realistic size).
fn picture(i: u64) -> (RgbImage, bool, String) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let megapixels = 1.0 + rng.below(1101) as f64 / 100.0;
    let aspect = [
        1.0,
        4.0 / 3.0,
        3.0 / 4.0,
        3.0 / 2.0,
        2.0 / 3.0,
        16.0 / 9.0,
        9.0 / 16.0,
    ][rng.below(7) as usize];
    let w = ((megapixels * 1e6 * aspect).sqrt()) as u32;
    let h = ((megapixels * 1e6) / f64::from(w)) as u32;
    let (a, b, c) = (
        rng.below(255) as u32,
        rng.below(255) as u32,
        rng.below(7) as u32 + 1,
    );
    let mut grain = Rng(rng.next() | 1);
    let img = RgbImage::from_fn(w, h, |x, y| {
        let n = (grain.next() & 15) as u32;
        let fx = x * 255 / w;
        let fy = y * 255 / h;
        image::Rgb([
            ((fx * c + a + n) & 255) as u8,
            ((fy + b + n) & 255) as u8,
            (((fx + fy) / 2 + n) & 255) as u8,
        ])
    });
    let tags: Vec<&str> = (0..3 + rng.below(20))
        .map(|_| TAGS[rng.below(TAGS.len() as u64) as usize])
        .collect();
    (img, rng.below(10) < 7, tags.join(", "))
}

fn generate(dir: &Path, count: u64) {
    let marker = dir.join(format!(".generated-{count}-v1"));
    if marker.exists() {
        println!("reusing the generated dataset in {}", dir.display());
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create bench dir");
    let start = Instant::now();
    (0..count).into_par_iter().for_each(|i| {
        let (img, is_jpeg, caption) = picture(i);
        let mut bytes = Cursor::new(Vec::new());
        let (w, h) = img.dimensions();
        let name = if is_jpeg {
            JpegEncoder::new_with_quality(&mut bytes, 88)
                .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
                .expect("jpeg");
            format!("{i:04}.jpg")
        } else {
            PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Sub)
                .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
                .expect("png");
            format!("{i:04}.png")
        };
        std::fs::write(dir.join(&name), bytes.into_inner()).expect("write image");
        std::fs::write(dir.join(name).with_extension("txt"), caption).expect("write caption");
    });
    std::fs::write(&marker, b"").expect("marker");
    println!(
        "generated {count} images in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let count: u64 = std::env::var("LINT_BENCH_IMAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::var_os("LINT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lint-bench"));
    let python = python::python();
    generate(&dir, count);
    // Read every file once first, so whichever side runs first does not pay for the disk
    // alone (lorabench ran first and got a cold page cache: 27 s against 16 s warm).
    let bytes: u64 = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read(e.path()).ok())
                .map(|b| b.len() as u64)
                .sum()
        })
        .unwrap_or(0);
    println!(
        "dataset: {count} images, {:.0} MiB on disk",
        bytes as f64 / (1 << 20) as f64
    );

    let bin = env!("CARGO_BIN_EXE_lorabench");
    let lint = |threads: &str| {
        measure(
            Command::new(bin)
                .args([
                    "lint",
                    "--json",
                    "--model",
                    "sdxl",
                    "--batch-size",
                    "4",
                    "--threads",
                    threads,
                ])
                .arg(&dir),
        )
    };
    let (ours, ours_rss, out) = lint("0");
    let value: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    println!(
        "lorabench lint ({} threads): {ours:.2} s, peak RSS {ours_rss:.0} MiB, {} findings",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        value["findings"].as_array().map_or(0, |f| f.len())
    );
    let (one, one_rss, _) = lint("1");
    println!("lorabench lint (1 thread): {one:.2} s, peak RSS {one_rss:.0} MiB");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/lint_reference.py");
    let (py, py_rss, py_out) = measure(Command::new(&python).arg(script).arg(&dir));
    println!(
        "python Pillow decode + imagehash dhash: {py:.2} s, peak RSS {py_rss:.0} MiB ({})",
        py_out.trim()
    );
    if py_out.trim().is_empty() {
        println!(
            "reference did not run (set LORABENCH_PYTHON to a Python with Pillow and imagehash)"
        );
        return;
    }
    println!("ratio (python / lorabench, all cores): {:.2}x", py / ours);
    println!("ratio (python / lorabench, 1 thread):  {:.2}x", py / one);
}
