//! Progress as JSON lines (`progress: jsonl` in a command-backend config, and the built-in
//! trainer): one object per line, `{"step": 12, "total": 100, "loss": 0.1, "lr": 1e-4}` (also
//! `rate`, `epoch`, `time`), or an [`Event`] as lorabench writes one (`{"kind":
//! "checkpoint_saved", "path": …, "step": …}`). Other lines are the script's own output: they are
//! only watched for a traceback or an out-of-memory message. Python's `json.dumps` writes a NaN
//! loss as the bare word `NaN`, which is not JSON; it is read as a NaN loss.

use serde::Deserialize;

use super::Update;
use super::errors::ErrorWatch;
use super::lines::{Lines, strip_ansi};
use super::tqdm::trim;
use crate::train::{Event, Point};

#[derive(Deserialize)]
struct Progress {
    step: u64,
    total: Option<u64>,
    loss: Option<f64>,
    lr: Option<f64>,
    rate: Option<f64>,
    epoch: Option<u64>,
    time: Option<f64>,
}

#[derive(Default)]
pub struct JsonlParser {
    lines: Lines,
    scratch: Vec<u8>,
    errors: ErrorWatch,
    nan_reported: bool,
}

impl JsonlParser {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(bytes, |l| self.line(l, out));
        self.lines = lines;
    }

    pub fn finish(&mut self, out: &mut Vec<Update>) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.finish(|l| self.line(l, out));
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<Update>) {
        let mut text = std::mem::take(&mut self.scratch);
        strip_ansi(raw, &mut text);
        let t = trim(&text);
        if t.starts_with(b"{")
            && let Some(update) = self.object(t, out)
        {
            out.push(update);
            self.scratch = text;
            return;
        }
        if let Some(message) = self.errors.line(&text) {
            out.push(Update::Event(Event::Error { message }));
        }
        self.scratch = text;
    }

    fn object(&mut self, t: &[u8], out: &mut Vec<Update>) -> Option<Update> {
        if let Ok(p) = serde_json::from_slice::<Progress>(t) {
            return Some(Update::Point(point(p)));
        }
        if let Ok(e) = serde_json::from_slice::<Event>(t) {
            return Some(Update::Event(e));
        }
        let text = std::str::from_utf8(t).ok()?;
        if !text.contains("NaN") {
            return None;
        }
        let mut p = serde_json::from_str::<Progress>(&text.replace("NaN", "null")).ok()?;
        if p.loss.is_none() && (text.contains("\"loss\": NaN") || text.contains("\"loss\":NaN")) {
            p.loss = Some(f64::NAN);
            if !self.nan_reported {
                self.nan_reported = true;
                out.push(Update::Event(Event::Error {
                    message: format!("loss is NaN at step {}", p.step),
                }));
            }
        }
        Some(Update::Point(point(p)))
    }
}

fn point(p: Progress) -> Point {
    Point {
        step: p.step,
        total: p.total,
        loss: p.loss,
        lr: p.lr,
        rate: p.rate,
        epoch: p.epoch,
        time: p.time,
    }
}
