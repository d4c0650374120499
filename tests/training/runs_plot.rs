//! `lorabench runs plot` as a user runs it: the real binary on a run folder in a temporary
//! LORABENCH_HOME; the PNG it writes is read back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

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

fn run_dir(home: &Path, id: &str) -> std::path::PathBuf {
    let dir = home.join("state/runs").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn plot_writes_the_chart_and_names_torn_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "20261202-061200-0a1b");
    let mut text = String::new();
    for s in 1..=200u64 {
        let loss = 1.5 / (1.0 + s as f64 / 40.0);
        text.push_str(&format!("{{\"step\":{s},\"loss\":{loss},\"lr\":0.0001}}\n"));
        if s == 100 {
            text.push_str("garbage\n");
        }
    }
    text.push_str("{\"step\":201,\"loss\":0.4");
    std::fs::write(dir.join("metrics.jsonl"), text).unwrap();
    let png = tmp.path().join("loss.png");

    let out = lorabench(
        tmp.path(),
        &[
            "runs",
            "plot",
            "20261202",
            "-o",
            png.to_str().unwrap(),
            "--ema",
            "--log",
            "--width",
            "800",
            "--height",
            "400",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The garbage line and the torn last one, each named by its line.
    assert!(stderr.contains("line 101"), "{stderr}");
    assert!(
        stderr.contains("line 202") && stderr.contains("cut short"),
        "{stderr}"
    );
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (800, 400));
    assert!(String::from_utf8_lossy(&out.stdout).contains("200 loss points"));
}

#[test]
fn unknown_runs_and_runs_without_a_loss_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("loss.png");
    let png = png.to_str().unwrap();
    let out = lorabench(tmp.path(), &["runs", "plot", "nosuchrun", "-o", png]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuchrun"));

    // A run that has not logged a step yet, and one whose metrics are all garbage.
    let dir = run_dir(tmp.path(), "20261202-061300-0a1b");
    let out = lorabench(tmp.path(), &["runs", "plot", "20261202-0613", "-o", png]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no loss to plot"), "{stderr}");
    std::fs::write(dir.join("metrics.jsonl"), "not json\n{\"step\":1}\n").unwrap();
    let out = lorabench(tmp.path(), &["runs", "plot", "20261202-0613", "-o", png]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("skipped:") && stderr.contains("no loss to plot"),
        "{stderr}"
    );
    assert!(!Path::new(png).exists(), "nothing written on an error");
}
