//! The Runs screen and the run monitor on run folders written by the runs core: run.yaml and
//! status.json through its types, metrics.jsonl and events.jsonl by the supervisor's own log
//! follower replaying `train.log`s recorded from the real tqdm (tests/fixtures/runs_tui, made
//! by its record.sh). A run that is "running" has this test process as its trainer and
//! supervisor, so the core sees a live run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

mod tui_support;

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
    let screen = h.draw().to_string();
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
