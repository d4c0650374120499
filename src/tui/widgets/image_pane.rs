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

use crate::tui::images::{Decoded, ImageKey, ImageWorkers, Purpose, Shown, protocol_of};
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

/// One image pane on a screen other than the browser (the Lint screen's preview): its own
/// decode worker, latest wins, and the image last decoded for it. The browser keeps its
/// preview beside its thumbnails, on workers it shares between the two.
pub struct PreviewPane {
    workers: ImageWorkers,
    protocol: ProtocolType,
    wanted: Option<ImageKey>,
    pub shown: Option<Shown>,
}

impl PreviewPane {
    pub fn new(picker: &Picker, tx: Sender<Msg>) -> PreviewPane {
        PreviewPane {
            workers: ImageWorkers::start(picker.clone(), tx, 1),
            protocol: picker.protocol_type(),
            wanted: None,
            shown: None,
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
        if cells.0 == 0 || cells.1 == 0 {
            return;
        }
        let key = ImageKey::new(path, cells);
        let shown = self.shown.as_ref().is_some_and(|(k, _)| *k == key);
        if !shown && self.wanted.as_ref() != Some(&key) {
            self.workers.want_preview(key.clone());
            self.wanted = Some(key);
        }
    }

    /// Whether a decode asked for is still outstanding.
    pub fn pending(&self) -> bool {
        self.wanted.is_some()
    }

    /// Takes the message if it is the decode this pane waits for; anything else stays.
    pub fn take(&mut self, msg: &mut Option<Msg>) -> bool {
        let ours = matches!(msg, Some(Msg::Image(d))
            if d.purpose == Purpose::Preview
                && self.wanted.as_ref() == Some(&d.key)
                && protocol_of(&d.result).is_none_or(|p| p == self.protocol));
        if !ours {
            return false;
        }
        if let Some(Msg::Image(done)) = msg.take() {
            let Decoded { key, result, .. } = *done;
            self.wanted = None;
            self.shown = Some((key, result.map(|(protocol, _)| protocol)));
        }
        true
    }
}
