//! A screen's test bench: a real dataset in a temp folder, its journal, the default keys and a
//! channel, so a screen can be built and driven through its context with no app and no
//! terminal. Effects come back to the test; background messages are pumped by hand.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui_image::picker::Picker;

use crate::dataset::journal::Journal;
use crate::dataset::lint::LintOptions;
use crate::dataset::{Dataset, ScanOptions, scan};
use crate::tui::keymap::Keymap;
use crate::tui::msg::Msg;
use crate::tui::screen::{self, Command, Ctx, DrawCtx, Effects, Event, Screen};
use crate::tui::theme::Theme;

pub struct Bench {
    pub tmp: tempfile::TempDir,
    pub dataset: Dataset,
    pub journal: Option<Journal>,
    pub target: LintOptions,
    pub keys: Keymap,
    pub theme: Theme,
    pub tx: Sender<Msg>,
    pub rx: Receiver<Msg>,
    pub picker: Picker,
}

impl Bench {
    /// A dataset of small PNGs, each with its caption (`None`: no caption file).
    pub fn new(files: &[(&str, Option<&str>)]) -> Bench {
        let tmp = tempfile::tempdir().unwrap();
        for (i, (name, caption)) in files.iter().enumerate() {
            let shade = (40 * i % 255) as u8;
            image::RgbImage::from_pixel(32 + 8 * i as u32, 32, image::Rgb([shade, 90, 200]))
                .save(tmp.path().join(name))
                .unwrap();
            if let Some(c) = caption {
                let stem = name.rsplit_once('.').map_or(*name, |(s, _)| s);
                std::fs::write(tmp.path().join(format!("{stem}.txt")), c).unwrap();
            }
        }
        let dataset = scan(tmp.path(), &ScanOptions::default()).unwrap();
        let journal = Journal::open(tmp.path()).ok().map(|(j, _)| j);
        let (tx, rx) = mpsc::channel();
        Bench {
            tmp,
            dataset,
            journal,
            target: LintOptions::default(),
            keys: Keymap::defaults(super::KEYS),
            theme: Theme::builtin_dark(),
            tx,
            rx,
            picker: Picker::halfblocks(),
        }
    }

    pub fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            dataset: &mut self.dataset,
            journal: self.journal.as_ref(),
            target: &mut self.target,
            tx: &self.tx,
            keys: &self.keys,
            openers: &[],
            picker: &self.picker,
            area: Rect::new(0, 0, 100, 30),
        }
    }

    pub fn draw_ctx(&self) -> DrawCtx<'_> {
        DrawCtx {
            dataset: &self.dataset,
            target: &self.target,
            theme: &self.theme,
            keys: &self.keys,
            openers: &[],
            protocol: "halfblocks",
        }
    }

    pub fn open(&mut self, f: impl FnOnce(&mut Ctx) -> Box<dyn Screen>) -> Box<dyn Screen> {
        f(&mut self.ctx())
    }

    pub fn event(&mut self, s: &mut dyn Screen, event: Event) -> Effects {
        screen::handle(s, &mut self.ctx(), event)
    }

    /// The action, as if its key was pressed.
    pub fn key(&mut self, s: &mut dyn Screen, action: &str) -> Effects {
        let key = KeyEvent::new(KeyCode::Null, KeyModifiers::NONE);
        self.event(
            s,
            Event::Key {
                action: Some(action),
                key,
            },
        )
    }

    /// Unbound keys: typed into a form or prompt.
    pub fn type_text(&mut self, s: &mut dyn Screen, text: &str) {
        for c in text.chars() {
            let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
            self.event(s, Event::Key { action: None, key });
        }
    }

    pub fn backspace(&mut self, s: &mut dyn Screen) {
        let key = KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE);
        self.event(s, Event::Key { action: None, key });
    }

    /// Feeds background messages to the screen until `done` holds.
    pub fn pump(&mut self, s: &mut dyn Screen, done: impl Fn(&dyn Screen) -> bool) -> Effects {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut effects = Vec::new();
        while !done(&*s) {
            assert!(Instant::now() < deadline, "timed out waiting for a job");
            if let Ok(m) = self.rx.recv_timeout(Duration::from_millis(50)) {
                let mut msg = Some(m);
                effects.extend(self.event(s, Event::Message(&mut msg)));
            }
        }
        effects
    }

    /// What the shell does for `Effect::Reload`: scan again, then tell the screen.
    pub fn reload(&mut self, s: &mut dyn Screen) -> Effects {
        let new = scan(self.tmp.path(), &ScanOptions::default()).unwrap();
        let old = std::mem::replace(&mut self.dataset, new);
        self.event(s, Event::Reloaded { old: &old })
    }

    pub fn commands(&self, s: &dyn Screen) -> Vec<Command> {
        screen::commands(s, &self.draw_ctx())
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join(rel)).unwrap()
    }
}
