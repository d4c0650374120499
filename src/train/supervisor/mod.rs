//! The supervisor: `lorabench __supervise RUN_DIR`, started detached by `train::run::launch`.
//! It locks the run's devices (waiting as `queued` when asked to), starts the trainer with its
//! stdout and stderr going straight into `train.log` (a file the trainer owns, so a supervisor
//! that dies never kills or blocks it), follows that log into `metrics.jsonl`, records the
//! exit in `status.json` and runs `on_finish`. It sleeps between looks: a trainer printing 20
//! frames a second costs it a read every half second.

pub mod follow;

use std::fs::OpenOptions;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::train::progress::parser_for;
use crate::train::run::devices::{self, Held};
use crate::train::run::logs;
use crate::train::run::manifest::Manifest;
use crate::train::run::proc::{ProcRef, boot_id};
use crate::train::run::status::{State, Status, now};
use crate::train::run::{Home, RunError, control, launch};
use follow::Follower;

/// How often the log is read and the stop request checked.
const POLL: Duration = Duration::from_millis(500);
/// How long `on_finish` may run before the supervisor leaves it be.
const ON_FINISH_LIMIT: Duration = Duration::from_secs(60);

pub const TRAIN_LOG: &str = "train.log";

/// Entry point of the hidden subcommand.
pub fn main(run_dir: &Path) -> ExitCode {
    match supervise(run_dir) {
        Ok(code) => code,
        Err(e) => {
            say(&e.to_string());
            let mut status = Status::read(run_dir).unwrap_or_else(|_| Status::new(State::Failed));
            status.supervisor = status.supervisor.or_else(ProcRef::me);
            finish(&mut status, State::Failed, Some(format!("supervisor: {e}")));
            let _ = status.write(run_dir);
            ExitCode::FAILURE
        }
    }
}

fn supervise(dir: &Path) -> Result<ExitCode, RunError> {
    reset_signals();
    let manifest = Manifest::read(dir)?;
    let mut status = Status::read(dir).unwrap_or_else(|_| Status::new(State::Starting));
    status.supervisor = ProcRef::me();
    status.boot_id = boot_id();
    if manifest.attached.is_some() {
        status.state = State::Running;
        status.write(dir)?;
        return watch_attached(dir, &manifest, status);
    }
    let home = Home::of_run_dir(dir)
        .ok_or_else(|| RunError::Invalid(format!("{} is not a run folder", dir.display())))?;
    let Some(held) = lock_devices(dir, &home, &manifest, &mut status)? else {
        if status.state == State::Stopped {
            // Stopped while queued: it ended too.
            on_finish(dir, &manifest, &status, Duration::ZERO);
        }
        return Ok(ExitCode::from(if status.state == State::Failed {
            launch::REFUSED
        } else {
            0
        }));
    };
    status.state = State::Starting;
    status.message = None;
    status.write(dir)?;
    run_trainer(dir, &manifest, status, held)
}

/// The supervisor's own messages, to `supervisor.log`. Never `eprintln!`: it panics when the
/// write fails, and on a full disk the supervisor must go on and record the end.
pub(crate) fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "lorabench supervisor: {message}");
}

/// The trainer must see default signal dispositions whatever this process inherited (a shell
/// script's `&` ignores SIGINT, and Python only turns SIGINT into KeyboardInterrupt when it
/// starts with the default). The supervisor itself ignores SIGXFSZ: past a file-size limit
/// (`ulimit -f`) a write should fail and be survived, not kill it.
fn reset_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: restoring a default disposition installs no handler.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    // SAFETY: ignoring a signal installs no handler.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Locks the devices, waiting as `queued` if the run asked to. `None` when the run ended here
/// (refused, or stopped while queued); the status says which.
fn lock_devices(
    dir: &Path,
    home: &Home,
    manifest: &Manifest,
    status: &mut Status,
) -> Result<Option<Held>, RunError> {
    let mut said = None;
    loop {
        match devices::try_lock(home, &manifest.devices, &manifest.id) {
            Ok(held) => return Ok(Some(held)),
            Err(busy @ RunError::Busy { .. }) => {
                if !manifest.queue {
                    finish(status, State::Failed, Some(busy.to_string()));
                    status.write(dir)?;
                    return Ok(None);
                }
                let RunError::Busy { device, holder } = &busy else {
                    continue;
                };
                let message = format!("waiting for {device} (held by run {holder})");
                if said.as_ref() != Some(&message) {
                    status.state = State::Queued;
                    status.message = Some(message.clone());
                    status.write(dir)?;
                    said = Some(message);
                }
            }
            Err(e) => return Err(e),
        }
        if control::stop_requested(dir) {
            finish(status, State::Stopped, Some("stopped while queued".into()));
            status.write(dir)?;
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

fn run_trainer(
    dir: &Path,
    manifest: &Manifest,
    mut status: Status,
    held: Held,
) -> Result<ExitCode, RunError> {
    let log_path = dir.join(TRAIN_LOG);
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| RunError::io(&log_path, e))
    };
    let (out, err) = (open_log()?, open_log()?);
    let mut cmd = Command::new(manifest.program.to_os());
    cmd.args(manifest.argv())
        .envs(
            manifest
                .env
                .iter()
                .map(|e| (e.name.to_os(), e.value.to_os())),
        )
        .current_dir(&manifest.cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: `runs stop` signals the trainer and its children, not us.
        .process_group(0);
    // SAFETY: signal(2) is async-signal-safe; the trainer gets SIGXFSZ's default back.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    held.inherit_into_children();
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("cannot start {}: {e}", manifest.program.display());
            finish(&mut status, State::Failed, Some(msg));
            status.write(dir)?;
            drop(held);
            on_finish(dir, manifest, &status, started.elapsed());
            return Ok(ExitCode::SUCCESS);
        }
    };
    let pid = child.id();
    status.trainer = Some(ProcRef::of(pid).unwrap_or(ProcRef { pid, start_time: 0 }));
    status.pgid = Some(pid);
    status.state = State::Running;
    status.started_at = Some(now());
    if let Err(e) = status.write(dir) {
        // The trainer runs now: keep watching it, so that its end is recorded when it can be.
        say(&format!("{e}; the run goes on"));
    }

    let parser = parser_for(manifest.trainer, manifest.log_format);
    let mut follower = Follower::new(dir, log_path, parser);
    if let Some(metrics) = &manifest.metrics_dir {
        follower = follower.with_metrics(manifest.trainer, metrics);
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let exit: Option<ExitStatus> = loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => break result.ok(),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                follower.poll();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
    };
    follower.finish();
    record_exit(dir, &mut status, exit, &follower);
    // Free the devices first: whoever reads the final status may launch on them at once.
    drop(held);
    write_hard(dir, &status);
    on_finish(dir, manifest, &status, started.elapsed());
    Ok(ExitCode::SUCCESS)
}

