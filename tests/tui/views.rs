//! Snapshots of every view (TestBackend + the half-blocks picker, so images render the same
//! everywhere), plus buffer checks where colour is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::tui_support;

use ratatui::crossterm::event::KeyCode;
use ratatui::style::Color;
use tui_support::*;

use lorabench::tui::theme::Theme;

#[test]
fn list_view_with_preview() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    insta::assert_snapshot!(h.screen());
}

#[test]
fn grid_view() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('v'));
    h.key(KeyCode::Char('l'));
    insta::assert_snapshot!(h.screen());
}

#[test]
fn item_without_caption() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('G'));
    assert_eq!(h.current_name(), "storm.png");
    insta::assert_snapshot!(h.screen());
}

#[test]
fn tag_editor() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('f'));
    insta::assert_snapshot!(h.screen());
}

#[test]
fn text_editor() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::End);
    h.chars(", golden hour");
    insta::assert_snapshot!(h.screen());
}

#[test]
fn help_overlay() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('?'));
    insta::assert_snapshot!(h.screen());
}

#[test]
fn filter_prompt() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('/'));
    h.chars("tag:lhx");
    insta::assert_snapshot!(h.screen());
}

#[test]
fn bulk_prompt_with_error() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('b'));
    h.chars("replace sea");
    h.key(KeyCode::Enter);
    insta::assert_snapshot!(h.screen());
}

#[test]
fn conflict_dialog_with_diff() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.key(KeyCode::End);
    h.chars(", mine");
    let caption = root.join("10_lh/dawn.txt");
    std::fs::write(&caption, "lhx, lighthouse, dawn, theirs\n").unwrap();
    h.app
        .update(lorabench::tui::msg::Msg::FsChanged(vec![caption]));
    h.key(KeyCode::Char('d'));
    insta::assert_snapshot!(h.screen());
}

#[test]
fn empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("empty");
    std::fs::create_dir(&root).unwrap();
    let mut h = open(&root);
    insta::assert_snapshot!(h.screen());
}

#[test]
fn small_terminal_does_not_panic() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    for (w, hgt) in [(1, 1), (10, 4), (30, 8), (200, 60)] {
        h.app.update(lorabench::tui::msg::Msg::Input(
            ratatui::crossterm::event::Event::Resize(w, hgt),
        ));
        h.terminal.backend_mut().resize(w, hgt);
        h.key(KeyCode::Char('v'));
        h.settle();
        h.draw();
    }
}

/// The cursor row carries the theme's cursor colours; other rows do not.
#[test]
fn cursor_row_uses_theme_colours() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('j'));
    let theme = Theme::builtin("dark").unwrap();
    let buf = h.draw().buffer().clone();
    // Row 0 is the header, row 1 the list border; the second image is on row 3.
    let cursor_bg = theme.cursor.bg.unwrap();
    for x in 1..20 {
        assert_eq!(buf[(x, 3)].bg, cursor_bg, "cursor row at x={x}");
        assert_ne!(buf[(x, 2)].bg, cursor_bg, "first row at x={x}");
    }
}

/// NO_COLOR: the whole screen has no colour at all, and the cursor is in reverse video.
#[test]
fn no_color_screen_has_no_colours() {
    let (_tmp, root) = dataset();
    let (theme, _) = Theme::load("dark", None, true);
    let mut h = open_with(&root, theme);
    // Stay off images: the picture itself is made of colours by nature.
    h.settle();
    let buf = h.draw().buffer().clone();
    let preview = h.b().areas().preview.unwrap();
    let inner = lorabench::tui::layout::inner(preview);
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            if inner.contains(ratatui::layout::Position::new(x, y)) {
                continue;
            }
            let cell = &buf[(x, y)];
            assert!(
                matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
                "coloured cell at {x},{y}: {cell:?}"
            );
        }
    }
    assert!(
        buf[(2, 2)]
            .modifier
            .contains(ratatui::style::Modifier::REVERSED)
    );
}

/// Every built-in theme draws the dirty marker in its own dirty style.
#[test]
fn dirty_marker_is_styled() {
    let (_tmp, root) = dataset();
    for name in ["dark", "light", "high-contrast"] {
        let theme = Theme::builtin(name).unwrap();
        let mut h = open_with(&root, theme.clone());
        h.key(KeyCode::Char('e'));
        h.chars("x");
        let buf = h.draw().buffer().clone();
        let hit = (0..buf.area.height).any(|y| {
            (0..buf.area.width)
                .any(|x| buf[(x, y)].symbol() == "✎" && buf[(x, y)].fg == theme.dirty.fg.unwrap())
        });
        assert!(hit, "{name}: no dirty marker in the dirty colour");
        h.key(KeyCode::Esc);
    }
}

