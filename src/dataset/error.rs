//! Typed errors of the dataset core. Each names the file and, where it helps, what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read dataset folder {path}: {source} (check that it exists and is readable)")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write {path}: {source} (a change needs write access to the dataset folder; looking needs none)"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "journal entry {path} is damaged: {message} (move it aside to continue; the captions themselves are untouched)"
    )]
    Journal { path: PathBuf, message: String },
    #[error(
        "{path} changed on disk since lorabench last wrote it; not overwriting it (reload, or use --force)"
    )]
    Conflict { path: PathBuf },
    #[error("{path} already exists; not overwriting it")]
    Exists { path: PathBuf },
    #[error("{path} is not UTF-8 text; lorabench will not rewrite it (lint can re-encode it)")]
    NotEditable { path: PathBuf },
    #[error("{path} is missing")]
    Missing { path: PathBuf },
    #[error(
        "another lorabench is changing this dataset ({path} is locked); try again when it is done"
    )]
    Locked { path: PathBuf },
    #[error("invalid pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

impl DatasetError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.into(),
            source,
        }
    }

    /// A failed write (or create), named by the file the user knows.
    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DatasetError::Write {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
