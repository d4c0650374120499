//! The Lint, Stats/Tags and LoRA screens: snapshots (TestBackend, half-blocks picker) and flows
//! with the real background workers, plus messages injected by hand where order matters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::tui_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::KeyCode;
use tui_support::*;

use lorabench::dataset::lint::{Finding, Kind, Severity};
use lorabench::lora::keys::Format;
use lorabench::tui::screens;
use lorabench::tui::screens::lint::LintScreen;
use lorabench::tui::screens::lora::LoraScreen;
use lorabench::tui::screens::stats::StatsScreen;

const LORA: &str = "tests/fixtures/lora/lora_kohya_meta.safetensors";

fn lint(h: &Harness) -> &LintScreen {
    h.app.screen().expect("the lint screen is not open")
}

fn stats(h: &Harness) -> &StatsScreen {
    h.app.screen().expect("the stats screen is not open")
}

fn lora(h: &Harness) -> &LoraScreen {
    h.app.screen().expect("the LoRA screen is not open")
}

/// Feeds background messages to the app until `done` holds (and images have settled).
fn pump_until(h: &mut Harness, done: impl Fn(&Harness) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(h) {
        assert!(Instant::now() < deadline, "timed out waiting for a worker");
        if let Ok(m) = h.rx.recv_timeout(Duration::from_millis(50)) {
            h.app.update(m);
        }
    }
    h.settle();
}

fn lint_done(h: &mut Harness) {
    pump_until(h, |h| !lint(h).running());
}

fn stats_done(h: &mut Harness) {
    pump_until(h, |h| stats(h).stats.is_some() && !stats(h).running());
}

/// Moves the lint cursor down until it is on a finding of `kind`.
fn select_finding(h: &mut Harness, kind: Kind) {
    for _ in 0..100 {
        if lint(h).current().is_some_and(|f| f.kind == kind) {
            return;
        }
        h.key(KeyCode::Char('j'));
    }
    panic!("no {kind} finding");
}

fn select_tag(h: &mut Harness, tag: &str) {
    h.key(KeyCode::Char('g'));
    for _ in 0..100 {
        if stats(h).current_tag() == Some(tag) {
            return;
        }
        h.key(KeyCode::Char('j'));
    }
    panic!("no tag {tag}");
}

#[test]
fn lint_findings_stream_in_then_show_grouped() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('L'));
    assert_eq!(h.app.mode(), "lint");
    assert!(lint(&h).running());
    // One message at a time, as the event loop would: findings and progress are on screen
    // before the run ends.
    let mut seen_partial = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while lint(&h).running() {
        assert!(Instant::now() < deadline, "lint did not finish");
        if let Ok(m) = h.rx.recv_timeout(Duration::from_millis(50)) {
            h.app.update(m);
            let s = lint(&h);
            if s.running() && !s.findings.is_empty() {
                seen_partial = true;
                let screen = h.draw().to_string();
                assert!(screen.contains("checking:"), "{screen}");
            }
        }
    }
    assert!(seen_partial, "no finding was shown while lint ran");
    let s = lint(&h);
    assert_eq!(s.progress(), (4, 4));
    let missing: Vec<&Finding> = s
        .findings
        .iter()
        .filter(|f| f.kind == Kind::MissingCaption)
        .collect();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].path.ends_with("storm.png"));
    insta::assert_snapshot!(h.screen());
}

#[test]
fn a_rerun_drops_the_earlier_runs_findings() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('L'));
    lint_done(&mut h);
    let once = lint(&h).findings.len();
    assert!(once > 0);
    let generation = lint(&h).generation();
    // Two reruns at once: the first run's messages (and the second's) arrive and are dropped.
    h.key(KeyCode::Char('r'));
    h.key(KeyCode::Char('r'));
    assert_eq!(lint(&h).generation(), generation + 2);
    lint_done(&mut h);
    assert_eq!(
        lint(&h).findings.len(),
        once,
        "only the latest run's findings"
    );
    // The severity filter hides the others.
    h.key(KeyCode::Char('s')); // errors only
    h.key(KeyCode::Char('s')); // warnings only
    let s = lint(&h);
    assert!(
        s.shown()
            .iter()
            .all(|&i| s.findings[i].severity == Severity::Warning)
    );
}

