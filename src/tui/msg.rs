//! Everything that can happen to the workbench. Every source (input thread, image workers,
//! folder watcher, signal thread) sends these down one channel; `App::update` handles them.

use std::path::PathBuf;

use ratatui::crossterm::event::Event;

use super::images::Decoded;
use super::screens::ScreenMsg;

#[derive(Debug)]
pub enum Msg {
    /// A key, mouse or resize event from the terminal.
    Input(Event),
    /// A background decode finished (it may be stale; `update` checks).
    Image(Box<Decoded>),
    /// Files under the dataset folder changed on disk (paths are absolute).
    FsChanged(Vec<PathBuf>),
    /// The folder watcher failed; the message says why.
    WatchError(String),
    /// A Lint, Stats or LoRA worker reported.
    Screen(ScreenMsg),
    /// SIGHUP, SIGTERM or SIGINT arrived.
    Signal(i32),
}
