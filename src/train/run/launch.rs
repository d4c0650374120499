//! Launching: the run folder gets the plan's files, `run.yaml` and a first `status.json`, then a
//! detached supervisor (`lorabench` itself, in its own session, stdin from /dev/null) takes
//! over and `launch` returns as soon as the supervisor has said where the run stands.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::manifest::{self, Arg, DatasetRef, EnvVar, Manifest};
use super::status::{State, Status};
use super::{Home, NewRun, RunError, RunId, devices};
use crate::train::LaunchPlan;
use crate::train::progress::LogFormat;

/// The supervisor's hidden subcommand.
pub const SUPERVISE: &str = "__supervise";
/// The supervisor's exit code when it refuses a run before starting anything.
pub const REFUSED: u8 = 75;
/// Where the supervisor's own messages go (the trainer writes `train.log`).
pub const SUPERVISOR_LOG: &str = "supervisor.log";

pub struct LaunchSpec {
    pub home: Home,
    /// From [`Home::allocate`]; the backend planned into it.
    pub run: NewRun,
    pub name: String,
    /// The resolved training config (YAML), kept in run.yaml.
    pub config_yaml: String,
    pub plan: LaunchPlan,
    pub dataset: Option<DatasetRef>,
    /// GPU ids to run on (CUDA_VISIBLE_DEVICES); empty: the default device.
    pub gpus: Vec<u32>,
    /// Wait as `queued` when a device is busy instead of refusing.
    pub queue: bool,
    /// How the command backend's progress reads; the other backends ignore it.
    pub log_format: LogFormat,
    /// Started when the run ends (argv), from the user config.
    pub on_finish: Vec<OsString>,
    pub resumed_from: Option<RunId>,
}

/// Launches with this very executable as the supervisor (the `lorabench` binary).
pub fn launch(spec: LaunchSpec) -> Result<RunId, RunError> {
    let exe = std::env::current_exe().map_err(|e| RunError::Supervisor {
        exe: PathBuf::from("lorabench"),
        message: e.to_string(),
    })?;
    launch_using(spec, &exe)
}

/// Launches with `exe` (a `lorabench` binary) as the supervisor: for programs embedding the
/// library, and tests, whose own executable is not lorabench.
pub fn launch_using(spec: LaunchSpec, exe: &Path) -> Result<RunId, RunError> {
    let NewRun { id, dir } = spec.run.clone();
    let result = prepare(&spec).and_then(|()| {
        let child = start_supervisor(exe, &dir)?;
        await_supervisor(&dir, child, exe)
    });
    match result {
        Ok(()) => Ok(id),
        Err(e) => {
            // Nothing started: leave no half-made run behind.
            let _ = fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn prepare(spec: &LaunchSpec) -> Result<(), RunError> {
    let dir = &spec.run.dir;
    let gpu_count = if spec.gpus.is_empty() {
        crate::monitor::gpu::probe().gpus.len()
    } else {
        0
    };
    let devices = devices::devices_for(&spec.gpus, gpu_count);
    if !spec.queue {
        // Early, friendly refusal; the supervisor's own lock settles races.
        for d in &devices {
            if let Some(holder) = devices::holder_of(&spec.home, d) {
                return Err(RunError::Busy {
                    device: d.clone(),
                    holder,
                });
            }
        }
    }
    for f in &spec.plan.files {
        if f.path.is_absolute() || f.path.components().any(|c| c.as_os_str() == "..") {
            return Err(RunError::Invalid(format!(
                "generated file {} must be relative to the run folder",
                f.path.display()
            )));
        }
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| RunError::io(parent, e))?;
        }
        crate::dataset::fsio::write_atomic(&path, &f.contents, true).map_err(|e| {
            RunError::Write {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
    }
    let out = &spec.plan.output_dir;
    fs::create_dir_all(out).map_err(|e| RunError::io(out, e))?;
    manifest_of(spec, devices).write(dir)?;
    Status::new(State::Starting).write(dir)
}

fn manifest_of(spec: &LaunchSpec, devices: Vec<String>) -> Manifest {
    let plan = &spec.plan;
    let mut env: Vec<EnvVar> = plan
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: Arg::from_os(k),
            value: Arg::from_os(v),
        })
        .collect();
    let mut set = |k: &str, v: String| {
        if !env.iter().any(|e| e.name == Arg::Text(k.into())) {
            env.push(EnvVar {
                name: Arg::Text(k.into()),
                value: Arg::Text(v),
            });
        }
    };
    set("PYTHONUNBUFFERED", "1".into());
    if !spec.gpus.is_empty() {
        let ids: Vec<String> = spec.gpus.iter().map(u32::to_string).collect();
        set("CUDA_VISIBLE_DEVICES", ids.join(","));
    }
    Manifest {
        schema: manifest::SCHEMA,
        id: spec.run.id.to_string(),
        name: spec.name.clone(),
        trainer: plan.trainer,
        created_at: super::status::now(),
        dataset: spec.dataset.clone(),
        program: Arg::from_os(plan.program.as_os_str()),
        args: manifest::args(&plan.args),
        env,
        cwd: plan.cwd.clone(),
        output_dir: plan.output_dir.clone(),
        metrics_dir: plan.metrics_dir.clone(),
        total_steps: plan.total_steps,
        log_format: spec.log_format,
        gpus: spec.gpus.clone(),
        devices,
        queue: spec.queue,
        on_finish: manifest::args(&spec.on_finish),
        attached: None,
        resumed_from: spec.resumed_from.as_ref().map(ToString::to_string),
        config: spec.config_yaml.clone(),
    }
}

/// Starts `exe __supervise RUN_DIR` in a new session (no controlling terminal, so closing the
/// terminal or killing tmux sends it no SIGHUP), stdin from /dev/null.
pub(crate) fn start_supervisor(exe: &Path, dir: &Path) -> Result<std::process::Child, RunError> {
    let log_path = dir.join(SUPERVISOR_LOG);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| RunError::io(&log_path, e))?;
    let err = log.try_clone().map_err(|e| RunError::io(&log_path, e))?;
    let mut cmd = Command::new(exe);
    cmd.arg(SUPERVISE)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| RunError::Supervisor {
        exe: exe.to_path_buf(),
        message: e.to_string(),
    })
}

/// Waits until the supervisor has recorded itself (it locked the devices, queued, or refused).
pub(crate) fn await_supervisor(
    dir: &Path,
    mut child: std::process::Child,
    exe: &Path,
) -> Result<(), RunError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(status) = Status::read(dir)
            && status.supervisor.is_some()
        {
            if status.state == State::Failed {
                // A refusal (a device taken in a race) ends the supervisor with REFUSED; any
                // other failure is the run's own and stays for `runs show`.
                let refused = child
                    .wait()
                    .is_ok_and(|c| c.code() == Some(i32::from(REFUSED)));
                if refused {
                    return Err(RunError::Refused(
                        status
                            .message
                            .unwrap_or_else(|| "the supervisor refused the run".into()),
                    ));
                }
                return Ok(());
            }
            // Collect the supervisor when it ends, so a long-lived caller (the TUI) keeps no zombie.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() > deadline {
            let log = fs::read_to_string(dir.join(SUPERVISOR_LOG)).unwrap_or_default();
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Supervisor {
                exe: exe.to_path_buf(),
                message: match exited {
                    Some(code) => format!("it exited ({code}) before taking over: {}", log.trim()),
                    None => "it did not report within 30 s".into(),
                },
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
