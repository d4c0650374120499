//! A screen that exists only in the tests, registered by its one line in `screens!`: it proves
//! that this module and that line are all a screen needs (its keys reach the keymap, the user's
//! keys.yaml, `lorabench keys` and the help; the browser opens it; its commands drive the bar).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use crate::tui::keymap::nav;
use crate::tui::screen::{Command, Ctx, DrawCtx, Effect, Effects, Event, Opener, Screen};

/// Opened from the browser.
pub const OPENER: Option<Opener> = Some(Opener::new("open-probe", "count pings", open));

/// The screen's default keys: its mode, and the browser's key for its opener.
pub const KEYS: &str = "
browse:
  keys:
    open-probe: P
probe:
  keys:
    ping: p
    help: '?'
    close: Esc q
";

pub struct Probe {
    pings: usize,
}

fn open(_ctx: &mut Ctx) -> Box<dyn Screen> {
    Box::new(Probe { pings: 0 })
}

impl Screen for Probe {
    fn mode(&self) -> &'static str {
        "probe"
    }

    fn title(&self) -> &'static str {
        "Probe"
    }

    fn commands(&self, _ctx: &DrawCtx) -> Vec<Command> {
        vec![
            Command::new("ping", "count one more ping").bar("ping", 1),
            Command::new(nav::HELP, "all keys").bar("help", 0),
            Command::new("close", "back to the browser").bar("close", 0),
        ]
    }

    fn event(&mut self, _ctx: &mut Ctx, event: Event) -> Effects {
        match event {
            Event::Key {
                action: Some("ping"),
                ..
            } => {
                self.pings += 1;
                Vec::new()
            }
            Event::Key {
                action: Some("close"),
                ..
            } => vec![Effect::Close],
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, body: Rect, _ctx: &DrawCtx) {
        let text = format!("{} pings", self.pings);
        frame.render_widget(Paragraph::new(text), body);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{Event as Input, KeyCode, KeyEvent, KeyModifiers};
    use ratatui_image::picker::Picker;

    use crate::dataset::{Journal, ScanOptions, scan};
    use crate::tui::app::App;
    use crate::tui::keymap::Keymap;
    use crate::tui::msg::Msg;
    use crate::tui::screens::{KEYS as SCREENS, OPENERS};
    use crate::tui::theme::Theme;

    fn press(app: &mut App, c: char) {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        app.update(Msg::Input(Input::Key(key)));
    }

    #[test]
    fn one_registration_line_makes_a_working_screen() {
        // Registered: its keys and its opener.
        assert!(SCREENS.iter().any(|(file, _)| file.ends_with("probe.rs")));
        assert!(OPENERS.iter().any(|o| o.action == "open-probe"));
        let keys = Keymap::defaults(SCREENS);
        assert_eq!(keys.label("browse", "open-probe"), "P");
        assert_eq!(keys.label("probe", "close"), "Esc/q");
        let rows = keys.rows();
        assert!(rows.contains(&("probe".into(), "ping".into(), "p".into())));

        // The browser opens it, its keys drive it, the help and the hint bar show them.
        let tmp = tempfile::tempdir().unwrap();
        image::RgbImage::new(8, 8)
            .save(tmp.path().join("a.png"))
            .unwrap();
        let dataset = scan(tmp.path(), &ScanOptions::default()).unwrap();
        let journal = Journal::open(tmp.path()).map(|(j, _)| j);
        let (tx, _rx) = mpsc::channel();
        let area = ratatui::layout::Rect::new(0, 0, 80, 24);
        let theme = Theme::builtin_dark();
        let mut app = App::new(dataset, journal, theme, &Picker::halfblocks(), tx, area);
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        press(&mut app, 'P');
        assert_eq!(app.mode(), "probe");
        press(&mut app, 'p');
        press(&mut app, 'p');
        term.draw(|f| app.draw(f)).unwrap();
        let text = term.backend().to_string();
        assert!(text.contains("2 pings"), "{text}");
        assert!(text.contains(" p  ping"), "the hint bar: {text}");
        press(&mut app, '?');
        term.draw(|f| app.draw(f)).unwrap();
        let help = term.backend().to_string();
        assert!(help.contains("count one more ping"), "{help}");
        press(&mut app, 'q');
        press(&mut app, 'q');
        assert_eq!(app.mode(), "browse", "closed");

        // The user's keys.yaml rebinds its actions like any other.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keys.yaml"), "probe:\n  keys:\n    ping: Space\n").unwrap();
        let (keys, warning) = Keymap::load(Some(dir.path()), SCREENS);
        assert_eq!((keys.label("probe", "ping"), warning), ("Space".into(), None));
    }
}
