//! `status.json`: where a run stands, written atomically by whoever changes it (the launcher,
//! the supervisor, `runs stop`), read tolerantly, and judged against /proc so that a trainer
//! that vanished is never shown as running.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::RunError;
use super::proc::{ProcRef, boot_id};

pub const FILE: &str = "status.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Starting,
    Running,
    Succeeded,
    Failed,
    Stopped,
}

impl State {
    /// Not finished yet: something may still change the run.
    pub fn is_active(self) -> bool {
        matches!(self, State::Queued | State::Starting | State::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Starting => "starting",
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Stopped => "stopped",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    /// The trainer (its process group has the same id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<ProcRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<ProcRef>,
    /// The boot both processes were started in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Seconds since the Unix epoch.
    pub created_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<f64>,
    /// Why the run is where it is: what it waits for, why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last meaningful lines of the log when it failed (the exception, the OOM line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_lines: Vec<String>,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Status {
    pub fn new(state: State) -> Status {
        Status {
            state,
            trainer: None,
            pgid: None,
            supervisor: None,
            boot_id: boot_id(),
            exit_code: None,
            signal: None,
            created_at: now(),
            started_at: None,
            finished_at: None,
            message: None,
            last_lines: Vec::new(),
        }
    }

    pub fn read(run_dir: &Path) -> Result<Status, RunError> {
        let path = run_dir.join(FILE);
        let bytes = std::fs::read(&path).map_err(|e| RunError::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| RunError::Corrupt {
            path,
            message: format!("{e} (written by another lorabench version, or damaged)"),
        })
    }

    /// Atomic (temporary file, fsync, rename): a reader, a crash or a full disk leaves the old
    /// file or the new one, never half of one.
    pub fn write(&self, run_dir: &Path) -> Result<(), RunError> {
        let path = run_dir.join(FILE);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| RunError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        crate::dataset::fsio::write_atomic(&path, &bytes, true).map_err(|e| RunError::Write {
            path,
            message: e.to_string(),
        })
    }

    pub fn trainer_alive(&self) -> bool {
        self.trainer
            .is_some_and(|p| p.is_alive(self.boot_id.as_deref()))
    }

    pub fn supervisor_alive(&self) -> bool {
        self.supervisor
            .is_some_and(|p| p.is_alive(self.boot_id.as_deref()))
    }

    /// The state as it really is: a recorded `running` whose processes are all gone is a
    /// failure with what is known, never `running` forever.
    pub fn observe(&self, last_activity: Option<SystemTime>, stall_after: Duration) -> Observed {
        let mut seen = Observed {
            state: self.state,
            stalled: false,
            note: None,
        };
        if !self.state.is_active() {
            return seen;
        }
        let supervisor = self.supervisor_alive();
        let trainer = self.trainer_alive();
        match (self.state, supervisor, trainer) {
            (_, _, true) => {
                if !supervisor {
                    seen.note = Some(
                        "supervisor gone: the trainer still runs; progress comes from train.log \
                         and its exit status will be unknown"
                            .into(),
                    );
                }
                let idle = last_activity
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default();
                seen.stalled = idle >= stall_after;
            }
            (_, true, false) => {}
            (State::Running, false, false) => {
                seen.state = State::Failed;
                seen.note = Some("process gone, exit status unknown (killed with its supervisor, the OOM killer or a reboot?)".into());
            }
            (_, false, false) => {
                // The launcher writes the first status before the supervisor starts; give it a
                // moment before calling it lost.
                if self.supervisor.is_some() || now() - self.created_at > 30.0 {
                    seen.state = State::Failed;
                    seen.note = Some("supervisor gone before the trainer started".into());
                }
            }
        }
        seen
    }
}

/// A run's state judged against the live processes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub state: State,
    /// Alive, but nothing written to the log for longer than the stall timeout.
    pub stalled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_run_whose_processes_are_gone_is_failed() {
        let dead = ProcRef {
            pid: u32::MAX - 1,
            start_time: 1,
        };
        let mut s = Status::new(State::Running);
        s.trainer = Some(dead);
        s.supervisor = Some(dead);
        let seen = s.observe(None, Duration::from_secs(60));
        assert_eq!(seen.state, State::Failed);
        assert!(seen.note.unwrap().contains("exit status unknown"));
    }

    #[test]
    fn a_live_trainer_with_an_old_log_is_stalled() {
        let mut s = Status::new(State::Running);
        s.trainer = ProcRef::me();
        s.supervisor = ProcRef::me();
        let old = SystemTime::now() - Duration::from_secs(120);
        let seen = s.observe(Some(old), Duration::from_secs(60));
        assert_eq!((seen.state, seen.stalled), (State::Running, true));
        let seen = s.observe(Some(SystemTime::now()), Duration::from_secs(60));
        assert!(!seen.stalled);
    }

    #[test]
    fn round_trip_and_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Status::new(State::Failed);
        s.exit_code = Some(1);
        s.last_lines = vec!["ValueError: boom".into()];
        s.write(dir.path()).unwrap();
        assert_eq!(Status::read(dir.path()).unwrap(), s);
        std::fs::write(dir.path().join(FILE), b"{\"state\": \"runn").unwrap();
        let err = Status::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("status.json"), "{err}");
    }
}
