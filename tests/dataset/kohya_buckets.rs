//! Buckets against sd-scripts' own code: its `BucketManager` (and the min/max adjustment of its
//! dataset class), run by tests/kohya/bucket_manager.py with the real sd-scripts environment,
//! on generated image sizes, for each model's defaults (64-pixel steps for every model) and for
//! non-default knobs. Every assignment (bucket and resized size) must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::kohya_env;

use std::io::Write;
use std::process::{Command, Stdio};

use lorabench::dataset::buckets::{KohyaBuckets, KohyaConfig, Model, Size};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Answer {
    min: u32,
    max: u32,
    buckets: Vec<[u32; 2]>,
    assigned: Vec<[u32; 4]>,
}

/// A small xorshift generator: the same sizes on every run, no dependency.
struct Sizes(u64);

impl Sizes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Image sizes as cameras, crops and scans make them: sides 96..6000, aspect up to 1:6.
    fn take(&mut self, n: usize) -> Vec<Size> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let w = 96 + (self.next() % 5905) as u32;
            let h = 96 + (self.next() % 5905) as u32;
            if w.max(h) <= 6 * w.min(h) {
                out.push(Size::new(w, h));
            }
        }
        out
    }
}

#[test]
fn every_assignment_matches_sd_scripts_bucket_manager() {
    let env = kohya_env::kohya();
    let mut sizes = Sizes(0x9e37_79b9_7f4a_7c15);
    // Each model's defaults, as the trainer runs them, then other knobs.
    let mut configs: Vec<(&str, KohyaConfig)> = Vec::new();
    for (name, model) in [
        ("sd15", Model::Sd15),
        ("sdxl", Model::Sdxl),
        ("flux", Model::Flux),
    ] {
        let cfg = KohyaConfig::defaults(model.default_resolution());
        cfg.check_step(model)
            .expect("the defaults are valid for every model");
        configs.push((name, cfg));
        configs.push((
            name,
            KohyaConfig {
                bucket_no_upscale: true,
                ..cfg
            },
        ));
    }
    configs.push((
        "sdxl steps 32, 320..1536",
        KohyaConfig {
            min_bucket_reso: 320,
            max_bucket_reso: 1536,
            bucket_reso_steps: 32,
            ..KohyaConfig::defaults(1024)
        },
    ));
    configs.push((
        "sd15 at 768, min 200 max 1000 (adjusted to the step)",
        KohyaConfig {
            min_bucket_reso: 200,
            max_bucket_reso: 1000,
            ..KohyaConfig::defaults(768)
        },
    ));
    let sets: Vec<(&str, KohyaConfig, Vec<Size>)> = configs
        .into_iter()
        .map(|(name, cfg)| (name, cfg, sizes.take(500)))
        .collect();
    let request: Vec<serde_json::Value> = sets
        .iter()
        .map(|(_, c, sizes)| {
            json!({
                "resolution": [c.resolution.w, c.resolution.h],
                "min": c.min_bucket_reso,
                "max": c.max_bucket_reso,
                "steps": c.bucket_reso_steps,
                "no_upscale": c.bucket_no_upscale,
                "sizes": sizes.iter().map(|s| [s.w, s.h]).collect::<Vec<_>>(),
            })
        })
        .collect();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kohya/bucket_manager.py");
    let mut child = Command::new(env.path("PYTHON"))
        .arg(script)
        .arg(env.path("SD_SCRIPTS"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the kohya python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request_bytes(&request).as_slice())
        .expect("send the sizes");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "bucket_manager.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Answer> = serde_json::from_slice(&out.stdout).expect("python's JSON");
    assert_eq!(answers.len(), sets.len());

    let mut compared = 0;
    let mut differ = Vec::new();
    for ((name, cfg, sizes), answer) in sets.iter().zip(&answers) {
        let ours = KohyaBuckets::new(*cfg).expect("valid settings");
        assert_eq!(
            (ours.config().min_bucket_reso, ours.config().max_bucket_reso),
            (answer.min, answer.max),
            "{name}: min/max adjusted to the step"
        );
        let list: Vec<[u32; 2]> = ours.list().iter().map(|s| [s.w, s.h]).collect();
        if !cfg.bucket_no_upscale {
            assert_eq!(list, answer.buckets, "{name}: the bucket list");
        }
        for (size, want) in sizes.iter().zip(&answer.assigned) {
            let a = ours.assign(*size);
            let got = [a.bucket.w, a.bucket.h, a.resized.w, a.resized.h];
            compared += 1;
            if got != *want {
                differ.push(format!("{name}: {size}: ours {got:?}, sd-scripts {want:?}"));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {compared} assignments differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    assert_eq!(compared, 500 * sets.len());
    eprintln!("{compared} bucket assignments agree with sd-scripts' BucketManager");
}

fn request_bytes(request: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(request).expect("plain JSON")
}
