//! One-line text inputs (the browser's prompts, the forms' fields). A pre-filled input opens
//! with its text selected, so typing replaces it and an arrow key keeps it; the shell's
//! line-editing keys work (Ctrl-U clears to the start, Ctrl-W deletes a word, Ctrl-A/Ctrl-E
//! and Home/End move to the ends). Enter never adds a line: the owner binds it.

use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui_textarea::{CursorMove, TextArea};

use crate::tui::theme::Theme;

/// An input holding `text`, all of it selected.
pub fn new(text: &str) -> TextArea<'static> {
    let mut input = TextArea::new(vec![text.to_string()]);
    if !text.is_empty() {
        input.select_all();
    }
    input.move_cursor(CursorMove::End);
    input
}

/// The input's text as one line.
pub fn text(input: &TextArea) -> String {
    input.lines().join(" ")
}

/// Edits the input with a key; `true` when its text changed.
pub fn key(input: &mut TextArea, key: KeyEvent) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        // The text area's Ctrl-U is undo; at a shell prompt it clears the line to the cursor.
        KeyCode::Char('u' | 'U') if ctrl => {
            if input.is_selecting() {
                return input.cut();
            }
            input.delete_line_by_head()
        }
        // One line: no newline by Enter, Ctrl-M or Ctrl-J.
        KeyCode::Enter => false,
        KeyCode::Char('m' | 'j') if ctrl => false,
        _ => input.input(key),
    }
}

/// Draws the input, its selection in the theme's selection style.
pub fn draw(frame: &mut Frame, input: &TextArea<'static>, area: Rect, t: &Theme) {
    let mut shown = input.clone();
    shown.set_selection_style(t.selected);
    shown.set_cursor_line_style(t.popup);
    frame.render_widget(&shown, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(input: &mut TextArea, code: KeyCode, mods: KeyModifiers) {
        key(input, KeyEvent::new(code, mods));
    }

    fn typed(input: &mut TextArea, s: &str) {
        for c in s.chars() {
            press(input, KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    #[test]
    fn typing_replaces_a_prefilled_text() {
        let mut input = new("/data/lora.safetensors");
        typed(&mut input, "out.safetensors");
        assert_eq!(text(&input), "out.safetensors");
    }

    #[test]
    fn an_arrow_keeps_the_prefilled_text() {
        let mut input = new("tag:night");
        press(&mut input, KeyCode::End, KeyModifiers::NONE);
        typed(&mut input, " sea");
        assert_eq!(text(&input), "tag:night sea");
        press(&mut input, KeyCode::Home, KeyModifiers::NONE);
        typed(&mut input, "-");
        assert_eq!(text(&input), "-tag:night sea");
    }

    #[test]
    fn shell_line_editing_keys() {
        let mut input = new("tag:night");
        press(&mut input, KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!(text(&input), "", "Ctrl-U clears a selected text");
        typed(&mut input, "one two three");
        press(&mut input, KeyCode::Char('w'), KeyModifiers::CONTROL);
        assert_eq!(text(&input), "one two ");
        press(&mut input, KeyCode::Char('a'), KeyModifiers::CONTROL);
        typed(&mut input, ">");
        press(&mut input, KeyCode::Char('e'), KeyModifiers::CONTROL);
        typed(&mut input, "<");
        assert_eq!(text(&input), ">one two <");
        press(&mut input, KeyCode::Left, KeyModifiers::NONE);
        press(&mut input, KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!(text(&input), "<", "Ctrl-U deletes to the start");
        press(&mut input, KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(input.lines().len(), 1, "Enter adds no line");
    }
}
