//! An image decoded in the background, or a placeholder saying why there is none yet; and
//! [`PreviewPane`], the decoding behind one such image on a screen other than the browser.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_image::Image;
use ratatui_image::protocol::Protocol;

use std::path::PathBuf;
use std::sync::mpsc::Sender;

use ratatui_image::picker::{Picker, ProtocolType};

use crate::tui::images::{Decoded, ImageKey, ImageWorkers, Shown, protocol_of};
use crate::tui::msg::Msg;
use crate::tui::theme::Theme;

/// Draws `shown` centred in `area`; `path` is the image that should be there, so a result
/// for another image (or another size) reads as "decoding" until the right one arrives.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    shown: Option<&Shown>,
    path: &std::path::Path,
    theme: &Theme,
) {
    match shown {
        // Half-blocks are nothing but colours: without them they would draw a meaningless
        // pattern. Graphics protocols send the picture itself and stay on.
        Some((key, Ok(Protocol::Halfblocks(_)))) if key.path == path && theme.no_color => {
            placeholder(
                frame,
                area,
                "preview off\n(NO_COLOR; a kitty, sixel or iTerm2 terminal shows images)",
                theme.dim,
            );
        }
        Some((key, Ok(protocol))) if key.path == path => {
            let size = protocol.size();
            let x = area.x + area.width.saturating_sub(size.width) / 2;
            let y = area.y + area.height.saturating_sub(size.height) / 2;
            let target = Rect::new(
                x,
                y,
                size.width.min(area.width),
                size.height.min(area.height),
            );
            frame.render_widget(Image::new(protocol), target);
        }
        Some((key, Err(err))) if key.path == path => {
            // The pane is about this file: its name says which, the folders only take room.
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let err = match name {
                Some(name) => err.replace(&path.display().to_string(), &name),
                None => err.clone(),
            };
            placeholder(
                frame,
                area,
                &format!("cannot show this image\n{err}"),
                theme.error,
            );
        }
        _ => placeholder(frame, area, "decoding…", theme.dim),
    }
}

fn placeholder(frame: &mut Frame, area: Rect, text: &str, style: Style) {
    if area.height == 0 {
        return;
    }
    let lines = text.lines().count() as u16;
    let y = area.y + area.height.saturating_sub(lines) / 2;
    let rect = Rect::new(area.x, y, area.width, area.height - (y - area.y));
    frame.render_widget(
        Paragraph::new(text.to_string())
            .style(style)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

/// The images of a screen other than the browser (the Lint screen's preview, the monitor's
/// samples): its own decode worker, the latest request replacing what was not started yet, and
/// the last decode of each image asked for. The browser keeps its preview beside its
/// thumbnails, on workers it shares between the two.
pub struct PreviewPane {
    workers: ImageWorkers,
    protocol: ProtocolType,
    /// Asked for and not back yet, in the order asked.
    wanted: Vec<ImageKey>,
    /// One decode per image asked for last (so memory stays at one screenful).
    shown: Vec<Shown>,
}

impl PreviewPane {
    pub fn new(picker: &Picker, tx: Sender<Msg>) -> PreviewPane {
        PreviewPane {
            workers: ImageWorkers::start(picker.clone(), tx, 1),
            protocol: picker.protocol_type(),
            wanted: Vec::new(),
            shown: Vec::new(),
        }
    }

    /// Draws with `picker` from now on, if it is not the one in use (what was shown is dropped).
    pub fn use_picker(&mut self, picker: &Picker, tx: &Sender<Msg>) {
        if picker.protocol_type() != self.protocol {
            *self = PreviewPane::new(picker, tx.clone());
        }
    }

    /// Shows `path` in `cells`; asks for a decode unless it is shown or already asked for.
    pub fn want(&mut self, path: PathBuf, cells: (u16, u16)) {
        self.want_all(vec![(path, cells)]);
    }

    /// Shows these images, each in its cells: asks for those not shown at that size, the first
    /// first; the others asked for before and not started are dropped.
    pub fn want_all(&mut self, images: Vec<(PathBuf, (u16, u16))>) {
        let keys: Vec<ImageKey> = images
            .into_iter()
            .filter(|(_, (w, h))| *w > 0 && *h > 0)
            .map(|(path, cells)| ImageKey::new(path, cells))
            .collect();
        self.shown
            .retain(|(k, _)| keys.iter().any(|n| n.path == k.path));
        let missing: Vec<ImageKey> = keys
            .into_iter()
            .filter(|k| !self.shown.iter().any(|(s, _)| s == k))
            .collect();
        if missing != self.wanted {
            let mut rest = missing.clone();
            if !rest.is_empty() {
                self.workers.want_preview(rest.remove(0));
            }
            self.workers.want_thumbs(rest);
            self.wanted = missing;
        }
    }

    /// The last decode of `path` (at whatever size it was asked for).
    pub fn shown(&self, path: &std::path::Path) -> Option<&Shown> {
        self.shown.iter().find(|(k, _)| k.path == path)
    }

    /// The first image shown, for a pane of one.
    pub fn only(&self) -> Option<&Shown> {
        self.shown.first()
    }

    /// Whether a decode asked for is still outstanding.
    pub fn pending(&self) -> bool {
        !self.wanted.is_empty()
    }

    /// Takes the message if it is a decode this pane waits for; anything else stays.
    pub fn take(&mut self, msg: &mut Option<Msg>) -> bool {
        let ours = matches!(msg, Some(Msg::Image(d))
            if self.wanted.contains(&d.key)
                && protocol_of(&d.result).is_none_or(|p| p == self.protocol));
        if !ours {
            return false;
        }
        if let Some(Msg::Image(done)) = msg.take() {
            let Decoded { key, result, .. } = *done;
            self.wanted.retain(|k| *k != key);
            self.shown.retain(|(k, _)| k.path != key.path);
            self.shown.push((key, result.map(|(protocol, _)| protocol)));
        }
        true
    }
}
