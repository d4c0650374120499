//! The Runs screen and the run monitor on run folders written by the runs core: run.yaml and
//! status.json through its types, metrics.jsonl and events.jsonl by the supervisor's own log
//! follower replaying `train.log`s recorded from the real tqdm (tests/fixtures/runs_tui, made
//! by its record.sh). A run that is "running" has this test process as its trainer and
//! supervisor, so the core sees a live run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

use crate::tui_support;

use std::time::{Duration, Instant};

use ratatui::crossterm::event::KeyCode;
use tui_support::runs::{T0, make, opts, recording, runs_home};
use tui_support::*;

use lorabench::train::run::{Home, RunId, State, Status};
use lorabench::tui::msg::Msg;
use lorabench::tui::screens::monitor::MonitorScreen;
use lorabench::tui::screens::runs::RunsScreen;

fn open_runs(h: &mut Harness, home: &Home) {
    let home = home.clone();
    h.app
        .open(|ctx| Box::new(RunsScreen::new(ctx, home, opts())));
}

#[test]
fn the_runs_screen_lists_every_run_newest_first() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let mut h = open(&root);
    open_runs(&mut h, &home);
    assert_eq!(h.app.mode(), "runs");
    let s = h.app.screen::<RunsScreen>().unwrap();
    assert_eq!(
        s.ids(),
        [
            "20261201-140000-0e05",
            "20261201-130000-0d04",
            "20261201-120000-0c03",
            "20261201-110000-0b02",
            "20261201-100000-0a01"
        ]
    );
    let screen = h.draw().to_string();
    // The runs folder is a temp dir.
    insta::with_settings!({filters => vec![(r"/\S*/home/runs", "[HOME]/runs")]}, {
        insta::assert_snapshot!("runs_screen", screen);
    });
    // The failed run shows its reason on its row where the width leaves room for it.
    h.app
        .update(Msg::Input(ratatui::crossterm::event::Event::Resize(
            160, 30,
        )));
    h.terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 30)).unwrap();
    let screen = h.draw().to_string();
    let row = screen.lines().find(|l| l.contains("crashing run")).unwrap();
    assert!(row.contains("ValueError: boom at step 37"), "{row}");
}

#[test]
fn stop_asks_first_and_leaving_it_keeps_the_run() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let mut h = open(&root);
    open_runs(&mut h, &home);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('j'));
    assert_eq!(
        h.app
            .screen::<RunsScreen>()
            .unwrap()
            .current()
            .unwrap()
            .name,
        "live run"
    );
    h.key(KeyCode::Char('s'));
    assert_eq!(h.app.mode(), "runs-stop");
    let screen = h.draw().to_string();
    assert!(
        screen.contains("Stop run 20261201-120000-0c03?"),
        "{screen}"
    );
    // The trainer is this test: saying no must leave it alone.
    h.key(KeyCode::Char('n'));
    assert_eq!(h.app.mode(), "runs");
    let status = Status::read(&home.run_dir(&RunId("20261201-120000-0c03".into()))).unwrap();
    assert_eq!(status.state, State::Running);
    // A finished run has nothing to stop: the command says why.
    h.key(KeyCode::Char('G'));
    h.key(KeyCode::Char('s'));
    assert_eq!(h.app.mode(), "runs");
    assert!(h.app.status.clone().unwrap().text.contains("not running"));
}

/// Feeds the app its messages until `done` holds.
fn pump(h: &mut Harness, what: &str, mut done: impl FnMut(&mut Harness) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(h) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if let Ok(m) = h.rx.recv_timeout(Duration::from_millis(50)) {
            h.app.update(m);
        }
    }
}

#[test]
fn a_run_started_elsewhere_appears_and_rows_follow_their_files() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let mut h = open(&root);
    open_runs(&mut h, &home);
    let done = recording("done.log");
    make(
        &home,
        "20261201-150000-0f06",
        "from the cli",
        &done,
        |s, _| {
            s.state = State::Succeeded;
            s.exit_code = Some(0);
            s.finished_at = Some(T0 + 60.0);
        },
    );
    pump(&mut h, "the new run", |h| {
        h.app.screen::<RunsScreen>().unwrap().ids().first() == Some(&"20261201-150000-0f06")
    });
    // The queued run starts failing: its status changes on disk, its row follows.
    let dir = home.run_dir(&RunId("20261201-130000-0d04".into()));
    let mut s = Status::read(&dir).unwrap();
    s.state = State::Failed;
    s.message = Some("CUDA out of memory".into());
    s.finished_at = Some(T0 + 9.0);
    s.write(&dir).unwrap();
    pump(&mut h, "the changed row", |h| {
        h.draw()
            .to_string()
            .lines()
            .any(|l| l.contains("waiting run") && l.contains("failed"))
    });
}

