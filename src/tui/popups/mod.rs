//! The pop-ups a screen may open over its body: a form, or a change preview. Each has its own
//! keymap mode, commands and drawing; `screen::handle` routes keys to the open one, so the
//! screens never dispatch to them by hand.

pub mod form;
pub mod preview;

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;

use crate::tui::command::Command;
use crate::tui::theme::Theme;

use form::{Form, FormId, Values};
use preview::Preview;

pub enum Popup {
    Form(Form),
    Preview(Preview),
}

/// What a key did to the open pop-up.
pub enum Handled {
    /// It is still open (or was cancelled and closed): nothing more to do.
    Stay,
    /// The form was submitted: the screen checks the values (see [`finish`]).
    Submit(Values),
    /// The preview was accepted: write it.
    Apply(Preview),
}

impl Popup {
    pub fn mode(&self) -> &'static str {
        match self {
            Popup::Form(_) => form::MODE,
            Popup::Preview(_) => preview::MODE,
        }
    }

    pub fn commands(&self) -> Vec<Command> {
        match self {
            Popup::Form(_) => Form::commands(),
            Popup::Preview(_) => Preview::commands(),
        }
    }

    pub fn draw(&self, frame: &mut Frame, t: &Theme) {
        match self {
            Popup::Form(f) => f.draw(frame, t),
            Popup::Preview(p) => p.draw(frame, t),
        }
    }
}

/// Gives a key to the pop-up in `slot`; `None` when none is open.
pub fn key(slot: &mut Option<Popup>, action: Option<&str>, key: KeyEvent) -> Option<Handled> {
    let handled = match slot.as_mut()? {
        Popup::Form(f) => match f.event(action, key) {
            form::Outcome::Stay => Handled::Stay,
            form::Outcome::Cancel => {
                *slot = None;
                Handled::Stay
            }
            form::Outcome::Submit(values) => Handled::Submit(values),
        },
        Popup::Preview(p) => match p.event(action) {
            preview::Outcome::Stay => Handled::Stay,
            preview::Outcome::Cancel => {
                *slot = None;
                Handled::Stay
            }
            preview::Outcome::Apply => match slot.take() {
                Some(Popup::Preview(p)) => Handled::Apply(p),
                _ => Handled::Stay,
            },
        },
    };
    Some(handled)
}

/// After a submit: a refusal stays in the form (it says why); success closes it, unless the
/// submit already opened the next step (a preview).
pub fn finish<E: Default>(slot: &mut Option<Popup>, id: FormId, result: Result<E, String>) -> E {
    match result {
        Ok(effects) => {
            if matches!(slot, Some(Popup::Form(f)) if f.id == id) {
                *slot = None;
            }
            effects
        }
        Err(e) => {
            if let Some(Popup::Form(f)) = slot {
                f.error = Some(e);
            }
            E::default()
        }
    }
}
