//! The screens' commands drive the hint bar and the help: every action bound in a mode is a
//! command of the screen in that mode (and shows in the help with its keys), every command is
//! bound, a disabled command says why when pressed, and no prose string in the TUI names a key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

use crate::tui_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::KeyCode;
use tui_support::*;

use lorabench::train::run::State;
use lorabench::tui::msg::Msg;
use lorabench::tui::screens::lint::LintScreen;
use lorabench::tui::screens::runs::RunsScreen;

/// Checks the mode the app is in now: bound actions = commands, and the help lists them all.
fn check_mode(h: &mut Harness, mode: &str, seen: &mut BTreeSet<String>) {
    assert_eq!(h.app.mode(), mode);
    let bound: BTreeSet<&str> = h.app.keys.actions(mode).collect();
    let commands = h.app.commands();
    let listed: BTreeSet<&str> = commands.iter().map(|c| c.action).collect();
    assert_eq!(
        bound, listed,
        "mode {mode}: bound actions and commands differ"
    );
    if mode != "help" && listed.contains("help") {
        // Every command with its keys is in the help overlay. The Train screen's fields take
        // printable keys, so its help is on Ctrl-k.
        if mode == "train" {
            h.key_mod(
                KeyCode::Char('k'),
                ratatui::crossterm::event::KeyModifiers::CONTROL,
            );
        } else {
            h.key(KeyCode::Char('?'));
        }
        let text = h.draw().to_string();
        for c in &commands {
            // The overlay is 64 columns wide: long descriptions are cut at its border.
            let shown: String = c.desc.chars().take(40).collect();
            assert!(
                text.contains(&shown),
                "mode {mode}: {} not in help:\n{text}",
                c.desc
            );
            let first = h.app.keys.first(mode, c.action);
            assert!(
                text.contains(&first),
                "mode {mode}: key {first} not in help"
            );
        }
        h.key(KeyCode::Esc);
        assert_eq!(h.app.mode(), mode);
    }
    seen.insert(mode.to_string());
}

fn wait_lint(h: &mut Harness) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.app.screen::<LintScreen>().is_some_and(|s| s.running()) {
        assert!(Instant::now() < deadline);
        if let Ok(m) = h.rx.recv_timeout(Duration::from_millis(50)) {
            h.app.update(m);
        }
    }
}

#[test]
fn every_bound_action_is_a_command_and_in_help() {
    let (_tmp, root) = dataset();
    std::fs::write(root.join("10_lh/dawn.txt"), "lhx, dawn, dawn\n").unwrap();
    let mut h = open(&root);
    // Tall enough for the whole help of every mode.
    h.app
        .update(Msg::Input(ratatui::crossterm::event::Event::Resize(
            100, 90,
        )));
    h.terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 90)).unwrap();
    let mut seen = BTreeSet::new();
    check_mode(&mut h, "browse", &mut seen);
    h.key(KeyCode::Char('?'));
    check_mode(&mut h, "help", &mut seen);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('t'));
    check_mode(&mut h, "tags", &mut seen);
    h.key(KeyCode::Char('a'));
    check_mode(&mut h, "prompt", &mut seen);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Tab);
    check_mode(&mut h, "text", &mut seen);
    h.chars("mine ");
    let path = root.join("10_lh/dawn.txt");
    std::fs::write(&path, "theirs\n").unwrap();
    h.app.update(Msg::FsChanged(vec![path]));
    check_mode(&mut h, "conflict", &mut seen);
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Esc);
    std::fs::write(root.join("10_lh/dawn.txt"), "lhx, dawn, dawn\n").unwrap();
    h.app.reload();

    h.key(KeyCode::Char('L'));
    wait_lint(&mut h);
    check_mode(&mut h, "lint", &mut seen);
    h.key(KeyCode::Char('T'));
    check_mode(&mut h, "form", &mut seen);
    h.key(KeyCode::Esc);
    for _ in 0..50 {
        let on_dup = h
            .app
            .screen::<LintScreen>()
            .and_then(|s| s.current())
            .is_some_and(|f| f.kind.id() == "duplicate-tag");
        if on_dup {
            break;
        }
        h.key(KeyCode::Char('j'));
    }
    h.key(KeyCode::Char('f'));
    check_mode(&mut h, "preview", &mut seen);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('S'));
    check_mode(&mut h, "stats", &mut seen);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('O'));
    h.key(KeyCode::Esc);
    check_mode(&mut h, "lora", &mut seen);
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('T'));
    check_mode(&mut h, "train", &mut seen);
    h.key_mod(
        KeyCode::Char('b'),
        ratatui::crossterm::event::KeyModifiers::CONTROL,
    );
    check_mode(&mut h, "picker", &mut seen);
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "train");
    h.key(KeyCode::Esc);

    // The Runs screen, its stop question (answered no: the live run's trainer is this test)
    // and the monitor, on run folders of every kind.
    let (_runs, home) = tui_support::runs::runs_home();
    h.app
        .open(|ctx| Box::new(RunsScreen::new(ctx, home, tui_support::runs::opts())));
    check_mode(&mut h, "runs", &mut seen);
    while !h
        .app
        .screen::<RunsScreen>()
        .and_then(RunsScreen::current)
        .is_some_and(|s| s.state == State::Running)
    {
        h.key(KeyCode::Char('j'));
    }
    h.key(KeyCode::Char('s'));
    check_mode(&mut h, "runs-stop", &mut seen);
    h.key(KeyCode::Char('n'));
    h.key(KeyCode::Enter);
    check_mode(&mut h, "monitor", &mut seen);

    // Every mode of the keymap was reached (the `list` block is only inherited).
    let all: BTreeSet<String> = h
        .app
        .keys
        .rows()
        .into_iter()
        .map(|(m, _, _)| m)
        .filter(|m| m != "list")
        .collect();
    assert_eq!(seen, all);
}

