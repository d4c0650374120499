//! Progress from a trainer's console output (the `train-progress` branch replaces this file
//! with the full parsers; this is the seam the supervisor uses meanwhile): tqdm frames split on
//! `\r` and `\n`, ANSI stripped, or one JSON object per line.

use std::sync::LazyLock;

use regex::Regex;

use super::{Event, Point, TrainerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Tqdm,
    Jsonl,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Point(Point),
    Event(Event),
}

pub trait ProgressParser: Send {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>);
    fn finish(&mut self, out: &mut Vec<Update>);
}

pub fn parser_for(_trainer: TrainerId, format: LogFormat) -> Box<dyn ProgressParser> {
    Box::new(Lines {
        pending: Vec::new(),
        format,
    })
}

struct Lines {
    pending: Vec<u8>,
    format: LogFormat,
}

static ANSI: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").ok());
static FRAME: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(?:(?P<desc>.*?):\s*)?\d{1,3}%(?:\|[^|]*\|)?\s*(?P<n>\d+)/(?P<total>\d+)\s*\[[^<\]]*<[^,\]]*,\s*(?P<rate>\?|\d+(?:\.\d+)?)(?P<unit>it/s|s/it)(?:,\s*(?P<post>[^\]]*))?\]",
    )
    .ok()
});

impl Lines {
    fn line(&self, raw: &[u8], out: &mut Vec<Update>) {
        let text = String::from_utf8_lossy(raw);
        let text = match &*ANSI {
            Some(re) => re.replace_all(&text, ""),
            None => text,
        };
        match self.format {
            LogFormat::Jsonl => {
                if let Ok(p) = serde_json::from_str::<Point>(text.trim()) {
                    out.push(Update::Point(p));
                }
            }
            LogFormat::Tqdm => {
                if let Some(p) = frame(&text) {
                    out.push(Update::Point(p));
                } else if let Some(msg) = error_line(&text) {
                    out.push(Update::Event(Event::Error { message: msg }));
                }
            }
        }
    }
}

fn frame(text: &str) -> Option<Point> {
    let c = FRAME.as_ref()?.captures(text)?;
    let desc = c
        .name("desc")
        .map_or("", |m| m.as_str())
        .trim()
        .to_lowercase();
    if !desc.is_empty() && !desc.contains("step") {
        return None;
    }
    let rate = c["rate"].parse::<f64>().ok().map(|r| match &c["unit"] {
        "s/it" if r > 0.0 => 1.0 / r,
        _ => r,
    });
    let mut p = Point {
        step: c["n"].parse().ok()?,
        total: c["total"].parse().ok(),
        rate,
        ..Point::default()
    };
    for kv in c.name("post").map_or("", |m| m.as_str()).split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            let v = v.trim().parse::<f64>().ok();
            match k.trim() {
                "loss" | "avr_loss" | "step_loss" => p.loss = v,
                "lr" => p.lr = v,
                _ => {}
            }
        }
    }
    Some(p)
}

fn error_line(text: &str) -> Option<String> {
    let t = text.trim();
    let is_error = t.contains("CUDA out of memory")
        || t.split_once(':').is_some_and(|(head, _)| {
            !head.contains(' ') && (head.ends_with("Error") || head.ends_with("Exception"))
        });
    is_error.then(|| t.to_string())
}

impl ProgressParser for Lines {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>) {
        self.pending.extend_from_slice(bytes);
        let mut start = 0;
        let mut lines = Vec::new();
        for (i, b) in self.pending.iter().enumerate() {
            if *b == b'\n' || *b == b'\r' {
                lines.push(start..i);
                start = i + 1;
            }
        }
        for r in lines {
            self.line(&self.pending[r], out);
        }
        self.pending.drain(..start);
        // A frame is never this long; a line without an end is not worth keeping whole.
        if self.pending.len() > 64 * 1024 {
            self.pending.clear();
        }
    }

    fn finish(&mut self, out: &mut Vec<Update>) {
        let rest = std::mem::take(&mut self.pending);
        self.line(&rest, out);
    }
}
