//! The dataset's undo/redo journal (`.lorabench/journal/`).
//!
//! Every change lorabench makes to a dataset is one entry: the old and new bytes of each
//! caption it writes and each move it makes (exclude/include). The protocol, so that a process
//! killed at any moment leaves every file wholly old or wholly new and the next start finishes
//! the job:
//!
//! 1. under an exclusive lock, `state.json` records the entry as pending;
//! 2. the entry file (metadata + all old and new bytes) is written and fsynced;
//! 3. each file is replaced atomically (temporary file + rename);
//! 4. the file system is synced once, and `state.json` moves the head past the entry.
//!
//! Opening the journal after a crash re-applies a pending entry (every step is idempotent:
//! it writes known bytes), or forgets it if its entry file never made it to disk.

use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::fsio::{read_optional, sync_dir, sync_filesystem, temp_path, write_atomic};
use super::paths::JOURNAL_DIR;

/// One change to one file, with paths relative to the dataset root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileOp {
    /// Replace the file's bytes. `None` means "no file": creating a caption has
    /// `before: None`, and undoing that removes the file it created.
    Write {
        path: PathBuf,
        before: Option<Vec<u8>>,
        after: Option<Vec<u8>>,
    },
    /// Move a file, never over an existing one.
    Move { from: PathBuf, to: PathBuf },
}

impl FileOp {
    fn reversed(&self) -> FileOp {
        match self {
            FileOp::Write {
                path,
                before,
                after,
            } => FileOp::Write {
                path: path.clone(),
                before: after.clone(),
                after: before.clone(),
            },
            FileOp::Move { from, to } => FileOp::Move {
                from: to.clone(),
                to: from.clone(),
            },
        }
    }
}

