//! The screens beside the dataset browser: Lint, Stats/Tags and LoRA. Each holds its state
//! here, changes it from keys and background results, and runs its long work (lint, stats,
//! LoRA operations) on a worker thread that reports through the app's one channel. Drawing is
//! in `views/{lint,stats,lora}.rs`, which only read this state.

pub mod form;
pub mod lint;
pub mod lora;
pub mod stats;
pub mod target;

use ratatui::crossterm::event::KeyEvent;

use crate::dataset::ops::Plan;

use super::app::{App, Level, Modal, Status, plural};
use super::keymap::{Action, Mode};
use super::msg::Msg;

pub use form::Form;

/// The screen shown instead of the browser.
pub enum Screen {
    Lint(Box<lint::LintScreen>),
    Stats(Box<stats::StatsScreen>),
    Lora(Box<lora::LoraScreen>),
}

/// Background results for the screens (each carries the generation it serves: a result for a
/// screen that was closed or restarted is dropped).
#[derive(Debug)]
pub enum ScreenMsg {
    Lint(lint::LintMsg),
    Stats(stats::StatsMsg),
    Lora(lora::LoraMsg),
}

impl From<ScreenMsg> for Msg {
    fn from(m: ScreenMsg) -> Msg {
        Msg::Screen(m)
    }
}

/// Caption edits waiting for the user's yes, shown as a diff (lint fixes, tag rename/remove).
pub struct Preview {
    pub title: String,
    /// What the journal entry will be called.
    pub description: String,
    pub diff: String,
    pub changes: usize,
    pub skipped: usize,
    pub scroll: u16,
    plan: Plan,
}

impl Preview {
    pub fn new(title: String, description: String, plan: Plan) -> Preview {
        Preview {
            title,
            description,
            diff: plan.diff(),
            changes: plan.edits.len(),
            skipped: plan.skipped.len(),
            scroll: 0,
            plan,
        }
    }
}

impl Screen {
    /// Who has the keyboard while this screen is open.
    pub fn mode(&self) -> Mode {
        let (form, preview, base) = match self {
            Screen::Lint(s) => (s.form.is_some(), s.preview.is_some(), Mode::Lint),
            Screen::Stats(s) => (s.form.is_some(), s.preview.is_some(), Mode::Stats),
            Screen::Lora(s) => (s.form.is_some(), false, Mode::Lora),
        };
        if form {
            Mode::Form
        } else if preview {
            Mode::Preview
        } else {
            base
        }
    }

    pub fn form(&self) -> Option<&Form> {
        match self {
            Screen::Lint(s) => s.form.as_ref(),
            Screen::Stats(s) => s.form.as_ref(),
            Screen::Lora(s) => s.form.as_ref(),
        }
    }

    fn form_mut(&mut self) -> Option<&mut Form> {
        match self {
            Screen::Lint(s) => s.form.as_mut(),
            Screen::Stats(s) => s.form.as_mut(),
            Screen::Lora(s) => s.form.as_mut(),
        }
    }

    pub fn preview(&self) -> Option<&Preview> {
        match self {
            Screen::Lint(s) => s.preview.as_ref(),
            Screen::Stats(s) => s.preview.as_ref(),
            Screen::Lora(_) => None,
        }
    }

    fn preview_mut(&mut self) -> Option<&mut Preview> {
        match self {
            Screen::Lint(s) => s.preview.as_mut(),
            Screen::Stats(s) => s.preview.as_mut(),
            Screen::Lora(_) => None,
        }
    }

    fn take_preview(&mut self) -> Option<Preview> {
        match self {
            Screen::Lint(s) => s.preview.take(),
            Screen::Stats(s) => s.preview.take(),
            Screen::Lora(_) => None,
        }
    }

    fn close_popup(&mut self) {
        match self {
            Screen::Lint(s) => (s.form, s.preview) = (None, None),
            Screen::Stats(s) => (s.form, s.preview) = (None, None),
            Screen::Lora(s) => s.form = None,
        }
    }
}

/// A key while a screen is open (`mode` is `Screen::mode`).
pub fn on_key(app: &mut App, mode: Mode, action: Option<Action>, key: KeyEvent) {
    if action == Some(Action::Help) {
        app.modal = Some(Modal::Help { scroll: 0 });
        return;
    }
    match mode {
        Mode::Form => form_key(app, action, key),
        Mode::Preview => preview_key(app, action),
        _ => {
            let Some(action) = action else { return };
            match app.screen.as_ref() {
                Some(Screen::Lint(_)) => lint::on_action(app, action),
                Some(Screen::Stats(_)) => stats::on_action(app, action),
                Some(Screen::Lora(_)) => lora::on_action(app, action),
                None => {}
            }
        }
    }
}

