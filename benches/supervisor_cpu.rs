//! The supervisor's own CPU while its trainer prints 20 progress frames a second (issue 11:
//! under 1 % of a core), against `benches/supervisor_follow_reference.py`, a plain Python
//! follower doing the same job on the same log in the same run (read what is new every half
//! second, take the tqdm frames with a regex, append JSON lines).
//!
//! The trainer is tests/runs/trainer.py (real tqdm, `TQDM_MININTERVAL=0`): 10 steps a second,
//! two frames a step (the update, then the postfix). CPU time is read from /proc/PID/schedstat
//! (nanoseconds on a CPU) over the same 30 s window for both.
//!
//! Run: `cargo bench --bench supervisor_cpu` (python with tqdm: $LORABENCH_PYTHON, default python3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

#[path = "support/live_run.rs"]
mod live_run;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lorabench::train::run::control::{self, StopOptions};
use lorabench::train::run::{Home, State, Status};

const WINDOW: Duration = Duration::from_secs(30);

fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn frames(log: &Path) -> usize {
    std::fs::read(log).map_or(0, |b| b.iter().filter(|&&c| c == b'\r').count())
}

fn main() {
    let python = live_run::python();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_lorabench"));
    let tmp = std::env::temp_dir().join(format!("lorabench-sup-bench-{}", std::process::id()));
    let home = Home::at(&tmp);
    let (id, dir) = live_run::launch(&home, &exe, "cpu bench", Some("logs"));
    let log = dir.join("train.log");
    let reference_out = tmp.join("reference.jsonl");
    let mut reference = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/supervisor_follow_reference.py"))
        .arg(&log)
        .arg(&reference_out)
        .stdout(Stdio::null())
        .spawn()
        .expect("start the reference follower");
    std::thread::sleep(Duration::from_secs(5));
    let status = Status::read(&dir).expect("status");
    assert_eq!(
        status.state,
        State::Running,
        "the run is not running: see {}",
        dir.display()
    );
    let sup = status.supervisor.expect("supervisor").pid;

    let (s0, r0, f0, t0) = (
        cpu_ns(sup),
        cpu_ns(reference.id()),
        frames(&log),
        Instant::now(),
    );
    std::thread::sleep(WINDOW);
    let (s1, r1, f1) = (cpu_ns(sup), cpu_ns(reference.id()), frames(&log));
    let secs = t0.elapsed().as_secs_f64();
    let pct = |a: u64, b: u64| (b - a) as f64 / 1e9 / secs * 100.0;
    let (ours, theirs) = (pct(s0, s1), pct(r0, r1));
    println!(
        "machine: {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "trainer frames: {:.1} per second over {secs:.1} s",
        (f1 - f0) as f64 / secs
    );
    println!(
        "lorabench supervisor: {ours:.3} % of a core ({:.1} ms CPU)",
        (s1 - s0) as f64 / 1e6
    );
    println!(
        "python follower:      {theirs:.3} % of a core ({:.1} ms CPU)",
        (r1 - r0) as f64 / 1e6
    );
    println!(
        "ratio (python / lorabench): {:.1}x",
        theirs / ours.max(1e-9)
    );

    let _ = reference.kill();
    let _ = reference.wait();
    let quick = StopOptions {
        int_grace: Duration::from_secs(5),
        term_grace: Duration::from_secs(2),
    };
    let _ = control::stop(&home, &id, quick, |_| {});
    let _ = std::fs::remove_dir_all(&tmp);
}
