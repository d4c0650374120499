//! Which run holds which device. One lock file per device under `HOME/locks/`, held with
//! flock(2) by the supervisor for as long as its trainer runs: the kernel drops a lock when its
//! holder dies, so a crashed run never keeps a GPU, and two launches racing for one device
//! cannot both get it. A box with no GPU has one implicit device, `cpu`, so CPU runs queue too.
//! The lock is inherited by the trainer, so a trainer whose supervisor was killed still holds it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use super::{Home, RunError};

/// The devices a run locks: the GPU ids it asked for; with none, every GPU the machine has
/// (the trainer may use any of them), or `cpu` when there is none.
pub fn devices_for(gpus: &[u32], gpu_count: usize) -> Vec<String> {
    let mut ids: Vec<u32> = if gpus.is_empty() {
        (0..gpu_count as u32).collect()
    } else {
        gpus.to_vec()
    };
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return vec!["cpu".into()];
    }
    ids.iter().map(|i| format!("gpu-{i}")).collect()
}

/// Locks held for one run; dropping them frees the devices.
#[derive(Debug)]
pub struct Held {
    files: Vec<File>,
}

impl Held {
    /// Lets a child started next inherit the locks (std opens files close-on-exec).
    pub fn inherit_into_children(&self) {
        for f in &self.files {
            // SAFETY: fcntl on a descriptor this struct owns; clearing FD_CLOEXEC changes no memory.
            unsafe {
                libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0);
            }
        }
    }
}

/// Tries to lock every device at once. On a busy one, nothing stays locked and the error names
/// the run that holds it.
pub fn try_lock(home: &Home, devices: &[String], run_id: &str) -> Result<Held, RunError> {
    let dir = home.locks_dir();
    fs::create_dir_all(&dir).map_err(|e| RunError::io(&dir, e))?;
    let mut files = Vec::with_capacity(devices.len());
    for device in devices {
        let path = dir.join(format!("{device}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| RunError::io(&path, e))?;
        // SAFETY: flock on a descriptor we own.
        let got = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !got {
            return Err(RunError::Busy {
                device: device.clone(),
                holder: holder(&mut file),
            });
        }
        // Name the holder for whoever finds the device busy.
        let named = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{run_id}"));
        named.map_err(|e| RunError::io(&path, e))?;
        files.push(file);
    }
    Ok(Held { files })
}

fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.read_to_string(&mut s);
    match s.trim() {
        "" => "another run".into(),
        id => id.to_string(),
    }
}

/// The run holding `device`, if it is held.
pub fn holder_of(home: &Home, device: &str) -> Option<String> {
    let path = home.locks_dir().join(format!("{device}.lock"));
    let mut file = File::open(&path).ok()?;
    if is_free(&path) {
        return None;
    }
    Some(holder(&mut file))
}

fn is_free(path: &Path) -> bool {
    let Ok(f) = File::open(path) else {
        return true;
    };
    // SAFETY: flock on a descriptor we own; released when `f` closes.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_device_is_every_gpu_or_the_cpu() {
        assert_eq!(devices_for(&[], 0), ["cpu"]);
        assert_eq!(devices_for(&[], 2), ["gpu-0", "gpu-1"]);
        assert_eq!(devices_for(&[3, 1, 3], 0), ["gpu-1", "gpu-3"]);
    }

    #[test]
    fn a_held_device_is_refused_naming_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let devs = devices_for(&[0, 1], 0);
        let held = try_lock(&home, &devs, "run-a").unwrap();
        match try_lock(&home, &devices_for(&[1], 0), "run-b") {
            Err(RunError::Busy { device, holder }) => {
                assert_eq!((device.as_str(), holder.as_str()), ("gpu-1", "run-a"));
            }
            other => panic!("expected busy, got {other:?}"),
        }
        assert_eq!(holder_of(&home, "gpu-0").as_deref(), Some("run-a"));
        drop(held);
        assert_eq!(holder_of(&home, "gpu-0"), None);
        try_lock(&home, &devs, "run-b").unwrap();
    }
}