fn resize(h: &mut Harness, w: u16, hgt: u16) {
    h.app.update(lorabench::tui::msg::Msg::Input(
        ratatui::crossterm::event::Event::Resize(w, hgt),
    ));
    h.terminal.backend_mut().resize(w, hgt);
}

/// Feeds background messages (jobs, decodes) until the screen shows `needle`.
fn wait_for(h: &mut Harness, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let screen = h.screen();
        if screen.contains(needle) {
            return screen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never saw {needle:?}:\n{screen}"
        );
        if let Ok(m) = h.rx.recv_timeout(std::time::Duration::from_millis(50)) {
            h.app.update(m);
        }
    }
}

/// The help is as wide as its lines (not a fixed 64 columns) and stops at its last line.
#[test]
fn help_is_as_wide_as_its_lines_and_stops_at_its_end() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    resize(&mut h, 180, 40);
    h.key(KeyCode::Char('?'));
    let screen = h.screen();
    for line in [
        "Filter: words in captions, tag:x, -tag:x, name:glob, nocaption, excluded",
        "clear the selection, then the filter",
    ] {
        assert!(screen.contains(line), "cut: {line:?}\n{screen}");
    }
    h.key(KeyCode::Esc);
    resize(&mut h, 100, 14);
    h.key(KeyCode::Char('?'));
    for _ in 0..200 {
        h.key(KeyCode::Char('j'));
    }
    let bottom = h.screen();
    assert!(
        bottom.contains("Mouse: wheel scrolls"),
        "the last line shows:\n{bottom}"
    );
    h.key(KeyCode::Char('j'));
    assert_eq!(h.screen(), bottom, "no scrolling past the end");
    h.key(KeyCode::Char('k'));
    assert_ne!(h.screen(), bottom, "one step back up is one step");
}

#[test]
fn stats_folder_table_keeps_its_numbers_at_90_columns() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    resize(&mut h, 90, 30);
    h.key(KeyCode::Char('S'));
    let screen = wait_for(&mut h, "per epoch");
    let row = screen.lines().find(|l| l.contains("10_lh")).unwrap();
    assert!(row.contains("     10      4        40"), "{row}");
}

#[test]
fn a_40_by_12_terminal_keeps_the_header_apart_and_draws_thumbnails() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    resize(&mut h, 40, 12);
    let screen = h.screen();
    let header = screen.lines().next().unwrap();
    assert!(header.contains(" lighthouse  4 images"), "{header}");
    assert!(!header.contains("halfblocks"), "no room for it: {header}");
    h.key(KeyCode::Char('v'));
    let grid = h.screen();
    assert!(
        grid.contains('▀') || grid.contains('▄'),
        "blank thumbnail:\n{grid}"
    );
}

/// A marker style (reverse video, underline) paints only a cell that holds a mark, in every
/// built-in theme, with and without NO_COLOR.
#[test]
fn empty_marker_cells_carry_no_marker_style() {
    use ratatui::style::Modifier;
    let (_tmp, root) = dataset();
    for name in ["dark", "light", "high-contrast"] {
        for no_color in [false, true] {
            let (theme, _) = Theme::load(name, None, no_color);
            let mut h = open_with(&root, theme);
            h.key(KeyCode::Char('j')); // the cursor row (reversed by design) is dusk's
            let buf = h.draw().buffer().clone();
            let list = h.b().areas().browser;
            let inner = lorabench::tui::layout::inner(list);
            for y in [inner.y, inner.y + 2, inner.y + 3] {
                for x in inner.x..inner.right() {
                    let cell = &buf[(x, y)];
                    if cell.symbol() != " " {
                        continue;
                    }
                    let painted = cell
                        .modifier
                        .intersects(Modifier::REVERSED | Modifier::UNDERLINED)
                        || (cell.bg != Color::Reset && cell.bg != buf[(inner.x + 3, y)].bg);
                    assert!(
                        !painted,
                        "{name} no_color={no_color}: blank cell {x},{y} painted: {cell:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn no_color_preview_says_it_is_off_instead_of_drawing_colourless_blocks() {
    let (_tmp, root) = dataset();
    let (theme, _) = Theme::load("dark", None, true);
    let mut h = open_with(&root, theme);
    let screen = h.screen();
    assert!(screen.contains("preview off"), "{screen}");
    assert!(!screen.contains('▀') && !screen.contains('▄'), "{screen}");
}
