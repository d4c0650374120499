//! Drawing: each view reads `&App` and never changes it.

pub mod caption;
pub mod dataset;
pub mod dialog;
pub mod help;
pub mod lint;
pub mod lora;
pub mod screen;
pub mod stats;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};

use super::app::{App, Modal};
use super::screens::Screen;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    match &app.screen {
        Some(Screen::Lint(s)) => lint::draw(frame, app, s),
        Some(Screen::Stats(s)) => stats::draw(frame, app, s),
        Some(Screen::Lora(s)) => lora::draw(frame, app, s),
        None => dataset::draw(frame, app),
    }
    if let Some(s) = &app.screen {
        screen::popups(frame, app, s);
    }
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
