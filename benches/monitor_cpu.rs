//! The run monitor's CPU on a live run (issue 12: under 1 % of one core with the GPU sampled
//! once a second), measured on the real binary in tmux as the workbench's idle figure is.
//!
//! The run: tests/runs/trainer.py (real tqdm) at 10 steps a second under the real supervisor,
//! so metrics.jsonl and train.log change ten times a second and the monitor reads and redraws
//! for each. The GPU: the stand-in `nvidia-smi` of tests/fixtures/nvidia_smi on PATH (NVML
//! cannot load here), asked once a second.
//!
//! The reference, in the same run, is what the monitor replaces on a rented box: `nvidia-smi`
//! once a second in one tmux pane and `tail -f train.log` in another. CPU is read from
//! /proc/PID/stat over the same 30 s window: each process's own time, and with the children it
//! waited for (the nvidia-smi calls), since both sides pay for those.
//!
//! Run: `cargo bench --bench monitor_cpu` (python with tqdm: $LORABENCH_PYTHON, default python3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "support/live_run.rs"]
mod live_run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lorabench::train::run::control::{self, StopOptions};
use lorabench::train::run::{Home, State, Status};

const WINDOW: Duration = Duration::from_secs(30);

/// Own and own-plus-waited-children CPU seconds of a process, from /proc/PID/stat.
fn cpu(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields start after the last ')'.
    let f: Vec<f64> = stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime in clock ticks (100 a second on Linux).
    Some(((f[0] + f[1]) / 100.0, (f[0] + f[1] + f[2] + f[3]) / 100.0))
}

struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .unwrap()
    }

    fn pane_pid(&self, target: &str) -> u32 {
        let out = self.run(&["list-panes", "-t", target, "-F", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn screen(&self, target: &str) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", target]).stdout)
            .into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn main() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("monitor CPU: skipped (no tmux)");
        return;
    }
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_lorabench"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().join("home"));
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    image::RgbImage::from_pixel(64, 64, image::Rgb([90, 120, 200]))
        .save(data.join("one.png"))
        .unwrap();

    let (id, dir) = live_run::launch(&home, &exe, "monitor cpu bench", None);
    std::thread::sleep(Duration::from_secs(3));
    let status = Status::read(&dir).unwrap();
    assert_eq!(status.state, State::Running, "see {}", dir.display());

    let smi = repo.join("tests/fixtures/nvidia_smi");
    let path = format!(
        "{}:{}",
        smi.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tmux = Tmux(format!("lb-monitor-bench-{}", std::process::id()));
    let workbench = format!(
        "exec env PATH='{path}' LORABENCH_HOME='{}' XDG_CONFIG_HOME='{}' XDG_STATE_HOME='{}' '{}' --image-protocol halfblocks '{}'",
        home.root().display(),
        tmp.path().join("config").display(),
        tmp.path().join("state").display(),
        exe.display(),
        data.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "b",
        "-x",
        "160",
        "-y",
        "48",
        &workbench,
    ]);
    std::thread::sleep(Duration::from_secs(2));
    tmux.run(&["send-keys", "-t", "b", "R"]);
    std::thread::sleep(Duration::from_secs(1));
    tmux.run(&["send-keys", "-t", "b", "Enter"]);
    // The reference: nvidia-smi each second in one window, tail -f on the log in another.
    let query = "index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,driver_version";
    let smi_loop = format!(
        "exec env PATH='{path}' sh -c 'while :; do nvidia-smi --query-gpu={query} --format=csv,noheader,nounits; sleep 1; done'"
    );
    let tail = format!("exec tail -f '{}'", dir.join("train.log").display());
    tmux.run(&["new-window", "-d", "-t", "b", "-n", "smi", &smi_loop]);
    tmux.run(&["new-window", "-d", "-t", "b", "-n", "tail", &tail]);
    std::thread::sleep(Duration::from_secs(4));
    let screen = tmux.screen("b:0");
    assert!(
        screen.contains("Loss") && screen.contains("gpu0"),
        "the monitor is not up:\n{screen}"
    );

    let pids = [
        tmux.pane_pid("b:0"),
        tmux.pane_pid("b:smi"),
        tmux.pane_pid("b:tail"),
    ];
    let before: Vec<(f64, f64)> = pids.iter().map(|&p| cpu(p).unwrap()).collect();
    let steps_before = lorabench::train::run::summary::summary(&home, &id, &Default::default())
        .unwrap()
        .step
        .unwrap_or(0);
    let t0 = Instant::now();
    std::thread::sleep(WINDOW);
    let after: Vec<(f64, f64)> = pids.iter().map(|&p| cpu(p).unwrap()).collect();
    let secs = t0.elapsed().as_secs_f64();
    let steps = lorabench::train::run::summary::summary(&home, &id, &Default::default())
        .unwrap()
        .step
        .unwrap_or(0)
        - steps_before;
    let pct = |i: usize| {
        (
            (after[i].0 - before[i].0) / secs * 100.0,
            (after[i].1 - before[i].1) / secs * 100.0,
        )
    };
    let (ours, ours_all) = pct(0);
    let (smi_own, smi_all) = pct(1);
    let (tail_own, _) = pct(2);
    let theirs = smi_all + tail_own;
    println!(
        "machine: {} cores; the run moved {steps} steps in {secs:.1} s",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "lorabench monitor: {ours:.3} % of a core itself, {ours_all:.3} % with its nvidia-smi calls (target < 1 %)"
    );
    println!(
        "reference nvidia-smi loop + tail -f: {theirs:.3} % ({smi_own:.3} % the loop itself, {:.3} % its nvidia-smi calls, {tail_own:.3} % tail)",
        smi_all - smi_own
    );
    println!(
        "ratio (lorabench with its nvidia-smi calls / reference): {:.2}",
        ours_all / theirs.max(1e-9)
    );

    drop(tmux);
    let quick = StopOptions {
        int_grace: Duration::from_secs(5),
        term_grace: Duration::from_secs(2),
    };
    let _ = control::stop(&home, &id, quick, |_| {});
}
