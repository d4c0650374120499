//! Runs end to end with real processes: the real `lorabench` binary as the detached
//! supervisor, and a Python program drawing the real tqdm bar (tests/runs/trainer.py) as the
//! trainer of a `command`-backend plan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

mod kohya_env;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lorabench::train::progress::LogFormat;
use lorabench::train::run::control::{self, StopOptions};
use lorabench::train::run::summary::{self, Entry, ReadOptions, Summary};
use lorabench::train::run::{Home, LaunchSpec, RunError, RunId, State, Status, launch_using};
use lorabench::train::{LaunchPlan, TrainerId};

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lorabench"))
}

fn python() -> PathBuf {
    kohya_env::kohya().path("PYTHON")
}

fn trainer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runs/trainer.py")
}

fn home() -> (tempfile::TempDir, Home) {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().join("home"));
    (tmp, home)
}

fn spec(home: &Home, args: &[&str], gpus: &[u32], queue: bool) -> LaunchSpec {
    let run = home.allocate().unwrap();
    let mut argv: Vec<OsString> = vec![trainer_script().into()];
    argv.extend(args.iter().map(OsString::from));
    LaunchSpec {
        home: home.clone(),
        name: "test run".into(),
        config_yaml: "backend: command\n".into(),
        plan: LaunchPlan {
            trainer: TrainerId::Command,
            program: python(),
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
        gpus: gpus.to_vec(),
        queue,
        log_format: LogFormat::Tqdm,
        on_finish: vec![],
        resumed_from: None,
    }
}

fn start(home: &Home, args: &[&str]) -> RunId {
    launch_using(spec(home, args, &[7], false), &exe()).unwrap()
}

fn look(home: &Home, id: &RunId) -> Summary {
    summary::summary(home, id, &ReadOptions::default()).unwrap()
}

fn wait_for(home: &Home, id: &RunId, what: &str, done: impl Fn(&Summary) -> bool) -> Summary {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = look(home, id);
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ended(home: &Home, id: &RunId) -> Summary {
    wait_for(home, id, "the end", |s| !s.state.is_active())
}

fn status(home: &Home, id: &RunId) -> Status {
    Status::read(&home.run_dir(id)).unwrap()
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn a_run_succeeds_with_its_progress_and_untouched_arguments() {
    let (_tmp, home) = home();
    let awkward = [
        "with space",
        "--leading-dash",
        "it's \"quoted\"",
        "new\nline",
        "-",
    ];
    // `--echo=VALUE`, so that argparse takes values starting with a dash as values.
    let mut args: Vec<String> = ["--steps", "12", "--delay", "0.02"]
        .map(String::from)
        .to_vec();
    args.extend(awkward.iter().map(|a| format!("--echo={a}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = start(&home, &args);
    let s = ended(&home, &id);
    assert_eq!(s.state, State::Succeeded, "{s:#?}");
    assert_eq!((s.step, s.total), (Some(12), Some(12)));
    assert!((s.loss.unwrap() - 1.0 / 12.0).abs() < 1e-3, "{:?}", s.loss);
    assert_eq!(s.lr, Some(1e-4));
    assert_eq!(s.exit_code, Some(0));

    let dir = home.run_dir(&id);
    let log = std::fs::read_to_string(dir.join("train.log")).unwrap();
    let echoed = log.lines().find_map(|l| l.strip_prefix("echo ")).unwrap();
    let echoed: Vec<String> = serde_json::from_str(echoed).unwrap();
    assert_eq!(echoed, awkward);
    let metrics = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    assert_eq!(steps.last(), Some(&12));
    let run_yaml = std::fs::read_to_string(dir.join("run.yaml")).unwrap();
    assert!(run_yaml.contains("PYTHONUNBUFFERED"), "{run_yaml}");
    assert!(run_yaml.contains("CUDA_VISIBLE_DEVICES"), "{run_yaml}");
}

#[test]
fn a_crash_is_failed_with_the_exception_line() {
    let (_tmp, home) = home();
    let id = start(
        &home,
        &["--steps", "10", "--delay", "0.01", "--crash-at", "3"],
    );
    let s = ended(&home, &id);
    assert_eq!(s.state, State::Failed);
    assert_eq!(s.exit_code, Some(1));
    assert!(
        s.message
            .as_deref()
            .unwrap_or("")
            .contains("ValueError: boom at step 3"),
        "{s:#?}"
    );
    assert_eq!(
        s.last_lines.last().map(String::as_str),
        Some("ValueError: boom at step 3")
    );
    assert!(
        s.last_lines.iter().any(|l| l.starts_with("Traceback")),
        "{:?}",
        s.last_lines
    );
}

#[test]
fn sigkill_is_failed_with_signal_9() {
    let (_tmp, home) = home();
    let id = start(&home, &["--steps", "1000", "--delay", "0.02"]);
    let s = wait_for(&home, &id, "progress", |s| s.step.unwrap_or(0) >= 2);
    kill(s.pid.unwrap(), "KILL");
    let s = ended(&home, &id);
    assert_eq!(
        (s.state, s.signal, s.exit_code),
        (State::Failed, Some(9), None),
        "{s:#?}"
    );
    assert!(s.message.unwrap().contains("signal 9"));
}

#[test]
fn stop_sends_sigint_first_then_escalates() {
    let (tmp, home) = home();
    let seen = tmp.path().join("signals");
    let seen_arg = seen.to_str().unwrap();
    let id = start(
        &home,
        &["--steps", "1000", "--delay", "0.02", "--signals", seen_arg],
    );
    wait_for(&home, &id, "progress", |s| s.step.unwrap_or(0) >= 1);
    let mut said = Vec::new();
    let state = control::stop(&home, &id, StopOptions::default(), |l| {
        said.push(l.to_string())
    })
    .unwrap();
    assert_eq!(state, State::Stopped);
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "SIGINT\n");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].starts_with("sent SIGINT to process group"),
        "{said:?}"
    );
    let s = look(&home, &id);
    assert_eq!((s.state, s.exit_code), (State::Stopped, Some(130)));
    assert!(
        std::fs::read_to_string(home.run_dir(&id).join("train.log"))
            .unwrap()
            .contains("saving before exit")
    );

    // A trainer that ignores SIGINT and SIGTERM gets SIGKILL after the grace periods.
    std::fs::remove_file(&seen).unwrap();
    let id = start(
        &home,
        &[
            "--steps",
            "1000",
            "--delay",
            "0.02",
            "--signals",
            seen_arg,
            "--ignore",
            "SIGINT",
            "--ignore",
            "SIGTERM",
        ],
    );
    wait_for(&home, &id, "progress", |s| s.step.unwrap_or(0) >= 1);
    let quick = StopOptions {
        int_grace: Duration::from_millis(500),
        term_grace: Duration::from_millis(500),
    };
    let mut said = Vec::new();
    let state = control::stop(&home, &id, quick, |l| said.push(l.to_string())).unwrap();
    assert_eq!(state, State::Stopped);
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "SIGINT\nSIGTERM\n");
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[2].starts_with("sent SIGKILL"), "{said:?}");
    assert_eq!(look(&home, &id).signal, Some(9));
}

#[test]
fn a_killed_supervisor_leaves_the_trainer_running_and_is_reported_truthfully() {
    let (_tmp, home) = home();
    let id = start(&home, &["--steps", "200", "--delay", "0.05"]);
    wait_for(&home, &id, "progress", |s| s.step.unwrap_or(0) >= 2);
    let st = status(&home, &id);
    kill(st.supervisor.unwrap().pid, "KILL");
    std::thread::sleep(Duration::from_millis(300));
    let s = look(&home, &id);
    assert_eq!(s.state, State::Running, "{s:#?}");
    assert!(
        s.note.as_deref().unwrap_or("").contains("supervisor gone"),
        "{s:#?}"
    );
    // Progress still comes, from the log itself.
    let before = s.step.unwrap();
    let s = wait_for(&home, &id, "more progress", |s| {
        s.step.unwrap_or(0) > before + 5
    });
    assert!(st.trainer.unwrap().is_alive(st.boot_id.as_deref()));
    kill(s.pid.unwrap(), "KILL");
    let s = wait_for(&home, &id, "the end", |s| !s.state.is_active());
    assert_eq!(s.state, State::Failed);
    assert!(
        s.note
            .unwrap()
            .contains("process gone, exit status unknown")
    );
}

#[test]
fn a_busy_device_refuses_or_queues() {
    let (_tmp, home) = home();
    let first = launch_using(
        spec(&home, &["--steps", "1000", "--delay", "0.02"], &[3], false),
        &exe(),
    )
    .unwrap();
    wait_for(&home, &first, "running", |s| s.state == State::Running);
    let refused = spec(&home, &["--steps", "2"], &[3], false);
    let refused_dir = refused.run.dir.clone();
    match launch_using(refused, &exe()) {
        Err(RunError::Busy { device, holder }) => {
            assert_eq!(
                (device.as_str(), holder.as_str()),
                ("gpu-3", first.as_str())
            );
        }
        other => panic!("expected busy, got {other:?}"),
    }
    assert!(!refused_dir.exists(), "a refused launch leaves no folder");
    let queued = launch_using(
        spec(&home, &["--steps", "3", "--delay", "0.01"], &[3], true),
        &exe(),
    )
    .unwrap();
    let s = wait_for(&home, &queued, "queued", |s| s.state == State::Queued);
    assert!(s.message.unwrap().contains(first.as_str()));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(look(&home, &queued).state, State::Queued);
    control::stop(&home, &first, StopOptions::default(), |_| {}).unwrap();
    let s = ended(&home, &queued);
    assert_eq!(s.state, State::Succeeded, "{s:#?}");
}

#[test]
fn launches_racing_for_one_device_never_both_start() {
    let (_tmp, home) = home();
    let specs: Vec<LaunchSpec> = (0..4)
        .map(|_| spec(&home, &["--steps", "1000", "--delay", "0.02"], &[5], false))
        .collect();
    let results: Vec<Result<RunId, RunError>> = std::thread::scope(|s| {
        let handles: Vec<_> = specs
            .into_iter()
            .map(|sp| s.spawn(move || launch_using(sp, &exe())))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let started: Vec<&RunId> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(started.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, RunError::Busy { .. } | RunError::Refused(_)),
                "{e}"
            );
        }
    }
    control::stop(&home, started[0], StopOptions::default(), |_| {}).unwrap();
}

