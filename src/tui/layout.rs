//! Screen geometry, computed from the terminal size alone. Views draw into these rectangles,
//! and `update` uses the same numbers for paging, mouse hits and image sizes, so the two can
//! never disagree.

use ratatui::layout::{Constraint, Direction, Layout, Rect};

/// List of names, or a grid of thumbnails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    List,
    Grid,
}

/// Where each panel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    /// The list or grid, border included.
    pub browser: Rect,
    /// The large preview (list view only), border included.
    pub preview: Option<Rect>,
    pub info: Rect,
    pub caption: Rect,
    pub status: Rect,
    pub hints: Rect,
}

/// Size of one thumbnail cell in the grid, border and name included.
pub const THUMB_W: u16 = 20;
pub const THUMB_H: u16 = 10;

/// What a screen draws in: the terminal less the header above and the status and hint lines
/// below (nothing when those leave no room).
pub fn body(area: Rect) -> Rect {
    if area.height >= 4 {
        Rect::new(area.x, area.y + 1, area.width, area.height - 3)
    } else {
        Rect::default()
    }
}

pub fn areas(area: Rect, view: View) -> Areas {
    let [header, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match view {
        View::List => {
            let list_w = (body.width * 32 / 100).clamp(20.min(body.width), 48);
            let [browser, right] =
                Layout::horizontal([Constraint::Length(list_w), Constraint::Min(10)]).areas(body);
            let [preview, bottom] =
                Layout::vertical([Constraint::Percentage(62), Constraint::Min(5)]).areas(right);
            let [info, caption] = Layout::default()
                .direction(Direction::Horizontal)
                .constraints([
                    Constraint::Length(34.min(right.width / 2)),
                    Constraint::Min(10),
                ])
                .areas(bottom);
            Areas {
                header,
                browser,
                preview: Some(preview),
                info,
                caption,
                status,
                hints,
            }
        }
        View::Grid => {
            let side_w = (body.width * 34 / 100).clamp(24.min(body.width), 60);
            let [browser, right] =
                Layout::horizontal([Constraint::Min(THUMB_W), Constraint::Length(side_w)])
                    .areas(body);
            let [info, caption] =
                Layout::vertical([Constraint::Length(9), Constraint::Min(4)]).areas(right);
            Areas {
                header,
                browser,
                preview: None,
                info,
                caption,
                status,
                hints,
            }
        }
    }
}

/// Inside of a bordered panel.
pub fn inner(r: Rect) -> Rect {
    Rect {
        x: r.x.saturating_add(1),
        y: r.y.saturating_add(1),
        width: r.width.saturating_sub(2),
        height: r.height.saturating_sub(2),
    }
}

/// Columns and rows of thumbnails that fit in the grid panel.
pub fn grid_dims(browser: Rect) -> (usize, usize) {
    let i = inner(browser);
    (
        usize::from((i.width / THUMB_W).max(1)),
        usize::from((i.height / THUMB_H).max(1)),
    )
}

/// The image area inside a thumbnail cell (border and name line taken off), for a grid in
/// `browser`: a panel lower or narrower than one cell clips the cells, and the thumbnails are
/// made to fit the clipped cell (an image larger than its area is not drawn at all).
pub fn thumb_image(browser: Rect) -> (u16, u16) {
    let i = inner(browser);
    // Never 0: ratatui-image refuses (panics on) an empty area.
    (
        THUMB_W.min(i.width).saturating_sub(2).max(1),
        THUMB_H.min(i.height).saturating_sub(3).max(1),
    )
}

/// The rectangle of grid slot `slot` (0 = top-left of the visible page).
pub fn grid_cell(browser: Rect, slot: usize) -> Rect {
    let (cols, _) = grid_dims(browser);
    let i = inner(browser);
    let col = (slot % cols) as u16;
    let row = (slot / cols) as u16;
    Rect {
        x: i.x + col * THUMB_W,
        y: i.y + row * THUMB_H,
        width: THUMB_W,
        height: THUMB_H,
    }
}

/// Rows of names that fit in the list panel.
pub fn list_rows(browser: Rect) -> usize {
    usize::from(inner(browser).height.max(1))
}
