//! The monitor's machine panel against a stand-in `nvidia-smi` on PATH that answers with
//! recorded real output (tests/fixtures/nvidia_smi, its README names the recording). NVML
//! cannot run here; on a box where it loads, NVML answers first and this test says so and
//! checks nothing of the stand-in. Then the stand-in fails as nvidia-smi does after a driver
//! reset, and the panel must say so while the rest draws on, and recover when it answers.
//! One test in this binary: it sets PATH for the process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

mod tui_support;

use std::time::{Duration, Instant};

use tui_support::runs::{opts, runs_home};
use tui_support::*;

use lorabench::monitor::gpu;
use lorabench::train::run::RunId;
use lorabench::tui::screens::monitor::MonitorScreen;

/// The machine panel's rows (the right-hand column of the monitor's middle band).
fn machine_panel(screen: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines.iter().position(|l| l.contains("╭ Machine")).unwrap();
    let at = lines[top].find("╭ Machine").unwrap();
    let col = lines[top][..at].chars().count();
    lines[top + 1..]
        .iter()
        .take_while(|l| l.chars().nth(col) != Some('╰'))
        .map(|l| l.chars().skip(col + 1).take_while(|c| *c != '│').collect())
        .collect()
}

#[test]
fn the_gpu_panel_reads_a_recorded_nvidia_smi() {
    let stand_in =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nvidia_smi");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![stand_in];
    dirs.extend(std::env::split_paths(&path));
    let reset = tempfile::tempdir().unwrap();
    let gone = reset.path().join("driver-gone");
    // SAFETY: the only test in this binary, run before any thread of it starts.
    unsafe {
        std::env::set_var("PATH", std::env::join_paths(dirs).unwrap());
        std::env::set_var("LB_SMI_GONE", &gone);
    }
    if gpu::Sampler::open().has_nvml() {
        eprintln!(
            "NVML loads on this box: it answers before nvidia-smi; the stand-in is not asked"
        );
        return;
    }
    let report = gpu::probe();
    assert_eq!(report.source, gpu::Source::NvidiaSmi, "{report:?}");
    assert_eq!(report.driver.as_deref(), Some("440.64"));
    let g = &report.gpus[0];
    assert_eq!((g.index, g.name.as_str()), (0, "GeForce RTX 2080"));
    assert_eq!(g.memory_total, Some(7979 << 20));
    assert_eq!(g.memory_used, None, "[N/A] is unknown");
    assert_eq!((g.utilization, g.temperature_c), (Some(86), Some(45)));
    assert_eq!(g.power_w, Some(176.98));

    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let mut h = open(&root);
    let id = RunId("20261201-100000-0a01".into());
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home, id, opts())));
    // Two samples, a second apart: the utilisation sparkline has two cells.
    let mut panel = wait_for_panel(&mut h, |p| {
        p.iter().any(|l| l.contains("86%") && l.contains("▇▇"))
    });
    let text = panel.join("\n");
    assert!(text.contains("gpu0 GeForce RTX 2080"), "{text}");
    assert!(text.contains("45°C · 177 W"), "{text}");
    assert!(text.contains("vram ?/7.8G"), "{text}");
    assert!(
        panel
            .iter()
            .any(|l| l.contains("util 86%") && l.contains("▇▇")),
        "{text}"
    );
    assert!(
        text.contains("cpu ") && text.contains("ram ") && text.contains("disk "),
        "{text}"
    );

    // The driver goes away (a reset): the panel says what nvidia-smi said; the rest of the
    // monitor keeps drawing. When it answers again, the GPU is back.
    std::fs::write(&gone, b"").unwrap();
    panel = wait_for_panel(&mut h, |p| p.join(" ").contains("couldn't communicate"));
    let text = panel.join("\n");
    assert!(text.contains("gpu0 GeForce RTX 2080 lost"), "{text}");
    assert!(!text.contains("util 86%"), "no stale figures: {text}");
    assert!(p_joined(&panel).contains("exit status: 9"), "{text}");
    assert!(text.contains("cpu ") && text.contains("ram "), "{text}");
    assert!(
        h.draw().to_string().contains("Loss"),
        "the chart is still drawn"
    );
    std::fs::remove_file(&gone).unwrap();
    panel = wait_for_panel(&mut h, |p| p.join(" ").contains("util 86%"));
    let text = panel.join(" ");
    assert!(
        !text.contains("couldn't communicate") && !text.contains("lost"),
        "{panel:?}"
    );
}

/// Feeds the app its messages and redraws until the machine panel passes `done`, for up to
/// 20 s (the sampler runs at 1 Hz); the last panel either way.
fn wait_for_panel(h: &mut Harness, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(m) = h.rx.recv_timeout(Duration::from_millis(50)) {
            h.app.update(m);
        }
        let panel = machine_panel(&h.draw().to_string());
        if done(&panel) || Instant::now() > deadline {
            return panel;
        }
    }
}

/// The panel's rows as one line: its reasons wrap at any word.
fn p_joined(panel: &[String]) -> String {
    panel.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
}