#[test]
fn the_monitor_shows_progress_chart_files_and_log() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let out = home
        .run_dir(&RunId("20261201-110000-0b02".into()))
        .join("output");
    std::fs::write(out.join("lora-000010.safetensors"), b"not a LoRA at all").unwrap();
    std::fs::write(out.join("sample-000010.png"), b"not an image").unwrap();
    let mut h = open(&root);
    h.app
        .update(Msg::Input(ratatui::crossterm::event::Event::Resize(
            120, 40,
        )));
    h.terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    open_runs(&mut h, &home);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "monitor");
    let screen = h.still();
    insta::assert_snapshot!("monitor_failed_run", screen);
    assert!(screen.contains("step 36/60"), "{screen}");
    assert!(screen.contains("ValueError: boom at step 37"), "{screen}");
    // Zoomed to the latest steps, then back to the whole run.
    h.key(KeyCode::Char('+'));
    let zoomed = h.draw().to_string();
    assert!(
        zoomed.contains("· steps ") && zoomed.contains("–36 "),
        "{zoomed}"
    );
    h.key(KeyCode::Char('0'));
    assert!(!h.draw().to_string().contains("· steps "));
    h.key(KeyCode::Char('q'));
    assert_eq!(h.app.mode(), "runs");
}

#[test]
fn a_torn_metrics_line_is_reported_and_the_rest_is_drawn() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let id = RunId("20261201-100000-0a01".into());
    let metrics = home.run_dir(&id).join("metrics.jsonl");
    let mut text = std::fs::read(&metrics).unwrap();
    text.extend_from_slice(b"garbage\n{\"step\": 61, \"lo");
    std::fs::write(&metrics, text).unwrap();
    let mut h = open(&root);
    let home2 = home.clone();
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home2, id, opts())));
    let screen = h.draw().to_string();
    assert!(screen.contains("metrics.jsonl line"), "{screen}");
    assert!(screen.contains("step 60/60"), "{screen}");
}

/// The harness at `w`x`h`.
fn resize(h: &mut Harness, w: u16, rows: u16) {
    h.app
        .update(Msg::Input(ratatui::crossterm::event::Event::Resize(
            w, rows,
        )));
    h.terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, rows)).unwrap();
}

#[test]
fn at_80x24_the_runs_table_keeps_loss_time_and_gpu() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let mut h = open(&root);
    resize(&mut h, 80, 24);
    open_runs(&mut h, &home);
    let screen = h.draw().to_string();
    insta::with_settings!({filters => vec![(r"/\S*/home/runs", "[HOME]/runs")]}, {
        insta::assert_snapshot!("runs_screen_80x24", screen);
    });
    let head = screen.lines().nth(2).unwrap();
    for col in ["NAME", "STATE", "STEP", "LOSS", "TIME", "GPU"] {
        assert!(head.contains(col), "{col} cut: {head}");
    }
    let done = screen
        .lines()
        .find(|l| l.contains("sdxl style v1"))
        .unwrap();
    assert!(done.contains("0.0169") && done.contains("12m34s"), "{done}");
    // At 40 columns the name, state and step are what is left.
    resize(&mut h, 40, 12);
    let screen = h.draw().to_string();
    let head = screen.lines().nth(2).unwrap();
    assert!(
        head.contains("NAME") && head.contains("STATE") && head.contains("STEP"),
        "{head}"
    );
    assert!(!head.contains("LOSS") && !head.contains('…'), "{head}");
}

/// The monitor on the crashing run, with a checkpoint and a sample in its output folder.
fn monitor_on_crash(w: u16, rows: u16) -> (tempfile::TempDir, tempfile::TempDir, Harness) {
    let (tmp, root) = dataset();
    let (runs, home) = runs_home();
    let out = home
        .run_dir(&RunId("20261201-110000-0b02".into()))
        .join("output");
    std::fs::write(out.join("lora-000010.safetensors"), b"not a LoRA at all").unwrap();
    std::fs::write(out.join("sample-000010.png"), b"not an image").unwrap();
    let mut h = open(&root);
    resize(&mut h, w, rows);
    let id = RunId("20261201-110000-0b02".into());
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home, id, opts())));
    (tmp, runs, h)
}

#[test]
fn at_80x24_the_monitor_fits_and_names_the_checkpoint_step() {
    let (_tmp, _runs, mut h) = monitor_on_crash(80, 24);
    let screen = h.still();
    insta::assert_snapshot!("monitor_80x24", screen);
    let ckpt = screen.lines().find(|l| l.contains("lora-000010")).unwrap();
    assert!(
        ckpt.contains("   10 lora-000010"),
        "the step from the name: {ckpt}"
    );
    assert!(screen.contains("ValueError: boom at step 37"), "{screen}");
}

