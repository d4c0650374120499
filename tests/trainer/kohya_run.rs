//! A real kohya sd-scripts run launched through `lorabench train`, detached, on the tiny random
//! SD1.x model that `../shared/trainers/kohya-cpu.sh prepare` makes: it must succeed, `runs show`
//! must list the real checkpoints and samples, the losses lorabench parsed from the console
//! must match the run's own TensorBoard scalars (`loss/average`, which is the bar's avr_loss) and
//! what it recorded must hold TensorBoard's exact values; a stopped run resumes from its saved
//! state with its steps carried on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::kohya_env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lorabench::train::backend::kohya::latest_state;
use lorabench::train::metrics::{MetricsWatcher, read_metrics};
use lorabench::train::progress::{LogFormat, Update, parse_reader};
use lorabench::train::{Point, TrainerId};

fn lorabench(home: &Path, xdg: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lorabench"));
    c.env("LORABENCH_HOME", home).env("XDG_CONFIG_HOME", xdg);
    c
}

/// A runs home and a user config pointing the kohya backend at the tiny sd-scripts checkout.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
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
    (tmp, home, xdg)
}

/// `lorabench train` on the lighthouse sample at 64 px, with `sets` on top; the run id.
fn train(home: &Path, xdg: &Path, name: &str, sets: &[&str]) -> String {
    let k = kohya_env::kohya();
    let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/lighthouse");
    let mut cmd = lorabench(home, xdg);
    cmd.args([
        "train",
        "--preset",
        "sd15",
        "--backend",
        "kohya",
        "--name",
        name,
    ])
    .arg("--dataset")
    .arg(&dataset)
    .arg("--base")
    .arg(k.path("MODEL"));
    for set in [
        "train.precision=fp32",
        "dataset.resolution=64",
        "dataset.buckets.min=64",
        "dataset.buckets.max=128",
    ]
    .iter()
    .chain(sets)
    {
        cmd.args(["--set", set]);
    }
    let out = cmd
        .arg("--set")
        .arg(format!(
            "backend_options.tokenizer_cache_dir={}",
            k.path("TOKENIZER_CACHE").display()
        ))
        .output()
        .unwrap();
    last_line_of(out, "lorabench train")
}

fn last_line_of(out: std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().unwrap().trim().to_string()
}

