//! The Samples panel: the picked sample (the newest unless one is picked) decoded through the
//! browser's image pipeline (PreviewPane), browsed by step and by prompt; and the row of the
//! same prompt side by side across its last steps. A sample that cannot be decoded says so in
//! its own pane, naming the file.

use std::path::Path;
use std::sync::mpsc::Sender;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_image::picker::Picker;

use crate::train::run::samples::{Pick, Sheet};
use crate::train::run::summary::Artifact;
use crate::tui::msg::Msg;
use crate::tui::theme::Theme;
use crate::tui::widgets::image_pane::{self, PreviewPane};
use crate::tui::widgets::panel::panel;

pub const OLDER: &str = "sample-older";
pub const NEWER: &str = "sample-newer";
pub const PREVIOUS_PROMPT: &str = "previous-prompt";
pub const NEXT_PROMPT: &str = "next-prompt";
pub const SIDE_BY_SIDE: &str = "side-by-side";

/// Steps shown side by side at most.
const ROW: usize = 4;
/// The narrowest pane of the row worth drawing (border, and a picture that still shows).
const MIN_PANE_WIDTH: u16 = 14;

pub struct SamplesPanel {
    pub pick: Pick,
    pub side_by_side: bool,
    preview: PreviewPane,
    /// One per pane of the row, made when the row first needs it.
    row: Vec<PreviewPane>,
}

impl SamplesPanel {
    pub fn new(picker: &Picker, tx: &Sender<Msg>) -> SamplesPanel {
        SamplesPanel {
            pick: Pick::default(),
            side_by_side: false,
            preview: PreviewPane::new(picker, tx.clone()),
            row: Vec::new(),
        }
    }

    /// The terminal's graphics became known (or changed).
    pub fn use_picker(&mut self, picker: &Picker, tx: &Sender<Msg>) {
        self.preview.use_picker(picker, tx);
        for p in &mut self.row {
            p.use_picker(picker, tx);
        }
    }

    /// Takes the message if it is a decode one of the panes waits for.
    pub fn take(&mut self, msg: &mut Option<Msg>) -> bool {
        self.preview.take(msg) || self.row.iter_mut().any(|p| p.take(msg))
    }

    pub fn pending(&self) -> bool {
        self.preview.pending() || self.row.iter().any(PreviewPane::pending)
    }

    /// Handles the panel's own actions; `false` for any other.
    pub fn action(&mut self, action: &str, samples: &[Artifact]) -> bool {
        let sheet = Sheet::of(samples);
        self.pick = match action {
            OLDER => sheet.step(&self.pick, -1),
            NEWER => sheet.step(&self.pick, 1),
            PREVIOUS_PROMPT => sheet.prompt(&self.pick, -1),
            NEXT_PROMPT => sheet.prompt(&self.pick, 1),
            SIDE_BY_SIDE => {
                self.side_by_side = !self.side_by_side;
                return true;
            }
            _ => return false,
        };
        true
    }

    /// Asks for the decodes of what `panel` and `row` (where drawn) show, at their sizes.
    pub fn request(
        &mut self,
        samples: &[Artifact],
        panel: Rect,
        row: Option<Rect>,
        picker: &Picker,
        tx: &Sender<Msg>,
    ) {
        let sheet = Sheet::of(samples);
        if let Some(a) = sheet.get(&self.pick) {
            let (_, image) = preview_areas(panel);
            self.preview
                .want(a.path.clone(), (image.width, image.height));
        }
        let Some(area) = row else {
            return;
        };
        let picked = sheet.row(&self.pick, fits(area));
        for (i, (a, rect)) in picked.iter().zip(row_areas(area, picked.len())).enumerate() {
            if self.row.len() <= i {
                self.row.push(PreviewPane::new(picker, tx.clone()));
            }
            let image = rect.inner(ratatui::layout::Margin::new(1, 1));
            self.row[i].want(a.path.clone(), (image.width, image.height));
        }
    }

