//! TUI benchmarks (figures in BENCHMARKS-tui.md). Run: `cargo bench --bench tui`.
//!
//! 1. Open a 30-image dataset to the first frame with every caption loaded, against the bare
//!    I/O floor (walk the folder and read every caption with std, nothing else).
//! 2. A generated 10,000-image dataset: first frame (same reference), peak RSS, and
//!    key-to-frame latency while thumbnails decode in the background (p50/p99 against the
//!    16 ms frame budget).
//! 3. The real binary idling in tmux: CPU over ~10 s from /proc/PID/stat, against the 0.5 %
//!    budget (skipped without tmux).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lorabench::dataset::{Journal, ScanOptions, scan};
use lorabench::tui::app::App;
use lorabench::tui::msg::Msg;
use lorabench::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui_image::picker::Picker;

#[allow(dead_code, reason = "this bench only reads its own peak RSS")]
mod support;

const W: u16 = 160;
const H: u16 = 48;

/// `n` small PNGs with captions, spread over two concept folders.
fn generate(root: &Path, n: usize) {
    for f in ["10_subject", "1_reg"] {
        std::fs::create_dir_all(root.join(f)).unwrap();
    }
    let mut encoded = Vec::new();
    for i in 0..n {
        let folder = if i % 4 == 0 { "1_reg" } else { "10_subject" };
        let img = image::RgbImage::from_fn(96, 64, |x, y| {
            image::Rgb([(x * 2 + i as u32) as u8, (y * 3) as u8, (i * 7) as u8])
        });
        encoded.clear();
        img.write_to(
            &mut std::io::Cursor::new(&mut encoded),
            image::ImageFormat::Png,
        )
        .unwrap();
        std::fs::write(root.join(folder).join(format!("img_{i:05}.png")), &encoded).unwrap();
        let caption = format!(
            "lbx, subject, pose {}, light {}, detail {}\n",
            i % 7,
            i % 5,
            i % 11
        );
        std::fs::write(root.join(folder).join(format!("img_{i:05}.txt")), caption).unwrap();
    }
}

/// The reference: what any tool has to do to show captions (walk + read), and no more.
fn io_floor(root: &Path) -> Duration {
    let t = Instant::now();
    let mut bytes = 0usize;
    for e in walkdir::WalkDir::new(root).into_iter().flatten() {
        if e.path().extension().is_some_and(|x| x == "txt") {
            bytes += std::fs::read(e.path()).map(|b| b.len()).unwrap_or(0);
        }
    }
    std::hint::black_box(bytes);
    t.elapsed()
}

struct Opened {
    app: App,
    rx: mpsc::Receiver<Msg>,
    terminal: Terminal<TestBackend>,
    first_frame: Duration,
}

/// Scan, journal, app, first frame: what the user waits for after pressing Enter.
fn open(root: &Path) -> Opened {
    let t = Instant::now();
    let dataset = scan(root, &ScanOptions::default()).unwrap();
    let journal = Journal::open(root).map(|(j, _)| j);
    let (tx, rx) = mpsc::channel();
    let mut app = App::new(
        dataset,
        journal,
        Theme::builtin_dark(),
        &Picker::halfblocks(),
        tx,
        Rect::new(0, 0, W, H),
    );
    app.update(Msg::Input(Event::Resize(W, H)));
    let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
    terminal.draw(|f| app.draw(f)).unwrap();
    let first_frame = t.elapsed();
    assert!(app.dataset.items.iter().all(|i| i.caption.text().is_some()));
    Opened {
        app,
        rx,
        terminal,
        first_frame,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn first_frame_bench(root: &Path, label: &str, budget_ms: f64) {
    let runs = 7;
    let ours = median((0..runs).map(|_| open(root).first_frame).collect());
    let floor = median((0..runs).map(|_| io_floor(root)).collect());
    println!(
        "{label}: first frame {:.1} ms (budget {budget_ms} ms); reference walk+read captions {:.1} ms; ratio {:.2}",
        ours.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        ours.as_secs_f64() / floor.as_secs_f64().max(1e-9)
    );
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    support::vm_hwm_kib(&status).map_or(f64::NAN, |kib| kib as f64 / 1024.0)
}

fn key_latency_bench(root: &Path) {
    let mut o = open(root);
    // Grid view: every key move brings new thumbnails into view, so decodes run all along.
    let grid_key = KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE);
    o.app.update(Msg::Input(Event::Key(grid_key)));
    let mut lat = Vec::new();
    let mut decoded = 0usize;
    for i in 0..2000 {
        let code = if (i / 400) % 2 == 0 {
            KeyCode::Char('j')
        } else {
            KeyCode::Char('k')
        };
        let t = Instant::now();
        o.app.update(Msg::Input(Event::Key(KeyEvent::new(
            code,
            KeyModifiers::NONE,
        ))));
        while let Ok(m) = o.rx.try_recv() {
            decoded += 1;
            o.app.update(m);
        }
        let app = &o.app;
        o.terminal.draw(|f| app.draw(f)).unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "10k key-to-frame (grid, {decoded} thumbnails decoded meanwhile): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; budget 16 ms; p99/budget {:.3}",
        p(0.5),
        p(0.99),
        p(1.0),
        p(0.99) / 16.0
    );
}

/// CPU seconds (utime + stime) of a process, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // sysconf(_SC_CLK_TCK) is 100 on Linux.
    Some(ticks / 100.0)
}

fn idle_bench(root: &Path) {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("idle CPU: skipped (no tmux)");
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_lorabench"));
    let sock = format!("lb-bench-{}", std::process::id());
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-L")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap()
    };
    let cmd = format!(
        "'{}' --image-protocol halfblocks '{}'",
        bin.display(),
        root.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "b",
        "-x",
        "160",
        "-y",
        "48",
        &cmd,
    ]);
    std::thread::sleep(Duration::from_secs(3));
    let pid_out = tmux(&["list-panes", "-t", "b", "-F", "#{pane_pid}"]);
    let pid: Option<u32> = String::from_utf8_lossy(&pid_out.stdout).trim().parse().ok();
    let result = pid.and_then(|pid| {
        let a = cpu_seconds(pid)?;
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(10));
        let b = cpu_seconds(pid)?;
        Some((b - a) / t.elapsed().as_secs_f64() * 100.0)
    });
    tmux(&["kill-server"]);
    match result {
        Some(pct) => println!(
            "idle CPU of the real binary in tmux over 10 s: {pct:.3} % of one core (budget 0.5 %; ratio {:.2})",
            pct / 0.5
        ),
        None => println!("idle CPU: could not read /proc for the pane process"),
    }
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small");
    generate(&small, 30);
    first_frame_bench(&small, "30 images", 50.0);
    idle_bench(&small);

    let big = tmp.path().join("big");
    let t = Instant::now();
    generate(&big, 10_000);
    println!(
        "(generated 10,000 images in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    first_frame_bench(&big, "10,000 images", 500.0);
    key_latency_bench(&big);
    println!(
        "peak RSS after opening 10,000 images and scrolling the grid: {:.0} MB (budget 200 MB)",
        peak_rss_mb()
    );
}