fn record_exit(dir: &Path, status: &mut Status, exit: Option<ExitStatus>, f: &Follower) {
    let stopped = control::stop_requested(dir);
    status.exit_code = exit.and_then(|e| e.code());
    status.signal = exit.and_then(|e| e.signal());
    let state = match (stopped, status.exit_code) {
        (true, _) => State::Stopped,
        (false, Some(0)) => State::Succeeded,
        _ => State::Failed,
    };
    let message = match (state, status.exit_code, status.signal) {
        (State::Succeeded, _, _) => None,
        (State::Stopped, _, _) => Some("stopped by request".into()),
        _ => Some(
            f.errors
                .last()
                .cloned()
                .unwrap_or_else(|| describe_exit(status.exit_code, status.signal)),
        ),
    };
    if state == State::Failed {
        status.last_lines = logs::meaningful_tail(&dir.join(TRAIN_LOG), 12);
    }
    finish(status, state, message);
}

pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(9)) => "killed by signal 9 (SIGKILL: the out-of-memory killer?)".into(),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "exit status unknown".into(),
    }
}

fn finish(status: &mut Status, state: State, message: Option<String>) {
    status.state = state;
    status.message = message;
    status.finished_at = Some(now());
}

/// The final status matters most; on a full disk, try again for a while.
fn write_hard(dir: &Path, status: &Status) {
    for attempt in 0..30 {
        match status.write(dir) {
            Ok(()) => return,
            Err(e) => {
                if attempt == 0 {
                    say(&format!("{e}; retrying"));
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// A run started elsewhere: follow its log; the end is the process vanishing (with `--pid`),
/// the bar reaching its total, or `runs stop`.
fn watch_attached(
    dir: &Path,
    manifest: &Manifest,
    mut status: Status,
) -> Result<ExitCode, RunError> {
    let log = dir.join(TRAIN_LOG);
    let mut follower = Follower::new(dir, log, parser_for(manifest.trainer, manifest.log_format));
    let process = manifest.attached.as_ref().and_then(|a| a.process);
    let started = Instant::now();
    let state = loop {
        follower.poll();
        let done = follower
            .last
            .as_ref()
            .is_some_and(|p| p.total.is_some_and(|t| t > 0 && p.step >= t));
        if control::stop_requested(dir) {
            break State::Stopped;
        }
        if let Some(p) = process
            && !p.is_alive(status.boot_id.as_deref())
        {
            follower.finish();
            break if done {
                State::Succeeded
            } else {
                State::Failed
            };
        }
        if process.is_none() && done {
            break State::Succeeded;
        }
        std::thread::sleep(POLL);
    };
    let message = match state {
        State::Failed => Some(
            follower
                .errors
                .last()
                .cloned()
                .unwrap_or_else(|| "process gone, exit status unknown".into()),
        ),
        State::Stopped => Some("no longer followed (stopped by request)".into()),
        _ => None,
    };
    if state == State::Failed {
        status.last_lines = logs::meaningful_tail(&dir.join(TRAIN_LOG), 12);
    }
    finish(&mut status, state, message);
    write_hard(dir, &status);
    on_finish(dir, manifest, &status, started.elapsed());
    Ok(ExitCode::SUCCESS)
}

/// The user's notification command, with what happened in its environment.
fn on_finish(dir: &Path, manifest: &Manifest, status: &Status, took: Duration) {
    let Some((program, args)) = manifest.on_finish.split_first() else {
        return;
    };
    let opt = |v: Option<i32>| v.map(|c| c.to_string()).unwrap_or_default();
    let mut cmd = Command::new(program.to_os());
    cmd.args(args.iter().map(|a| a.to_os()))
        .env("LORABENCH_RUN_ID", &manifest.id)
        .env("LORABENCH_RUN_NAME", &manifest.name)
        .env("LORABENCH_RUN_STATE", status.state.as_str())
        .env("LORABENCH_RUN_EXIT_CODE", opt(status.exit_code))
        .env("LORABENCH_RUN_SIGNAL", opt(status.signal))
        .env("LORABENCH_RUN_DURATION", took.as_secs().to_string())
        .env("LORABENCH_RUN_OUTPUT", &manifest.output_dir)
        .env("LORABENCH_RUN_DIR", dir)
        .env(
            "LORABENCH_RUN_MESSAGE",
            status.message.as_deref().unwrap_or(""),
        )
        .stdin(Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            let deadline = Instant::now() + ON_FINISH_LIMIT;
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            say("on_finish still runs after 60 s; leaving it");
        }
        Err(e) => say(&format!("cannot run on_finish {}: {e}", program.display())),
    }
}
