//! Acting on runs: stop (SIGINT to the trainer's process group so it can save, then SIGTERM,
//! then SIGKILL), remove, and attach to a run started elsewhere.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::launch::{await_supervisor, start_supervisor};
use super::manifest::{self, Arg, Attached, Manifest};
use super::proc::ProcRef;
use super::status::{State, Status, now};
use super::{Home, RunError, RunId};
use crate::train::TrainerId;
use crate::train::progress::LogFormat;
use crate::train::supervisor::TRAIN_LOG;

const STOP_FILE: &str = "stop.requested";

pub fn stop_requested(run_dir: &Path) -> bool {
    run_dir.join(STOP_FILE).exists()
}

#[derive(Debug, Clone, Copy)]
pub struct StopOptions {
    /// After SIGINT: time for the trainer to save and exit.
    pub int_grace: Duration,
    /// After SIGTERM.
    pub term_grace: Duration,
}

impl Default for StopOptions {
    fn default() -> StopOptions {
        StopOptions {
            int_grace: Duration::from_secs(60),
            term_grace: Duration::from_secs(15),
        }
    }
}

/// Stops a run and returns the state it ended in. `say` hears each step as it happens (which
/// signal went where, how long it waits).
pub fn stop(
    home: &Home,
    id: &RunId,
    opts: StopOptions,
    mut say: impl FnMut(&str),
) -> Result<State, RunError> {
    let dir = home.run_dir(id);
    let status = Status::read(&dir)?;
    let seen = status.observe(None, Duration::MAX);
    if !seen.state.is_active() {
        return Err(RunError::WrongState {
            id: id.to_string(),
            state: seen.state,
            what: "there is nothing to stop".into(),
        });
    }
    let marker = dir.join(STOP_FILE);
    fs::write(&marker, format!("{}\n", now())).map_err(|e| RunError::io(&marker, e))?;

    let boot = status.boot_id.clone();
    if let Some(trainer) = status.trainer.filter(|t| t.is_alive(boot.as_deref())) {
        // A trainer in its own group gets the whole group (its workers too); one we only
        // attached to may share a group with the user's shell, so only it is signalled.
        let group = status.pgid.filter(|g| *g == trainer.pid);
        let target = match group {
            Some(g) => format!("process group {g}"),
            None => format!("process {}", trainer.pid),
        };
        let steps = [
            (libc::SIGINT, "SIGINT", opts.int_grace, "to save and exit"),
            (libc::SIGTERM, "SIGTERM", opts.term_grace, "to exit"),
            (
                libc::SIGKILL,
                "SIGKILL",
                Duration::from_secs(10),
                "to vanish",
            ),
        ];
        for (sig, name, grace, why) in steps {
            if !trainer.is_alive(boot.as_deref()) {
                break;
            }
            say(&format!(
                "sent {name} to {target}; waiting up to {} s for the trainer {why}",
                grace.as_secs()
            ));
            // SAFETY: kill(2) with a pid we just checked is still the trainer we started.
            unsafe {
                match group {
                    Some(g) => libc::kill(-(g as i32), sig),
                    None => libc::kill(trainer.pid as i32, sig),
                };
            }
            wait_until(grace, || !trainer.is_alive(boot.as_deref()));
        }
    }
    // The supervisor records the exit; wait for it, or record what is known if it is gone.
    wait_until(Duration::from_secs(15), || {
        Status::read(&dir).is_ok_and(|s| !s.state.is_active()) || !status.supervisor_alive()
    });
    let mut last = Status::read(&dir)?;
    if last.state.is_active() {
        last.state = State::Stopped;
        last.finished_at = Some(now());
        last.message = Some("stopped; the supervisor was gone, exit status unknown".into());
        last.write(&dir)?;
    }
    Ok(last.state)
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What `remove` did with the outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// Checkpoints and samples moved out of the run folder before it went.
    pub kept: Option<PathBuf>,
    /// An output folder outside the run folder, left alone (it may hold other files).
    pub left_alone: Option<PathBuf>,
}

