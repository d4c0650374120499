//! Structured metrics a trainer writes beside its console: TensorBoard event files (kohya,
//! diffusers, SimpleTuner, OneTrainer, ai-toolkit with `log_dir`), ai-toolkit's `loss_log.db`,
//! SimpleTuner's `training_metrics.jsonl`, read incrementally by a [`MetricsWatcher`]; and the
//! run's own `metrics.jsonl` ([`read_metrics`], [`append_metrics`]).
//!
//! How the two sources meet: the console bar is the live source (every step, with total, rate
//! and epoch); a structured file holds the exact loss and learning rate (the bar rounds them to
//! three digits, kohya's shows no learning rate), often written later or less often. For a step
//! both know, [`overlay`] keeps the bar's total, rate and epoch and takes loss, learning rate
//! (and epoch, if the file has one) from the file. Which scalar is "the loss" follows what the
//! bar shows, so the two agree: kohya `loss/average` (the bar's `avr_loss`), OneTrainer
//! `loss/train_step`, SimpleTuner and diffusers text2image `train_loss`, diffusers dreambooth
//! `loss`, ai-toolkit `loss/loss`.

pub mod curves;
pub mod jsonl;
pub mod series;
pub mod sqlite;
pub mod tensorboard;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use jsonl::{JsonlTail, MetricsFile, append_metrics, read_metrics};

use crate::train::{Point, TrainerId};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} at byte {offset}: {what}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    #[error("{} line {line}: {what}", path.display())]
    BadLine {
        path: PathBuf,
        line: u64,
        what: String,
    },
    #[error("{}: {what} (is it ai-toolkit's loss_log.db?)", path.display())]
    Sqlite { path: PathBuf, what: String },
}

/// Scalar names holding the loss and the learning rate, best first.
struct Tags {
    loss: &'static [&'static str],
    lr: &'static [&'static str],
    /// Any tag with this prefix is a learning rate when none of `lr` is there (kohya's and
    /// OneTrainer's `lr/<param group>`).
    lr_prefix: Option<&'static str>,
    epoch: &'static [&'static str],
}

fn tags(trainer: TrainerId) -> Tags {
    match trainer {
        TrainerId::Kohya => Tags {
            loss: &["loss/average", "loss/current"],
            lr: &["lr/unet", "lr/group0", "lr/textencoder"],
            lr_prefix: Some("lr/"),
            epoch: &[],
        },
        TrainerId::Onetrainer => Tags {
            loss: &["loss/train_step"],
            lr: &["lr/transformer_lora", "lr/unet_lora"],
            lr_prefix: Some("lr/"),
            epoch: &[],
        },
        TrainerId::Simpletuner => Tags {
            loss: &["train_loss"],
            lr: &["learning_rate"],
            lr_prefix: None,
            epoch: &["epoch"],
        },
        TrainerId::Diffusers => Tags {
            loss: &["loss", "train_loss"],
            lr: &["lr"],
            lr_prefix: None,
            epoch: &[],
        },
        TrainerId::AiToolkit => Tags {
            loss: &["loss/loss", "loss"],
            lr: &["learning_rate", "lr"],
            lr_prefix: None,
            epoch: &[],
        },
        TrainerId::Command | TrainerId::Builtin => Tags {
            loss: &["loss", "train_loss", "train/loss", "loss/train"],
            lr: &["lr", "learning_rate", "train/lr"],
            lr_prefix: Some("lr/"),
            epoch: &["epoch"],
        },
    }
}

/// The values of one step, each with the rank of the name it came from (lower is better).
#[derive(Default)]
struct StepValues {
    loss: Option<(usize, f64)>,
    lr: Option<(usize, f64)>,
    epoch: Option<u64>,
    time: Option<f64>,
}

fn better(slot: &mut Option<(usize, f64)>, rank: usize, value: f64) {
    if slot.is_none_or(|(r, _)| rank < r) {
        *slot = Some((rank, value));
    }
}

/// Gathers named values into points, one per step, picking the loss and learning rate by
/// [`tags`].
#[derive(Default)]
struct Gather {
    steps: BTreeMap<u64, StepValues>,
}

impl Gather {
    fn add(&mut self, tags: &Tags, step: u64, time: Option<f64>, name: &str, value: f64) {
        let e = self.steps.entry(step).or_default();
        e.time = e.time.or(time);
        if let Some(rank) = tags.loss.iter().position(|t| *t == name) {
            better(&mut e.loss, rank, value);
        } else if let Some(rank) = tags.lr.iter().position(|t| *t == name).or_else(|| {
            tags.lr_prefix
                .filter(|p| name.starts_with(p))
                .map(|_| tags.lr.len())
        }) {
            better(&mut e.lr, rank, value);
        } else if tags.epoch.contains(&name) && value.is_finite() && value >= 0.0 {
            e.epoch = Some(value as u64);
        }
    }

    fn points(self, out: &mut Vec<Point>) {
        for (step, v) in self.steps {
            if v.loss.is_some() || v.lr.is_some() {
                out.push(Point {
                    step,
                    loss: v.loss.map(|(_, l)| l),
                    lr: v.lr.map(|(_, l)| l),
                    epoch: v.epoch,
                    time: v.time,
                    ..Point::default()
                });
            }
        }
    }
}

/// One line of SimpleTuner's `training_metrics.jsonl`.
#[derive(Deserialize)]
struct SimpletunerRecord {
    step: u64,
    #[serde(default)]
    metrics: HashMap<String, f64>,
    #[serde(default)]
    timestamp: Option<String>,
}

