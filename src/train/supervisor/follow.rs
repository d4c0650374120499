//! Following a growing `train.log`: new bytes go through the backend's progress parser, points
//! into `metrics.jsonl` and events into `events.jsonl`. Points of one step seen within one read
//! collapse into the last, so the file grows by steps, not by frames (a step may still come
//! again in a later read, as a replacement: readers take the last line of a step).
//!
//! Where the trainer writes structured metrics (TensorBoard events, ai-toolkit's loss_log.db,
//! SimpleTuner's training_metrics.jsonl), they are laid over the console's points
//! ([`metrics::overlay`]): the file's exact loss and learning rate win. Those files often lag
//! the console (TensorBoard flushes every two minutes), so a step already written comes again
//! with the file's values, and the newest point is written once more after such replacements:
//! the last line of `metrics.jsonl` is always the newest progress, which is all `runs` reads.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::train::metrics::jsonl::append_metrics;
use crate::train::metrics::{self, MetricsWatcher};
use crate::train::progress::{ProgressParser, Update};
use crate::train::run::status::now;
use crate::train::{Event, Point, TrainerId};

pub const METRICS: &str = "metrics.jsonl";
pub const EVENTS: &str = "events.jsonl";

#[derive(Serialize)]
struct Logged<'a> {
    time: f64,
    #[serde(flatten)]
    event: &'a Event,
}

pub struct Follower {
    log: PathBuf,
    file: Option<File>,
    parser: Box<dyn ProgressParser>,
    metrics: PathBuf,
    metrics_failed: bool,
    events: Sink,
    buf: Vec<u8>,
    updates: Vec<Update>,
    pub last: Option<Point>,
    pub errors: Vec<String>,
    structured: Option<Structured>,
}

/// An append-only JSON-lines file that survives a full disk: a failed write is reported once
/// (to the supervisor's log) and the run goes on; a reader skips the torn line.
struct Sink {
    path: PathBuf,
    file: Option<File>,
    failed: bool,
}

impl Sink {
    fn new(path: PathBuf) -> Sink {
        Sink {
            path,
            file: None,
            failed: false,
        }
    }

    fn append(&mut self, line: &[u8]) {
        if self.file.is_none() {
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
        }
        let result = match &mut self.file {
            Some(f) => f.write_all(line),
            None => Err(io::Error::other("cannot open")),
        };
        match result {
            Ok(()) => self.failed = false,
            Err(e) if !self.failed => {
                self.failed = true;
                super::say(&format!("cannot write {}: {e}", self.path.display()));
            }
            Err(_) => {}
        }
    }

    fn json(&mut self, value: &impl Serialize) {
        if let Ok(mut line) = serde_json::to_vec(value) {
            line.push(b'\n');
            self.append(&line);
        }
    }
}

impl Follower {
    pub fn new(run_dir: &Path, log: PathBuf, parser: Box<dyn ProgressParser>) -> Follower {
        Follower {
            log,
            file: None,
            parser,
            metrics: run_dir.join(METRICS),
            metrics_failed: false,
            events: Sink::new(run_dir.join(EVENTS)),
            buf: vec![0; 64 * 1024],
            updates: Vec::new(),
            last: None,
            errors: Vec::new(),
            structured: None,
        }
    }

    /// Also reads the structured metrics `trainer` writes under `dir`, laid over the console's.
    pub fn with_metrics(mut self, trainer: TrainerId, dir: &Path) -> Follower {
        self.structured = Some(Structured::new(trainer, dir));
        self
    }

    /// Reads whatever the log gained since the last call. Returns whether it grew.
    pub fn poll(&mut self) -> bool {
        if self.file.is_none() {
            self.file = File::open(&self.log).ok();
        }
        let Some(file) = &mut self.file else {
            return false;
        };
        let mut grew = false;
        loop {
            match file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    grew = true;
                    self.parser.feed(&self.buf[..n], &mut self.updates);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        // Caught up with the file: the point held for the current step may come out now.
        self.parser.flush(&mut self.updates);
        self.flush();
        grew
    }

    /// The log is complete: the parser's last partial line counts too, and every structured
    /// point left (steps the console never showed).
    pub fn finish(&mut self) {
        self.poll();
        self.parser.finish(&mut self.updates);
        if let Some(s) = &mut self.structured {
            s.finishing = true;
        }
        self.flush();
    }

    fn flush(&mut self) {
        let time = now();
        let mut points: Vec<Point> = Vec::new();
        for update in std::mem::take(&mut self.updates) {
            match update {
                Update::Point(mut p) => {
                    p.time.get_or_insert(time);
                    match points.last_mut() {
                        Some(prev) if prev.step == p.step => *prev = p,
                        _ => points.push(p),
                    }
                }
                Update::Event(event) => {
                    if let Event::Error { message } = &event {
                        self.errors.push(message.clone());
                    }
                    self.events.json(&Logged {
                        time,
                        event: &event,
                    });
                }
            }
        }
        let lines = match &mut self.structured {
            Some(s) => s.merge(points),
            None => points,
        };
        if lines.is_empty() {
            return;
        }
        // A full disk loses these points (said once); the run and the log go on.
        match append_metrics(&self.metrics, &lines) {
            Ok(()) => self.metrics_failed = false,
            Err(e) if !self.metrics_failed => {
                self.metrics_failed = true;
                super::say(&e.to_string());
            }
            Err(_) => {}
        }
        self.last = lines.into_iter().last();
    }
}

/// How many written points are kept for laying late structured values over them.
const WINDOW: usize = 4096;
/// Structured files are looked at every this many log reads (2 s at the supervisor's pace).
const METRICS_EVERY: u32 = 4;

/// The structured side of a follower: what the trainer's metrics files said and the console
/// has not shown yet, and the console's recent points as written.
struct Structured {
    watcher: MetricsWatcher,
    /// Structured points not laid over a line yet.
    pending: BTreeMap<u64, Point>,
    /// Structured points already laid over a line: a step the console draws again (a later
    /// frame of it) gets them again.
    applied: BTreeMap<u64, Point>,
    /// Recent points as written (console, overlaid), by step.
    written: BTreeMap<u64, Point>,
    /// The step of the newest point written (not the highest one: a bar may start again).
    newest: Option<u64>,
    reads: u32,
    said_error: bool,
    /// The run is over: nothing more will come from the console.
    finishing: bool,
}

impl Structured {
    fn new(trainer: TrainerId, dir: &Path) -> Structured {
        Structured {
            watcher: MetricsWatcher::new(trainer, dir),
            pending: BTreeMap::new(),
            applied: BTreeMap::new(),
            written: BTreeMap::new(),
            newest: None,
            reads: 0,
            said_error: false,
            finishing: false,
        }
    }

