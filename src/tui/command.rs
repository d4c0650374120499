//! What a screen offers: its commands (for the dispatcher, the hint bar and the help) and the
//! status line's message type.

use super::keymap::nav;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// The one-line message under the panels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub level: Level,
}

/// One thing the user can do on a screen now, for the dispatcher, the hint bar and the help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The keymap's word for it.
    pub action: &'static str,
    /// What it does, for the help.
    pub desc: &'static str,
    /// The short label and importance in the hint bar (0 is never dropped; larger numbers are
    /// dropped first when the bar is too narrow); `None`: only in the help.
    pub bar: Option<(&'static str, u8)>,
    /// Why it cannot be done now; `None` when it can.
    pub disabled: Option<&'static str>,
}

impl Command {
    /// A command shown only in the help.
    pub fn new(action: &'static str, desc: &'static str) -> Command {
        Command {
            action,
            desc,
            bar: None,
            disabled: None,
        }
    }

    /// Also shown in the hint bar, with this label and importance.
    pub fn bar(mut self, label: &'static str, importance: u8) -> Command {
        self.bar = Some((label, importance));
        self
    }

    /// Unavailable while `when` holds, for this reason.
    pub fn off_if(mut self, when: bool, why: &'static str) -> Command {
        if when {
            self.disabled = Some(why);
        }
        self
    }
}

/// The list navigation commands, for the screens whose mode inherits the keymap's `list`.
pub fn list_commands() -> Vec<Command> {
    vec![
        Command::new(nav::DOWN, "next row"),
        Command::new(nav::UP, "previous row"),
        Command::new(nav::PAGE_DOWN, "page down"),
        Command::new(nav::PAGE_UP, "page up"),
        Command::new(nav::TOP, "first row"),
        Command::new(nav::BOTTOM, "last row"),
    ]
}