/// What `history` shows of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntrySummary {
    pub id: u64,
    pub description: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    pub files: usize,
    /// Applied (undoable) rather than undone (redoable).
    pub applied: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Action {
    Apply,
    Undo,
    Redo,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct State {
    /// Entries 1..=head are applied; head+1.. can be redone.
    head: u64,
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Pending {
    id: u64,
    action: Action,
}

/// The journal of one dataset. Holds no state of its own: every call locks the journal and
/// reads it from disk, so the TUI and the CLI can work on the same dataset in turn.
#[derive(Debug, Clone)]
pub struct Journal {
    root: PathBuf,
    dir: PathBuf,
}

/// What recovery did when the journal was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    Clean,
    /// An interrupted entry was completed (applied, undone or redone to its end).
    Completed(EntrySummary),
    /// An entry interrupted before any file was touched was dropped.
    Dropped(u64),
}

impl Journal {
    /// Opens the journal of the dataset at `root` and repairs an interrupted entry. Nothing
    /// is created: `.lorabench/journal/` appears with the first change, so looking at a dataset
    /// (even a read-only one) leaves no trace. Only a pending entry needs write access.
    pub fn open(root: &Path) -> Result<(Journal, Recovery)> {
        if let Err(source) = fs::read_dir(root) {
            return Err(DatasetError::Root {
                path: root.to_path_buf(),
                source,
            });
        }
        let journal = Journal {
            root: root.to_path_buf(),
            dir: root.join(JOURNAL_DIR),
        };
        let recovery = if journal.read_state()?.pending.is_some() {
            let _lock = journal.lock()?;
            journal.recover()?
        } else {
            Recovery::Clean
        };
        Ok((journal, recovery))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Applies `ops` as one undoable entry. Each `Write`'s `before` must match the file on
    /// disk (else `Conflict`: someone changed it since the plan was made). Returns the entry id.
    pub fn commit(&self, description: &str, ops: Vec<FileOp>) -> Result<u64> {
        let _lock = self.lock()?;
        self.recover()?;
        let mut state = self.read_state()?;
        self.check(&ops)?;
        for id in self.entry_ids()? {
            if id > state.head {
                let path = self.entry_path(id);
                fs::remove_file(&path).map_err(|e| DatasetError::io(&path, e))?;
            }
        }
        let id = state.head + 1;
        state.pending = Some(Pending {
            id,
            action: Action::Apply,
        });
        self.write_state(&state)?;
        let entry = Entry {
            id,
            description: description.to_string(),
            time: now(),
            ops,
        };
        self.write_entry(&entry)?;
        if let Err(err) = self.apply_ops(&entry.ops) {
            // Put back what was written, forget the entry, report the first error.
            let _ = self.apply_ops(&reverse(&entry.ops));
            let _ = fs::remove_file(self.entry_path(id));
            state.pending = None;
            self.write_state(&state)?;
            return Err(err);
        }
        sync_filesystem(&self.root);
        self.write_state(&State {
            head: id,
            pending: None,
        })?;
        Ok(id)
    }

    /// Undoes the newest applied entry; `None` when there is nothing to undo. Refuses
    /// (`Conflict`) when a file changed since the entry wrote it, unless `force`.
    pub fn undo(&self, force: bool) -> Result<Option<EntrySummary>> {
        self.step(Action::Undo, force)
    }

    /// Redoes the oldest undone entry; `None` when there is nothing to redo.
    pub fn redo(&self, force: bool) -> Result<Option<EntrySummary>> {
        self.step(Action::Redo, force)
    }

    /// What `undo` (or, with `undo: false`, `redo`) would do, without doing it: the entry and
    /// the file ops it would apply. Refuses as the real step would (`Conflict`) unless `force`.
    /// Reads only; a dataset that was never changed has nothing to undo.
    pub fn preview(&self, undo: bool, force: bool) -> Result<Option<(EntrySummary, Vec<FileOp>)>> {
        let state = self.read_state()?;
        let id = match undo {
            true if state.head > 0 => state.head,
            false if self.entry_path(state.head + 1).exists() => state.head + 1,
            _ => return Ok(None),
        };
        let entry = self.read_entry(id)?;
        let ops = if undo {
            reverse(&entry.ops)
        } else {
            entry.ops.clone()
        };
        if !force {
            self.check(&ops)?;
        }
        Ok(Some((entry.summary(!undo), ops)))
    }

    fn step(&self, action: Action, force: bool) -> Result<Option<EntrySummary>> {
        // Nothing to do touches nothing (not even the lock file); checked again under the lock.
        let seen = self.read_state()?;
        let nothing = match action {
            Action::Undo => seen.head == 0 && seen.pending.is_none(),
            _ => !self.entry_path(seen.head + 1).exists() && seen.pending.is_none(),
        };
        if nothing {
            return Ok(None);
        }
        let _lock = self.lock()?;
        self.recover()?;
        let mut state = self.read_state()?;
        let id = match action {
            Action::Undo if state.head > 0 => state.head,
            Action::Redo if self.entry_path(state.head + 1).exists() => state.head + 1,
            _ => return Ok(None),
        };
        let entry = self.read_entry(id)?;
        let ops = match action {
            Action::Undo => reverse(&entry.ops),
            _ => entry.ops.clone(),
        };
        if !force {
            self.check(&ops)?;
        }
        state.pending = Some(Pending { id, action });
        self.write_state(&state)?;
        self.apply_ops(&ops)?;
        sync_filesystem(&self.root);
        let head = if action == Action::Undo { id - 1 } else { id };
        self.write_state(&State {
            head,
            pending: None,
        })?;
        Ok(Some(entry.summary(head >= id)))
    }

    /// All entries, oldest first.
    pub fn history(&self) -> Result<Vec<EntrySummary>> {
        let state = self.read_state()?;
        self.entry_ids()?
            .into_iter()
            .map(|id| Ok(self.read_entry(id)?.summary(id <= state.head)))
            .collect()
    }

    /// Finishes an interrupted entry. Call with the lock held.
    fn recover(&self) -> Result<Recovery> {
        let state = self.read_state()?;
        let Some(p) = state.pending else {
            return Ok(Recovery::Clean);
        };
        if !self.entry_path(p.id).exists() {
            self.write_state(&State {
                head: state.head,
                pending: None,
            })?;
            return Ok(Recovery::Dropped(p.id));
        }
        let entry = self.read_entry(p.id)?;
        let (ops, head) = match p.action {
            Action::Undo => (reverse(&entry.ops), p.id - 1),
            Action::Apply | Action::Redo => (entry.ops.clone(), p.id),
        };
        self.apply_ops(&ops)?;
        sync_filesystem(&self.root);
        self.write_state(&State {
            head,
            pending: None,
        })?;
        Ok(Recovery::Completed(entry.summary(head >= p.id)))
    }

    /// Every `Write` must find its `before` bytes, every `Move` its source and a free target.
    fn check(&self, ops: &[FileOp]) -> Result<()> {
        // Reads every file the entry touches: in parallel, as a bulk edit touches thousands.
        ops.par_iter().try_for_each(|op| match op {
            FileOp::Write { path, before, .. } => {
                let abs = self.root.join(path);
                if read_optional(&abs)? != *before {
                    return Err(DatasetError::Conflict { path: abs });
                }
                Ok(())
            }
            FileOp::Move { from, to } => {
                let (from, to) = (self.root.join(from), self.root.join(to));
                if !from.exists() {
                    return Err(DatasetError::Missing { path: from });
                }
                if to.exists() {
                    return Err(DatasetError::Exists { path: to });
                }
                Ok(())
            }
        })
    }

    /// Applies ops idempotently: writes are atomic replacements with known bytes, and a move
    /// that already happened is done. Writes run in parallel (a bulk edit of 10,000 captions).
    fn apply_ops(&self, ops: &[FileOp]) -> Result<()> {
        ops.par_iter().try_for_each(|op| self.apply(op))
    }

    fn apply(&self, op: &FileOp) -> Result<()> {
        match op {
            FileOp::Write { path, after, .. } => {
                let abs = self.root.join(path);
                match after {
                    Some(bytes) => write_atomic(&abs, bytes, false),
                    None => match fs::remove_file(&abs) {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                        Err(e) => Err(DatasetError::io(&abs, e)),
                    },
                }
                .inspect_err(|_| {
                    let _ = fs::remove_file(temp_path(&abs));
                })
            }
            FileOp::Move { from, to } => {
                let (from, to) = (self.root.join(from), self.root.join(to));
                match (from.exists(), to.exists()) {
                    (false, true) => Ok(()),
                    (true, false) => {
                        if let Some(parent) = to.parent() {
                            fs::create_dir_all(parent).map_err(|e| DatasetError::io(parent, e))?;
                        }
                        fs::rename(&from, &to).map_err(|e| DatasetError::io(&from, e))
                    }
                    (true, true) => Err(DatasetError::Exists { path: to }),
                    (false, false) => Err(DatasetError::Missing { path: from }),
                }
            }
        }
    }

    /// Takes the journal's lock, creating the journal folder: only changes call it.
    fn lock(&self) -> Result<fs::File> {
        fs::create_dir_all(&self.dir).map_err(|e| DatasetError::write(&self.dir, e))?;
        let path = self.dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DatasetError::write(&path, e))?;
        use std::os::fd::AsRawFd;
        // Blocking: another lorabench holding it finishes in well under a second. The lock is
        // released when the returned file is dropped.
        // SAFETY: flock only uses the descriptor, which `file` keeps open.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(DatasetError::Locked { path });
        }
        Ok(file)
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn read_state(&self) -> Result<State> {
        let path = self.state_path();
        match read_optional(&path)? {
            None => Ok(State::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| DatasetError::Journal {
                path,
                message: e.to_string(),
            }),
        }
    }

    fn write_state(&self, state: &State) -> Result<()> {
        let bytes = serde_json::to_vec(state).map_err(|e| DatasetError::Journal {
            path: self.state_path(),
            message: e.to_string(),
        })?;
        write_atomic(&self.state_path(), &bytes, true)
    }

    fn entry_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:08}.entry"))
    }

    fn entry_ids(&self) -> Result<Vec<u64>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(DatasetError::io(&self.dir, e)),
        };
        let mut ids: Vec<u64> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_suffix(".entry")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn write_entry(&self, entry: &Entry) -> Result<()> {
        let path = self.entry_path(entry.id);
        write_atomic(&path, &entry.encode(), true)?;
        sync_dir(&self.dir);
        Ok(())
    }

    fn read_entry(&self, id: u64) -> Result<Entry> {
        let path = self.entry_path(id);
        let bytes = fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
        Entry::decode(&bytes).map_err(|message| DatasetError::Journal { path, message })
    }
}

