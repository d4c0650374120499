//! The monitor's log panel: the end of `train.log` as people read it (the core's
//! [`meaningful_tail`](crate::train::run::logs::meaningful_tail)), the metrics problems kept in
//! view above it, the error line marked when the run failed, and a search: `/` looks back from
//! the newest line, `n` goes to the next older match, `N` to the next newer one.

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;

use crate::tui::theme::Theme;
use crate::tui::widgets::line_input;
use crate::tui::widgets::panel::panel;

#[derive(Default)]
pub struct LogPanel {
    pub lines: Vec<String>,
    /// The search being typed, while the prompt is open.
    input: Option<TextArea<'static>>,
    /// The last search, lowercased (the match ignores case).
    query: String,
    /// The line the search stands on.
    hit: Option<usize>,
}

impl LogPanel {
    pub fn prompting(&self) -> bool {
        self.input.is_some()
    }

    pub fn open_prompt(&mut self) {
        self.input = Some(line_input::new(&self.query));
    }

    /// A key typed into the prompt: the search follows as it is typed.
    pub fn key(&mut self, key: KeyEvent) {
        if let Some(input) = &mut self.input
            && line_input::key(input, key)
        {
            self.query = line_input::text(input).to_lowercase();
            self.hit = None;
            self.step(true);
        }
    }

    /// Enter keeps the search, Esc drops it.
    pub fn close_prompt(&mut self, keep: bool) {
        self.input = None;
        if !keep {
            self.query.clear();
            self.hit = None;
        }
    }

    pub fn searching(&self) -> bool {
        !self.query.is_empty()
    }

    fn matches(&self, i: usize) -> bool {
        self.lines
            .get(i)
            .is_some_and(|l| l.to_lowercase().contains(&self.query))
    }

    /// Moves to the next match back in the log (`back`) or forward; from the end when no
    /// line is found yet. Stays put at either end. `false` when nothing matches.
    pub fn step(&mut self, back: bool) -> bool {
        if self.query.is_empty() {
            return false;
        }
        let n = self.lines.len();
        let found = match (self.hit, back) {
            (None, _) => (0..n).rev().find(|i| self.matches(*i)),
            (Some(h), true) => (0..h).rev().find(|i| self.matches(*i)),
            (Some(h), false) => (h + 1..n).find(|i| self.matches(*i)),
        };
        match found {
            Some(i) => {
                self.hit = Some(i);
                true
            }
            None => self.hit.is_some_and(|h| self.matches(h)),
        }
    }

    /// How many lines match, and which of them (counted from the top) the search is on.
    pub fn count(&self) -> (usize, Option<usize>) {
        let total = (0..self.lines.len()).filter(|i| self.matches(*i)).count();
        let at = self
            .hit
            .map(|h| (0..=h).filter(|i| self.matches(*i)).count());
        (total, at)
    }

    /// New lines read: a search stays on its line while that is still there.
    pub fn set_lines(&mut self, lines: Vec<String>) {
        let kept = self
            .hit
            .and_then(|h| self.lines.get(h))
            .and_then(|l| lines.iter().rposition(|n| n == l));
        self.lines = lines;
        self.hit = kept;
    }

    /// `problems` stay at the top; `error` is the line the run failed with, if it did.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        problems: &[String],
        error: Option<&str>,
        t: &Theme,
    ) {
        let mut title = vec![Span::raw(" Log ")];
        if self.searching() || self.input.is_some() {
            let (total, at) = self.count();
            let place = match at {
                Some(a) => format!("{a}/{total}"),
                None => format!("{total}"),
            };
            title.push(Span::styled(format!("· /{} {place} ", self.query), t.accent));
        }
        let block = panel(Line::from(title), self.input.is_some(), t);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut rows = usize::from(inner.height);
        let mut body = inner;
        if let Some(input) = &self.input
            && rows > 1
        {
            let prompt = Rect {
                y: inner.y + inner.height - 1,
                height: 1,
                ..inner
            };
            frame.render_widget(Line::styled("/", t.accent), prompt);
            let field = Rect {
                x: prompt.x + 1,
                width: prompt.width.saturating_sub(1),
                ..prompt
            };
            line_input::draw(frame, input, field, t);
            rows -= 1;
            body.height -= 1;
        }
        let mut lines: Vec<Line> = problems
            .iter()
            .map(|p| Line::styled(p.clone(), t.warning))
            .collect();
        // The problems stay in view; the log fills the rest, ending at the newest line or,
        // while a search stands on a line, a little below it.
        let room = rows.saturating_sub(lines.len());
        let end = match self.hit {
            Some(h) => (h + 1 + room / 3).min(self.lines.len()).max(room.min(self.lines.len())),
            None => self.lines.len(),
        };
        let from = end.saturating_sub(room);
        for (i, l) in self.lines.iter().enumerate().take(end).skip(from) {
            let style = if Some(i) == self.hit {
                t.selected
            } else if error == Some(l.as_str()) {
                t.error
            } else if self.searching() && self.matches(i) {
                t.accent
            } else {
                t.base
            };
            lines.push(Line::styled(l.clone(), style));
        }
        lines.truncate(rows);
        frame.render_widget(Paragraph::new(lines), body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel_with(lines: &[&str], query: &str) -> LogPanel {
        let mut p = LogPanel {
            lines: lines.iter().map(|l| l.to_string()).collect(),
            ..LogPanel::default()
        };
        p.query = query.into();
        p
    }

    #[test]
    fn search_starts_at_the_newest_line_and_walks_both_ways() {
        let mut p = panel_with(&["a Error", "b", "c error", "d", "e ERROR", "f"], "error");
        assert!(p.step(true));
        assert_eq!(p.hit, Some(4), "the newest match first");
        assert_eq!(p.count(), (3, Some(3)));
        p.step(true);
        assert_eq!(p.hit, Some(2));
        p.step(true);
        assert_eq!(p.hit, Some(0));
        assert!(p.step(true), "stays on the oldest");
        assert_eq!(p.hit, Some(0));
        p.step(false);
        assert_eq!(p.hit, Some(2));
        let mut none = panel_with(&["a", "b"], "zzz");
        assert!(!none.step(true));
        assert_eq!(none.hit, None);
    }

    #[test]
    fn new_lines_keep_the_search_on_its_line() {
        let mut p = panel_with(&["x", "boom", "y"], "boom");
        p.step(true);
        p.set_lines(vec!["boom".into(), "y".into(), "z".into()]);
        assert_eq!(p.hit, Some(0));
        p.set_lines(vec!["z".into()]);
        assert_eq!(p.hit, None);
    }
}
