//! Watching folders with notify: the dataset folder, so captions and images changed by other
//! programs are seen; and the folders a screen follows (the runs home, a run's files).

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::msg::Msg;

/// Starts a recursive watcher on `root`. Keep the returned watcher alive; `None` (with a
/// [`Msg::WatchError`] sent) when the platform refuses, and the workbench runs without it.
pub fn watch(root: &Path, tx: Sender<Msg>) -> Option<RecommendedWatcher> {
    let started = watcher(tx.clone(), Msg::FsChanged)
        .and_then(|mut w| w.watch(root, RecursiveMode::Recursive).map(|()| w));
    match started {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = tx.send(Msg::WatchError(e.to_string()));
            None
        }
    }
}

/// A watcher with nothing watched yet whose changes arrive as `wrap(paths)` (access events
/// left out), and its failures as [`Msg::WatchError`].
pub fn watcher(
    tx: Sender<Msg>,
    wrap: fn(Vec<PathBuf>) -> Msg,
) -> notify::Result<RecommendedWatcher> {
    notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) if !matches!(ev.kind, EventKind::Access(_)) => {
            let _ = tx.send(wrap(ev.paths));
        }
        Ok(_) => {}
        Err(e) => {
            let _ = tx.send(Msg::WatchError(e.to_string()));
        }
    })
}
