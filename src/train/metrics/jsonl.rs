//! JSON-lines files read as they grow (SimpleTuner's `training_metrics.jsonl`, a run's own
//! `metrics.jsonl`), and the run's `metrics.jsonl` written. Only complete lines are read: a line
//! still being written (no newline yet) waits for the next read, or is reported as torn when the
//! file is read to its end for good. A line that is not what was expected is reported with its
//! number and the rest is kept.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::MetricsError;
use crate::train::Point;

/// The longest line read; a longer one is reported and skipped.
const MAX_LINE: usize = 1024 * 1024;

/// Where the last read of one JSON-lines file stopped.
#[derive(Debug)]
pub struct JsonlTail {
    path: PathBuf,
    offset: u64,
    line_no: u64,
}

impl JsonlTail {
    pub fn new(path: PathBuf) -> Self {
        JsonlTail {
            path,
            offset: 0,
            line_no: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the lines completed since the last call. With `to_end`, a last line without a
    /// newline is read too (the writer is gone), and reported if it does not parse.
    pub fn read_new<T: DeserializeOwned>(
        &mut self,
        to_end: bool,
        out: &mut Vec<T>,
        problems: &mut Vec<MetricsError>,
    ) -> Result<(), MetricsError> {
        let io = |source| MetricsError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        if file.metadata().map_err(io)?.len() < self.offset {
            // Truncated or replaced: read it again from the start.
            self.offset = 0;
            self.line_no = 0;
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut r = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut r)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            if n == 0 {
                return Ok(());
            }
            let complete = line.ends_with(b"\n");
            if !complete && n <= MAX_LINE && !to_end {
                return Ok(());
            }
            self.offset += n as u64;
            self.line_no += 1;
            if !complete && n > MAX_LINE {
                // Skip the rest of an over-long line.
                let mut rest = Vec::new();
                let skipped = r.read_until(b'\n', &mut rest).map_err(io)?;
                self.offset += skipped as u64;
                problems.push(self.bad_line("longer than 1 MiB; skipped".into()));
                continue;
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<T>(text) {
                Ok(v) => out.push(v),
                Err(e) if !complete => problems
                    .push(self.bad_line(format!("cut short (a write was interrupted): {e}"))),
                Err(e) => problems.push(self.bad_line(e.to_string())),
            }
        }
    }

    fn bad_line(&self, what: String) -> MetricsError {
        MetricsError::BadLine {
            path: self.path.clone(),
            line: self.line_no,
            what,
        }
    }
}

/// A whole `metrics.jsonl`: its points, and what could not be read (the rest is kept).
#[derive(Debug, Default)]
pub struct MetricsFile {
    pub points: Vec<Point>,
    pub problems: Vec<MetricsError>,
}

/// Reads a run's `metrics.jsonl`. A missing file is an empty one.
pub fn read_metrics(path: &Path) -> Result<MetricsFile, MetricsError> {
    let mut tail = JsonlTail::new(path.to_path_buf());
    let mut file = MetricsFile::default();
    tail.read_new(true, &mut file.points, &mut file.problems)?;
    Ok(file)
}

/// Appends points to a run's `metrics.jsonl`, one JSON object a line. If the file's last line
/// was torn (a writer killed mid-line), a newline is written first so the new points are not
/// glued to it.
pub fn append_metrics(path: &Path, points: &[Point]) -> Result<(), MetricsError> {
    let io = |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut text = Vec::with_capacity(points.len() * 96 + 1);
    let len = file.metadata().map_err(io)?.len();
    if len > 0 {
        let mut last = [0u8];
        file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
        file.read_exact(&mut last).map_err(io)?;
        if last[0] != b'\n' {
            text.push(b'\n');
        }
    }
    for p in points {
        serde_json::to_writer(&mut text, p).map_err(|e| io(e.into()))?;
        text.push(b'\n');
    }
    // One write per call, so a reader sees whole lines (O_APPEND keeps it at the end).
    file.write_all(&text).map_err(io)
}
