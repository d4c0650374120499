//! What /proc says about a process: whether it is the one we started (PID reuse guard: the
//! start time in clock ticks after boot, plus the boot id) and whether it is still alive.

use std::fs;

use serde::{Deserialize, Serialize};

/// A process as recorded in `status.json`: its pid and the start time the kernel gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: u32,
    /// Field 22 of /proc/PID/stat (clock ticks after boot).
    pub start_time: u64,
}

/// The kernel's id for this boot; a different one means every recorded process is gone.
pub fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// (state letter, start time) from /proc/PID/stat. The command name may hold spaces and
/// parentheses, so the fields are counted after the last `)`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state come ppid (4) ... starttime (22): 18 more fields.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

impl ProcRef {
    /// The live process `pid`, if there is one.
    pub fn of(pid: u32) -> Option<ProcRef> {
        stat(pid).map(|(_, start_time)| ProcRef { pid, start_time })
    }

    pub fn me() -> Option<ProcRef> {
        ProcRef::of(std::process::id())
    }

    /// True while the very process we recorded runs: same pid, same start time, same boot, and
    /// not a zombie (a zombie has exited; only its parent has not collected the status yet).
    pub fn is_alive(&self, recorded_boot: Option<&str>) -> bool {
        if let (Some(then), Some(now)) = (recorded_boot, boot_id())
            && then != now
        {
            return false;
        }
        matches!(stat(self.pid), Some((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = ProcRef::me().expect("/proc/self");
        assert!(me.is_alive(boot_id().as_deref()));
        let reused = ProcRef {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!reused.is_alive(None));
        assert!(!me.is_alive(Some("another-boot")));
    }
}
