//! The console parser: a trainer's stdout+stderr as written into `train.log`, tqdm frames and
//! all. One parser for every trainer; what differs is a [`Convention`]: which bar is the
//! training bar, what its `n` means, which postfix keys hold the loss, and the log lines that
//! announce a checkpoint or a resume (trainers.md §4–8, §11; real-trainers.md).

use super::Update;
use super::errors::ErrorWatch;
use super::lines::{Lines, strip_ansi};
use super::naming::checkpoint_step;
use super::tqdm::{self, Frame, number, postfix_pairs, trim};
use crate::train::{Event, Point, TrainerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convention {
    /// `steps` bar, `n` counts this process's steps (add `skipping N steps`), `avr_loss`.
    Kohya,
    /// Bar named after the config, postfix `lr: 1.0e-04 loss: 3.456e-01` (set before the update).
    AiToolkit,
    /// `Steps`, `n` global, `loss`/`step_loss` and `lr`.
    Diffusers,
    /// `Epoch e/E[,] Steps`, `n` global, `step_loss` and `lr`.
    Simpletuner,
    /// Outer `epoch` bar, inner `step` bar counting within the epoch, `loss` (set before update).
    Onetrainer,
    /// A user's own script: the bar showing a loss, else the first named top-level bar that is
    /// not plainly something else (caching, loading, sampling…).
    AnyBar,
}

/// Words in the description of bars that are not training (trainers.md §2.5 step 5).
const OTHER_BARS: [&str; 14] = [
    "cach", "load", "sampl", "valid", "generat", "process", "download", "read", "prepar", "bucket",
    "latent", "encod", "eval", "infer",
];

pub struct ConsoleParser {
    convention: Convention,
    trainer: TrainerId,
    lines: Lines,
    scratch: Vec<u8>,
    errors: ErrorWatch,
    /// The newest point, kept until the bar moves on (trainers that redraw a step with its loss).
    held: Option<Point>,
    /// The step of the last training frame seen.
    last_step: Option<u64>,
    nan_reported: bool,
    /// kohya's `epoch N/M` lines.
    epoch: Option<u64>,
    /// Steps done before the bar's own count starts (kohya `skipping N steps`; OneTrainer:
    /// earlier epochs).
    offset: u64,
    /// The training bar's description once known (ai-toolkit, AnyBar) and whether it showed a loss.
    training_desc: Option<(Vec<u8>, bool)>,
    /// OneTrainer: the inner bar's last (n, total) and the epoch bar's (n, total).
    inner: Option<(u64, Option<u64>)>,
    outer: Option<(u64, Option<u64>)>,
    /// OneTrainer: epochs finished before a resumed process started.
    epochs_before: u64,
}

impl ConsoleParser {
    pub fn new(trainer: TrainerId) -> Self {
        let convention = match trainer {
            TrainerId::Kohya => Convention::Kohya,
            TrainerId::AiToolkit => Convention::AiToolkit,
            TrainerId::Diffusers => Convention::Diffusers,
            TrainerId::Simpletuner => Convention::Simpletuner,
            TrainerId::Onetrainer => Convention::Onetrainer,
            TrainerId::Command | TrainerId::Builtin => Convention::AnyBar,
        };
        ConsoleParser {
            convention,
            trainer,
            lines: Lines::default(),
            scratch: Vec::new(),
            errors: ErrorWatch::default(),
            held: None,
            last_step: None,
            nan_reported: false,
            epoch: None,
            offset: 0,
            training_desc: None,
            inner: None,
            outer: None,
            epochs_before: 0,
        }
    }

    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Update>) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(bytes, |l| self.raw_line(l, out));
        self.lines = lines;
    }

    pub fn flush(&mut self, out: &mut Vec<Update>) {
        // tqdm's newest frame has no `\r` after it until the next redraw: take it in now if it
        // is whole (it ends in `]`; any text glued after it waits for its line to end). It is
        // read again when its line ends, as a redraw of the same step.
        let partial = self.lines.partial().to_vec();
        if !partial.is_empty() {
            let mut text = Vec::new();
            let esc = strip_ansi(&partial, &mut text);
            if let Some(frame) = tqdm::parse(&text) {
                self.frame(&frame, esc.cursor_up, out);
            }
        }
        if let Some(p) = self.held.take() {
            out.push(Update::Point(p));
        }
    }

    pub fn finish(&mut self, out: &mut Vec<Update>) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.finish(|l| self.raw_line(l, out));
        self.flush(out);
    }

    fn raw_line(&mut self, raw: &[u8], out: &mut Vec<Update>) {
        if memchr::memchr(0x1b, raw).is_none() {
            return self.line(raw, false, out);
        }
        let mut text = std::mem::take(&mut self.scratch);
        let esc = strip_ansi(raw, &mut text);
        self.line(&text, esc.cursor_up, out);
        self.scratch = text;
    }

    fn line(&mut self, line: &[u8], nested: bool, out: &mut Vec<Update>) {
        match tqdm::parse(line) {
            Some(frame) => {
                self.frame(&frame, nested, out);
                // What follows a frame on its line, less the spaces tqdm pads a shorter frame with.
                let rest = trim(&line[frame.end..]);
                if !rest.is_empty() {
                    self.text(rest, out);
                }
            }
            None => self.text(line, out),
        }
    }

    fn frame(&mut self, f: &Frame, nested: bool, out: &mut Vec<Update>) {
        let Some((step, total, epoch)) = self.training_step(f, nested) else {
            return;
        };
        let first_frame_wins = matches!(
            self.convention,
            Convention::AiToolkit | Convention::Onetrainer | Convention::AnyBar
        );
        if first_frame_wins {
            // These set the postfix before moving the bar: a redraw at the same n already
            // shows the next step's loss.
            if self.last_step == Some(step) {
                return;
            }
        }
        self.last_step = Some(step);
        // Step 0, and frames drawn before this process finished a step (tqdm shows `?it/s`
        // until it has), are not progress.
        if step == 0 || f.rate.is_none() {
            return;
        }
        let (loss, lr) = self.values(f.postfix);
        let p = Point {
            step,
            total,
            loss,
            lr,
            rate: f.rate,
            epoch,
            time: None,
        };
        if p.loss.is_some_and(f64::is_nan) {
            self.nan(p.step, out);
        }
        if first_frame_wins {
            out.push(Update::Point(p));
            return;
        }
        match &mut self.held {
            Some(h) if h.step == p.step => {
                // The same step redrawn (its loss set after the update, a new description, the
                // final frame): newer values win, the epoch it started in stays.
                h.total = p.total.or(h.total);
                h.loss = p.loss.or(h.loss);
                h.lr = p.lr.or(h.lr);
                h.rate = p.rate.or(h.rate);
                h.epoch = h.epoch.or(p.epoch);
            }
            _ => {
                if let Some(h) = self.held.replace(p) {
                    out.push(Update::Point(h));
                }
            }
        }
    }

    /// (global step, total, epoch) when `f` is the training bar.
    fn training_step(
        &mut self,
        f: &Frame,
        nested: bool,
    ) -> Option<(u64, Option<u64>, Option<u64>)> {
        match self.convention {
            Convention::Kohya => (f.desc == b"steps").then(|| {
                (
                    self.offset + f.n,
                    f.total.map(|t| t + self.offset),
                    self.epoch,
                )
            }),
            Convention::Diffusers => (f.desc == b"Steps").then_some((f.n, f.total, None)),
            Convention::Simpletuner => {
                let rest = f.desc.strip_prefix(b"Epoch ")?;
                if !rest.ends_with(b"Steps") {
                    return None;
                }
                let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                let epoch = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok();
                Some((f.n, f.total, epoch))
            }
            Convention::AiToolkit => {
                let is_bar = match &self.training_desc {
                    Some((desc, _)) => desc == f.desc,
                    None => f.postfix.is_some_and(|p| p.starts_with(b"lr: ")),
                };
                if !is_bar {
                    return None;
                }
                if self.training_desc.is_none() {
                    self.training_desc = Some((f.desc.to_vec(), true));
                }
                Some((f.n, f.total, None))
            }
            Convention::Onetrainer => self.onetrainer_step(f),
            Convention::AnyBar => {
                self.any_bar(f, nested)?;
                Some((f.n, f.total, None))
            }
        }
    }

    fn onetrainer_step(&mut self, f: &Frame) -> Option<(u64, Option<u64>, Option<u64>)> {
        if f.desc == b"epoch" {
            self.outer = Some((f.n, f.total));
            return None;
        }
        if f.desc != b"step" {
            return None;
        }
        if let Some((n, total)) = self.inner
            && f.n < n
        {
            // A new epoch's bar: the last one's length goes into the offset.
            self.offset += total.unwrap_or(n);
        }
        self.inner = Some((f.n, f.total));
        let (outer_n, outer_total) = self.outer.unwrap_or((0, None));
        let epoch = self.epochs_before + outer_n + 1;
        // Assumes the epochs left are as long as this one (OneTrainer's are).
        let total = match (f.total, outer_total) {
            (Some(t), Some(epochs)) => {
                Some(self.offset + t * epochs.saturating_sub(outer_n).max(1))
            }
            _ => None,
        };
        Some((self.offset + f.n, total, Some(epoch)))
    }

    /// Whether `f` is the training bar of a script lorabench knows nothing about.
    fn any_bar(&mut self, f: &Frame, nested: bool) -> Option<()> {
        let shows_loss = f
            .postfix
            .is_some_and(|p| postfix_pairs(p).any(|(k, _)| contains(k, b"loss")));
        let desc = String::from_utf8_lossy(f.desc).to_lowercase();
        let other = OTHER_BARS.iter().any(|w| desc.contains(w));
        match &self.training_desc {
            Some((d, _)) if d == f.desc => Some(()),
            Some((_, true)) => None,
            _ if other => None,
            _ if shows_loss => {
                self.training_desc = Some((f.desc.to_vec(), true));
                self.last_step = None;
                Some(())
            }
            Some(_) => None,
            None if !nested && !f.desc.is_empty() => {
                self.training_desc = Some((f.desc.to_vec(), false));
                Some(())
            }
            None => None,
        }
    }

    /// (loss, learning rate) from a postfix.
    fn values(&self, postfix: Option<&[u8]>) -> (Option<f64>, Option<f64>) {
        let Some(postfix) = postfix else {
            return (None, None);
        };
        if self.convention == Convention::AiToolkit {
            // `lr: 1.0e-04 loss: 3.456e-01`
            let mut words = postfix.split(|c| *c == b' ').filter(|w| !w.is_empty());
            let (mut loss, mut lr) = (None, None);
            while let (Some(key), Some(value)) = (words.next(), words.next()) {
                match key {
                    b"lr:" => lr = number(value),
                    b"loss:" => loss = number(value),
                    _ => {}
                }
            }
            return (loss, lr);
        }
        let loss_keys: &[&[u8]] = match self.convention {
            Convention::Kohya => &[b"avr_loss"],
            Convention::Diffusers => &[b"loss", b"step_loss"],
            Convention::Simpletuner => &[b"step_loss"],
            Convention::Onetrainer => &[b"loss"],
            _ => &[
                b"loss",
                b"train_loss",
                b"step_loss",
                b"avr_loss",
                b"avg_loss",
            ],
        };
        let (mut loss, mut any_loss, mut lr) = (None, None, None);
        for (k, v) in postfix_pairs(postfix) {
            if loss.is_none() && loss_keys.contains(&k) {
                loss = number(v);
            } else if any_loss.is_none() && contains(k, b"loss") {
                any_loss = number(v);
            } else if lr.is_none() && (k == b"lr" || k == b"learning_rate") {
                lr = number(v);
            }
        }
        if self.convention == Convention::AnyBar {
            loss = loss.or(any_loss);
        }
        (loss, lr)
    }

    fn nan(&mut self, step: u64, out: &mut Vec<Update>) {
        if !self.nan_reported {
            self.nan_reported = true;
            out.push(Update::Event(Event::Error {
                message: format!("loss is NaN at step {step}"),
            }));
        }
    }

    fn current_step(&self) -> Option<u64> {
        self.held.as_ref().map(|p| p.step).or(self.last_step)
    }

    /// A line that is not a frame (or what follows one).
    fn text(&mut self, line: &[u8], out: &mut Vec<Update>) {
        if let Some(message) = self.errors.line(line) {
            out.push(Update::Event(Event::Error { message }));
        }
        let t = trim(line);
        match self.convention {
            Convention::Kohya => {
                if let Some(rest) = t.strip_prefix(b"epoch ") {
                    self.epoch = split_ratio(rest).map(|(e, _)| e).or(self.epoch);
                } else if let Some(path) = t.strip_prefix(b"saving checkpoint: ") {
                    self.checkpoint(path, out);
                } else if let Some(rest) = after(t, b"skipping ") {
                    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
                    if rest[digits..].starts_with(b" steps") {
                        self.offset = parse(&rest[..digits]).unwrap_or(self.offset);
                    }
                }
            }
            Convention::AiToolkit => {
                if let Some(path) = t.strip_prefix(b"Saved checkpoint to ") {
                    self.checkpoint(path, out);
                } else if t.starts_with(b"Error running job: ") {
                    if let Some(message) = self.errors.report(t) {
                        out.push(Update::Event(Event::Error { message }));
                    }
                } else if t == b"loss is nan" {
                    let step = self.current_step().unwrap_or(0) + 1;
                    self.nan(step, out);
                }
            }
            Convention::Simpletuner => {
                if let Some(path) = after(t, b"Saving current state to ") {
                    self.checkpoint(path, out);
                }
            }
            Convention::Diffusers => {
                if let Some(path) = after(t, b"Saved state to ") {
                    self.checkpoint(path, out);
                }
            }
            Convention::Onetrainer => {
                if let Some(path) = t.strip_prefix(b"Saving ") {
                    self.checkpoint(path, out);
                } else if let Some(rest) = after(t, b"Continuing training from backup '") {
                    let path = String::from_utf8_lossy(rest);
                    let path = path.split('\'').next().unwrap_or_default();
                    if let Some([gs, ep, es]) = onetrainer_progress(path) {
                        self.offset = gs.saturating_sub(es);
                        self.epochs_before = ep;
                    }
                }
            }
            Convention::AnyBar => {}
        }
    }

    fn checkpoint(&mut self, path: &[u8], out: &mut Vec<Update>) {
        let path = String::from_utf8_lossy(trim(path)).into_owned();
        let step = checkpoint_step(self.trainer, &path).or_else(|| self.current_step());
        out.push(Update::Event(Event::CheckpointSaved {
            path: path.into(),
            step,
        }));
    }
}

/// The three numbers of a OneTrainer backup or save name (`…-backup-<gs>-<ep>-<es>`).
fn onetrainer_progress(path: &str) -> Option<[u64; 3]> {
    let tail = path
        .trim_end_matches('/')
        .rsplit('-')
        .take(3)
        .collect::<Vec<_>>();
    match tail.as_slice() {
        [es, ep, gs] => Some([gs.parse().ok()?, ep.parse().ok()?, es.parse().ok()?]),
        _ => None,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// What follows `needle` in `haystack`.
fn after<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    memchr::memmem::find(haystack, needle).map(|i| &haystack[i + needle.len()..])
}

fn parse(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `N/M` exactly.
fn split_ratio(text: &[u8]) -> Option<(u64, u64)> {
    let slash = memchr::memchr(b'/', text)?;
    Some((parse(&text[..slash])?, parse(&text[slash + 1..])?))
}