    /// The panel under the files: a caption (step, prompt, where in the prompt) and the image.
    pub fn draw(&self, frame: &mut Frame, area: Rect, samples: &[Artifact], out: &Path, t: &Theme) {
        let block = panel(
            Line::from(format!(" Samples ({}) ", samples.len())),
            false,
            t,
        );
        frame.render_widget(block, area);
        let sheet = Sheet::of(samples);
        let (caption, image) = preview_areas(area);
        let (Some(a), Some((p, i))) = (sheet.get(&self.pick), sheet.find(&self.pick)) else {
            frame.render_widget(Paragraph::new(Line::styled("none yet", t.dim)), caption);
            return;
        };
        let n = sheet.prompts[p].samples.len();
        let mut words = vec![step_label(a)];
        words.extend(a.prompt.as_ref().map(|k| format!("prompt {k}")));
        words.push(if self.pick.file.is_none() {
            "newest".into()
        } else {
            format!("{}/{n}", i + 1)
        });
        frame.render_widget(
            Paragraph::new(Line::styled(words.join(" · "), t.dim)),
            caption,
        );
        shown(frame, image, &self.preview, &a.path, out, t);
    }

    /// The picked prompt at its last steps (up to the picked one), oldest on the left.
    pub fn draw_row(
        &self,
        frame: &mut Frame,
        area: Rect,
        samples: &[Artifact],
        out: &Path,
        t: &Theme,
    ) {
        let sheet = Sheet::of(samples);
        let picked = sheet.row(&self.pick, fits(area));
        if picked.is_empty() {
            let block = panel(Line::from(" Samples side by side "), false, t);
            let text = Line::styled("no samples yet", t.dim);
            frame.render_widget(Paragraph::new(text).block(block), area);
            return;
        }
        for (i, (a, rect)) in picked.iter().zip(row_areas(area, picked.len())).enumerate() {
            let mut title = format!(" {} ", step_label(a));
            if let (0, Some(k)) = (i, &a.prompt) {
                title = format!(" prompt {k} ·{title}");
            }
            let block = panel(Line::from(title), i + 1 == picked.len(), t);
            let image = block.inner(rect);
            frame.render_widget(block, rect);
            if let Some(pane) = self.row.get(i) {
                shown(frame, image, pane, &a.path, out, t);
            }
        }
    }
}

/// How many steps the row has room for.
fn fits(area: Rect) -> usize {
    usize::from(area.width / MIN_PANE_WIDTH).clamp(1, ROW)
}

fn row_areas(area: Rect, n: usize) -> Vec<Rect> {
    let n = u32::try_from(n.max(1)).unwrap_or(1);
    Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n)))
        .split(area)
        .to_vec()
}

/// The caption line and the image below it, inside the panel's border.
fn preview_areas(area: Rect) -> (Rect, Rect) {
    let inner = area.inner(ratatui::layout::Margin::new(1, 1));
    let [caption, image] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    (caption, image)
}

fn step_label(a: &Artifact) -> String {
    match (a.step, a.epoch) {
        (Some(s), _) => format!("step {s}"),
        (None, Some(e)) => format!("epoch {e}"),
        (None, None) => "no step".into(),
    }
}

/// The pane's image, or, where it could not be decoded, why: one message naming the file
/// (from the output folder: the panes are narrow and the folder is the run's).
fn shown(frame: &mut Frame, area: Rect, pane: &PreviewPane, path: &Path, out: &Path, t: &Theme) {
    match &pane.shown {
        Some((key, Err(e))) if key.path == path => {
            let prefix = format!("{}/", out.display());
            let text = Paragraph::new(Line::styled(e.replace(&prefix, ""), t.error))
                .wrap(Wrap { trim: true });
            frame.render_widget(text, area);
        }
        shown => image_pane::draw(frame, area, shown.as_ref(), path, t),
    }
}
