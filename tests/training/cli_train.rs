//! `lorabench train --dry-run` and `lorabench config` as a user runs them: the real binary, a
//! user config in a temporary XDG_CONFIG_HOME, the real sd-scripts checkout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::kohya_env;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn lorabench(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("LORABENCH_HOME", home.join("state"))
        .env_remove("XDG_STATE_HOME")
        .output()
        .unwrap()
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.path().display().to_string(),
                (m.len(), m.modified().unwrap()),
            )
        })
        .collect()
}

fn setup(home: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let env = kohya_env::kohya();
    let cfg = home.join("config/lorabench");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.yaml"),
        format!(
            "trainers:\n  kohya:\n    path: {}\n    python: {}\n",
            env.path("SD_SCRIPTS").display(),
            env.path("PYTHON").display()
        ),
    )
    .unwrap();
    let data = home.join("data/lighthouse/10_lbhouse");
    std::fs::create_dir_all(&data).unwrap();
    for name in ["a", "b"] {
        image::RgbImage::from_pixel(512, 512, image::Rgb([200, 100, 50]))
            .save(data.join(format!("{name}.png")))
            .unwrap();
        std::fs::write(data.join(format!("{name}.txt")), format!("lbhouse, {name}")).unwrap();
    }
    (home.join("data/lighthouse"), env.path("MODEL"))
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, model) = setup(tmp.path());
    let before = listing(tmp.path());
    let out = lorabench(
        tmp.path(),
        &[
            "train",
            "--preset",
            "sd15",
            "--dataset",
            data.to_str().unwrap(),
            "--base",
            model.to_str().unwrap(),
            "--backend",
            "kohya",
            "--set",
            "network.rank=16",
            "--set",
            "train.steps=1500",
            "--force",
            "--dry-run",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("\"accelerate.commands.launch\""),
        "{stdout}"
    );
    assert!(stdout.contains("train_network.py\""), "{stdout}");
    assert!(stdout.lines().any(|l| l == "network_dim = 16"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "max_train_steps = 1500"),
        "{stdout}"
    );
    assert!(stdout.contains("num_repeats = 10"), "{stdout}");
    assert!(
        stdout.contains("config: preset sd15 < --set network.rank=16"),
        "{stdout}"
    );
    assert_eq!(listing(tmp.path()), before, "a dry run writes nothing");
    assert!(!tmp.path().join("state").exists());
}

#[test]
fn config_errors_name_the_key_and_the_nearest_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = setup(tmp.path());
    let file = tmp.path().join("my.yaml");
    std::fs::write(&file, "backend: kohya\nnetwork:\n  rnak: 16\n").unwrap();
    let out = lorabench(
        tmp.path(),
        &[
            "train",
            "--config",
            file.to_str().unwrap(),
            "--dataset",
            data.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:3:3: `network.rnak`: unknown key `rnak` (did you mean `rank`?)",
        file.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
}

#[test]
fn config_prints_the_effective_settings() {
    let tmp = tempfile::tempdir().unwrap();
    setup(tmp.path());
    let out = lorabench(tmp.path(), &["config", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let env = kohya_env::kohya();
    assert_eq!(
        v["trainers"]["kohya"]["python"],
        env.path("PYTHON").to_str().unwrap()
    );
    assert_eq!(v["trainers"]["onetrainer"]["python"], "python3");
    assert_eq!(
        v["runs"]["home"],
        tmp.path().join("state").to_str().unwrap()
    );
    assert_eq!(
        v["presets"],
        serde_json::json!(["tiny", "sd15", "sdxl", "flux"])
    );
}