#[test]
fn a_disabled_command_is_greyed_and_says_why() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('O'));
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "lora");
    let convert = h
        .app
        .commands()
        .into_iter()
        .find(|c| c.action == "convert")
        .unwrap();
    assert!(convert.disabled.is_some());
    h.key(KeyCode::Char('c'));
    assert_eq!(h.app.mode(), "lora", "no form opened");
    let status = h.app.status.clone().unwrap().text;
    assert!(status.contains("no LoRA file is open"), "{status}");
    // Still in the bar, drawn in the dim style.
    let dim = h.app.theme.dim.fg.unwrap_or_default();
    let backend = h.draw();
    let buf = backend.buffer();
    let y = buf.area.height - 1;
    let line: String = (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect();
    let x = line.find(" convert ").unwrap() as u16;
    assert_eq!(buf[(x + 1, y)].fg, dim);
}

#[test]
fn a_narrow_hint_bar_keeps_help_and_quit() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.app
        .update(Msg::Input(ratatui::crossterm::event::Event::Resize(40, 30)));
    h.terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(40, 30)).unwrap();
    let screen = h.draw().to_string();
    let last = screen.lines().last().unwrap().to_string();
    assert!(last.contains("help") && last.contains("quit"), "{last}");
    assert!(
        !last.contains("grid"),
        "the least important goes first: {last}"
    );
}

/// String literals in the TUI's code (tests, the key-name table and the screens' default keys,
/// which are keymap data like keymap.yaml, left out).
fn literals() -> Vec<(String, String)> {
    let lit = regex::Regex::new(r#""((?:[^"\\]|\\.)*)""#).unwrap();
    let keys = regex::Regex::new(r#"(?s)pub const KEYS: &str = ".*?";"#).unwrap();
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new("src/tui") {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("keymap.rs") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code = keys.replace_all(code, "");
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for c in lit.captures_iter(line) {
                out.push((path.display().to_string(), c[1].to_string()));
            }
        }
    }
    out
}

#[test]
fn no_prose_string_names_a_key() {
    let key_words =
        regex::Regex::new(r"\b(Esc|Enter|Tab|Ctrl-\w|PgUp|PgDn|Space|Backspace|Bksp)\b").unwrap();
    // "(x)", "f: fix", "e to write", "c convert · m merge".
    let letters = regex::Regex::new(
        r" \([a-zA-Z?/]\)|^[a-zA-Z?/]: |\b[a-zA-Z] (to|for|adds|undoes|cancels|applies|clears)\b|(^|· )[a-zA-Z] [a-z]+ ·",
    )
    .unwrap();
    let literals = literals();
    assert!(literals.len() > 100, "the scan found the TUI's strings");
    let offenders: Vec<String> = literals
        .iter()
        .filter(|(_, s)| key_words.is_match(s) || letters.is_match(s))
        .map(|(f, s)| format!("{f}: {s:?}"))
        .collect();
    assert!(offenders.is_empty(), "{offenders:#?}");
    // The checks can fail: the old prose would have been caught.
    for old in [
        "Enter: show the image",
        "open a file (o)",
        "c convert · m merge · z resize",
        "no tags yet: a adds one",
    ] {
        assert!(key_words.is_match(old) || letters.is_match(old), "{old}");
    }
}
