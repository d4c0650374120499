//! An image decoded in the background, or a placeholder saying why there is none yet.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_image::Image;
use ratatui_image::protocol::Protocol;

use crate::tui::images::Shown;
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
