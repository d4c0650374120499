//! One module per screen, each with its state, commands, event handling and drawing, and the
//! registry of the screens the browser opens. A new screen is one module and one line in
//! [`OPENERS`] (plus its keys in keymap.yaml).

pub mod browser;
mod browser_view;
pub mod lint;
pub mod lora;
pub mod stats;
pub mod target;
#[cfg(test)]
pub mod testing;

use super::screen::Opener;

/// The screens the browser opens, in the order of its help.
pub const OPENERS: &[Opener] = &[
    Opener::new("open-lint", "lint the dataset", lint::open),
    Opener::new("open-stats", "statistics and tags", stats::open),
    Opener::new("open-lora", "open a LoRA file", lora::open),
];
