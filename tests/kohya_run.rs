//! A real kohya sd-scripts run launched through `lorabench train`, detached, on the tiny random
//! SD1.x model that `../shared/trainers/kohya-cpu.sh prepare` makes: it must succeed, `runs show`
//! must list the real checkpoints and samples, and the losses lorabench parsed from the console
//! must match the run's own TensorBoard scalars (`loss/average`, which is the bar's avr_loss).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

mod kohya_env;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lorabench::train::TrainerId;
use lorabench::train::metrics::{MetricsWatcher, read_metrics};

fn lorabench(home: &Path, xdg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lorabench"));
    c.env("LORABENCH_HOME", home).env("XDG_CONFIG_HOME", xdg);
    c
}

#[test]
fn a_real_kohya_run_trains_detached_and_is_read_back_exactly() {
    let k = kohya_env::kohya();
    let tmp = tempfile::tempdir().unwrap();
    let (home, xdg) = (tmp.path().join("home"), tmp.path().join("xdg"));
    std::fs::create_dir_all(xdg.join("lorabench")).unwrap();
    std::fs::write(
        xdg.join("lorabench/config.yaml"),
        format!(
            "trainers:\n  kohya:\n    path: {:?}\n    python: {:?}\n",
            k.path("SD_SCRIPTS_TINY"),
            k.path("PYTHON")
        ),
    )
    .unwrap();
    let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lighthouse");
    let tokenizer = k.path("TOKENIZER_CACHE");
    let out = lorabench(&home, &xdg)
        .args([
            "train",
            "--preset",
            "sd15",
            "--backend",
            "kohya",
            "--name",
            "kohya-real",
        ])
        .arg("--dataset")
        .arg(&dataset)
        .arg("--base")
        .arg(k.path("MODEL"))
        .args([
            "--set",
            "train.steps=6",
            "--set",
            "train.precision=fp32",
            "--set",
            "dataset.resolution=64",
            "--set",
            "dataset.buckets.min=64",
            "--set",
            "dataset.buckets.max=128",
            "--set",
            "save.every_n_steps=3",
            "--set",
            "sample.prompts=[\"a lighthouse at night\"]",
            "--set",
            "sample.every_n_steps=3",
            "--set",
            "sample.steps=4",
            "--set",
        ])
        .arg(format!(
            "backend_options.tokenizer_cache_dir={}",
            tokenizer.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lorabench train failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout.lines().last().unwrap().trim().to_string();

    // Detached: `train` has returned; wait for the run to end.
    let deadline = Instant::now() + Duration::from_secs(600);
    let show = loop {
        let o = lorabench(&home, &xdg)
            .args(["runs", "show", &id, "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let state = v["state"].as_str().unwrap_or("").to_string();
        if !matches!(state.as_str(), "queued" | "starting" | "running") {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "the kohya run did not end in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let dir = Path::new(show["dir"].as_str().unwrap()).to_path_buf();
    assert_eq!(
        show["state"],
        "succeeded",
        "run failed; its log:\n{}",
        std::fs::read_to_string(dir.join("train.log")).unwrap_or_default()
    );
    assert_eq!(show["step"], 6);

    // The checkpoints sd-scripts wrote, listed with their steps.
    let ckpts: Vec<(String, Option<u64>)> = show["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["path"].as_str().unwrap().to_string(), c["step"].as_u64()))
        .collect();
    for (name, step) in [
        ("kohya-real-step00000003.safetensors", 3),
        ("kohya-real-step00000006.safetensors", 6),
    ] {
        let found = ckpts.iter().find(|(p, _)| p.ends_with(name));
        assert_eq!(found.map(|c| c.1), Some(Some(step)), "{name} in {ckpts:?}");
        assert!(Path::new(&found.unwrap().0).is_file());
    }
    let samples = show["samples"].as_array().unwrap();
    assert!(!samples.is_empty(), "no samples listed: {show}");
    for s in samples {
        assert!(Path::new(s["path"].as_str().unwrap()).is_file());
    }

    // Parsed console losses against the run's own TensorBoard scalars, step by step.
    let parsed = read_metrics(&dir.join("metrics.jsonl")).unwrap();
    let mut watcher = MetricsWatcher::new(TrainerId::Kohya, &dir.join("logs"));
    let tb = watcher.poll().unwrap();
    assert!(tb.len() >= 6, "TensorBoard scalars: {tb:?}");
    // metrics.jsonl is appended to as the run goes: a later line for a step replaces an earlier
    // one (the supervisor flushes the newest frame before the step is complete).
    let mut last = std::collections::BTreeMap::new();
    for p in &parsed.points {
        last.insert(p.step, p.clone());
    }
    let mut compared = 0;
    for p in last.values().filter(|p| p.loss.is_some()) {
        let Some(t) = tb.iter().find(|t| t.step == p.step) else {
            continue;
        };
        let (a, b) = (p.loss.unwrap(), t.loss.unwrap());
        // The bar shows avr_loss to 3 significant digits.
        assert!(
            (a - b).abs() <= 0.006 * b.abs(),
            "step {}: bar {a}, TensorBoard {b}",
            p.step
        );
        compared += 1;
    }
    assert!(
        compared >= 6,
        "compared {compared} steps of {:?}",
        parsed.points
    );
}