#[test]
fn lint_fix_previews_applies_and_undoes() {
    let (_tmp, root) = dataset();
    let original = "lhx, lighthouse, dawn, dawn, sea\n";
    std::fs::write(root.join("10_lh/dawn.txt"), original).unwrap();
    let mut h = open(&root);
    h.key(KeyCode::Char('L'));
    lint_done(&mut h);
    select_finding(&mut h, Kind::DuplicateTag);
    h.key(KeyCode::Char('f'));
    assert_eq!(h.app.mode(), "preview");
    insta::assert_snapshot!("lint_fix_preview", h.screen());
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        original,
        "nothing written yet"
    );
    h.key(KeyCode::Enter);
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n"
    );
    // The dataset was reloaded and lint runs again: the finding is gone.
    lint_done(&mut h);
    assert!(
        lint(&h)
            .findings
            .iter()
            .all(|f| f.kind != Kind::DuplicateTag)
    );
    // Back in the browser, u takes the fix back.
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "browse");
    h.key(KeyCode::Char('u'));
    assert_eq!(read(&root, "10_lh/dawn.txt"), original);
}

#[test]
fn lint_fix_preview_cancel_writes_nothing() {
    let (_tmp, root) = dataset();
    std::fs::write(root.join("10_lh/night.txt"), "  lighthouse,night ,  stars").unwrap();
    let mut h = open(&root);
    h.key(KeyCode::Char('L'));
    lint_done(&mut h);
    select_finding(&mut h, Kind::Whitespace);
    h.key(KeyCode::Char('f'));
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "lint");
    assert_eq!(
        read(&root, "10_lh/night.txt"),
        "  lighthouse,night ,  stars"
    );
}

#[test]
fn enter_on_a_finding_shows_the_image_clearing_a_hiding_filter() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('/'));
    h.chars("tag:lhx");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().visible.len(), 2);
    h.key(KeyCode::Char('L'));
    lint_done(&mut h);
    select_finding(&mut h, Kind::MissingCaption);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "browse");
    assert_eq!(h.current_name(), "storm.png");
    assert!(h.b().filter_text.is_empty());
}

#[test]
fn stats_view() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('S'));
    assert_eq!(h.app.mode(), "stats");
    stats_done(&mut h);
    let st = stats(&h).stats.as_ref().unwrap();
    assert_eq!(st.images, 4);
    let folder = st.folders.iter().find(|f| f.path == "10_lh").unwrap();
    assert_eq!(
        (folder.repeats, folder.images, folder.per_epoch),
        (10, 4, 40)
    );
    let lighthouse = st.tags.iter().find(|t| t.tag == "lighthouse").unwrap();
    assert_eq!(lighthouse.count, 3);
    insta::assert_snapshot!(h.screen());
}

#[test]
fn tag_sort_and_filter_the_browser_to_a_tag() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('S'));
    stats_done(&mut h);
    // By count: lighthouse (3) first.
    assert_eq!(stats(&h).current_tag(), Some("lighthouse"));
    h.key(KeyCode::Char('s'));
    let names: Vec<String> = stats(&h)
        .stats
        .as_ref()
        .unwrap()
        .tags
        .iter()
        .map(|t| t.tag.clone())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|t| t.to_lowercase());
    assert_eq!(names, sorted);
    assert_eq!(stats(&h).current_tag(), Some("lighthouse"), "cursor kept");
    select_tag(&mut h, "lhx");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "browse");
    assert_eq!(h.b().filter_text, "tag:\"lhx\"");
    assert_eq!(h.b().visible.len(), 2);
}