/// Watches a trainer's metrics folder for the structured files it writes, and reads what is new
/// in them on each [`poll`](MetricsWatcher::poll). Files that appear later (a resumed kohya run
/// starts a new TensorBoard folder) are picked up.
pub struct MetricsWatcher {
    trainer: TrainerId,
    dir: PathBuf,
    event_files: Vec<tensorboard::EventFile>,
    loss_logs: Vec<sqlite::LossLog>,
    jsonl: Vec<JsonlTail>,
    problems: Vec<MetricsError>,
}

/// How deep under the metrics folder files are looked for (kohya:
/// `<logging_dir>/<timestamp>/network_train/events…`).
const MAX_DEPTH: usize = 4;

impl MetricsWatcher {
    pub fn new(trainer: TrainerId, metrics_dir: &Path) -> Self {
        MetricsWatcher {
            trainer,
            dir: metrics_dir.to_path_buf(),
            event_files: Vec::new(),
            loss_logs: Vec::new(),
            jsonl: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Problems with single records or lines met by the polls so far (each once; the rest of
    /// the file was still read), taken out.
    pub fn take_problems(&mut self) -> Vec<MetricsError> {
        std::mem::take(&mut self.problems)
    }

    /// Points written since the last poll, in step order per source. A step may come again
    /// with more fields (its loss and learning rate logged apart): [`overlay`] merges them.
    /// A file that cannot be read at all is an error; the next poll tries again.
    pub fn poll(&mut self) -> Result<Vec<Point>, MetricsError> {
        self.discover();
        let tags = tags(self.trainer);
        let mut points = Vec::new();
        // ai-toolkit's database and SimpleTuner's jsonl are each trainer's own best record;
        // TensorBoard is read where neither exists.
        if !self.loss_logs.is_empty() {
            let mut rows = Vec::new();
            for log in &mut self.loss_logs {
                log.read_new(&mut rows)?;
            }
            let mut g = Gather::default();
            for r in rows {
                g.add(&tags, r.step, Some(r.wall_time), &r.key, r.value);
            }
            g.points(&mut points);
        } else if !self.jsonl.is_empty() {
            let mut records = Vec::<SimpletunerRecord>::new();
            for tail in &mut self.jsonl {
                tail.read_new(false, &mut records, &mut self.problems)?;
            }
            let mut g = Gather::default();
            for r in records {
                let time = r.timestamp.as_deref().and_then(iso8601_seconds);
                for (name, value) in &r.metrics {
                    g.add(&tags, r.step, time, name, *value);
                }
            }
            g.points(&mut points);
        } else {
            let mut scalars = Vec::new();
            for f in &mut self.event_files {
                f.read_new(&mut scalars, &mut self.problems)?;
            }
            let mut g = Gather::default();
            for s in scalars {
                g.add(&tags, s.step, Some(s.wall_time), &s.tag, s.value);
            }
            g.points(&mut points);
        }
        Ok(points)
    }

    fn discover(&mut self) {
        let walk = walkdir::WalkDir::new(&self.dir)
            .max_depth(MAX_DEPTH)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file());
        for entry in walk {
            let name = entry.file_name().to_string_lossy();
            let path = entry.path();
            if name.starts_with("events.out.tfevents.") {
                if !self.event_files.iter().any(|f| f.path() == path) {
                    self.event_files
                        .push(tensorboard::EventFile::new(path.to_path_buf()));
                }
            } else if name == "loss_log.db" {
                if !self.loss_logs.iter().any(|f| f.path() == path) {
                    self.loss_logs
                        .push(sqlite::LossLog::new(path.to_path_buf()));
                }
            } else if name == "training_metrics.jsonl"
                && !self.jsonl.iter().any(|f| f.path() == path)
            {
                self.jsonl.push(JsonlTail::new(path.to_path_buf()));
            }
        }
    }
}

/// Lays a structured point over the console's point for the same step: loss and learning rate
/// (and the epoch, where the file has one) from the file, the rest from the console.
pub fn overlay(console: &mut Point, structured: &Point) {
    console.loss = structured.loss.or(console.loss);
    console.lr = structured.lr.or(console.lr);
    console.epoch = structured.epoch.or(console.epoch);
    console.total = console.total.or(structured.total);
    console.time = console.time.or(structured.time);
}

/// Seconds since the Unix epoch of an ISO 8601 time (`2026-01-01T12:00:00[.ffffff][+00:00|Z]`).
fn iso8601_seconds(s: &str) -> Option<f64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (clock, offset) = match time.find(['+', '-', 'Z']) {
        Some(i) => time.split_at(i),
        None => (time, ""),
    };
    let mut c = clock.splitn(3, ':');
    let (h, min) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = c.next().unwrap_or("0").parse().ok()?;
    let offset_s = match offset.as_bytes().first() {
        Some(b'+' | b'-') => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (oh, om) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
        _ => 0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60 - offset_s) as f64 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso8601_seconds("1970-01-01T00:00:00"), Some(0.0));
        assert_eq!(
            iso8601_seconds("2026-01-01T12:00:00+00:00"),
            Some(1_767_268_800.0)
        );
        assert_eq!(
            iso8601_seconds("2026-01-01T13:30:00.5+01:30"),
            Some(1_767_268_800.5)
        );
        assert_eq!(iso8601_seconds("not a time"), None);
    }

    #[test]
    fn overlay_keeps_the_bar_and_takes_the_file() {
        let mut bar = Point {
            step: 3,
            total: Some(6),
            loss: Some(0.123),
            rate: Some(2.0),
            epoch: Some(1),
            ..Point::default()
        };
        let file = Point {
            step: 3,
            loss: Some(0.12345),
            lr: Some(1e-4),
            ..Point::default()
        };
        overlay(&mut bar, &file);
        assert_eq!(
            (bar.total, bar.loss, bar.lr, bar.rate, bar.epoch),
            (Some(6), Some(0.12345), Some(1e-4), Some(2.0), Some(1))
        );
    }
}
