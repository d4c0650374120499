//! The workbench remembers each dataset's training target, cursor, view and filter across
//! restarts, outside the dataset (a read-only dataset is remembered too, and nothing is written
//! into it); a damaged state file is one warning, never fatal. `lorabench FILE.jpg` opens the
//! image's folder (the dataset above a kohya `N_name` folder) with the cursor on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::tui_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::crossterm::event::KeyCode;
use tui_support::*;

use lorabench::dataset::buckets::Model;
use lorabench::tui::layout::View;
use lorabench::tui::remember;

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Filter to the captions holding `lighthouse` (three of the four images), grid view, cursor on
/// the second match, SD1.5 at batch 4; quit (save); start again (load, restore).
fn set_up_and_restart(root: &Path, state: &Path) -> Harness {
    let mut h = open(root);
    h.key(KeyCode::Char('/'));
    h.chars("lighthouse");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().visible.len(), 3);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('v'));
    h.app.target.model = Model::Sd15;
    h.app.target.batch_size = 4;
    let cursor = h.current_name();
    remember::save(state, &h.app.remembered()).unwrap();

    let mut again = open(root);
    assert_eq!(again.b().view, View::List, "a fresh start knows nothing");
    let (r, warning) = remember::load(state, &again.app.dataset.root);
    assert_eq!(warning, None);
    let said = again.app.restore(&r.expect("remembered"));
    assert!(said.is_empty(), "{said:?}");
    assert_eq!(again.current_name(), cursor);
    again
}

#[test]
fn a_restart_restores_target_cursor_view_and_filter() {
    let (tmp, root) = dataset();
    let state = tmp.path().join("state");
    let h = set_up_and_restart(&root.canonicalize().unwrap(), &state);
    assert_eq!(h.b().view, View::Grid);
    assert_eq!(h.b().filter_text, "lighthouse");
    assert_eq!(h.b().visible.len(), 3);
    assert_eq!(h.current_name(), "dusk.png");
    assert_eq!(
        (h.app.target.model, h.app.target.batch_size),
        (Model::Sd15, 4)
    );
    // Kept outside the dataset: nothing under it but what was there.
    let root = root.canonicalize().unwrap();
    assert!(remember::file_for(&state, &root).starts_with(&state));
    assert!(remember::file_for(&state, &root).exists());
}

#[test]
fn a_read_only_dataset_is_remembered_and_left_untouched() {
    let (tmp, root) = dataset();
    let root = root.canonicalize().unwrap();
    let state = tmp.path().join("state");
    // Root ignores permission bits: a `.lorabench` that is a file refuses every change there,
    // so the dataset is read-only for any user.
    std::fs::write(root.join(".lorabench"), "").unwrap();
    let before = files(&root);
    let h = set_up_and_restart(&root, &state);
    assert!(h.app.journal.is_none(), "the dataset is read-only");
    assert_eq!(h.b().view, View::Grid);
    assert_eq!(files(&root), before, "nothing in the dataset changed");
}

#[test]
fn a_damaged_state_file_is_one_warning_and_the_workbench_starts() {
    let (tmp, root) = dataset();
    let root = root.canonicalize().unwrap();
    let state = tmp.path().join("state");
    let file = remember::file_for(&state, &root);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"\xff\x00 not json").unwrap();
    let (r, warning) = remember::load(&state, &root);
    assert!(r.is_none());
    assert!(warning.unwrap().contains("damaged"));
    // Valid JSON holding values this version does not know: what can be used is, the rest said.
    let mut h = open(&root);
    let mut bad = h.app.remembered();
    bad.target.trainer = "kohya_ss".into();
    bad.view = "mosaic".into();
    bad.cursor = Some("10_lh/gone.png".into());
    let said = h.app.restore(&bad);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("kohya_ss"), "{said:?}");
    assert_eq!(h.b().view, View::List);
    assert_eq!(h.current_name(), "dawn.png");
    // The next save replaces the damaged file with a good one.
    remember::save(&state, &h.app.remembered()).unwrap();
    assert!(remember::load(&state, &root).0.is_some());
}

#[test]
fn an_image_path_opens_its_dataset_on_that_image() {
    let (_tmp, root) = dataset();
    let root = root.canonicalize().unwrap();
    let image = root.join("10_lh/night.png");
    // In a kohya `N_name` folder: the dataset is the folder above it.
    let opened = lorabench::tui::locate(image.clone());
    assert_eq!(opened.root, root);
    assert_eq!(opened.image.as_deref(), Some(Path::new("10_lh/night.png")));
    assert_eq!(opened.lora, None);
    let mut h = open(&opened.root);
    assert!(h.app.show_image(opened.image.as_deref().unwrap()));
    assert_eq!(h.current_name(), "night.png");
    // A filter hiding it is cleared.
    h.key(KeyCode::Char('/'));
    h.chars("dawn");
    h.key(KeyCode::Enter);
    assert!(h.app.show_image(Path::new("10_lh/night.png")));
    assert_eq!(h.current_name(), "night.png");
    // A file that is no image of the dataset is said, and the cursor stays.
    assert!(!h.app.show_image(Path::new("10_lh/night.txt")));
    // A plain folder holding the image is the dataset itself; a folder is its own dataset.
    let plain = tempfile::tempdir().unwrap();
    let p = plain.path().canonicalize().unwrap();
    std::fs::copy(&image, p.join("x.png")).unwrap();
    let opened = lorabench::tui::locate(p.join("x.png"));
    assert_eq!(
        (opened.root.as_path(), opened.image.as_deref()),
        (p.as_path(), Some(Path::new("x.png")))
    );
    assert_eq!(lorabench::tui::locate(p.clone()).root, p);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .arg("/nonexistent/dir/photo.jpg")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/photo.jpg"), "{err}");
    assert!(err.contains("No such file"), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "said once: {err}");
}