#[test]
fn tag_rename_everywhere_through_the_journal() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('S'));
    stats_done(&mut h);
    select_tag(&mut h, "lighthouse");
    h.key(KeyCode::Char('r'));
    assert_eq!(h.app.mode(), "form");
    for _ in 0.."lighthouse".len() {
        h.key(KeyCode::Backspace);
    }
    h.chars("tower");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "preview");
    insta::assert_snapshot!("tag_rename_preview", h.screen());
    h.key(KeyCode::Enter);
    assert_eq!(read(&root, "10_lh/dawn.txt"), "lhx, tower, dawn, sea\n");
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, tower, dusk, clouds\r\n"
    );
    assert_eq!(read(&root, "10_lh/night.txt"), "tower, night, stars");
    assert!(!root.join("10_lh/storm.txt").exists());
    // The statistics are recomputed from the new captions.
    pump_until(&mut h, |h| {
        stats(h)
            .stats
            .as_ref()
            .is_some_and(|s| s.tags.iter().any(|t| t.tag == "tower" && t.count == 3))
    });
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('u'));
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n"
    );
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds\r\n"
    );
    assert_eq!(read(&root, "10_lh/night.txt"), "lighthouse, night, stars");
}

#[test]
fn tag_remove_everywhere_is_one_undo_step() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('S'));
    stats_done(&mut h);
    select_tag(&mut h, "lhx");
    h.key(KeyCode::Char('d'));
    assert_eq!(h.app.mode(), "preview");
    h.key(KeyCode::Enter);
    assert_eq!(read(&root, "10_lh/dawn.txt"), "lighthouse, dawn, sea\n");
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lighthouse, dusk, clouds\r\n"
    );
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('u'));
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n"
    );
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds\r\n"
    );
}

/// A dataset plus a copy of the kohya LoRA fixture in a folder named `loras` (fixed names,
/// so the screen is the same on every machine).
fn with_lora() -> (tempfile::TempDir, PathBuf, PathBuf, Harness) {
    let (tmp, root) = dataset();
    let dir = tmp.path().join("loras");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("style.safetensors");
    std::fs::copy(LORA, &file).unwrap();
    let mut h = open(&root);
    h.app
        .open(|ctx| screens::lora::open_file(ctx, file.clone()));
    pump_until(&mut h, |h| lora(h).inspection.is_some());
    (tmp, dir, file, h)
}

#[test]
fn lora_view_shows_the_inspection() {
    let (_tmp, _dir, _file, mut h) = with_lora();
    assert_eq!(h.app.mode(), "lora");
    let i = lora(&h).inspection.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(i.format, Format::Kohya);
    insta::assert_snapshot!(h.screen());
}

fn run_form(h: &mut Harness) {
    h.key(KeyCode::Enter);
    assert!(lora(h).running(), "no job started: {:?}", h.app.status);
    pump_until(h, |h| !lora(h).running());
}

#[test]
fn lora_convert_and_resize_from_the_form() {
    let (_tmp, dir, file, mut h) = with_lora();
    let modules = lorabench::lora::inspect::inspect(&file)
        .unwrap()
        .modules
        .len();
    h.key(KeyCode::Char('c'));
    assert_eq!(h.app.mode(), "form");
    run_form(&mut h);
    assert!(
        matches!(lora(&h).outcome, Some(Ok(_))),
        "{:?}",
        lora(&h).outcome
    );
    let out = lorabench::lora::inspect::inspect(&dir.join("style_converted.safetensors")).unwrap();
    assert_ne!(out.format, Format::Kohya);
    assert_eq!(out.modules.len(), modules);

    h.key(KeyCode::Char('z'));
    h.key(KeyCode::Backspace);
    h.key(KeyCode::Backspace);
    h.chars("2");
    run_form(&mut h);
    assert!(
        matches!(lora(&h).outcome, Some(Ok(_))),
        "{:?}",
        lora(&h).outcome
    );
    let out = lorabench::lora::inspect::inspect(&dir.join("style_resized.safetensors")).unwrap();
    assert_eq!(out.ranks, vec![2]);
    let screen = h.screen();
    assert!(screen.contains("done: "), "{screen}");
}

