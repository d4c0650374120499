//! Watching folders with notify: the dataset folder, so captions and images changed by other
//! programs are seen; and the folders a screen follows (the runs home, a run's files).

use std::collections::BTreeSet;
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

/// Folders watched one level each by a thread of their own: adding a watch is a round trip to
/// notify's event thread, and a Runs screen over hundreds of run folders would otherwise wait
/// tens of milliseconds for them before its first frame. Once new folders are watched they are
/// reported as changed, so what changed in them before the watch is read again. Dropping this
/// stops the thread and its watches.
pub struct Folders {
    want: std::sync::mpsc::Sender<BTreeSet<PathBuf>>,
}

impl Folders {
    /// Changes under the folders arrive as `wrap(paths)`, failures as [`Msg::WatchError`].
    pub fn start(tx: Sender<Msg>, wrap: fn(Vec<PathBuf>) -> Msg) -> notify::Result<Folders> {
        let mut w = watcher(tx.clone(), wrap)?;
        let (want, rx) = std::sync::mpsc::channel::<BTreeSet<PathBuf>>();
        std::thread::Builder::new()
            .name("watch-folders".into())
            .spawn(move || {
                let mut watched = BTreeSet::new();
                // Only the newest wish counts when several are waiting.
                while let Ok(mut next) = rx.recv() {
                    while let Ok(newer) = rx.try_recv() {
                        next = newer;
                    }
                    for gone in watched.difference(&next) {
                        let _ = w.unwatch(gone);
                    }
                    let added: Vec<PathBuf> = next
                        .iter()
                        .filter(|d| {
                            !watched.contains(*d) && w.watch(d, RecursiveMode::NonRecursive).is_ok()
                        })
                        .cloned()
                        .collect();
                    watched.retain(|d| next.contains(d));
                    watched.extend(added.iter().cloned());
                    if !added.is_empty() && tx.send(wrap(added)).is_err() {
                        return;
                    }
                }
            })
            .map_err(notify::Error::io)?;
        Ok(Folders { want })
    }

    /// Watch exactly these folders from now on (done in the background).
    pub fn set(&self, folders: BTreeSet<PathBuf>) {
        let _ = self.want.send(folders);
    }
}
