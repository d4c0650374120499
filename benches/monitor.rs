//! Run monitor and Runs screen benchmarks (issue 12; figures in BENCHMARKS.md).
//! Run: `cargo bench --bench monitor` (release: the dev profile leaves lorabench unoptimised).
//!
//! 1. The loss chart: one frame of the monitor's chart (raw band, moving average, learning
//!    rate; a 120x32 cell area) over 2 million points, against the same over 2 thousand.
//!    Median of 200 frames each. Targets: under 2 ms, and within 20 % of the 2-thousand frame.
//!    Three cases: the frames a monitor draws while no point arrives (the machine sample each
//!    second, keys), which reuse the columns kept in the chart's cache; a frame after each new
//!    point of the followed run (only the last columns are computed again); and a frame with
//!    every column computed (the first one, or after a zoom or scroll).
//! 2. The Runs screen over 500 run folders (400 finished, 100 live: their trainer and
//!    supervisor are this process, so the core sees live runs), each with run.yaml,
//!    status.json, a train.log and a 200-point metrics.jsonl written by the core's own types:
//!    from opening the screen to its first frame drawn. Median of 7. Target: under 50 ms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::ffi::OsString;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lorabench::dataset::{Journal, ScanOptions, scan};
use lorabench::train::TrainerId;
use lorabench::train::metrics::series::{Series, ema};
use lorabench::train::progress::LogFormat;
use lorabench::train::run::manifest::{Arg, Manifest, args};
use lorabench::train::run::proc::ProcRef;
use lorabench::train::run::summary::ReadOptions;
use lorabench::train::run::{Home, RunId, State, Status};
use lorabench::tui::app::App;
use lorabench::tui::screens::runs::RunsScreen;
use lorabench::tui::theme::Theme;
use lorabench::tui::widgets::loss_chart::{self, Data, View};
use lorabench::tui::widgets::panel::panel;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui_image::picker::Picker;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A falling, noisy loss over `n` steps, its moving average, and a cosine learning rate.
fn series(n: u64) -> (Series, Series, Series) {
    let (mut loss, mut avg, mut lr) = (Series::new(), Series::new(), Series::new());
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for step in 1..=n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let t = step as f64 / n as f64;
        let v = 0.02 + 0.1 * (-4.0 * t).exp() + 0.01 * noise;
        loss.push(step, v);
        avg.push(step, ema(avg.last().map(|(_, a)| a), v, 0.05));
        lr.push(step, 1e-4 * (0.5 + 0.5 * (std::f64::consts::PI * t).cos()));
    }
    (loss, avg, lr)
}

/// Which frames are timed.
#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// Nothing new since the last frame (the machine sample each second, a key).
    Redraw,
    /// A new point of the followed run before each frame (the chart's end moves with it).
    NewPoint,
    /// Every column computed (the first frame, or one after a zoom or scroll).
    Cold,
}

/// The median frame over `n` points.
fn chart_frame(n: u64, kind: Frame) -> Duration {
    let (mut loss, mut avg, mut lr) = series(n);
    let t = Theme::builtin("dark").unwrap();
    let mut term = Terminal::new(TestBackend::new(120, 32)).unwrap();
    let mut times = Vec::new();
    let mut cache = loss_chart::Cache::default();
    let mut hi = n;
    for _ in 0..220 {
        match kind {
            Frame::Redraw => {}
            Frame::NewPoint => {
                hi += 1;
                let v = loss.last().unwrap().1 * 0.999_99;
                loss.push(hi, v);
                avg.push(hi, ema(avg.last().map(|(_, a)| a), v, 0.05));
                lr.push(hi, lr.last().unwrap().1);
            }
            Frame::Cold => cache = loss_chart::Cache::default(),
        }
        let data = Data {
            loss: &loss,
            ema: &avg,
            lr: &lr,
        };
        let view = View {
            lo: 1,
            hi,
            log: false,
            ema: true,
        };
        let start = Instant::now();
        term.draw(|f| {
            let block = panel(Line::from(" Loss "), false, &t);
            loss_chart::draw(f, f.area(), block, &data, view, &mut cache, &t);
        })
        .unwrap();
        times.push(start.elapsed());
    }
    // The first frames warm the caches and the allocator.
    median(times.split_off(20))
}

