//! The run monitor's CPU on a live run (issue 12; figures in BENCHMARKS.md).
//! Run: `cargo bench --profile dev --bench monitor_cpu` (needs tmux; skipped without it).
//!
//! The real binary in tmux, as the workbench idle figure (benches/tui.rs): a live
//! command-backend run whose script writes one JSON progress line a second, the workbench
//! opened with `LORABENCH_HOME` on it, `R` then `Enter` opening that run's monitor. The machine
//! panel samples once a second; with no GPU here, the stand-in `nvidia-smi` of
//! tests/fixtures/nvidia_smi (a recorded real row) is first on the binary's PATH, so the
//! sampling runs its whole path (a child process, its CSV parsed, the panel redrawn) and the
//! panel shows the GPU. CPU of the lorabench process over 30 s from /proc/PID/stat (utime +
//! stime), against the 1 % budget; the nvidia-smi children's CPU (cutime + cstime, a bash and
//! awk script here, not the real program) is printed beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lorabench::train::progress::LogFormat;
use lorabench::train::run::control::{self, StopOptions};
use lorabench::train::run::{Home, LaunchSpec, State, Status, launch_using};
use lorabench::train::{LaunchPlan, TrainerId};

const WINDOW: Duration = Duration::from_secs(30);

/// The script's progress: one step a second, as a slow trainer prints it.
const TRAINER: &str = "i=0; while :; do i=$((i+1)); \
    echo \"{\\\"step\\\": $i, \\\"total\\\": 100000, \\\"loss\\\": 0.$((100 + i % 37)), \\\"lr\\\": 0.0001}\"; \
    sleep 1; done";

/// (own, children's) CPU seconds of a process, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // sysconf(_SC_CLK_TCK) is 100 on Linux.
    Some(((f[0] + f[1]) / 100.0, (f[2] + f[3]) / 100.0))
}

struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "b"]).stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {text:?} on the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn launch(home: &Home) -> lorabench::train::run::RunId {
    let run = home.allocate().expect("allocate");
    let dir = run.dir.clone();
    let spec = LaunchSpec {
        home: home.clone(),
        name: "monitor cpu bench".into(),
        config_yaml: String::new(),
        plan: LaunchPlan {
            trainer: TrainerId::Command,
            program: PathBuf::from("sh"),
            args: vec![OsString::from("-c"), OsString::from(TRAINER)],
            env: vec![],
            cwd: dir.clone(),
            files: vec![],
            output_dir: dir.join("output"),
            metrics_dir: None,
            total_steps: Some(100_000),
        },
        run,
        dataset: None,
        gpus: vec![0],
        queue: false,
        log_format: LogFormat::Jsonl,
        on_finish: vec![],
        resumed_from: None,
    };
    let id = launch_using(spec, Path::new(env!("CARGO_BIN_EXE_lorabench"))).expect("launch");
    std::thread::sleep(Duration::from_secs(2));
    let status = Status::read(&dir).expect("status");
    assert_eq!(status.state, State::Running, "see {}", dir.display());
    id
}

fn main() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("monitor CPU: skipped (no tmux)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().join("home"));
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let id = launch(&home);

    let stand_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nvidia_smi");
    let path = format!(
        "{}:{}",
        stand_in.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tmux = Tmux(format!("lb-monitor-bench-{}", std::process::id()));
    let cmd = format!(
        "PATH='{path}' LORABENCH_HOME='{}' XDG_CONFIG_HOME='{}' XDG_STATE_HOME='{}' '{}' --image-protocol halfblocks '{}'",
        tmp.path().join("home").display(),
        tmp.path().join("config").display(),
        tmp.path().join("state").display(),
        env!("CARGO_BIN_EXE_lorabench"),
        data.display()
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "b",
        "-x",
        "160",
        "-y",
        "48",
        &cmd,
    ]);
    std::thread::sleep(Duration::from_secs(2));
    tmux.cmd(&["send-keys", "-t", "b", "R"]);
    tmux.wait_for("monitor cpu bench");
    tmux.cmd(&["send-keys", "-t", "b", "Enter"]);
    // The GPU from the stand-in, and the chart moving: the sampling and the run are live.
    tmux.wait_for("gpu0 GeForce RTX 2080");
    let pid: u32 = String::from_utf8_lossy(
        &tmux
            .cmd(&["list-panes", "-t", "b", "-F", "#{pane_pid}"])
            .stdout,
    )
    .trim()
    .parse()
    .expect("pane pid");
    std::thread::sleep(Duration::from_secs(2));
    let step = |s: &str| {
        s.lines()
            .find_map(|l| l.split("step ").nth(1))
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
    };
    let first_step = step(&tmux.screen());
    let (own0, kids0) = cpu_seconds(pid).unwrap();
    let t = Instant::now();
    std::thread::sleep(WINDOW);
    let (own1, kids1) = cpu_seconds(pid).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let screen = tmux.screen();
    tmux.cmd(&["kill-server"]);
    let quick = StopOptions {
        int_grace: Duration::from_secs(2),
        term_grace: Duration::from_secs(2),
    };
    let _ = control::stop(&home, &id, quick, |_| {});

    assert!(screen.contains("gpu0 GeForce RTX 2080"), "{screen}");
    let pct = (own1 - own0) / secs * 100.0;
    println!(
        "monitor open on a live run (1 step/s, GPU sampled at 1 Hz), lorabench process over {secs:.1} s: {pct:.3} % of one core ({:.0} ms CPU; budget 1 %)",
        (own1 - own0) * 1e3
    );
    println!(
        "stand-in nvidia-smi children (bash + awk, not the real program): {:.3} % of one core",
        (kids1 - kids0) / secs * 100.0
    );
    println!(
        "chart's last step: {} at the start, {} at the end",
        first_step.unwrap_or_default(),
        step(&screen).unwrap_or_default()
    );
}
