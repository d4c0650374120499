//! Run folders for the TUI tests, written by the runs core: run.yaml and status.json through
//! its types, metrics.jsonl and events.jsonl by the supervisor's own log follower replaying
//! `train.log`s recorded from the real tqdm (tests/fixtures/runs_tui, made by its record.sh).
//! A "running" run has the test process as its trainer and supervisor, so the core sees a
//! live run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lorabench::train::TrainerId;
use lorabench::train::progress::{LogFormat, parser_for};
use lorabench::train::run::manifest::{Arg, Manifest, args};
use lorabench::train::run::proc::ProcRef;
use lorabench::train::run::status::now;
use lorabench::train::run::summary::ReadOptions;
use lorabench::train::run::{Home, RunId, State, Status};
use lorabench::train::supervisor::TRAIN_LOG;
use lorabench::train::supervisor::follow::Follower;

/// 2026-12-01 10:00:00 UTC.
pub const T0: f64 = 1_796_119_200.0;

pub fn recording(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/runs_tui")
        .join(name);
    std::fs::read(path).unwrap()
}

pub struct Made {
    pub dir: PathBuf,
}

/// A run folder as the launcher and supervisor leave it: run.yaml, status.json, the trainer's
/// log, and metrics.jsonl/events.jsonl parsed from it by the supervisor's follower.
pub fn make(
    home: &Home,
    id: &str,
    name: &str,
    log: &[u8],
    status: impl FnOnce(&mut Status, &Follower),
) -> Made {
    let dir = home.run_dir(&RunId(id.into()));
    std::fs::create_dir_all(dir.join("output")).unwrap();
    let m = Manifest {
        schema: lorabench::train::run::manifest::SCHEMA,
        id: id.into(),
        name: name.into(),
        trainer: TrainerId::Command,
        created_at: T0,
        dataset: None,
        program: Arg::Text("python3".into()),
        args: args(&[
            OsString::from("trainer.py"),
            OsString::from("--steps"),
            OsString::from("60"),
        ]),
        env: vec![],
        cwd: dir.clone(),
        output_dir: dir.join("output"),
        metrics_dir: None,
        total_steps: None,
        log_format: LogFormat::Tqdm,
        gpus: vec![0],
        devices: vec!["gpu-0".into()],
        queue: false,
        on_finish: vec![],
        attached: None,
        resumed_from: None,
        config: "backend: command\n".into(),
    };
    m.write(&dir).unwrap();
    std::fs::write(dir.join(TRAIN_LOG), log).unwrap();
    let mut f = Follower::new(
        &dir,
        dir.join(TRAIN_LOG),
        parser_for(TrainerId::Command, LogFormat::Tqdm),
    );
    f.finish();
    let mut s = Status::new(State::Running);
    s.created_at = T0;
    s.started_at = Some(T0 + 1.0);
    status(&mut s, &f);
    s.write(&dir).unwrap();
    Made { dir }
}

/// Four runs of every kind, and a folder from another version.
pub fn runs_home() -> (tempfile::TempDir, Home) {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().join("home"));
    let done = recording("done.log");
    let crash = recording("crash.log");
    make(
        &home,
        "20261201-100000-0a01",
        "sdxl style v1",
        &done,
        |s, _| {
            s.state = State::Succeeded;
            s.exit_code = Some(0);
            s.finished_at = Some(T0 + 755.0);
        },
    );
    let crashed = make(
        &home,
        "20261201-110000-0b02",
        "crashing run",
        &crash,
        |s, f| {
            s.state = State::Failed;
            s.exit_code = Some(1);
            s.message = f.errors.last().cloned();
            s.finished_at = Some(T0 + 3_700.0);
        },
    );
    let failed = Status::read(&crashed.dir).unwrap();
    assert!(failed.message.is_some(), "the follower found the error");
    // Half of the finished run's log: what a live run has written so far.
    make(
        &home,
        "20261201-120000-0c03",
        "live run",
        &done[..done.len() / 2],
        |s, _| {
            s.trainer = ProcRef::me();
            s.supervisor = ProcRef::me();
            s.started_at = Some(now() - 3_630.0);
        },
    );
    make(&home, "20261201-130000-0d04", "waiting run", b"", |s, _| {
        s.state = State::Queued;
        s.supervisor = ProcRef::me();
        s.message = Some("waiting for gpu-0 (held by run 20261201-120000-0c03)".into());
    });
    let other = home.run_dir(&RunId("20261201-140000-0e05".into()));
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("run.yaml"), "id: x\nschema: 9\n").unwrap();
    std::fs::write(
        other.join("status.json"),
        "{\"state\": \"paused\", \"v\": 9}",
    )
    .unwrap();
    (tmp, home)
}

pub fn opts() -> ReadOptions {
    ReadOptions {
        stall_after: Duration::from_secs(3_600 * 24),
    }
}
