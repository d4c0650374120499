//! Log-parse benchmark: a generated 200 MB kohya console log with 2,100,000 tqdm frames
//! (1,050,000 steps, each drawn twice as sd-scripts does: on the update, then with `avr_loss`),
//! rich log lines glued after frames every 1,000 steps, an `epoch` line every 100,000 and a
//! checkpoint every 50,000, parsed by `lorabench log parse --trainer kohya` against a plain
//! Python regex loop (benches/log_parse_reference.py) over the same file, in the same run.
//! Reports both wall times, the ratio and lorabench's peak RSS (targets: < 2 s, < 64 MB).
//!
//! cargo bench --bench log_parse   (env: LORABENCH_PYTHON, default python3; LOG_BENCH_STEPS)
//! The log is generated into a temporary folder and deleted afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;

mod support;

/// `MM:SS` or `H:MM:SS`, as tqdm formats a duration.
fn duration(s: u64) -> String {
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// tqdm's 10-character bar for a fraction.
fn bar(frac: f64) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (frac * 80.0) as usize;
    let mut s = "█".repeat(eighths / 8);
    if eighths / 8 < 10 {
        s.push(PARTS[eighths % 8]);
        s.push_str(&" ".repeat(10 - eighths / 8 - 1));
    }
    s
}

fn generate(path: &Path, steps: u64) -> (u64, f64) {
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut frame = String::new();
    let rate = 12.5; // steps per second
    let mut last_loss = 0.0;
    writeln!(
        f,
        "running training / 学習開始\n  total optimization steps / 学習ステップ数: {steps}"
    )
    .unwrap();
    write!(f, "\rsteps:   0%|          | 0/{steps} [00:00<?, ?it/s]").unwrap();
    let mut prev_loss = 0.2;
    for n in 1..=steps {
        if n % 100_000 == 1 {
            writeln!(
                f,
                "\nepoch {}/{}\n",
                n / 100_000 + 1,
                steps.div_ceil(100_000)
            )
            .unwrap();
        }
        let elapsed = (n as f64 / rate) as u64;
        let left = ((steps - n) as f64 / rate) as u64;
        let pct = n * 100 / steps;
        let loss = 0.08 + 0.1 / (1.0 + n as f64 / 1000.0) + ((n * 7919 % 1000) as f64) * 1e-5;
        let head = format!(
            "steps: {pct:>3}%|{}| {n}/{steps} [{}<{}, {rate:5.2}it/s",
            bar(n as f64 / steps as f64),
            duration(elapsed),
            duration(left)
        );
        frame.clear();
        write!(
            frame,
            "\r{head}, avr_loss={prev_loss:.3}]\r{head}, avr_loss={loss:.3}]"
        )
        .unwrap();
        f.write_all(frame.as_bytes()).unwrap();
        if n % 1000 == 0 {
            writeln!(
                f,
                "2026-12-01 19:32:30 INFO     generating sample images at step train_util.py:6394\n                             / サンプル画像生成 ステップ: {n}"
            )
            .unwrap();
        }
        if n % 50_000 == 0 {
            writeln!(
                f,
                "\nsaving checkpoint: /runs/r1/output/lora-step{n:08}.safetensors"
            )
            .unwrap();
        }
        prev_loss = loss;
        last_loss = format!("{loss:.3}").parse().unwrap();
    }
    writeln!(f).unwrap();
    f.flush().unwrap();
    (steps, last_loss)
}

fn main() {
    let steps: u64 = std::env::var("LOG_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_050_000);
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("train.log");
    let (steps, last_loss) = generate(&log, steps);
    let size = std::fs::metadata(&log).unwrap().len();
    let frames = 2 * steps;
    println!(
        "log: {:.1} MB, {frames} progress frames, {steps} steps",
        size as f64 / 1e6
    );
    // Warm the page cache so neither side pays for the first read.
    std::fs::read(&log).map(drop).unwrap();

    let bin = env!("CARGO_BIN_EXE_lorabench");
    let ours = support::measure(
        Command::new(bin)
            .args(["log", "parse", "--trainer", "kohya"])
            .arg(&log),
    );
    assert!(ours.status.success(), "lorabench failed: {}", ours.status);
    assert!(
        ours.stdout
            .contains(&format!("{steps} points, steps 1 to {steps} of {steps}")),
        "lorabench found other steps:\n{}",
        ours.stdout
    );
    assert!(
        ours.stdout.contains(&format!("loss {last_loss}")),
        "{}",
        ours.stdout
    );
    println!(
        "lorabench log parse: {:.3} s, peak RSS {:.1} MiB ({:.0} MB/s)",
        ours.wall_s,
        ours.peak_rss_mib,
        size as f64 / 1e6 / ours.wall_s
    );

    let python = std::env::var("LORABENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/log_parse_reference.py");
    let reference = support::measure(Command::new(&python).arg(&script).arg(&log));
    if !reference.status.success() {
        println!(
            "reference did not run ({python}: {}); set LORABENCH_PYTHON",
            reference.status
        );
        return;
    }
    assert!(
        reference
            .stdout
            .starts_with(&format!("points {steps} last_step {steps} ")),
        "the reference found other steps: {}",
        reference.stdout
    );
    println!(
        "python regex loop:   {:.3} s, peak RSS {:.1} MiB",
        reference.wall_s, reference.peak_rss_mib
    );
    println!(
        "ratio python / lorabench: {:.1}x",
        reference.wall_s / ours.wall_s
    );
}
