//! The pop-ups a screen may open over its body: a form, a list to pick from, or a change
//! preview. Each has its own
//! keymap mode, commands and drawing; `screen::handle` routes keys to the open one, so the
//! screens never dispatch to them by hand.

pub mod form;
pub mod picker;
pub mod preview;

use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;

use crate::tui::command::Command;
use crate::tui::theme::Theme;

use form::{Form, FormId, Values};
use picker::Picker;
use preview::Preview;

pub enum Popup {
    Form(Form),
    /// Boxed: its filter's text area is large beside the other pop-ups.
    Picker(Box<Picker>),
    Preview(Preview),
}

/// What a key did to the open pop-up.
pub enum Handled {
    /// It is still open (or was cancelled and closed): nothing more to do.
    Stay,
    /// The form was submitted (or an entry picked): the screen checks the values (see
    /// [`finish`]).
    Submit(Values),
    /// The preview was accepted: write it.
    Apply(Preview),
}

impl Popup {
    pub fn mode(&self) -> &'static str {
        match self {
            Popup::Form(_) => form::MODE,
            Popup::Picker(_) => picker::MODE,
            Popup::Preview(_) => preview::MODE,
        }
    }

    pub fn commands(&self) -> Vec<Command> {
        match self {
            Popup::Form(_) => Form::commands(),
            Popup::Picker(_) => Picker::commands(),
            Popup::Preview(_) => Preview::commands(),
        }
    }

    pub fn draw(&self, frame: &mut Frame, t: &Theme) {
        match self {
            Popup::Form(f) => f.draw(frame, t),
            Popup::Picker(p) => p.draw(frame, t),
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
        Popup::Picker(p) => match p.event(action, key) {
            picker::Outcome::Stay => Handled::Stay,
            picker::Outcome::Cancel => {
                *slot = None;
                Handled::Stay
            }
            picker::Outcome::Pick(values) => Handled::Submit(values),
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
            let same = match slot {
                Some(Popup::Form(f)) => f.id == id,
                Some(Popup::Picker(p)) => p.id == id,
                _ => false,
            };
            if same {
                *slot = None;
            }
            effects
        }
        Err(e) => {
            match slot {
                Some(Popup::Form(f)) => f.error = Some(e),
                Some(Popup::Picker(p)) => p.error = Some(e),
                _ => {}
            }
            E::default()
        }
    }
}
