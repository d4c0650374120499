//! Shared helpers for the TUI tests: a small generated dataset, an app on it with the
//! deterministic half-blocks picker, key injection, and waiting for background decodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run
#![allow(dead_code)]

pub mod runs;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use lorabench::dataset::{Journal, ScanOptions, scan};
use lorabench::tui::app::App;
use lorabench::tui::msg::Msg;
use lorabench::tui::screens::browser::Browser;
use lorabench::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui_image::picker::Picker;

/// An image of the generated dataset: file name, colour, caption bytes.
type Sample = (&'static str, (u8, u8, u8), Option<&'static [u8]>);

pub const W: u16 = 100;
pub const H: u16 = 30;

/// A dataset folder named `lighthouse` inside a temp dir (the name shows in the header, so it
/// must not be random): four images in a `10_lh` concept folder, one without a caption.
pub fn dataset() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("lighthouse");
    let concept = root.join("10_lh");
    std::fs::create_dir_all(&concept).unwrap();
    let images: [Sample; 4] = [
        (
            "dawn.png",
            (240, 180, 90),
            Some(b"lhx, lighthouse, dawn, sea\n"),
        ),
        (
            "dusk.png",
            (200, 80, 60),
            Some(b"lhx, lighthouse, dusk, clouds\r\n"),
        ),
        ("night.png", (20, 30, 80), Some(b"lighthouse, night, stars")),
        ("storm.png", (90, 90, 100), None),
    ];
    for (i, (name, (r, g, b), caption)) in images.iter().enumerate() {
        // A vertical gradient with a bright "tower" so the half-blocks show a real picture.
        let (w, h) = (64 + 16 * i as u32, 96);
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            if x > w / 2 - 4 && x < w / 2 + 4 && y > h / 4 {
                image::Rgb([250, 250, 250])
            } else {
                let f = y as f32 / h as f32;
                image::Rgb([
                    (*r as f32 * (1.0 - f)) as u8,
                    (*g as f32 * (1.0 - f)) as u8,
                    (*b as f32 * (0.5 + f / 2.0)) as u8,
                ])
            }
        });
        img.save(concept.join(name)).unwrap();
        if let Some(c) = caption {
            let stem = name.trim_end_matches(".png");
            std::fs::write(concept.join(format!("{stem}.txt")), c).unwrap();
        }
    }
    (tmp, root)
}

pub struct Harness {
    pub app: App,
    pub rx: Receiver<Msg>,
    pub terminal: Terminal<TestBackend>,
    /// Messages held back by [`Harness::still`], delivered by the next [`Harness::settle`].
    held: Vec<Msg>,
}

pub fn open(root: &Path) -> Harness {
    open_with(root, Theme::builtin("dark").unwrap())
}

pub fn open_with(root: &Path, theme: Theme) -> Harness {
    let dataset = scan(root, &ScanOptions::default()).unwrap();
    let journal = Journal::open(root).map(|(j, _)| j);
    let (tx, rx) = mpsc::channel();
    let app = App::new(
        dataset,
        journal,
        theme,
        &Picker::halfblocks(),
        tx,
        Rect::new(0, 0, W, H),
    );
    let mut h = Harness {
        app,
        rx,
        terminal: Terminal::new(TestBackend::new(W, H)).unwrap(),
        held: Vec::new(),
    };
    h.app.update(Msg::Input(Event::Resize(W, H)));
    h
}

impl Harness {
    pub fn key(&mut self, code: KeyCode) {
        self.key_mod(code, KeyModifiers::NONE);
    }

    pub fn key_mod(&mut self, code: KeyCode, mods: KeyModifiers) {
        self.app
            .update(Msg::Input(Event::Key(KeyEvent::new(code, mods))));
    }

    pub fn chars(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// Feeds background results to the app until no decode is outstanding.
    pub fn settle(&mut self) {
        for m in std::mem::take(&mut self.held) {
            self.app.update(m);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.app.images_pending() && Instant::now() < deadline {
            if let Ok(m) = self.rx.recv_timeout(Duration::from_millis(50)) {
                self.app.update(m);
            }
        }
        assert!(!self.app.images_pending(), "decodes did not finish");
    }

    pub fn draw(&mut self) -> &TestBackend {
        let app = &self.app;
        self.terminal.draw(|f| app.draw(f)).unwrap();
        self.terminal.backend()
    }

    /// The screen as text once its images are decoded, every other background message held
    /// back (the monitor's machine samples come at their own pace: a snapshot must not depend
    /// on whether one came first).
    pub fn still(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.app.images_pending() && Instant::now() < deadline {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(m @ Msg::Image(_)) => self.app.update(m),
                Ok(m) => self.held.push(m),
                Err(_) => {}
            }
        }
        assert!(!self.app.images_pending(), "decodes did not finish");
        self.draw().to_string()
    }

    /// The screen as text, after images have settled.
    pub fn screen(&mut self) -> String {
        self.settle();
        self.draw().to_string()
    }

    /// The browser (the bottom screen).
    pub fn b(&self) -> &Browser {
        self.app.browser().unwrap()
    }

    pub fn current_name(&self) -> String {
        let i = self.app.current().unwrap();
        self.app.dataset.items[i].file_name()
    }
}

pub fn read(root: &Path, rel: &str) -> String {
    String::from_utf8(std::fs::read(root.join(rel)).unwrap()).unwrap()
}
