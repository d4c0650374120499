//! Reading runs back for `runs` and `runs show`: cheap enough for hundreds of folders (a status
//! file, run.yaml, the end of metrics.jsonl, one stat), tolerant of folders written by another
//! version or damaged: such a run is listed with what is wrong, and the others are unaffected.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::logs::tail_bytes;
use super::manifest::{DatasetRef, Manifest};
use super::status::{State, Status};
use super::{Home, RunError, RunId};
use crate::train::progress::naming::{
    checkpoint_epoch, checkpoint_step, numbered_step, sample_prompt, sample_step,
};
use crate::train::progress::{Update, parser_for};
use crate::train::supervisor::TRAIN_LOG;
use crate::train::supervisor::follow::{EVENTS, METRICS};
use crate::train::{Event, Point, TrainerId};

#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// A live run with no log output for this long is flagged stalled.
    pub stall_after: Duration,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            stall_after: crate::train::config::user::DEFAULT_STALL_TIMEOUT,
        }
    }
}

impl ReadOptions {
    /// As the user config sets them (`runs.stall_timeout`, in seconds).
    pub fn of_user(user: &crate::train::config::UserConfig) -> ReadOptions {
        ReadOptions {
            stall_after: user.stall_timeout(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub id: String,
    pub name: String,
    pub backend: TrainerId,
    /// GPU ids the run asked for (empty: the default device).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<u32>,
    pub state: State,
    pub stalled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// Seconds left at the current rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub last_lines: Vec<String>,
    pub created_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<f64>,
    /// Damaged lines and similar, reported rather than fatal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One line of `runs`: a readable run, or a folder that is not one (and why).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    Run(Box<Summary>),
    Unreadable { id: String, error: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Artifact {
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// For a save named by its epoch only (kohya's `<name>-000003`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    pub size: u64,
    /// For a sample: which prompt it shows, as the trainer's file names tell
    /// ([`sample_prompt`]), so one prompt can be followed across steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub output_dir: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetRef>,
    pub argv: Vec<String>,
    pub command_line: String,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub gpus: Vec<u32>,
    pub devices: Vec<String>,
    pub checkpoints: Vec<Artifact>,
    pub samples: Vec<Artifact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached_log: Option<PathBuf>,
}

/// Every run, oldest first. Folders are read in parallel: with hundreds of runs the time is
/// in opening and parsing small files, one folder independent of the next.
pub fn list(home: &Home, opts: &ReadOptions) -> Result<Vec<Entry>, RunError> {
    use rayon::prelude::*;
    Ok(home
        .run_ids()?
        .par_iter()
        .map(|id| match summary(home, id, opts) {
            Ok(s) => Entry::Run(Box::new(s)),
            Err(e) => Entry::Unreadable {
                id: id.to_string(),
                error: e.to_string(),
            },
        })
        .collect())
}

pub fn summary(home: &Home, id: &RunId, opts: &ReadOptions) -> Result<Summary, RunError> {
    let dir = home.run_dir(id);
    let manifest = Manifest::read(&dir)?;
    let status = Status::read(&dir)?;
    Ok(summarise(&dir, &manifest, &status, opts))
}

fn summarise(dir: &Path, m: &Manifest, status: &Status, opts: &ReadOptions) -> Summary {
    let log = dir.join(TRAIN_LOG);
    let activity = std::fs::metadata(&log).and_then(|md| md.modified()).ok();
    let seen = status.observe(activity.or(Some(SystemTime::now())), opts.stall_after);
    let mut problems = Vec::new();
    let mut last = last_point(&dir.join(METRICS), &mut problems);
    if seen.state == State::Running && !status.supervisor_alive() {
        // Nobody parses the log any more: read its end ourselves.
        last = last_point_in_log(&log, m).or(last);
    }
    let total = last.as_ref().and_then(|p| p.total).or(m.total_steps);
    let step = last.as_ref().map(|p| p.step);
    let rate = last.as_ref().and_then(|p| p.rate);
    let eta = match (seen.state, step, total, rate) {
        (State::Running, Some(s), Some(t), Some(r)) if r > 0.0 && t >= s => {
            Some((t - s) as f64 / r)
        }
        _ => None,
    };
    Summary {
        id: m.id.clone(),
        name: m.name.clone(),
        backend: m.trainer,
        gpus: m.gpus.clone(),
        state: seen.state,
        stalled: seen.stalled,
        note: seen.note,
        step,
        total,
        loss: last.as_ref().and_then(|p| p.loss),
        lr: last.as_ref().and_then(|p| p.lr),
        rate,
        epoch: last.as_ref().and_then(|p| p.epoch),
        eta,
        pid: status.trainer.map(|t| t.pid),
        exit_code: status.exit_code,
        signal: status.signal,
        message: status.message.clone(),
        last_lines: status.last_lines.clone(),
        created_at: status.created_at,
        started_at: status.started_at,
        finished_at: status.finished_at,
        problems,
    }
}

/// The last complete, readable point of `metrics.jsonl` (a torn last line is skipped, a
/// damaged one reported).
fn last_point(path: &Path, problems: &mut Vec<String>) -> Option<Point> {
    let bytes = tail_bytes(path, 16 * 1024).ok()?;
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(end) => &bytes[..end],
        None => return None,
    };
    for line in complete.rsplit(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Point>(line) {
            Ok(p) => return Some(p),
            Err(e) => {
                if problems.is_empty() {
                    problems.push(format!("{}: a damaged line ({e}) skipped", path.display()));
                }
            }
        }
    }
    None
}

fn last_point_in_log(log: &Path, m: &Manifest) -> Option<Point> {
    let bytes = tail_bytes(log, 256 * 1024).ok()?;
    let mut parser = parser_for(m.trainer, m.log_format);
    let mut out = Vec::new();
    parser.feed(&bytes, &mut out);
    parser.finish(&mut out);
    out.into_iter().rev().find_map(|u| match u {
        Update::Point(p) => Some(p),
        Update::Event(_) => None,
    })
}

pub fn detail(home: &Home, id: &RunId, opts: &ReadOptions) -> Result<Detail, RunError> {
    let dir = home.run_dir(id);
    let m = Manifest::read(&dir)?;
    let status = Status::read(&dir)?;
    let summary = summarise(&dir, &m, &status, opts);
    let steps = event_steps(&dir.join(EVENTS));
    let (checkpoints, samples) = artifacts(m.trainer, &m.output_dir, &steps);
    Ok(Detail {
        summary,
        log: dir.join(TRAIN_LOG),
        dir,
        output_dir: m.output_dir.clone(),
        dataset: m.dataset.clone(),
        argv: std::iter::once(&m.program)
            .chain(&m.args)
            .map(|a| a.display())
            .collect(),
        command_line: m.command_line(),
        cwd: m.cwd.clone(),
        env: m
            .env
            .iter()
            .map(|e| (e.name.display(), e.value.display()))
            .collect(),
        gpus: m.gpus.clone(),
        devices: m.devices.clone(),
        checkpoints,
        samples,
        resumed_from: m.resumed_from.clone(),
        attached_log: m.attached.as_ref().map(|a| a.log.clone()),
    })
}

#[derive(Deserialize)]
struct LoggedEvent {
    #[serde(flatten)]
    event: Event,
}

/// Steps the trainer named when it saved a file.
fn event_steps(path: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<LoggedEvent>(l).ok())
        .filter_map(|e| match e.event {
            Event::CheckpointSaved {
                path,
                step: Some(s),
            }
            | Event::SampleWritten {
                path,
                step: Some(s),
            } => Some((path, s)),
            _ => None,
        })
        .collect()
}

/// The step of a saved file: as the trainer said when it saved it, else from its name (or its
/// folder's, for `checkpoint-N/` layouts).
fn step_of(trainer: TrainerId, path: &Path, sample: bool, steps: &[(PathBuf, u64)]) -> Option<u64> {
    if let Some((_, s)) = steps.iter().find(|(p, _)| p == path || path.ends_with(p)) {
        return Some(*s);
    }
    let name = path.file_name()?.to_string_lossy();
    let guess = || {
        (trainer == TrainerId::Command)
            .then(|| numbered_step(&name))
            .flatten()
    };
    if sample {
        return sample_step(trainer, &name).or_else(guess);
    }
    checkpoint_step(trainer, &path.to_string_lossy())
        .or_else(|| checkpoint_step(trainer, &path.parent()?.to_string_lossy()))
        .or_else(guess)
}

fn artifacts(
    trainer: TrainerId,
    out: &Path,
    steps: &[(PathBuf, u64)],
) -> (Vec<Artifact>, Vec<Artifact>) {
    let mut checkpoints = Vec::new();
    let mut samples = Vec::new();
    for entry in walkdir::WalkDir::new(out)
        .max_depth(4)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        let path = entry.path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let sample = match ext.as_str() {
            "safetensors" | "ckpt" | "pt" => false,
            "png" | "jpg" | "jpeg" | "webp" => true,
            _ => continue,
        };
        // Thumbnails and optimizer state are not what people look for. Only the part below the
        // output folder counts: the default home itself is under ~/.local.
        let inside = path.strip_prefix(out).unwrap_or(path);
        let hidden = inside.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            c.starts_with('.') || (c.ends_with("-state") && inside.components().count() > 1)
        });
        if hidden || (ext == "pt" && path.to_string_lossy().contains("optimizer")) {
            continue;
        }
        let step = step_of(trainer, path, sample, steps);
        let epoch = step
            .is_none()
            .then(|| checkpoint_epoch(trainer, &path.to_string_lossy()))
            .flatten();
        let artifact = Artifact {
            path: path.to_path_buf(),
            step,
            epoch,
            size: entry.metadata().map(|m| m.len()).unwrap_or(0),
            prompt: sample.then(|| sample_prompt(trainer, path)).flatten(),
        };
        if sample {
            samples.push(artifact);
        } else {
            checkpoints.push(artifact);
        }
    }
    let order = |a: &Artifact, b: &Artifact| {
        (a.step.unwrap_or(u64::MAX), &a.path).cmp(&(b.step.unwrap_or(u64::MAX), &b.path))
    };
    checkpoints.sort_by(order);
    samples.sort_by(order);
    (checkpoints, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_from_what_the_trainer_said_or_the_names() {
        let said = [(PathBuf::from("/o/final.safetensors"), 40)];
        let s = |t, p: &str, sample| step_of(t, Path::new(p), sample, &said);
        assert_eq!(s(TrainerId::Kohya, "/o/final.safetensors", false), Some(40));
        assert_eq!(
            s(TrainerId::Kohya, "/o/lora-step00000500.safetensors", false),
            Some(500)
        );
        assert_eq!(
            s(
                TrainerId::Kohya,
                "/o/sample/lora_000003_00_20261201183345_1.png",
                true
            ),
            Some(3)
        );
        let st = "/o/checkpoint-1200/pytorch_lora_weights.safetensors";
        assert_eq!(s(TrainerId::Simpletuner, st, false), Some(1200));
        assert_eq!(s(TrainerId::Kohya, "/o/lora.safetensors", false), None);
        // A script of the user's own: the number ending the name is taken for the step.
        let own = "/o/lora-000040.safetensors";
        assert_eq!(s(TrainerId::Command, own, false), Some(40));
        assert_eq!(s(TrainerId::Command, "/o/img-000040.png", true), Some(40));
        assert_eq!(s(TrainerId::Kohya, own, false), None, "kohya's is an epoch");
    }

    #[test]
    fn torn_and_damaged_metrics_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(METRICS);
        std::fs::write(
            &p,
            "{\"step\":1,\"loss\":0.5}\n{\"step\":2,\"loss\":0.4}\n{\"step\":3,\"lo",
        )
        .unwrap();
        let mut problems = Vec::new();
        assert_eq!(last_point(&p, &mut problems).map(|p| p.step), Some(2));
        assert!(problems.is_empty());
        std::fs::write(&p, "{\"step\":1,\"loss\":0.5}\nnot json\n").unwrap();
        assert_eq!(last_point(&p, &mut problems).map(|p| p.step), Some(1));
        assert_eq!(problems.len(), 1);
    }
}
