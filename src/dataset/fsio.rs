//! Atomic file writes: a temporary file in the same folder, then a rename, so a reader (or a
//! crash) sees the old bytes or the new bytes, never a mix.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::{DatasetError, Result};

/// The temporary name used for `path`. Deterministic so that recovery can clean it up, and
/// hidden so that a scan never takes it for a caption. Writers hold the journal lock.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.lbtmp"))
}

/// Writes `bytes` to `path` atomically. With `durable`, the data and the folder entry are
/// fsynced before returning; bulk writers pass `false` and sync the file system once at the end.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = temp_path(path);
    let io = |e| DatasetError::write(path, e);
    // Create the temporary file with the permissions of the file it replaces.
    // A new file gets the usual 0o666 less the umask.
    let existing = fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let mode = existing.unwrap_or(0o666);
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io)?;
        // The umask may have narrowed the mode; put back exactly what the file had.
        if let Some(mode) = existing
            && f.metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o7777 != mode)
        {
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(io)?;
        }
        f.write_all(bytes).map_err(io)?;
        if durable {
            f.sync_all().map_err(io)?;
        }
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(e)
    })?;
    if durable {
        sync_dir(path.parent().unwrap_or(Path::new(".")));
    }
    Ok(())
}

/// Makes a rename or a create in `dir` durable. Best effort: some file systems refuse it.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Flushes every pending write of the file system holding `path`: one call after a bulk
/// operation instead of one fsync per file.
pub fn sync_filesystem(path: &Path) {
    if let Ok(f) = fs::File::open(path) {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which stays open for the call.
        unsafe {
            libc::syncfs(f.as_raw_fd());
        }
    }
}

/// Reads a file, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DatasetError::io(path, e)),
    }
}