/// Deletes a finished run's folder. Its outputs (checkpoints, samples) are kept, moved to
/// `HOME/outputs/<id>/`, unless `with_outputs`; an output folder outside the run folder is
/// never touched.
pub fn remove(home: &Home, id: &RunId, with_outputs: bool) -> Result<Removed, RunError> {
    let dir = home.run_dir(id);
    if let Ok(status) = Status::read(&dir) {
        let seen = status.observe(None, Duration::MAX);
        if seen.state.is_active() {
            return Err(RunError::WrongState {
                id: id.to_string(),
                state: seen.state,
                what: "stop it first (`lorabench runs stop`)".into(),
            });
        }
    }
    // A run resumed from this one writes into this one's output folder.
    for other in home.run_ids()?.iter().filter(|o| *o != id) {
        if let Ok(m) = Manifest::read(&home.run_dir(other))
            && m.output_dir.starts_with(&dir)
        {
            return Err(RunError::WrongState {
                id: id.to_string(),
                state: Status::read(&dir).map_or(State::Failed, |s| s.state),
                what: format!(
                    "run {other} continues from it and writes into its output folder; \
                     remove {other} first"
                ),
            });
        }
    }
    let output = Manifest::read(&dir).ok().map(|m| m.output_dir);
    let mut removed = Removed {
        kept: None,
        left_alone: None,
    };
    if let Some(out) = output {
        if !out.starts_with(&dir) {
            removed.left_alone = Some(out);
        } else if !with_outputs
            && out.is_dir()
            && fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some())
        {
            let keep = home.root().join("outputs").join(id.as_str());
            if let Some(parent) = keep.parent() {
                fs::create_dir_all(parent).map_err(|e| RunError::io(parent, e))?;
            }
            fs::rename(&out, &keep).map_err(|e| RunError::io(&out, e))?;
            removed.kept = Some(keep);
        }
    }
    fs::remove_dir_all(&dir).map_err(|e| RunError::io(&dir, e))?;
    Ok(removed)
}

pub struct AttachSpec {
    pub trainer: TrainerId,
    pub log: PathBuf,
    pub output: Option<PathBuf>,
    pub pid: Option<u32>,
    pub log_format: LogFormat,
    pub name: Option<String>,
}

/// Watches a run started elsewhere: a run folder whose `train.log` links to the given log,
/// followed by a supervisor like any other run.
pub fn attach(home: &Home, spec: AttachSpec, exe: &Path) -> Result<RunId, RunError> {
    let log = fs::canonicalize(&spec.log).map_err(|e| RunError::io(&spec.log, e))?;
    let process = match spec.pid {
        Some(pid) => Some(ProcRef::of(pid).ok_or_else(|| {
            RunError::Invalid(format!("no process {pid} is running (check the --pid)"))
        })?),
        None => None,
    };
    let cmdline = spec
        .pid
        .and_then(|pid| fs::read(format!("/proc/{pid}/cmdline")).ok());
    let mut argv: Vec<Arg> = cmdline
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| Arg::from_os(std::os::unix::ffi::OsStrExt::from_bytes(a)))
                .collect()
        })
        .unwrap_or_default();
    let program = if argv.is_empty() {
        Arg::Text("(started elsewhere)".into())
    } else {
        argv.remove(0)
    };
    let new = home.allocate()?;
    let output = match spec.output {
        Some(o) => fs::canonicalize(&o).map_err(|e| RunError::io(&o, e))?,
        None => log.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let name = spec.name.unwrap_or_else(|| {
        log.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attached".into())
    });
    let result = (|| {
        std::os::unix::fs::symlink(&log, new.dir.join(TRAIN_LOG))
            .map_err(|e| RunError::io(&new.dir, e))?;
        Manifest {
            schema: manifest::SCHEMA,
            id: new.id.to_string(),
            name,
            trainer: spec.trainer,
            created_at: now(),
            dataset: None,
            program,
            args: argv,
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            output_dir: output,
            metrics_dir: None,
            total_steps: None,
            log_format: spec.log_format,
            gpus: Vec::new(),
            devices: Vec::new(),
            queue: false,
            on_finish: manifest::args(&[]),
            attached: Some(Attached {
                log: log.clone(),
                process,
            }),
            resumed_from: None,
            config: String::new(),
        }
        .write(&new.dir)?;
        let mut status = Status::new(State::Running);
        status.trainer = process;
        status.pgid = spec.pid.and_then(pgid_of);
        status.started_at = Some(now());
        status.write(&new.dir)?;
        let child = start_supervisor(exe, &new.dir)?;
        await_supervisor(&new.dir, child, exe)
    })();
    match result {
        Ok(()) => Ok(new.id),
        Err(e) => {
            let _ = fs::remove_dir_all(&new.dir);
            Err(e)
        }
    }
}

/// Field 5 of /proc/PID/stat.
fn pgid_of(pid: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(2)?.parse().ok()
}
