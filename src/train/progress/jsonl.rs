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
        // An event first: it has a step too, and would pass for a point.
        if let Ok(e) = serde_json::from_slice::<Event>(t) {
            return Some(Update::Event(e));
        }
        if let Ok(p) = serde_json::from_slice::<Progress>(t) {
            return Some(Update::Point(point(p)));
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

/// A log line as a person reads it in a log tail: `None` for a JSON step report (the progress
/// bar and the chart show those, as a tqdm log's bar frames are left out), a JSON event in
/// words, any other line as it is.
pub fn readable(line: &str) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    let t = line.trim();
    if !t.starts_with('{') {
        return Some(Cow::Borrowed(line));
    }
    let name = |p: &std::path::Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let at = |step: &Option<u64>| step.map(|s| format!(" (step {s})")).unwrap_or_default();
    if let Ok(e) = serde_json::from_str::<Event>(t) {
        return Some(Cow::Owned(match e {
            Event::CheckpointSaved { path, step } => {
                format!("checkpoint saved: {}{}", name(&path), at(&step))
            }
            Event::SampleWritten { path, step } => {
                format!("sample written: {}{}", name(&path), at(&step))
            }
            Event::Error { message } => message,
        }));
    }
    let step_report = serde_json::from_str::<Progress>(t).is_ok()
        || (t.contains("NaN")
            && serde_json::from_str::<Progress>(&t.replace("NaN", "null")).is_ok());
    (!step_report).then_some(Cow::Borrowed(line))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_for_people() {
        let r = |l| readable(l).map(|c| c.into_owned());
        assert_eq!(
            r("{\"step\":3,\"total\":10,\"loss\":0.12,\"lr\":0.0001,\"epoch\":1}"),
            None
        );
        assert_eq!(r("{\"step\": 2, \"loss\": NaN}"), None);
        assert_eq!(
            r("{\"kind\":\"checkpoint_saved\",\"path\":\"/o/tiny-step00000003.safetensors\",\"step\":3}")
                .as_deref(),
            Some("checkpoint saved: tiny-step00000003.safetensors (step 3)")
        );
        assert_eq!(
            r("{\"kind\":\"error\",\"message\":\"CUDA out of memory\"}").as_deref(),
            Some("CUDA out of memory")
        );
        assert_eq!(r("loading the VAE").as_deref(), Some("loading the VAE"));
        assert_eq!(
            r("{'lr': 0.1}").as_deref(),
            Some("{'lr': 0.1}"),
            "not JSON: kept"
        );
        assert_eq!(
            r("{\"no\": \"step\"}").as_deref(),
            Some("{\"no\": \"step\"}")
        );
    }

    #[test]
    fn points_events_nan_and_other_lines() {
        let mut p = JsonlParser::default();
        let mut out = Vec::new();
        let text = concat!(
            "{\"step\": 1, \"total\": 4, \"loss\": 0.5, \"lr\": 0.0001}\n",
            "hello\n{\"kind\":\"checkpoint_saved\",\"path\":\"out/a.safetensors\",\"step\":1}\n",
            "{\"step\": 2, \"loss\": NaN}\n{\"no\": \"step\"}\n{\"step\": 3"
        );
        p.feed(text.as_bytes(), &mut out);
        p.finish(&mut out);
        assert!(
            matches!(&out[0], Update::Point(pt) if pt.step == 1 && pt.total == Some(4) && pt.lr == Some(1e-4))
        );
        assert!(matches!(
            &out[1],
            Update::Event(Event::CheckpointSaved { step: Some(1), .. })
        ));
        assert!(
            matches!(&out[2], Update::Event(Event::Error { message }) if message.contains("NaN at step 2"))
        );
        assert!(
            matches!(&out[3], Update::Point(pt) if pt.step == 2 && pt.loss.is_some_and(f64::is_nan))
        );
        assert_eq!(out.len(), 4, "{out:?}");
    }
}
