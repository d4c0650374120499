//! Everything that can happen to the workbench. Every source (input thread, image workers,
//! screen jobs, folder watcher, signal thread) sends these down one channel; `App::update`
//! handles them.

use std::path::PathBuf;

use ratatui::crossterm::event::Event;

use super::images::Decoded;
use super::job::{Carrier, JobMsg};

#[derive(Debug)]
pub enum Msg {
    /// A key, mouse or resize event from the terminal.
    Input(Event),
    /// A background decode finished (it may be stale; the browser checks).
    Image(Box<Decoded>),
    /// Files under the dataset folder changed on disk (paths are absolute).
    FsChanged(Vec<PathBuf>),
    /// Files in a folder a screen watches changed (the runs home, a run's folder). Every screen
    /// that watches looks, none takes it.
    Watched(Vec<PathBuf>),
    /// The folder watcher failed; the message says why.
    WatchError(String),
    /// A screen's background job reported.
    Job(JobMsg),
    /// SIGHUP, SIGTERM or SIGINT arrived.
    Signal(i32),
}

impl From<JobMsg> for Msg {
    fn from(m: JobMsg) -> Msg {
        Msg::Job(m)
    }
}

impl From<Decoded> for Msg {
    fn from(d: Decoded) -> Msg {
        Msg::Image(Box::new(d))
    }
}

impl Carrier for Msg {
    fn job_slot(&self) -> Option<u64> {
        match self {
            Msg::Job(m) => Some(m.slot),
            _ => None,
        }
    }

    fn into_job(self) -> Option<JobMsg> {
        match self {
            Msg::Job(m) => Some(m),
            _ => None,
        }
    }
}
