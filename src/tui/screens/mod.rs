//! One module per screen, each with its state, commands, event handling, drawing and default
//! keys, and the registry of those screens: a new screen is one module and one line in
//! `screens!` below.

pub mod browser;
mod browser_view;
mod changes;
pub mod target;
#[cfg(test)]
pub mod testing;

use std::sync::LazyLock;

use super::keymap::Source;
use super::screen::Opener;

/// Declares each screen module and registers it. A module `name` provides `KEYS` (its default
/// keys as keymap YAML: its mode block, and the browser's key for its opener if it has one)
/// and `OPENER` (`Some` when the browser opens it).
macro_rules! screens {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $($(#[$attr])* pub mod $name;)*

        /// The default keys of the registered screens, each named by its file for errors.
        pub const KEYS: &[Source] = &[$(
            $(#[$attr])*
            (concat!("src/tui/screens/", stringify!($name), ".rs"), $name::KEYS),
        )*];

        const OPENED: &[Option<Opener>] = &[$($(#[$attr])* $name::OPENER,)*];
    };
}

screens! {
    lint,
    stats,
    lora,
    runs,
    monitor,
    train,
    #[cfg(test)]
    probe,
}

/// The screens the browser opens, in the order of its help.
pub static OPENERS: LazyLock<Vec<Opener>> =
    LazyLock::new(|| OPENED.iter().flatten().copied().collect());
