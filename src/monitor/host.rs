//! The machine besides its GPUs: how busy the CPUs are (`/proc/stat`, between two looks), the
//! memory (`/proc/meminfo`) and the free disk under a folder (statvfs). Read from the kernel's
//! own files rather than through a crate: three small files, and the rented GPU boxes this is
//! for are Linux. Where a file is missing (another OS, a locked-down container) the figure is
//! unknown, and the rest still answers.

use std::path::Path;

use serde::Serialize;

/// Free space below which a run's output folder is flagged: checkpoints of an SDXL LoRA run
/// add up fast.
pub const LOW_DISK: u64 = 10 << 30;

/// The CPU counters at one moment (clock ticks since boot, all cores together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub total: u64,
    /// What can be had without swapping (`MemAvailable`), not just the unused part.
    pub available: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub free: u64,
    pub total: u64,
}

impl Disk {
    pub fn low(&self) -> bool {
        self.free < LOW_DISK
    }
}

/// One look at the machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    /// Percent of all cores busy since the previous look.
    pub cpu: Option<f64>,
    pub cores: usize,
    pub memory: Option<Memory>,
    pub disk: Option<Disk>,
}

/// Keeps the previous CPU counters, since a busy share needs two looks.
pub struct HostSampler {
    last: Option<CpuTimes>,
}

impl Default for HostSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl HostSampler {
    pub fn new() -> HostSampler {
        HostSampler { last: cpu_times() }
    }

    /// The machine now, with the free disk of the filesystem `folder` is on.
    pub fn sample(&mut self, folder: &Path) -> Host {
        let now = cpu_times();
        let cpu = match (self.last, now) {
            (Some(a), Some(b)) => busy_percent(a, b),
            _ => None,
        };
        if now.is_some() {
            self.last = now;
        }
        Host {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory: std::fs::read_to_string("/proc/meminfo")
                .ok()
                .and_then(|t| parse_meminfo(&t)),
            disk: disk(folder),
        }
    }
}

fn cpu_times() -> Option<CpuTimes> {
    parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal (guest time
/// is counted in user already). Idle and iowait are not busy.
fn parse_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if f.len() < 4 {
        return None;
    }
    let total: u64 = f.iter().sum();
    let idle = f[3] + f.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle,
        total,
    })
}

fn busy_percent(a: CpuTimes, b: CpuTimes) -> Option<f64> {
    let total = b.total.checked_sub(a.total).filter(|t| *t > 0)?;
    let busy = b.busy.saturating_sub(a.busy);
    Some((busy as f64 * 100.0 / total as f64).min(100.0))
}

/// `MemTotal` and `MemAvailable` (in kB in the file).
fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Memory {
        total: field("MemTotal")?,
        available: field("MemAvailable")?,
    })
}

/// Free and total space of the filesystem `path` is on; a folder that does not exist yet is
/// asked about through the nearest one that does.
pub fn disk(path: &Path) -> Option<Disk> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: statvfs writes into the buffer we pass and reads the NUL-terminated path.
    let s = unsafe {
        if libc::statvfs(c.as_ptr(), s.as_mut_ptr()) != 0 {
            return None;
        }
        s.assume_init()
    };
    let block = s.f_frsize as u64;
    Some(Disk {
        free: s.f_bavail as u64 * block,
        total: s.f_blocks as u64 * block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_busy_share_between_two_looks() {
        // Two /proc/stat cpu lines a second apart on a 2-core box (Linux 6.x layout).
        let a = parse_stat("cpu  1000 0 500 8000 100 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let b = parse_stat("cpu  1100 0 550 8040 110 0 0 0 0 0\n").unwrap();
        let p = busy_percent(a, b).unwrap();
        assert!((p - 75.0).abs() < 1e-9, "{p}");
        assert_eq!(busy_percent(b, b), None, "no time passed");
        assert_eq!(parse_stat("intr 1 2 3\n"), None);
        assert_eq!(parse_stat("cpu  x y z\n"), None);
    }

    #[test]
    fn meminfo_available_not_free() {
        let text = "MemTotal:       16318784 kB\nMemFree:          512000 kB\nMemAvailable:    8159392 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total, 16_318_784 * 1024);
        assert_eq!(m.available, 8_159_392 * 1024);
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn free_disk_of_a_folder_not_made_yet() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk(&dir.path().join("not/yet")).unwrap();
        assert!(d.total > 0 && d.free <= d.total, "{d:?}");
        assert!(
            Disk {
                free: 1 << 30,
                total: 100 << 30
            }
            .low()
        );
    }
}