#[test]
fn lora_form_refuses_bad_input_and_keeps_the_form() {
    let (tmp, _dir, _file, mut h) = with_lora();
    h.key(KeyCode::Char('m'));
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "form", "still open");
    assert!(!lora(&h).running());
    // The output proposed beside the LoRA is an absolute path (outside the dataset folder).
    let screen = h
        .screen()
        .replace(&tmp.path().display().to_string(), "[TMP]");
    insta::assert_snapshot!(screen);
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "lora");
}

#[test]
fn lora_cancel_leaves_no_partial_output() {
    let (_tmp, dir, _file, mut h) = with_lora();
    h.key(KeyCode::Char('x'));
    h.key(KeyCode::Tab);
    h.chars(&format!(
        "{}:0.5",
        Path::new(LORA).canonicalize().unwrap().display()
    ));
    h.key(KeyCode::Enter);
    assert!(lora(&h).running());
    h.key(KeyCode::Esc);
    assert!(lora(&h).cancelling());
    pump_until(&mut h, |h| !lora(h).running());
    let out = dir.join("style_mixed.safetensors");
    // The worker may have finished before the flag was seen; either way no half file.
    match &lora(&h).outcome {
        Some(Err(e)) => {
            assert!(e.contains("cancelled"), "{e}");
            assert!(!out.exists());
        }
        Some(Ok(_)) => {
            assert!(lorabench::lora::inspect::inspect(&out).is_ok());
        }
        None => panic!("no outcome"),
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn help_lists_the_screens_keys() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('L'));
    h.key(KeyCode::Char('?'));
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "lint");
    let help: Vec<&str> = h.app.commands().iter().map(|c| c.desc).collect();
    assert!(help.iter().any(|d| d.contains("fix")), "{help:?}");
    let hints = h.draw().to_string();
    assert!(hints.contains("fix"));
}

/// Moves `tabs` fields on in the open form, clears that field and types `text`.
fn fill_field(h: &mut Harness, tabs: usize, text: &str) {
    for _ in 0..tabs {
        h.key(KeyCode::Tab);
    }
    for _ in 0..20 {
        h.key(KeyCode::Backspace);
    }
    h.chars(text);
}

#[test]
fn training_target_is_set_in_lint_and_kept_for_stats() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('L'));
    lint_done(&mut h);
    let small = |h: &Harness| {
        lint(h)
            .findings
            .iter()
            .filter(|f| f.kind == Kind::SmallBucket)
            .count()
    };
    assert_eq!(small(&h), 0, "batch 1: no bucket is too small");

    // A bad batch size keeps the form open and says why.
    h.key(KeyCode::Char('o'));
    assert_eq!(h.app.mode(), "form");
    fill_field(&mut h, 3, "none");
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "form");
    assert!(h.screen().contains("batch size: `none`"), "{}", h.screen());

    // Batch 32 on sd15 at 512: each bucket holds fewer images (x10 repeats) than a batch.
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('o'));
    fill_field(&mut h, 1, "sd15"); // model
    fill_field(&mut h, 2, "32"); // batch size
    h.key(KeyCode::Enter);
    assert_eq!(h.app.mode(), "lint");
    lint_done(&mut h);
    assert!(small(&h) > 0, "batch 32 leaves small buckets");
    assert!(
        h.screen().contains("kohya sd15 512 · batch 32"),
        "{}",
        h.screen()
    );

    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('S'));
    stats_done(&mut h);
    let st = stats(&h).stats.as_ref().unwrap();
    // SD1.5 buckets step by 64 around 512x512.
    assert!(
        st.buckets.iter().all(|b| b.bucket.w % 64 == 0
            && b.bucket.h % 64 == 0
            && b.bucket.w * b.bucket.h <= 512 * 512),
        "{:?}",
        st.buckets
            .iter()
            .map(|b| (b.bucket.w, b.bucket.h))
            .collect::<Vec<_>>()
    );
    assert!(h.screen().contains("batch 32"), "{}", h.screen());
}
