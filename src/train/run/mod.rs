//! Run folders (DESIGN.md, "Run folder"): `$LORABENCH_HOME/runs/<id>/` holds `run.yaml` (what
//! was launched), `status.json` (where it stands), `train.log` (the trainer's own output),
//! `metrics.jsonl` and `events.jsonl` (what the supervisor parsed from it) and `output/`.
//! Everything here only reads and writes those folders; the supervisor is the one process that
//! watches a trainer.

pub mod control;
pub mod devices;
pub mod display;
pub mod launch;
pub mod logs;
pub mod manifest;
pub mod proc;
pub mod resume;
pub mod status;
pub mod summary;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub use launch::{LaunchSpec, launch, launch_using};
pub use status::{State, Status};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("no run matches `{0}` (`lorabench runs` lists them)")]
    NotFound(String),
    #[error("`{prefix}` matches several runs ({}); give more of the id", .candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("{device} is busy with run {holder}; add --queue to start when it frees up")]
    Busy { device: String, holder: String },
    #[error("run {id} is {state}: {what}")]
    WrongState {
        id: String,
        state: State,
        what: String,
    },
    #[error("cannot resume run {id}: {why}")]
    CannotResume { id: String, why: String },
    #[error("cannot start the supervisor ({exe}): {message}")]
    Supervisor { exe: PathBuf, message: String },
    #[error(
        "no place for run folders: set LORABENCH_HOME, or XDG_STATE_HOME or HOME for the default"
    )]
    NoHome,
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(String),
}

impl RunError {
    pub fn io(path: &Path, source: io::Error) -> RunError {
        RunError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where run folders and GPU locks live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    pub fn run_dir(&self, id: &RunId) -> PathBuf {
        self.runs_dir().join(&id.0)
    }

    /// The home a run folder belongs to (`HOME/runs/ID`).
    pub fn of_run_dir(run_dir: &Path) -> Option<Home> {
        Some(Home::at(run_dir.parent()?.parent()?))
    }

    /// Every run id, oldest first (ids sort by creation time). Names that are not folders are
    /// skipped; a folder that is not a readable run is still listed (and reported by `summary`).
    pub fn run_ids(&self) -> Result<Vec<RunId>, RunError> {
        let dir = self.runs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RunError::io(&dir, e)),
        };
        let mut ids: Vec<RunId> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .map(RunId)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The run an id or a unique id prefix names.
    pub fn resolve(&self, prefix: &str) -> Result<RunId, RunError> {
        if prefix.is_empty() || prefix.contains('/') {
            return Err(RunError::NotFound(prefix.to_string()));
        }
        let ids = self.run_ids()?;
        if let Some(exact) = ids.iter().find(|id| id.0 == prefix) {
            return Ok(exact.clone());
        }
        let matching: Vec<RunId> = ids
            .into_iter()
            .filter(|id| id.0.starts_with(prefix))
            .collect();
        match matching.len() {
            0 => Err(RunError::NotFound(prefix.to_string())),
            1 => Ok(matching
                .into_iter()
                .next()
                .ok_or(RunError::NotFound(prefix.to_string()))?),
            _ => Err(RunError::Ambiguous {
                prefix: prefix.to_string(),
                candidates: matching.into_iter().map(|id| id.0).collect(),
            }),
        }
    }

    /// A new, empty run folder with a fresh id (backends plan into it before the launch).
    pub fn allocate(&self) -> Result<NewRun, RunError> {
        let runs = self.runs_dir();
        fs::create_dir_all(&runs).map_err(|e| RunError::io(&runs, e))?;
        loop {
            let id = RunId::generate();
            let dir = self.run_dir(&id);
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(NewRun { id, dir }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(RunError::io(&dir, e)),
            }
        }
    }
}

/// A run folder made by [`Home::allocate`] and not launched yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRun {
    pub id: RunId,
    pub dir: PathBuf,
}

/// `YYYYMMDD-HHMMSS-xxyy` (UTC; `xx` the fraction of the second in 256ths, so ids sort by
/// creation time to 4 ms; `yy` random): any unique prefix names the run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub String);

impl RunId {
    pub fn generate() -> RunId {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let fraction = u64::from(now.subsec_millis()) * 256 / 1000;
        RunId(format!(
            "{}-{fraction:02x}{:02x}",
            utc_stamp(now.as_secs()),
            random_u8(now.subsec_nanos())
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn random_u8(fallback: u32) -> u8 {
    use std::io::Read;
    let mut b = [0u8; 1];
    match fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => b[0],
        Err(_) => (fallback ^ std::process::id()) as u8,
    }
}

/// `YYYYMMDD-HHMMSS` in UTC (civil-from-days, H. Hinnant's algorithm).
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_dates() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        // 2026-12-01 19:27:22 UTC
        assert_eq!(utc_stamp(1_796_153_242), "20261201-192722");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
    }

    #[test]
    fn prefixes_resolve_when_unique() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        for id in [
            "20261201-100000-aaaa",
            "20261201-100000-aabb",
            "20261202-090000-cccc",
        ] {
            fs::create_dir_all(home.runs_dir().join(id)).unwrap();
        }
        assert_eq!(home.resolve("20261202").unwrap().0, "20261202-090000-cccc");
        assert!(matches!(
            home.resolve("20261201-100000-aa"),
            Err(RunError::Ambiguous { .. })
        ));
        assert!(matches!(home.resolve("2025"), Err(RunError::NotFound(_))));
        let a = home.allocate().unwrap();
        let b = home.allocate().unwrap();
        assert_ne!(a.id, b.id);
        assert!(a.dir.is_dir());
    }
}