    fn read(&mut self) {
        match self.watcher.poll() {
            Ok(points) => {
                self.said_error = false;
                for p in points {
                    match self.pending.get_mut(&p.step) {
                        // A step's loss and learning rate may come in separate records.
                        Some(q) => metrics::overlay(q, &p),
                        None => {
                            self.pending.insert(p.step, p);
                        }
                    }
                }
            }
            Err(e) if !self.said_error => {
                self.said_error = true;
                super::say(&format!("structured metrics: {e}"));
            }
            Err(_) => {}
        }
        for problem in self.watcher.take_problems() {
            super::say(&format!("structured metrics: {problem}"));
        }
    }

    /// The lines to append for the console's new `points`: replacements for steps already
    /// written that the files now know better, the files' points for steps the console skipped
    /// (tqdm draws at most ten frames a second), the console's points overlaid, and the newest
    /// point last.
    fn merge(&mut self, points: Vec<Point>) -> Vec<Point> {
        self.reads += 1;
        if self.finishing || self.reads % METRICS_EVERY == 1 {
            self.read();
        }
        let mut lines = Vec::new();
        // Steps at or before the newest written one: replacements (or the file's own point
        // where the console never showed the step, or it left the window).
        let old: Vec<u64> = match self.newest {
            Some(n) => self.pending.range(..=n).map(|(s, _)| *s).collect(),
            None => Vec::new(),
        };
        for step in &old {
            let Some(file) = self.pending.remove(step) else {
                continue;
            };
            let line = match self.written.get_mut(step) {
                Some(w) => {
                    metrics::overlay(w, &file);
                    w.clone()
                }
                None => self.alone(file.clone()),
            };
            self.applied_now(file);
            lines.push(line);
        }
        let replaced = !lines.is_empty();
        for mut p in points {
            // The file's points for steps the console jumped over come first, in step order.
            let skipped: Vec<u64> = self.pending.range(..p.step).map(|(s, _)| *s).collect();
            for step in skipped {
                if let Some(file) = self.pending.remove(&step) {
                    let line = self.alone(file);
                    lines.push(line);
                }
            }
            if let Some(file) = self.pending.remove(&p.step) {
                metrics::overlay(&mut p, &file);
                self.applied_now(file);
            } else if let Some(file) = self.applied.get(&p.step) {
                metrics::overlay(&mut p, file);
            }
            self.remember(p.clone());
            lines.push(p);
        }
        if self.finishing || self.pending.len() > WINDOW {
            // Steps the console will never show (the run ended, or its bar cannot be read).
            let keep = if self.finishing { 0 } else { WINDOW / 2 };
            while self.pending.len() > keep {
                let Some((_, file)) = self.pending.pop_first() else {
                    break;
                };
                let line = self.alone(file);
                self.remember(line.clone());
                lines.push(line);
            }
        }
        // Replacements went after the newest point: say it again so it stays the last line.
        if replaced
            && lines.last().map(|p| p.step) != self.newest
            && let Some(newest) = self.newest.and_then(|s| self.written.get(&s))
        {
            lines.push(newest.clone());
        }
        lines
    }

    /// A structured point on its own, with the run's total as the console last gave it.
    fn alone(&self, mut file: Point) -> Point {
        if let Some(newest) = self.newest.and_then(|s| self.written.get(&s)) {
            file.total = file.total.or(newest.total);
        }
        file
    }

    fn applied_now(&mut self, file: Point) {
        match self.applied.get_mut(&file.step) {
            Some(a) => metrics::overlay(a, &file),
            None => {
                self.applied.insert(file.step, file);
            }
        }
        while self.applied.len() > WINDOW {
            self.applied.pop_first();
        }
    }

    fn remember(&mut self, p: Point) {
        self.newest = Some(p.step);
        self.written.insert(p.step, p);
        while self.written.len() > WINDOW {
            match self.written.first_key_value() {
                Some((s, _)) if Some(*s) != self.newest => {
                    self.written.pop_first();
                }
                _ => break,
            }
        }
    }
}