fn reverse(ops: &[FileOp]) -> Vec<FileOp> {
    ops.iter().rev().map(FileOp::reversed).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An entry on disk: `LBJ1`, a little-endian u64 length, a JSON header, then a blob area that
/// holds every path and every old/new content, referenced from the header as (offset, length).
/// Paths are bytes, so a file name that is not UTF-8 survives.
struct Entry {
    id: u64,
    description: String,
    time: u64,
    ops: Vec<FileOp>,
}

type Span = (u64, u64);

#[derive(Serialize, Deserialize)]
struct Header {
    id: u64,
    description: String,
    time: u64,
    ops: Vec<OpHeader>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OpHeader {
    Write {
        path: Span,
        before: Option<Span>,
        after: Option<Span>,
    },
    Move {
        from: Span,
        to: Span,
    },
}

const MAGIC: &[u8; 4] = b"LBJ1";

impl Entry {
    fn summary(&self, applied: bool) -> EntrySummary {
        EntrySummary {
            id: self.id,
            description: self.description.clone(),
            time: self.time,
            files: self.ops.len(),
            applied,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut blobs: Vec<u8> = Vec::new();
        let mut put = |b: &[u8]| -> Span {
            let off = blobs.len() as u64;
            blobs.extend_from_slice(b);
            (off, b.len() as u64)
        };
        let ops = self
            .ops
            .iter()
            .map(|op| match op {
                FileOp::Write {
                    path,
                    before,
                    after,
                } => OpHeader::Write {
                    path: put(path.as_os_str().as_bytes()),
                    before: before.as_deref().map(&mut put),
                    after: after.as_deref().map(&mut put),
                },
                FileOp::Move { from, to } => OpHeader::Move {
                    from: put(from.as_os_str().as_bytes()),
                    to: put(to.as_os_str().as_bytes()),
                },
            })
            .collect();
        let header = Header {
            id: self.id,
            description: self.description.clone(),
            time: self.time,
            ops,
        };
        // Serialising plain structs of strings and numbers cannot fail.
        let json = serde_json::to_vec(&header).unwrap_or_default();
        let mut out = Vec::with_capacity(12 + json.len() + blobs.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&blobs);
        out
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Entry, String> {
        if bytes.len() < 12 || &bytes[..4] != MAGIC {
            return Err("not a lorabench journal entry".into());
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[4..12]);
        let json_len = usize::try_from(u64::from_le_bytes(len)).map_err(|e| e.to_string())?;
        let json_end = 12usize
            .checked_add(json_len)
            .filter(|&e| e <= bytes.len())
            .ok_or("header length past the end of the file")?;
        let header: Header =
            serde_json::from_slice(&bytes[12..json_end]).map_err(|e| e.to_string())?;
        let blobs = &bytes[json_end..];
        let get = |(off, len): Span| -> std::result::Result<Vec<u8>, String> {
            let start = usize::try_from(off).map_err(|e| e.to_string())?;
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&e| e <= blobs.len())
                .ok_or("content past the end of the file")?;
            Ok(blobs[start..end].to_vec())
        };
        let path = |s: Span| get(s).map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)));
        let ops = header
            .ops
            .into_iter()
            .map(|op| {
                Ok(match op {
                    OpHeader::Write {
                        path: p,
                        before,
                        after,
                    } => FileOp::Write {
                        path: path(p)?,
                        before: before.map(get).transpose()?,
                        after: after.map(get).transpose()?,
                    },
                    OpHeader::Move { from, to } => FileOp::Move {
                        from: path(from)?,
                        to: path(to)?,
                    },
                })
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(Entry {
            id: header.id,
            description: header.description,
            time: header.time,
            ops,
        })
    }
}
