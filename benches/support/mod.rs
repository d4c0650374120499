//! Shared by the benches that time a child process against a reference.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A finished child process.
pub struct Measured {
    pub wall_s: f64,
    /// The child's own peak resident set (VmHWM), in MiB.
    pub peak_rss_mib: f64,
    pub stdout: String,
    pub status: ExitStatus,
}

/// Runs `cmd` with stdout captured, sampling the child's peak RSS (`VmHWM` in
/// /proc/PID/status, every 5 ms, a high-water mark so no peak is missed but one in the last
/// 5 ms) until it exits. wait4's `ru_maxrss` cannot be used: Linux carries the parent's
/// high-water mark into a spawned child across exec, so a child would report the bench's own
/// peak whenever that is larger.
pub fn measure(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| vm_hwm_kib(&s))
        {
            peak_kib = peak_kib.max(kib);
        }
        match child.try_wait().expect("wait for the child") {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let wall_s = start.elapsed().as_secs_f64();
    Measured {
        wall_s,
        peak_rss_mib: peak_kib as f64 / 1024.0,
        stdout: reader.join().unwrap_or_default(),
        status,
    }
}

/// The `VmHWM:` line of /proc/PID/status, in KiB.
pub fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