/// A background result.
pub fn on_msg(app: &mut App, msg: ScreenMsg) {
    match msg {
        ScreenMsg::Lint(m) => lint::on_msg(app, m),
        ScreenMsg::Stats(m) => stats::on_msg(app, m),
        ScreenMsg::Lora(m) => lora::on_msg(app, m),
    }
}

fn form_key(app: &mut App, action: Option<Action>, key: KeyEvent) {
    let Some(screen) = app.screen.as_mut() else {
        return;
    };
    match action {
        Some(Action::Close) => screen.close_popup(),
        Some(Action::NextField) => {
            if let Some(f) = screen.form_mut() {
                f.next_field();
            }
        }
        Some(Action::Submit) => {
            let Some(form) = screen.form_mut().map(|f| f.take_values()) else {
                return;
            };
            let id = form.id;
            let result = match app.screen.as_ref() {
                Some(Screen::Lint(_)) => lint::submit(app, form),
                Some(Screen::Stats(_)) => stats::submit(app, form),
                Some(Screen::Lora(_)) => lora::submit(app, form),
                None => Ok(()),
            };
            if let Some(screen) = app.screen.as_mut() {
                match result {
                    // A submit may have opened the next step (a preview); only its own form closes.
                    Ok(()) => {
                        if screen.form().is_some_and(|f| f.id == id) {
                            match screen {
                                Screen::Lint(s) => s.form = None,
                                Screen::Stats(s) => s.form = None,
                                Screen::Lora(s) => s.form = None,
                            }
                        }
                    }
                    Err(e) => {
                        if let Some(f) = screen.form_mut() {
                            f.error = Some(e);
                        }
                    }
                }
            }
        }
        _ => {
            if let Some(f) = screen.form_mut() {
                f.input(key);
            }
        }
    }
}

fn preview_key(app: &mut App, action: Option<Action>) {
    let Some(screen) = app.screen.as_mut() else {
        return;
    };
    match action {
        Some(Action::Down) => {
            if let Some(p) = screen.preview_mut() {
                p.scroll = p.scroll.saturating_add(1);
            }
        }
        Some(Action::Up) => {
            if let Some(p) = screen.preview_mut() {
                p.scroll = p.scroll.saturating_sub(1);
            }
        }
        Some(Action::Close) => screen.close_popup(),
        Some(Action::Submit) => {
            if let Some(p) = screen.take_preview() {
                apply(app, p);
            }
        }
        _ => {}
    }
}

/// Writes a previewed plan as one journal entry, reloads the dataset and refreshes the screen.
fn apply(app: &mut App, preview: Preview) {
    let Some(journal) = &app.journal else {
        return set_status(
            app,
            Level::Error,
            "read-only: nothing can be written here".into(),
        );
    };
    let Preview {
        description,
        changes,
        skipped,
        plan,
        ..
    } = preview;
    match plan.apply(journal, &description) {
        Ok(Some(_)) => {
            app.reload();
            let mut text = format!(
                "{description}: {changes} caption{} changed (Esc, then u undoes)",
                plural(changes)
            );
            if skipped > 0 {
                text.push_str(&format!("; {skipped} skipped"));
            }
            set_status(app, Level::Info, text);
        }
        Ok(None) => set_status(
            app,
            Level::Info,
            format!("{description}: nothing to change"),
        ),
        Err(e) => return set_status(app, Level::Error, e.to_string()),
    }
    match app.screen.as_ref() {
        Some(Screen::Lint(_)) => lint::start(app),
        Some(Screen::Stats(_)) => stats::start(app),
        _ => {}
    }
}

/// How far a list cursor moves for a movement action; `None` for other actions. Shared by
/// the screens with a list (Lint, Stats/Tags).
pub fn cursor_step(action: Action) -> Option<isize> {
    Some(match action {
        Action::Down => 1,
        Action::Up => -1,
        Action::PageDown => 10,
        Action::PageUp => -10,
        Action::Top => -isize::MAX / 2,
        Action::Bottom => isize::MAX / 2,
        _ => return None,
    })
}

/// Leaves the screen for the browser, stopping its background work.
pub fn close(app: &mut App) {
    match app.screen.take() {
        Some(Screen::Lint(s)) => s.stop(),
        Some(Screen::Lora(s)) => s.stop(),
        _ => {}
    }
}

/// Back to the browser with the cursor on item `index` (the filter is cleared if it hides it).
pub fn show_in_browser(app: &mut App, index: usize) {
    close(app);
    if !app.visible.contains(&index) {
        let _ = app.apply_filter("");
    }
    if let Some(pos) = app.visible.iter().position(|&i| i == index) {
        app.move_to(pos);
    }
}

pub fn set_status(app: &mut App, level: Level, text: String) {
    app.status = Some(Status { text, level });
}

/// The indices of the images lint and stats look at (excluded ones are not trained on).
pub fn included(app: &App) -> Vec<usize> {
    (0..app.dataset.items.len())
        .filter(|&i| !app.dataset.items[i].excluded)
        .collect()
}