/// A PNG `w`x`h` fading from `rgb` at the top to black (so half-blocks draw it with `▀`).
fn png(path: &std::path::Path, w: u32, h: u32, rgb: [u8; 3]) {
    image::RgbImage::from_fn(w, h, |_, y| {
        let k = 1.0 - y as f32 / h as f32;
        image::Rgb(rgb.map(|c| (f32::from(c) * k) as u8))
    })
    .save(path)
    .unwrap();
}

#[test]
fn the_samples_panel_browses_by_step_and_prompt_and_side_by_side() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let id = RunId("20261201-100000-0a01".into());
    let out = home.run_dir(&id).join("output");
    // Two prompts of a script of the user's own, every 20 steps (the last step only for one).
    for (step, prompt, rgb) in [
        (20, "cat", [200, 40, 40]),
        (20, "dog", [40, 200, 40]),
        (40, "cat", [220, 60, 60]),
        (40, "dog", [60, 220, 60]),
        (60, "cat", [240, 80, 80]),
    ] {
        png(&out.join(format!("{prompt}_{step:06}.png")), 256, 256, rgb);
    }
    let mut h = open(&root);
    resize(&mut h, 120, 40);
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home, id, opts())));
    let screen = h.still();
    insta::assert_snapshot!("monitor_samples_preview", screen);
    assert!(screen.contains("Samples (5/5)"), "the newest: {screen}");
    assert!(screen.contains("step 60 · cat"), "{screen}");
    assert!(
        screen.contains('▀') || screen.contains('▄'),
        "an image: {screen}"
    );
    h.key(KeyCode::Char('['));
    assert!(h.still().contains("step 40 · cat"));
    h.key(KeyCode::Char('}'));
    assert!(h.still().contains("step 40 · dog"));
    h.key(KeyCode::Char('['));
    h.key(KeyCode::Char('['));
    assert!(h.still().contains("step 20 · dog"), "stops at the oldest");
    h.key(KeyCode::Char(']'));
    // Side by side: the dog prompt's samples up to the one under the cursor, oldest first,
    // where the chart was; nothing drawn over the progress panel above.
    h.key(KeyCode::Char('s'));
    let screen = h.still();
    insta::assert_snapshot!("monitor_samples_side_by_side", screen);
    assert!(screen.contains("dog across steps"), "{screen}");
    let strip = screen.lines().find(|l| l.contains("step 20")).unwrap();
    assert!(strip.contains("step 40"), "{strip}");
    for line in screen.lines().take(4) {
        assert!(!line.contains('▀') && !line.contains('▄'), "{line}");
    }
    h.key(KeyCode::Char('s'));
    assert!(h.still().contains("Loss"));
}

#[test]
fn a_sample_that_does_not_decode_says_so_in_its_panel() {
    let (_tmp, _runs, mut h) = monitor_on_crash(120, 40);
    let screen = h.still();
    assert!(screen.contains("cannot show this image"), "{screen}");
    assert!(screen.contains("step 10"), "its caption: {screen}");
    assert!(
        screen.contains("ValueError: boom at step 37"),
        "the rest still drawn"
    );
}

#[test]
fn enter_on_a_checkpoint_opens_its_inspection() {
    let (_tmp, _runs, mut h) = monitor_on_crash(120, 40);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "lora");
    pump(&mut h, "the inspection", |h| {
        h.app
            .screen::<lorabench::tui::screens::lora::LoraScreen>()
            .unwrap()
            .inspection
            .is_some()
    });
    let s = h
        .app
        .screen::<lorabench::tui::screens::lora::LoraScreen>()
        .unwrap();
    assert!(s.path.ends_with("lora-000010.safetensors"));
    // Not a LoRA: the screen says so, as `lora inspect` does.
    assert!(
        matches!(&s.inspection, Some(Err(_))),
        "{:?}",
        s.inspection.as_ref().map(|r| r.is_ok())
    );
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "monitor");
}

#[test]
fn the_log_search_walks_its_matches_and_the_error_is_marked() {
    let (_tmp, _runs, mut h) = monitor_on_crash(120, 40);
    h.key(KeyCode::Char('/'));
    assert_eq!(h.app.mode(), "prompt");
    h.chars("file");
    let screen = h.draw().to_string();
    assert!(screen.contains("/file 1/1"), "{screen}");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "monitor");
    h.key(KeyCode::Char('n'));
    assert!(h.draw().to_string().contains("/file 1/1"));
    // The line the run failed with is drawn in the error style.
    let buf = h.draw().buffer().clone();
    let (x, y) = find(&buf, "ValueError: boom at step 37").unwrap();
    let theme = lorabench::tui::theme::Theme::builtin("dark").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.error.fg.unwrap());
    // A search with no match says so.
    h.key(KeyCode::Char('/'));
    h.chars("zzz");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('n'));
    assert!(h.app.status.clone().unwrap().text.contains("no match"));
    // Esc in the prompt drops the search.
    h.key(KeyCode::Char('/'));
    h.key(KeyCode::Esc);
    assert!(!h.draw().to_string().contains("/zzz"));
}

