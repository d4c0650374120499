//! Watching the dataset folder so captions and images changed by other programs are seen.

use std::path::Path;
use std::sync::mpsc::Sender;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::msg::Msg;

/// Starts a recursive watcher on `root`. Keep the returned watcher alive; `None` (with a
/// [`Msg::WatchError`] sent) when the platform refuses, and the workbench runs without it.
pub fn watch(root: &Path, tx: Sender<Msg>) -> Option<RecommendedWatcher> {
    let events = tx.clone();
    let watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if !matches!(ev.kind, EventKind::Access(_)) => {
                let _ = events.send(Msg::FsChanged(ev.paths));
            }
            Ok(_) => {}
            Err(e) => {
                let _ = events.send(Msg::WatchError(e.to_string()));
            }
        });
    let started = watcher.and_then(|mut w| w.watch(root, RecursiveMode::Recursive).map(|()| w));
    match started {
        Ok(w) => Some(w),
        Err(e) => {
            let _ = tx.send(Msg::WatchError(e.to_string()));
            None
        }
    }
}
