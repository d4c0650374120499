//! Preview of 4000x3000 JPEGs into an 800x600 box: `lorabench::dataset::preview::load` against
//! Pillow's `Image.draft` + `thumbnail` (benches/preview_pillow.py) on the same files, in the
//! same run. Also times `image`'s own path (zune-jpeg full decode + the same resize) to show
//! what the scaled decode buys.
//!
//! ```text
//! cargo bench --bench preview            # reference: $LORABENCH_PYTHON (default python3)
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "support/python.rs"]
mod python;
#[allow(dead_code)]
#[path = "../examples/make_sample_data/scene.rs"]
mod scene;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use lorabench::dataset::preview;
use scene::{Rng, Scene, Time, Weather, render};

const BOX: (u32, u32) = (800, 600);
const REPS: usize = 15;

/// A photo-like 4000x3000 JPEG: the lighthouse scene plus sensor-like noise, so the entropy
/// coded data is as dense as a camera's (about 3-5 MB at quality 90).
fn photo(seed: u32, time: Time, weather: Weather) -> Vec<u8> {
    let mut img = render(&Scene {
        width: 4000,
        height: 3000,
        time,
        weather,
        tower_x: 0.3 + 0.1 * seed as f32,
        zoom: 0.55,
        horizon: 0.55,
        cliff_left: seed.is_multiple_of(2),
        beam_angle: 0.2,
        sky_light: (0.75, 0.25),
        seed,
    });
    let mut rng = Rng::new(u64::from(seed));
    for p in img.pixels_mut() {
        // Roughly Gaussian noise (sum of uniforms), sigma about 5 levels.
        let n = (rng.unit() + rng.unit() + rng.unit() - 1.5) * 17.0;
        for c in &mut p.0 {
            *c = (f32::from(*c) + n).clamp(0.0, 255.0) as u8;
        }
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encoding a JPEG into memory cannot fail");
    out
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time_it(path: &Path, f: impl Fn(&Path) -> (u32, u32)) -> (Duration, (u32, u32)) {
    let size = f(path);
    let times = (0..REPS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f(path));
            start.elapsed()
        })
        .collect();
    (median(times), size)
}

fn ours(path: &Path) -> (u32, u32) {
    let p = preview::load(path, BOX.0, BOX.1).expect("bench file decodes");
    p.image.dimensions()
}

fn image_crate(path: &Path) -> (u32, u32) {
    let img = image::open(path).expect("bench file decodes");
    let (w, h) = preview::fit_within(img.width(), img.height(), BOX.0, BOX.1);
    let small =
        img.thumbnail_exact(w * 2, h * 2)
            .resize_exact(w, h, image::imageops::FilterType::Triangle);
    (small.width(), small.height())
}

fn pillow(files: &[PathBuf]) -> Result<(String, Vec<Duration>), String> {
    let python = python::python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/preview_pillow.py");
    let out = Command::new(&python)
        .arg(script)
        .args([REPS.to_string(), BOX.0.to_string(), BOX.1.to_string()])
        .args(files)
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("bad output from Pillow script: {e}"))?;
    let version = json["pillow"].as_str().unwrap_or("?").to_owned();
    let times = files
        .iter()
        .map(|f| {
            json["median_s"][f.to_string_lossy().as_ref()]
                .as_f64()
                .map(Duration::from_secs_f64)
                .ok_or_else(|| format!("no time for {}", f.display()))
        })
        .collect::<Result<_, _>>()?;
    Ok((version, times))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // Daytime under a cloudy sky: the busiest picture (clouds, waves, rock) of the generator.
    let scenes = [1, 2, 3].map(|seed| (seed, Time::Day, Weather::Cloudy));
    let files: Vec<PathBuf> = scenes
        .iter()
        .map(|&(seed, time, weather)| {
            let path = dir.path().join(format!("photo-{seed}.jpg"));
            std::fs::write(&path, photo(seed, time, weather)).expect("write bench file");
            path
        })
        .collect();

    println!(
        "preview of 4000x3000 JPEG into {}x{}, median of {REPS} runs per file",
        BOX.0, BOX.1
    );
    let reference = pillow(&files);
    if let Err(e) = &reference {
        println!("Pillow reference unavailable: {e}");
    }
    let (mut sum_ours, mut sum_image, mut sum_pillow) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let (t_ours, size) = time_it(file, ours);
        let (t_image, _) = time_it(file, image_crate);
        sum_ours += t_ours;
        sum_image += t_image;
        let pillow_text = match &reference {
            Ok((_, times)) => {
                sum_pillow += times[i];
                format!(
                    "pillow {:7.2} ms  ratio pillow/ours {:.2}",
                    ms(times[i]),
                    times[i].as_secs_f64() / t_ours.as_secs_f64()
                )
            }
            Err(_) => String::new(),
        };
        println!(
            "{} ({:.1} MB) -> {}x{}: lorabench {:7.2} ms  image-crate {:7.2} ms  {pillow_text}",
            file.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            bytes as f64 / 1e6,
            size.0,
            size.1,
            ms(t_ours),
            ms(t_image),
        );
    }
    let n = files.len() as f64;
    println!(
        "mean: lorabench {:.2} ms, image-crate full decode {:.2} ms",
        ms(sum_ours) / n,
        ms(sum_image) / n
    );
    if let Ok((version, _)) = &reference {
        println!(
            "mean: Pillow {version} {:.2} ms; ratio Pillow/lorabench = {:.2} (> 1: lorabench is faster)",
            ms(sum_pillow) / n,
            sum_pillow.as_secs_f64() / sum_ours.as_secs_f64()
        );
    }
}
