//! The monitor's samples: the selected sample image as a preview (decoded in the background by
//! the same pipeline as the browser's), browsed by step and by prompt, and one prompt side by
//! side across its latest steps. Until a key moves it, the panel follows the newest sample.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::train::run::summary::Artifact;
use crate::tui::theme::Theme;
use crate::tui::widgets::image_pane::{self, PreviewPane};
use crate::tui::widgets::panel::{panel, truncate_left};

/// Narrowest tile of the side-by-side strip, in cells.
const TILE: u16 = 18;

/// Where the cursor is: which prompt, and which step (`None`: the newest, followed as samples
/// arrive).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cursor {
    prompt: Option<String>,
    step: Option<u64>,
}

impl Cursor {
    /// The prompts, in the order their first samples sort (by step, then name).
    fn prompts(samples: &[Artifact]) -> Vec<Option<&str>> {
        let mut out: Vec<Option<&str>> = Vec::new();
        for s in samples {
            let p = s.prompt.as_deref();
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The prompt followed: the chosen one while it has samples, else the newest sample's.
    fn prompt<'a>(&'a self, samples: &'a [Artifact]) -> Option<&'a str> {
        match &self.prompt {
            Some(p) if samples.iter().any(|s| s.prompt.as_ref() == Some(p)) => Some(p),
            _ => samples.last().and_then(|s| s.prompt.as_deref()),
        }
    }

    /// The samples of the followed prompt, oldest first.
    fn of_prompt<'a>(&self, samples: &'a [Artifact]) -> Vec<&'a Artifact> {
        let p = self.prompt(samples);
        samples
            .iter()
            .filter(|s| s.prompt.as_deref() == p)
            .collect()
    }

    /// The sample under the cursor: the followed prompt's at the chosen step (or the nearest
    /// before it), else its newest.
    pub fn current<'a>(&self, samples: &'a [Artifact]) -> Option<&'a Artifact> {
        let list = self.of_prompt(samples);
        match self.step {
            Some(step) => list
                .iter()
                .rev()
                .find(|s| s.step.is_some_and(|s| s <= step))
                .or(list.first())
                .copied(),
            None => list.last().copied(),
        }
    }

    /// One step older (`-1`) or newer (`1`) for the same prompt; the newest follows again.
    pub fn step(&mut self, samples: &[Artifact], by: i32) {
        let list = self.of_prompt(samples);
        let Some(at) = self
            .current(samples)
            .and_then(|c| list.iter().position(|s| s.path == c.path))
        else {
            return;
        };
        let to = if by < 0 {
            at.saturating_sub(1)
        } else {
            (at + 1).min(list.len() - 1)
        };
        self.prompt = list[to].prompt.clone();
        self.step = (to + 1 < list.len()).then_some(list[to].step).flatten();
    }

    /// The previous (`-1`) or next (`1`) prompt, at the step shown now.
    pub fn prompt_by(&mut self, samples: &[Artifact], by: i32) {
        let prompts = Cursor::prompts(samples);
        let now = self.prompt(samples);
        let Some(at) = prompts.iter().position(|p| *p == now) else {
            return;
        };
        let to = if by < 0 {
            at.saturating_sub(1)
        } else {
            (at + 1).min(prompts.len() - 1)
        };
        let step = self.current(samples).and_then(|c| c.step);
        self.prompt = prompts[to].map(str::to_string);
        // The newest of the other prompt too when the newest was shown.
        if self.step.is_some() {
            self.step = step;
        }
    }

    /// The followed prompt's samples up to the current one, at most `n`, oldest first.
    fn strip<'a>(&self, samples: &'a [Artifact], n: usize) -> Vec<&'a Artifact> {
        let list = self.of_prompt(samples);
        let end = self
            .current(samples)
            .and_then(|c| list.iter().position(|s| s.path == c.path))
            .map_or(0, |i| i + 1);
        list[end.saturating_sub(n)..end].to_vec()
    }
}

/// `step 36 · prompt 0` for a caption.
fn caption(a: &Artifact) -> String {
    let step = a.step.map_or_else(|| "step ?".to_string(), |s| format!("step {s}"));
    match &a.prompt {
        Some(p) => format!("{step} · {p}"),
        None => step,
    }
}

pub struct SamplesPanel {
    pub cursor: Cursor,
    /// One prompt across steps in the middle of the screen, instead of the chart.
    pub side_by_side: bool,
    pane: PreviewPane,
}

impl SamplesPanel {
    pub fn new(pane: PreviewPane) -> SamplesPanel {
        SamplesPanel {
            cursor: Cursor::default(),
            side_by_side: false,
            pane,
        }
    }

    pub fn pane(&mut self) -> &mut PreviewPane {
        &mut self.pane
    }

    pub fn pending(&self) -> bool {
        self.pane.pending()
    }

    /// The image area inside the panel (below its caption line), if there is room for one.
    fn image_room(area: Rect) -> Option<Rect> {
        let inner = Rect::new(
            area.x + 1,
            area.y + 2,
            area.width.saturating_sub(2),
            area.height.saturating_sub(3),
        );
        (inner.width >= 4 && inner.height >= 2).then_some(inner)
    }

