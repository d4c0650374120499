//! `lorabench runs` over 500 run folders, 100 of them running (issue 11: under 100 ms).
//!
//! The folders are real: one run of tests/runs/trainer.py (real tqdm, 200 steps) finished by the
//! real supervisor, copied 400 times under fresh ids, and 100 live runs launched through
//! `launch_using` (trainer.py printing a step a second, each with its own supervisor). Then the
//! real binary lists them, and `benches/runs_list_reference.py` (plain Python: the same files
//! read — status.json, run.yaml's name and backend, the last metrics line, /proc for liveness)
//! lists the same folders, for a ratio.
//!
//! Run: `cargo bench --bench runs_list` (python with tqdm: $LORABENCH_PYTHON, default python3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "support/mod.rs"]
mod support;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lorabench::train::progress::LogFormat;
use lorabench::train::run::control::{self, StopOptions};
use lorabench::train::run::manifest::Manifest;
use lorabench::train::run::{Home, LaunchSpec, RunId, State, Status, launch_using};
use lorabench::train::{LaunchPlan, TrainerId};

const FINISHED: usize = 400;
const RUNNING: usize = 100;

fn spec(home: &Home, python: &Path, args: &[&str], gpu: u32) -> LaunchSpec {
    let run = home.allocate().expect("allocate");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runs/trainer.py");
    let mut argv: Vec<OsString> = vec![script.into()];
    argv.extend(args.iter().map(OsString::from));
    LaunchSpec {
        home: home.clone(),
        name: format!("bench {gpu}"),
        config_yaml: "backend: command\n".into(),
        plan: LaunchPlan {
            trainer: TrainerId::Command,
            program: python.to_path_buf(),
            args: argv,
            env: vec![],
            cwd: run.dir.clone(),
            files: vec![],
            output_dir: run.dir.join("output"),
            metrics_dir: None,
            total_steps: None,
        },
        run,
        dataset: None,
        gpus: vec![gpu],
        queue: false,
        log_format: LogFormat::Tqdm,
        on_finish: vec![],
        resumed_from: None,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read run").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

fn main() {
    let python =
        PathBuf::from(std::env::var("LORABENCH_PYTHON").unwrap_or_else(|_| "python3".into()));
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_lorabench"));
    let tmp = std::env::temp_dir().join(format!("lorabench-runs-bench-{}", std::process::id()));
    let home = Home::at(&tmp);

    // One real finished run, then copies of it under new ids.
    let first = launch_using(
        spec(&home, &python, &["--steps", "200", "--delay", "0"], 0),
        &exe,
    )
    .expect("launch (is tqdm installed for LORABENCH_PYTHON?)");
    let dir = home.run_dir(&first);
    while Status::read(&dir).is_ok_and(|s| s.state.is_active()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        Status::read(&dir).expect("status").state,
        State::Succeeded,
        "the template run failed: see {}",
        dir.display()
    );
    for i in 1..FINISHED {
        let new = home.allocate().expect("allocate");
        copy_dir(&dir, &new.dir);
        let mut m = Manifest::read(&new.dir).expect("manifest");
        m.id = new.id.to_string();
        m.name = format!("finished {i}");
        m.write(&new.dir).expect("write manifest");
    }
    // Live runs, each on its own device so none queues.
    let running: Vec<RunId> = (0..RUNNING)
        .map(|i| {
            launch_using(
                spec(
                    &home,
                    &python,
                    &["--steps", "100000", "--delay", "1"],
                    1000 + i as u32,
                ),
                &exe,
            )
            .expect("launch a live run")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(5));

    let mut peak_rss = 0.0f64;
    let mut time = |cmd: &mut Command| -> (f64, String) {
        let m = support::measure(cmd.env("LORABENCH_HOME", &tmp));
        assert!(m.status.success(), "{:?}", m.status);
        peak_rss = peak_rss.max(m.peak_rss_mib);
        (m.wall_s * 1000.0, m.stdout)
    };
    let mut ours = Vec::new();
    let mut reference = Vec::new();
    let mut listed = String::new();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/runs_list_reference.py");
    for _ in 0..7 {
        let (ms, out) = time(Command::new(&exe).arg("runs"));
        ours.push(ms);
        listed = out;
        let (ms, _) = time(Command::new(&python).arg(&script).arg(home.runs_dir()));
        reference.push(ms);
    }
    let (json_ms, _) = time(Command::new(&exe).args(["runs", "--json"]));
    let live = listed.lines().filter(|l| l.contains(" running ")).count();
    let done = listed.lines().filter(|l| l.contains(" succeeded ")).count();
    ours.sort_by(f64::total_cmp);
    reference.sort_by(f64::total_cmp);
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("runs listed: {live} running, {done} succeeded");
    println!(
        "lorabench runs: median {:.1} ms, min {:.1} ms (7 runs); runs --json {json_ms:.1} ms",
        ours[3], ours[0]
    );
    println!(
        "python reference: median {:.1} ms, min {:.1} ms",
        reference[3], reference[0]
    );
    println!(
        "ratio (python / lorabench, medians): {:.2}x",
        reference[3] / ours[3]
    );

    let start = Instant::now();
    std::thread::scope(|s| {
        for id in &running {
            let home = &home;
            s.spawn(move || {
                let quick = StopOptions {
                    int_grace: Duration::from_secs(5),
                    term_grace: Duration::from_secs(2),
                };
                let _ = control::stop(home, id, quick, |_| {});
            });
        }
    });
    println!(
        "stopped {RUNNING} runs in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