#[test]
fn on_finish_hears_how_the_run_ended() {
    let (tmp, home) = home();
    let heard = tmp.path().join("heard");
    let mut sp = spec(&home, &["--steps", "2", "--delay", "0.01"], &[9], false);
    sp.on_finish = vec![
        "sh".into(),
        "-c".into(),
        "env | grep ^LORABENCH_RUN_ | sort > \"$0\"".into(),
        heard.clone().into(),
    ];
    let id = launch_using(sp, &exe()).unwrap();
    ended(&home, &id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !heard.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&heard).unwrap();
    assert!(text.contains(&format!("LORABENCH_RUN_ID={id}\n")), "{text}");
    assert!(text.contains("LORABENCH_RUN_STATE=succeeded\n"), "{text}");
    assert!(text.contains("LORABENCH_RUN_EXIT_CODE=0\n"), "{text}");
    assert!(text.contains("LORABENCH_RUN_OUTPUT="), "{text}");
    assert!(text.contains("LORABENCH_RUN_DURATION="), "{text}");
}

#[test]
fn a_corrupt_status_is_reported_and_the_other_runs_still_list() {
    let (_tmp, home) = home();
    let good = start(&home, &["--steps", "2", "--delay", "0.01"]);
    ended(&home, &good);
    let bad = start(&home, &["--steps", "2", "--delay", "0.01"]);
    ended(&home, &bad);
    std::fs::write(home.run_dir(&bad).join("status.json"), "{\"state\": \"runn").unwrap();
    // A metrics file from another version: a line that is not a point.
    std::fs::write(
        home.run_dir(&good).join("metrics.jsonl"),
        "{\"step\":1}\n{\"v\":99}\n",
    )
    .unwrap();
    let entries = summary::list(&home, &ReadOptions::default()).unwrap();
    assert_eq!(entries.len(), 2);
    match &entries[0] {
        Entry::Run(s) => {
            assert_eq!(s.state, State::Succeeded);
            assert_eq!(s.step, Some(1));
            assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        }
        other => panic!("{other:?}"),
    }
    match &entries[1] {
        Entry::Unreadable { id, error } => {
            assert_eq!(id, bad.as_str());
            assert!(error.contains("status.json"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    let out = Command::new(exe())
        .arg("runs")
        .env("LORABENCH_HOME", home.root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("succeeded") && text.contains("unreadable"),
        "{text}"
    );
}

/// Started inside tmux by `a_run_launched_in_tmux_survives_the_session`: launches as
/// `lorabench train` does from a terminal, then stays in the pane, as a shell would, until
/// tmux hangs up on it.
#[test]
#[ignore = "helper: run inside tmux by a_run_launched_in_tmux_survives_the_session"]
fn tmux_pane_launcher() {
    let var = |k: &str| {
        std::env::var_os(k).unwrap_or_else(|| panic!("{k} unset: not started by the tmux test"))
    };
    let home = Home::at(PathBuf::from(var("LB_TMUX_HOME")));
    let id = launch_using(
        spec(&home, &["--steps", "120", "--delay", "0.05"], &[1], false),
        &exe(),
    )
    .unwrap();
    std::fs::write(PathBuf::from(var("LB_TMUX_ID")), id.as_str()).unwrap();
    std::thread::sleep(Duration::from_secs(300));
}

#[test]
fn a_run_launched_in_tmux_survives_the_session_and_a_new_process_follows_it() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is not installed: this test needs it to hang up on a launching terminal");
    }
    let (tmp, home) = home();
    let id_file = tmp.path().join("id");
    let socket = format!("lorabench-runs-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    let me = std::env::current_exe().unwrap();
    let command = format!(
        "'{}' --exact tmux_pane_launcher --ignored --nocapture",
        me.display()
    );
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        "lb",
        "-e",
        &format!("LB_TMUX_HOME={}", home.root().display()),
        "-e",
        &format!("LB_TMUX_ID={}", id_file.display()),
        &command,
    ]);
    assert!(started.status.success(), "{started:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !id_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the launcher in tmux never launched"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let id = RunId(std::fs::read_to_string(&id_file).unwrap());
    let pane_pid: u32 =
        String::from_utf8_lossy(&tmux(&["list-panes", "-t", "lb", "-F", "#{pane_pid}"]).stdout)
            .trim()
            .parse()
            .unwrap();
    wait_for(&home, &id, "progress", |s| s.step.unwrap_or(0) >= 3);

    // Hang up: tmux sends SIGHUP to everything in the pane.
    assert!(tmux(&["kill-session", "-t", "lb"]).status.success());
    let _ = tmux(&["kill-server"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pane_pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the launcher in the pane survived the hang-up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = look(&home, &id);
    assert_eq!(s.state, State::Running, "{s:#?}");
    assert!(s.note.is_none(), "{s:#?}");

    // A new process, as from another SSH session, sees the progress and follows to the end.
    let prefix = &id.as_str()[..id.as_str().len() - 2];
    let show = Command::new(exe())
        .args(["runs", "show", prefix, "--json"])
        .env("LORABENCH_HOME", home.root())
        .output()
        .unwrap();
    assert!(show.status.success(), "{show:?}");
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["state"], "running");
    assert!(shown["step"].as_u64().unwrap() >= 3, "{shown}");
    assert_eq!(shown["total"], 120);
    let follow = Command::new(exe())
        .args(["runs", "logs", "-f", id.as_str()])
        .env("LORABENCH_HOME", home.root())
        .output()
        .unwrap();
    assert!(follow.status.success(), "{follow:?}");
    let followed = String::from_utf8_lossy(&follow.stdout);
    assert!(followed.contains("120/120"), "{followed}");
    assert!(followed.trim_end().ends_with("done"), "{followed}");
    assert_eq!(look(&home, &id).state, State::Succeeded);
}