    /// The tiles of the side-by-side strip in `area` (its panel, border included), each with
    /// its sample.
    fn tiles<'a>(&self, area: Rect, samples: &'a [Artifact]) -> Vec<(Rect, &'a Artifact)> {
        let area = area.inner(Margin::new(1, 1));
        let n = usize::from((area.width / TILE).max(1));
        let strip = self.cursor.strip(samples, n);
        if strip.is_empty() {
            return Vec::new();
        }
        let rects = Layout::horizontal(vec![Constraint::Ratio(1, strip.len() as u32); strip.len()])
            .split(area);
        rects.iter().copied().zip(strip).collect()
    }

    /// Asks for the images the panel (and the strip, when shown in `middle`) will draw.
    pub fn request(&mut self, samples: &[Artifact], panel_area: Rect, middle: Rect) {
        let mut want = Vec::new();
        if self.side_by_side {
            for (rect, a) in self.tiles(middle, samples) {
                if let Some(room) = SamplesPanel::image_room(rect) {
                    want.push((a.path.clone(), (room.width, room.height)));
                }
            }
        } else if let (Some(a), Some(room)) = (
            self.cursor.current(samples),
            SamplesPanel::image_room(panel_area),
        ) {
            want.push((a.path.clone(), (room.width, room.height)));
        }
        self.pane.want_all(want);
    }

    /// The panel: the current sample's caption and image (the list of names where the panel is
    /// too small for an image, and in side-by-side, where the images are in the middle).
    pub fn draw(&self, frame: &mut Frame, area: Rect, samples: &[Artifact], t: &Theme) {
        let current = self.cursor.current(samples);
        let position = current
            .and_then(|c| samples.iter().position(|s| s.path == c.path))
            .map_or(String::new(), |i| format!("{}/", i + 1));
        let title = Line::from(format!(" Samples ({position}{}) ", samples.len()));
        let block = panel(title, false, t);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let Some(a) = current else {
            frame.render_widget(Paragraph::new(Line::styled("none yet", t.dim)), inner);
            return;
        };
        let room = SamplesPanel::image_room(area).filter(|_| !self.side_by_side);
        let width = usize::from(inner.width);
        let mut lines = vec![Line::styled(truncate_left(&caption(a), width), t.accent)];
        if room.is_none() {
            // Names, newest first, the current one marked.
            let rows = usize::from(inner.height.saturating_sub(1));
            lines.extend(samples.iter().rev().take(rows).map(|s| {
                let style = if s.path == a.path { t.cursor } else { t.base };
                let name = s
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Line::styled(truncate_left(&name, width), style)
            }));
        }
        frame.render_widget(Paragraph::new(lines), inner);
        if let Some(room) = room {
            image_pane::draw(frame, room, self.pane.shown(&a.path), &a.path, t);
        }
    }

    /// The side-by-side strip over `area`: the followed prompt's latest samples up to the
    /// current one, oldest on the left, each captioned with its step.
    pub fn draw_strip(&self, frame: &mut Frame, area: Rect, samples: &[Artifact], t: &Theme) {
        let prompt = self.cursor.prompt(samples).unwrap_or("samples");
        let title = Line::from(format!(" {prompt} across steps "));
        let block = panel(title, true, t);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let current = self.cursor.current(samples).map(|c| c.path.clone());
        let tiles = self.tiles(area, samples);
        if tiles.is_empty() {
            frame.render_widget(Paragraph::new(Line::styled("no samples yet", t.dim)), inner);
            return;
        }
        for (rect, a) in tiles {
            let mine = current.as_ref() == Some(&a.path);
            let step = a.step.map_or_else(|| "step ?".to_string(), |s| format!("step {s}"));
            let style = if mine { t.cursor } else { t.accent };
            let label = Rect::new(rect.x, rect.y, rect.width, 1.min(rect.height));
            frame.render_widget(
                Paragraph::new(Line::styled(
                    truncate_left(&step, usize::from(rect.width)),
                    style,
                )),
                label,
            );
            if let Some(room) = SamplesPanel::image_room(rect) {
                image_pane::draw(frame, room, self.pane.shown(&a.path), &a.path, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sample(step: u64, prompt: &str) -> Artifact {
        Artifact {
            path: PathBuf::from(format!("/o/s_{step:06}_{prompt}.png")),
            step: Some(step),
            epoch: None,
            size: 1,
            prompt: Some(prompt.to_string()),
        }
    }

    #[test]
    fn browses_by_step_and_prompt_and_follows_the_newest() {
        let mut samples = vec![
            sample(10, "prompt 0"),
            sample(10, "prompt 1"),
            sample(20, "prompt 0"),
            sample(20, "prompt 1"),
        ];
        let mut c = Cursor::default();
        let at = |c: &Cursor, s: &[Artifact]| {
            let a = c.current(s).unwrap();
            (a.step.unwrap(), a.prompt.clone().unwrap())
        };
        assert_eq!(at(&c, &samples), (20, "prompt 1".into()));
        c.step(&samples, -1);
        assert_eq!(at(&c, &samples), (10, "prompt 1".into()));
        c.step(&samples, -1);
        assert_eq!(at(&c, &samples), (10, "prompt 1".into()), "stays at the oldest");
        c.prompt_by(&samples, -1);
        assert_eq!(at(&c, &samples), (10, "prompt 0".into()));
        // A new step arrives: the pinned cursor stays where it is.
        samples.push(sample(30, "prompt 0"));
        assert_eq!(at(&c, &samples), (10, "prompt 0".into()));
        c.step(&samples, 1);
        c.step(&samples, 1);
        assert_eq!(at(&c, &samples), (30, "prompt 0".into()));
        // Back at the newest, it follows again.
        samples.push(sample(40, "prompt 0"));
        assert_eq!(at(&c, &samples), (40, "prompt 0".into()));
        let strip: Vec<u64> = c
            .strip(&samples, 3)
            .iter()
            .map(|a| a.step.unwrap())
            .collect();
        assert_eq!(strip, [20, 30, 40]);
        c.prompt_by(&samples, 1);
        assert_eq!(at(&c, &samples), (20, "prompt 1".into()), "its newest");
    }
}