fn show(home: &Path, xdg: &Path, id: &str) -> serde_json::Value {
    let o = lorabench(home, xdg)
        .args(["runs", "show", id, "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn active(v: &serde_json::Value) -> bool {
    matches!(
        v["state"].as_str().unwrap_or(""),
        "queued" | "starting" | "running"
    )
}

/// Detached: `train` has returned; waits for the run to end.
fn ended(home: &Path, xdg: &Path, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let v = show(home, xdg, id);
        if !active(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "the kohya run did not end in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_real_kohya_run_trains_detached_and_is_read_back_exactly() {
    let (_tmp, home, xdg) = setup();
    let id = train(
        &home,
        &xdg,
        "kohya-real",
        &[
            "train.steps=6",
            "save.every_n_steps=3",
            "sample.prompts=[\"a lighthouse at night\"]",
            "sample.every_n_steps=3",
            "sample.steps=4",
        ],
    );
    let show = ended(&home, &xdg, &id);
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

    // The console's losses (the bar's avr_loss, 3 significant digits) against the run's own
    // TensorBoard scalars, step by step.
    let mut watcher = MetricsWatcher::new(TrainerId::Kohya, &dir.join("logs"));
    let tb = watcher.poll().unwrap();
    assert!(tb.len() >= 6, "TensorBoard scalars: {tb:?}");
    let log = std::fs::read(dir.join("train.log")).unwrap();
    let mut console = Vec::new();
    parse_reader(TrainerId::Kohya, LogFormat::Tqdm, &log[..], |u| {
        if let Update::Point(p) = u {
            console.push(p);
        }
    })
    .unwrap();
    let mut compared = 0;
    for p in console.iter().filter(|p| p.loss.is_some()) {
        let Some(t) = tb.iter().find(|t| t.step == p.step) else {
            continue;
        };
        let (a, b) = (p.loss.unwrap(), t.loss.unwrap());
        assert!(
            (a - b).abs() <= 0.006 * b.abs(),
            "step {}: bar {a}, TensorBoard {b}",
            p.step
        );
        compared += 1;
    }
    assert!(compared >= 6, "compared {compared} steps of {console:?}");

    // What the supervisor recorded: the structured file wins, so every step of metrics.jsonl
    // (a later line of a step replaces an earlier one) holds TensorBoard's exact loss and
    // learning rate (the bar shows no learning rate at all), and so does `runs show`.
    let recorded = by_step(&dir);
    for t in &tb {
        let p = &recorded[&t.step];
        assert!(
            same(p.loss, t.loss) && same(p.lr, t.lr),
            "step {}: {p:?} {t:?}",
            t.step
        );
    }
    let final_tb = tb.iter().find(|t| t.step == 6).unwrap();
    assert!(same(show["loss"].as_f64(), final_tb.loss), "{show}");
    assert!(same(show["lr"].as_f64(), final_tb.lr), "{show}");
}

/// Equal to within what a JSON round trip changes (an ulp or so).
fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * b.abs().max(1e-30),
        _ => false,
    }
}

/// metrics.jsonl of a run, the last line of each step.
fn by_step(dir: &Path) -> BTreeMap<u64, Point> {
    let parsed = read_metrics(&dir.join("metrics.jsonl")).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    parsed.points.into_iter().map(|p| (p.step, p)).collect()
}

/// Stopped once it has saved a state, then `runs resume`: the new run, linked to the old one,
/// trains on the same snapshot into the same output folder from the saved step, and its steps,
/// checkpoints and losses go on from there (kohya's bar restarts at 0; TensorBoard's global
/// step and lorabench's do not).
#[test]
fn a_stopped_kohya_run_resumes_from_its_saved_state_with_steps_carried_on() {
    let (_tmp, home, xdg) = setup();
    let name = "kohya-resume";
    let total = 80;
    let id = train(
        &home,
        &xdg,
        name,
        &[
            &format!("train.steps={total}"),
            "save.every_n_steps=5",
            "save.keep_last=2",
        ],
    );
    let first = show(&home, &xdg, &id);
    let out = PathBuf::from(first["output_dir"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(600);
    while latest_state(&out, name).is_none() {
        let v = show(&home, &xdg, &id);
        assert!(active(&v), "the run ended before it saved a state: {v}");
        assert!(Instant::now() < deadline, "no state saved in 10 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = lorabench(&home, &xdg)
        .args(["runs", "stop", &id, "--int-grace", "60"])
        .output()
        .unwrap();
    assert_eq!(last_line_of(stop, "runs stop"), format!("{id} stopped"));
    let stopped = show(&home, &xdg, &id);
    let saved = latest_state(&out, name).unwrap().step;
    assert!(saved < total, "saved at {saved}");

    // A prefix of the id is enough.
    let resume = lorabench(&home, &xdg)
        .args(["runs", "resume", &id[..id.len() - 1]])
        .output()
        .unwrap();
    let new = last_line_of(resume, "runs resume");
    assert_ne!(new, id);
    let v = ended(&home, &xdg, &new);
    let dir = PathBuf::from(v["dir"].as_str().unwrap());
    assert_eq!(
        v["state"],
        "succeeded",
        "resumed run failed; its log:\n{}",
        std::fs::read_to_string(dir.join("train.log")).unwrap_or_default()
    );
    assert_eq!(
        (v["step"].as_u64(), v["total"].as_u64()),
        (Some(total), Some(total))
    );
    assert_eq!(v["resumed_from"], id.as_str());
    assert_eq!(v["output_dir"], first["output_dir"]);
    assert_eq!(v["dataset"]["hash"], first["dataset"]["hash"]);
    // The old run keeps its own record.
    assert_eq!(show(&home, &xdg, &id)["state"], "stopped");
    assert_eq!(stopped["state"], "stopped");

    // sd-scripts' own TensorBoard steps go on from the state, and so do lorabench's.
    let tb = MetricsWatcher::new(TrainerId::Kohya, &dir.join("logs"))
        .poll()
        .unwrap();
    let tb_steps: Vec<u64> = tb.iter().map(|t| t.step).collect();
    assert_eq!(tb_steps, (saved + 1..=total).collect::<Vec<_>>());
    let recorded = by_step(&dir);
    assert_eq!(recorded.keys().next(), Some(&(saved + 1)), "{recorded:?}");
    assert_eq!(recorded.keys().last(), Some(&total));
    for t in &tb {
        let p = &recorded[&t.step];
        // Exact but for JSON's last digit (serde_json reads floats to within an ulp).
        assert!(
            same(p.loss, t.loss) && same(p.lr, t.lr),
            "step {}: {p:?} {t:?}",
            t.step
        );
        assert_eq!(p.total, Some(total), "step {}", t.step);
    }
    let ckpt = format!("{name}-step{total:08}.safetensors");
    let listed = v["checkpoints"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with(&ckpt)
                && c["step"].as_u64() == Some(total)),
        "{ckpt} not in {listed:?}"
    );

    // The old run cannot be removed while the new one writes into its output folder.
    let rm = lorabench(&home, &xdg)
        .args(["runs", "rm", &id, "--yes"])
        .output()
        .unwrap();
    assert!(!rm.status.success());
    assert!(String::from_utf8_lossy(&rm.stderr).contains(&new));
}

/// `lorabench doctor` on the real kohya environment: its python, torch, accelerate and
/// sd-scripts' own modules import; a trainer folder that does not exist is a problem with what
/// to do; the runs folder's free disk and the terminal's image protocol are reported.
#[test]
fn doctor_checks_the_real_kohya_install_and_names_a_broken_one() {
    let (tmp, home, xdg) = setup();
    let config = xdg.join("lorabench/config.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "trainers:\n",
        &format!(
            "trainers:\n  ai-toolkit:\n    path: {:?}\n",
            tmp.path().join("no-such-checkout")
        ),
    );
    std::fs::write(&config, text).unwrap();
    let o = lorabench(&home, &xdg)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    // A problem: the exit code says so.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let of = |area: &str| -> Vec<&serde_json::Value> {
        checks.iter().filter(|c| c["area"] == area).collect()
    };
    let kohya = of("kohya");
    let found = |what: &str, level: &str| {
        kohya
            .iter()
            .any(|c| c["level"] == level && c["detail"].as_str().unwrap().contains(what))
    };
    for what in ["python 3.", "accelerate ", "library.train_util imports"] {
        assert!(found(what, "ok"), "{what} in {kohya:?}");
    }
    // torch imports; without a GPU its missing CUDA is only a warning.
    let gpu = !v["gpus"]["gpus"].as_array().unwrap().is_empty();
    assert!(
        found("torch ", "ok") || (!gpu && found("torch ", "warning")),
        "{kohya:?}"
    );
    let aitk = of("ai-toolkit");
    assert!(
        aitk.iter().any(|c| c["level"] == "problem"
            && c["detail"].as_str().unwrap().contains("no-such-checkout")
            && c["fix"].is_string()),
        "{aitk:?}"
    );
    assert_eq!(of("gpu").len(), 1, "{checks:?}");
    assert!(
        of("disk")
            .iter()
            .any(|c| c["detail"].as_str().unwrap().contains("GiB free")),
        "{checks:?}"
    );
    assert!(v["image_protocol"].is_string(), "{v}");
}
