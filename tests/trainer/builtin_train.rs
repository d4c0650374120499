//! The builtin trainer end to end through `lorabench train`: the `tiny` preset (random tiny
//! UNet, VAE and CLIP) on the repository's sample dataset, launched detached through the runs
//! core and read back with `runs show`: it succeeds with a falling loss, kohya checkpoints that
//! `lora inspect` reads as kohya, and sample PNGs; `runs stop` makes it save and exit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    xdg: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let (home, xdg) = (tmp.path().join("home"), tmp.path().join("xdg"));
    std::fs::create_dir_all(&xdg).unwrap();
    Env {
        _tmp: tmp,
        home,
        xdg,
    }
}

impl Env {
    fn lorabench(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lorabench"));
        c.env("LORABENCH_HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.xdg);
        c
    }

    /// `lorabench train --preset tiny` on the sample data with `sets`; the run id.
    fn train(&self, name: &str, sets: &[&str]) -> String {
        let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lighthouse");
        let mut c = self.lorabench();
        c.args(["train", "--preset", "tiny", "--name", name])
            .arg("--dataset")
            .arg(&dataset);
        for s in sets {
            c.args(["--set", s]);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "lorabench train failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.lines().last().unwrap().trim().to_string()
    }

    fn show(&self, id: &str) -> serde_json::Value {
        let o = self
            .lorabench()
            .args(["runs", "show", id, "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// Polls `runs show` until `done` holds or the run ends.
    fn wait(&self, id: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let v = self.show(id);
            let state = v["state"].as_str().unwrap_or("").to_string();
            if done(&v) || !matches!(state.as_str(), "queued" | "starting" | "running") {
                return v;
            }
            assert!(Instant::now() < deadline, "the run did not end: {v}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn log_of(show: &serde_json::Value) -> String {
    let dir = Path::new(show["dir"].as_str().unwrap());
    std::fs::read_to_string(dir.join("train.log")).unwrap_or_default()
}

fn losses(show: &serde_json::Value) -> Vec<(u64, f64)> {
    let dir = Path::new(show["dir"].as_str().unwrap());
    let parsed = lorabench::train::metrics::read_metrics(&dir.join("metrics.jsonl")).unwrap();
    let mut last = std::collections::BTreeMap::new();
    for p in parsed.points {
        if let Some(l) = p.loss {
            last.insert(p.step, l);
        }
    }
    last.into_iter().collect()
}

#[test]
fn the_tiny_preset_trains_on_the_sample_data_detached() {
    let e = env();
    let started = Instant::now();
    let id = e.train(
        "tiny-e2e",
        &[
            "train.steps=40",
            "save.every_n_steps=20",
            "sample.every_n_steps=20",
            "sample.steps=4",
        ],
    );
    let show = e.wait(&id, |_| false);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(show["state"], "succeeded", "log:\n{}", log_of(&show));
    assert_eq!(show["step"], 40);
    eprintln!("tiny run of 40 steps: {secs:.1} s");

    let l = losses(&show);
    assert_eq!(l.len(), 40, "{l:?}");
    let mean = |s: &[(u64, f64)]| s.iter().map(|p| p.1).sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&l[..8]), mean(&l[l.len() - 8..]));
    eprintln!("mean loss, first 8 steps {first:.4}, last 8 {last:.4}");
    // A random tiny UNet starts near the noise's own variance (loss ≈ 1); with adapters on
    // every layer kind the preset's first 40 steps take it to about half (0.98 -> 0.46 in the
    // 120-step run), so a fall of under a fifth means training is not reaching the adapters.
    assert!(
        last < 0.8 * first,
        "loss did not fall visibly: {first} -> {last}"
    );

    let ckpts: Vec<(String, Option<u64>)> = show["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c["step"].as_u64()))
        .collect();
    let names: Vec<&str> = ckpts
        .iter()
        .map(|c| c.0.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tiny-e2e-step00000020.safetensors",
            "tiny-e2e-step00000040.safetensors"
        ],
        "{ckpts:?}"
    );
    assert_eq!(
        ckpts.iter().map(|c| c.1).collect::<Vec<_>>(),
        [Some(20), Some(40)]
    );
    let inspect = e
        .lorabench()
        .args(["lora", "inspect", "--json", &ckpts[1].0])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(report["format"], "kohya", "{report}");
    let file = lorabench::lora::inspect::inspect(Path::new(&ckpts[1].0)).unwrap();
    assert_eq!(file.training.unwrap().steps.as_deref(), Some("40"));

    let samples = show["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2, "{show}");
    for s in samples {
        let img = image::open(s["path"].as_str().unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), (128, 128));
    }
    assert_eq!(
        samples
            .iter()
            .map(|s| s["step"].as_u64())
            .collect::<Vec<_>>(),
        [Some(20), Some(40)]
    );
    let dir = Path::new(show["dir"].as_str().unwrap());
    assert!(dir.join("cache/latents.safetensors").is_file());
}

#[test]
fn runs_stop_makes_it_save_and_exit() {
    let e = env();
    let id = e.train("tiny-stop", &["train.steps=100000", "sample.prompts=null"]);
    let running = e.wait(&id, |v| v["step"].as_u64().is_some_and(|s| s >= 2));
    assert_eq!(running["state"], "running", "log:\n{}", log_of(&running));
    let out = e.lorabench().args(["runs", "stop", &id]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let show = e.wait(&id, |_| false);
    assert_eq!(show["state"], "stopped", "log:\n{}", log_of(&show));
    let ckpts = show["checkpoints"].as_array().unwrap();
    assert_eq!(ckpts.len(), 1, "{show}");
    let step = ckpts[0]["step"].as_u64().unwrap();
    assert!(step >= 2, "{show}");
    let state = Path::new(ckpts[0]["path"].as_str().unwrap())
        .with_file_name(format!("tiny-stop-step{step:08}-state"));
    assert!(state.join("state.json").is_file());
}
