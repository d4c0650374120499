//! Drawing: each view reads `&App` and never changes it.

pub mod caption;
pub mod dataset;
pub mod dialog;
pub mod help;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};

use super::app::{App, Modal};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    dataset::draw(frame, app);
    match &app.modal {
        Some(Modal::Help { scroll }) => help::draw(frame, app, *scroll),
        Some(Modal::Prompt(p)) => dialog::prompt(frame, app, p),
        Some(Modal::Conflict(c)) => dialog::conflict(frame, app, c),
        None => {}
    }
}

/// A rectangle of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    rect
}