/// Where `text` starts in the buffer, looking from the bottom (the log panel) up.
fn find(buf: &ratatui::buffer::Buffer, text: &str) -> Option<(u16, u16)> {
    let w = buf.area.width;
    for y in (0..buf.area.height).rev() {
        let row: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(i) = row.find(text) {
            let x = row[..i].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

#[test]
fn the_built_in_trainers_json_lines_read_as_words_in_the_log() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    // As `lorabench __train-worker` prints them (src/trainer/worker.rs).
    let log = concat!(
        "loading the tiny model\n",
        "{\"step\":1,\"total\":2,\"loss\":0.5,\"lr\":0.0001,\"epoch\":1}\n",
        "{\"kind\":\"checkpoint_saved\",\"path\":\"/o/tiny-step00000001.safetensors\",\"step\":1}\n",
        "{\"step\":2,\"total\":2,\"loss\":0.4,\"lr\":0.0001,\"epoch\":1}\n",
        "saved the last checkpoint\n",
    );
    make(
        &home,
        "20261201-160000-1a07",
        "builtin run",
        log.as_bytes(),
        |s, _| {
            s.state = State::Succeeded;
            s.exit_code = Some(0);
            s.finished_at = Some(T0 + 30.0);
        },
    );
    let mut h = open(&root);
    resize(&mut h, 160, 40);
    let id = RunId("20261201-160000-1a07".into());
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home, id, opts())));
    let screen = h.draw().to_string();
    assert!(!screen.contains("{\"step\""), "{screen}");
    assert!(
        screen.contains("checkpoint saved: tiny-step00000001.safetensors (step 1)"),
        "{screen}"
    );
    assert!(screen.contains("saved the last checkpoint"), "{screen}");
}

#[test]
fn a_live_run_going_quiet_shows_stalled_without_a_file_event() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let quick = lorabench::train::run::summary::ReadOptions {
        stall_after: Duration::from_secs(4),
    };
    let log = home
        .run_dir(&RunId("20261201-120000-0c03".into()))
        .join("train.log");
    let touch = || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, b"\nstill here\n").unwrap();
    };
    touch();
    let mut h = open(&root);
    resize(&mut h, 120, 40);
    let home2 = home.clone();
    h.app
        .open(move |ctx| Box::new(RunsScreen::new(ctx, home2, quick)));
    let live = |h: &mut Harness| {
        h.draw()
            .to_string()
            .lines()
            .find(|l| l.contains("live run"))
            .map(str::to_string)
            .unwrap()
    };
    let row = live(&mut h);
    assert!(!row.contains("stalled"), "fresh at first: {row}");
    pump(&mut h, "stalled on the Runs screen", |h| {
        live(h).contains("stalled")
    });
    // The monitor on it, opened fresh after a new line: it goes quiet under it too.
    touch();
    let id = RunId("20261201-120000-0c03".into());
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home, id, quick)));
    let title = |h: &mut Harness| h.draw().to_string().lines().nth(1).unwrap().to_string();
    assert!(!title(&mut h).contains("stalled"), "{}", title(&mut h));
    pump(&mut h, "stalled in the monitor", |h| {
        title(h).contains("stalled")
    });
}

#[test]
fn a_run_ending_under_the_monitor_says_so_and_notifies() {
    let (_tmp, root) = dataset();
    let (_runs, home) = runs_home();
    let mut h = open(&root);
    let id = RunId("20261201-120000-0c03".into());
    let dir = home.run_dir(&id);
    h.app
        .open(move |ctx| Box::new(MonitorScreen::new(ctx, home, id, opts())));
    assert!(h.app.notices.is_empty());
    let mut s = Status::read(&dir).unwrap();
    s.state = State::Succeeded;
    s.exit_code = Some(0);
    s.finished_at = Some(T0 + 100.0);
    s.write(&dir).unwrap();
    pump(&mut h, "the notice", |h| !h.app.notices.is_empty());
    let (title, _) = &h.app.notices[0];
    assert!(title.contains("live run succeeded"), "{title}");
    assert!(
        h.app
            .status
            .clone()
            .unwrap()
            .text
            .contains("live run succeeded")
    );
}
