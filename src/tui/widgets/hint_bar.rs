//! The bottom line, generated from the screen's commands with the keys as bound. When it is
//! too narrow, the least important commands go first; help and quit/back always stay.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::tui::keymap::Keymap;
use crate::tui::screen::Command;
use crate::tui::theme::Theme;

/// One entry: the first key, the label, whether it can be used now, and its importance.
struct Hint {
    key: String,
    label: &'static str,
    enabled: bool,
    importance: u8,
}

impl Hint {
    fn width(&self) -> usize {
        // " key " + " label  "
        self.key.chars().count() + 2 + self.label.chars().count() + 3
    }
}

/// The hints that fit in `width` columns, in command order.
fn fit(commands: &[Command], keys: &Keymap, mode: &str, width: usize) -> Vec<Hint> {
    let mut hints: Vec<Hint> = commands
        .iter()
        .filter_map(|c| {
            let (label, importance) = c.bar?;
            let key = keys.first(mode, c.action);
            (!key.is_empty()).then_some(Hint {
                key,
                label,
                enabled: c.disabled.is_none(),
                importance,
            })
        })
        .collect();
    while hints.iter().map(Hint::width).sum::<usize>() > width {
        // The least important (the last of them on a tie) goes; importance 0 never does.
        let drop = hints
            .iter()
            .enumerate()
            .filter(|(_, h)| h.importance > 0)
            .max_by_key(|(i, h)| (h.importance, *i))
            .map(|(i, _)| i);
        match drop {
            Some(i) => {
                hints.remove(i);
            }
            None => break,
        }
    }
    hints
}

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    commands: &[Command],
    keys: &Keymap,
    mode: &str,
    theme: &Theme,
) {
    let mut spans = Vec::new();
    for h in fit(commands, keys, mode, usize::from(area.width)) {
        // A command that cannot be used now is shown, greyed (pressing it says why).
        let (key_style, text_style) = if h.enabled {
            (theme.hint_key, theme.hint_text)
        } else {
            (theme.dim, theme.dim)
        };
        spans.push(Span::styled(format!(" {} ", h.key), key_style));
        spans.push(Span::styled(format!(" {}  ", h.label), text_style));
    }
    frame.render_widget(Line::from(spans).style(theme.base), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_bars_drop_the_least_important_and_keep_help_and_quit() {
        let keys = Keymap::defaults(&[]);
        let commands = vec![
            Command::new("edit", "edit").bar("edit", 1),
            Command::new("filter", "filter").bar("filter", 2),
            Command::new("toggle-view", "grid").bar("grid", 5),
            Command::new("help", "help").bar("help", 0),
            Command::new("quit", "quit").bar("quit", 0),
        ];
        let labels = |w| -> Vec<&str> {
            fit(&commands, &keys, "browse", w)
                .iter()
                .map(|h| h.label)
                .collect()
        };
        assert_eq!(labels(200), ["edit", "filter", "grid", "help", "quit"]);
        assert_eq!(labels(45), ["edit", "filter", "help", "quit"]);
        assert_eq!(labels(30), ["edit", "help", "quit"]);
        assert_eq!(labels(5), ["help", "quit"]);
    }
}