fn write_run(home: &Home, i: usize, live: bool) {
    let id = format!("20261201-{:06}-{:04x}", 100_000 + i, i);
    let dir = home.run_dir(&RunId(id.clone()));
    std::fs::create_dir_all(dir.join("output")).unwrap();
    Manifest {
        schema: lorabench::train::run::manifest::SCHEMA,
        id: id.clone(),
        name: format!("bench run {i}"),
        trainer: TrainerId::Command,
        created_at: 1_796_119_200.0 + i as f64,
        dataset: None,
        program: Arg::Text("python3".into()),
        args: args(&[OsString::from("trainer.py")]),
        env: vec![],
        cwd: dir.clone(),
        output_dir: dir.join("output"),
        metrics_dir: None,
        total_steps: Some(200),
        log_format: LogFormat::Tqdm,
        gpus: vec![(i % 8) as u32],
        devices: vec![format!("gpu-{}", i % 8)],
        queue: false,
        on_finish: vec![],
        attached: None,
        resumed_from: None,
        config: "backend: command\n".into(),
    }
    .write(&dir)
    .unwrap();
    let mut metrics = std::fs::File::create(dir.join("metrics.jsonl")).unwrap();
    for step in 1..=200 {
        writeln!(
            metrics,
            "{{\"step\":{step},\"total\":200,\"loss\":{:.4},\"lr\":0.0001,\"rate\":9.8}}",
            0.1 / step as f64
        )
        .unwrap();
    }
    std::fs::write(dir.join("train.log"), "steps: 100%|##########| 200/200\n").unwrap();
    let mut s = Status::new(if live {
        State::Running
    } else {
        State::Succeeded
    });
    s.created_at = 1_796_119_200.0 + i as f64;
    s.started_at = Some(s.created_at + 1.0);
    if live {
        s.trainer = ProcRef::me();
        s.supervisor = ProcRef::me();
    } else {
        s.exit_code = Some(0);
        s.finished_at = Some(s.created_at + 120.0);
    }
    s.write(&dir).unwrap();
}

fn runs_first_frame() -> Vec<Duration> {
    let tmp = tempfile::tempdir().unwrap();
    let home = Home::at(tmp.path().join("home"));
    for i in 0..500 {
        write_run(&home, i, i % 5 == 0);
    }
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut times = Vec::new();
    for _ in 0..7 {
        let dataset = scan(&data, &ScanOptions::default()).unwrap();
        let journal = Journal::open(&data).map(|(j, _)| j);
        let (tx, _rx) = mpsc::channel();
        let mut app = App::new(
            dataset,
            journal,
            Theme::builtin("dark").unwrap(),
            &Picker::halfblocks(),
            tx,
            Rect::new(0, 0, 160, 48),
        );
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        let opts = ReadOptions {
            stall_after: Duration::from_secs(3_600),
        };
        let h = home.clone();
        let start = Instant::now();
        app.open(move |ctx| Box::new(RunsScreen::new(ctx, h, opts)));
        term.draw(|f| app.draw(f)).unwrap();
        times.push(start.elapsed());
        let listed = app.screen::<RunsScreen>().unwrap().ids().len();
        assert_eq!(listed, 500);
    }
    times
}

fn main() {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (what, kind) in [
        ("redraw", Frame::Redraw),
        ("after a new point", Frame::NewPoint),
        ("every column computed", Frame::Cold),
    ] {
        let small = chart_frame(2_000, kind);
        let big = chart_frame(2_000_000, kind);
        println!(
            "loss chart frame (120x32), {what}: 2,000 points {:.3} ms, 2,000,000 points {:.3} ms ({:+.1} %); target < 2 ms and within 20 %",
            ms(small),
            ms(big),
            (big.as_secs_f64() / small.as_secs_f64() - 1.0) * 100.0
        );
    }
    let times = runs_first_frame();
    let min = *times.iter().min().unwrap();
    println!(
        "Runs screen, 500 run folders (100 live), open to first frame: median {:.1} ms, min {:.1} ms; target < 50 ms",
        ms(median(times)),
        ms(min)
    );
}
