//! Following a growing `train.log`: new bytes go through the backend's progress parser, points
//! into `metrics.jsonl` and events into `events.jsonl`. Points of one step seen within one read
//! collapse into the last, so the file grows by steps, not by frames (a step may still come
//! again in a later read, as a replacement: readers take the last line of a step).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::train::metrics::jsonl::append_metrics;
use crate::train::progress::{ProgressParser, Update};
use crate::train::run::status::now;
use crate::train::{Event, Point};

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
                eprintln!(
                    "lorabench supervisor: cannot write {}: {e}",
                    self.path.display()
                );
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
        }
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

    /// The log is complete: the parser's last partial line counts too.
    pub fn finish(&mut self) {
        self.poll();
        self.parser.finish(&mut self.updates);
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
        if points.is_empty() {
            return;
        }
        // A full disk loses these points (said once); the run and the log go on.
        match append_metrics(&self.metrics, &points) {
            Ok(()) => self.metrics_failed = false,
            Err(e) if !self.metrics_failed => {
                self.metrics_failed = true;
                eprintln!("lorabench supervisor: {e}");
            }
            Err(_) => {}
        }
        self.last = points.pop();
    }
}
