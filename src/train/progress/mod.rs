//! Reading a trainer's console output into progress [`Point`]s and [`Event`]s, as it streams
//! (the supervisor feeds `train.log` as it grows) or offline (`lorabench log parse`).
//!
//! A parser is fed arbitrary chunks (cut mid-line, mid-UTF-8) and keeps at most one line
//! ([`lines::MAX_LINE`]) and one point, whatever the input. Lines end at `\r` or `\n`; ANSI
//! escapes are stripped; the training bar is told from nested and other bars by the trainer's
//! conventions (`console`). Points come out once per step: a step redrawn several times gives
//! one point with its last values, except for trainers that set the postfix before moving the
//! bar (ai-toolkit, OneTrainer, scripts iterating a tqdm), where the first frame of a step is the
//! one that holds its loss. A point is held until the next step shows, so the newest one comes
//! out on [`ProgressParser::flush`] (call it when caught up with the file) or at the end.
//!
//! A run whose bar restarts (kohya's plain `--resume` starts counting at 0 again, trainers.md
//! §11) gives steps that go back: a later point for a step replaces an earlier one.

mod console;
mod errors;
mod jsonl;
pub mod lines;
pub mod naming;
pub mod tqdm;

pub use jsonl::readable;

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::train::{Event, Point, TrainerId};

/// What a parser found.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Point(Point),
    Event(Event),
}

/// How the `command` backend's script reports progress (ignored by the other trainers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Tqdm,
    Jsonl,
}

pub trait ProgressParser: Send {
    /// Parses `bytes`, the next part of the log, appending what it completes to `out`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>);
    /// Hands out the point held back for the current step (nothing is lost: a later frame of
    /// the same step then comes out again, as a replacement).
    fn flush(&mut self, _out: &mut Vec<Update>) {}
    /// The log ended (or the run did): parses a last unterminated line and flushes.
    fn finish(&mut self, out: &mut Vec<Update>);
}

/// The parser for `trainer`'s console output. The built-in trainer prints JSON lines.
pub fn parser_for(trainer: TrainerId, format: LogFormat) -> Box<dyn ProgressParser> {
    match (trainer, format) {
        (TrainerId::Builtin, _) | (TrainerId::Command, LogFormat::Jsonl) => {
            Box::new(jsonl::JsonlParser::default())
        }
        _ => Box::new(console::ConsoleParser::new(trainer)),
    }
}

impl ProgressParser for console::ConsoleParser {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>) {
        console::ConsoleParser::feed(self, bytes, out)
    }
    fn flush(&mut self, out: &mut Vec<Update>) {
        console::ConsoleParser::flush(self, out)
    }
    fn finish(&mut self, out: &mut Vec<Update>) {
        console::ConsoleParser::finish(self, out)
    }
}

impl ProgressParser for jsonl::JsonlParser {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>) {
        jsonl::JsonlParser::feed(self, bytes, out)
    }
    fn finish(&mut self, out: &mut Vec<Update>) {
        jsonl::JsonlParser::finish(self, out)
    }
}

/// Parses a whole log from `reader` in 64 KiB chunks, handing each update to `each` as it is
/// found (memory stays bounded however long the log).
pub fn parse_reader(
    trainer: TrainerId,
    format: LogFormat,
    mut reader: impl Read,
    mut each: impl FnMut(Update),
) -> std::io::Result<()> {
    let mut parser = parser_for(trainer, format);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        parser.feed(&buf[..n], &mut out);
        out.drain(..).for_each(&mut each);
    }
    parser.finish(&mut out);
    out.drain(..).for_each(&mut each);
    Ok(())
}

/// A running digest of a parsed log that keeps no points (for a summary of any size of log).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub points: u64,
    pub first: Option<Point>,
    pub last: Option<Point>,
    /// The lowest finite loss and its step.
    pub best_loss: Option<(f64, u64)>,
    pub events: Vec<Event>,
}

impl Summary {
    pub fn add(&mut self, update: Update) {
        match update {
            Update::Point(p) => {
                self.points += 1;
                if let Some(loss) = p.loss.filter(|l| l.is_finite())
                    && self.best_loss.is_none_or(|(best, _)| loss < best)
                {
                    self.best_loss = Some((loss, p.step));
                }
                if self.first.is_none() {
                    self.first = Some(p.clone());
                }
                self.last = Some(p);
            }
            Update::Event(e) => self.events.push(e),
        }
    }
}
