//! App-level flows: keys and background results injected as messages, files on disk checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use crate::tui_support;

use ratatui::crossterm::event::{
    Event, KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use tui_support::*;

use lorabench::tui::msg::Msg;
use lorabench::tui::screens::browser::Modal;

#[test]
fn navigation_keys_and_preview_follow_the_cursor() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    assert_eq!(h.current_name(), "dawn.png");
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Down);
    assert_eq!(h.current_name(), "night.png");
    h.key(KeyCode::Char('k'));
    assert_eq!(h.current_name(), "dusk.png");
    h.key(KeyCode::Char('G'));
    assert_eq!(h.current_name(), "storm.png");
    h.key(KeyCode::Char('j'));
    assert_eq!(h.current_name(), "storm.png", "stops at the end");
    h.key(KeyCode::Home);
    assert_eq!(h.current_name(), "dawn.png");
    h.settle();
    let (key, result) = h.b().preview.as_ref().unwrap();
    assert!(key.path.ends_with("10_lh/dawn.png"));
    assert!(result.is_ok());
    // The info panel learned the real size from the decode.
    let facts = h.b().facts.get(&key.path).unwrap();
    assert_eq!((facts.width, facts.height), (64, 96));
}

#[test]
fn fast_scrolling_never_shows_a_stale_preview() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    for _ in 0..50 {
        h.key(KeyCode::Char('j'));
        h.key(KeyCode::Char('k'));
    }
    h.key(KeyCode::Char('G'));
    h.settle();
    let (key, _) = h.b().preview.as_ref().unwrap();
    assert!(key.path.ends_with("storm.png"), "{key:?}");
}

#[test]
fn text_edit_saves_on_escape_keeping_crlf() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('j')); // dusk: CRLF caption
    h.key(KeyCode::Char('e'));
    assert_eq!(h.app.mode(), "text");
    h.key(KeyCode::End);
    h.chars(", red sky");
    assert!(h.b().editor.as_ref().unwrap().is_dirty());
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds\r\n",
        "not saved yet"
    );
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "browse");
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds, red sky\r\n"
    );
}

#[test]
fn unchanged_caption_is_not_rewritten() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    let path = root.join("10_lh/dawn.txt");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('J'));
    h.key(KeyCode::Char('K')); // moved and moved back: no change
    h.key(KeyCode::Esc);
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
    assert!(
        h.app
            .journal
            .as_ref()
            .unwrap()
            .history()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn tag_mode_add_edit_reorder() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('t'));
    assert_eq!(h.app.mode(), "tags");
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('f')); // "dawn" to the front
    h.key(KeyCode::Char('a'));
    assert_eq!(h.app.mode(), "prompt");
    h.chars("golden hour, warm light");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('e'));
    // Replace "warm light" (the cursor is on the last added tag).
    for _ in 0.."warm light".len() {
        h.key(KeyCode::Backspace);
    }
    h.chars("soft light");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('d')); // delete the tag under the cursor: "soft light"
    h.key(KeyCode::Char('q'));
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "dawn, golden hour, lhx, lighthouse, sea\n"
    );
}

#[test]
fn switching_modes_keeps_the_draft() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('d')); // drop "lhx"
    h.key(KeyCode::Tab);
    assert_eq!(h.app.mode(), "text");
    assert_eq!(
        h.b().editor.as_ref().unwrap().text(),
        "lighthouse, dawn, sea"
    );
    h.key_mod(KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert_eq!(read(&root, "10_lh/dawn.txt"), "lighthouse, dawn, sea\n");
    assert_eq!(h.app.mode(), "text", "Ctrl-s saves and stays");
}

#[test]
fn missing_caption_is_created_on_save() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('G'));
    h.key(KeyCode::Char('e'));
    h.chars("lighthouse, storm");
    h.key(KeyCode::Esc);
    assert_eq!(read(&root, "10_lh/storm.txt"), "lighthouse, storm");
}

#[test]
fn bulk_add_to_all_then_undo_and_redo() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('b'));
    h.chars("trigger lhx");
    h.key(KeyCode::Enter);
    assert!(h.b().modal.is_none());
    assert_eq!(h.app.mode(), "preview", "the diff first");
    assert_eq!(
        read(&root, "10_lh/night.txt"),
        "lighthouse, night, stars",
        "nothing is written before the yes"
    );
    h.key(KeyCode::Char('y'));
    assert_eq!(
        read(&root, "10_lh/night.txt"),
        "lhx, lighthouse, night, stars"
    );
    assert_eq!(read(&root, "10_lh/storm.txt"), "lhx");
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n",
        "never doubled"
    );
    h.key(KeyCode::Char('u'));
    assert_eq!(read(&root, "10_lh/night.txt"), "lighthouse, night, stars");
    assert!(
        !root.join("10_lh/storm.txt").exists(),
        "undo removes the caption it created"
    );
    h.key_mod(KeyCode::Char('r'), KeyModifiers::CONTROL);
    assert_eq!(
        read(&root, "10_lh/night.txt"),
        "lhx, lighthouse, night, stars"
    );
}

#[test]
fn bulk_acts_on_the_selection_only() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char(' ')); // select dawn, move to dusk
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char(' ')); // select night
    assert_eq!(h.b().selected.len(), 2);
    h.key(KeyCode::Char('b'));
    h.chars("add seascape @front");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('y'));
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "seascape, lhx, lighthouse, dawn, sea\n"
    );
    assert_eq!(
        read(&root, "10_lh/night.txt"),
        "seascape, lighthouse, night, stars"
    );
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds\r\n"
    );
    assert_eq!(h.b().selected.len(), 2, "selection survives the rescan");
    h.key(KeyCode::Esc);
    assert!(h.b().selected.is_empty());
}

#[test]
fn bulk_acts_on_the_filter() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('/'));
    h.chars("tag:lhx");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().visible.len(), 2);
    h.key(KeyCode::Char('b'));
    h.chars("remove lighthouse");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('y'));
    assert_eq!(read(&root, "10_lh/dawn.txt"), "lhx, dawn, sea\n");
    assert_eq!(read(&root, "10_lh/night.txt"), "lighthouse, night, stars");
    h.key(KeyCode::Esc);
    assert_eq!(h.b().visible.len(), 4, "Esc clears the filter");
}

#[test]
fn bad_filter_keeps_the_prompt_open() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('/'));
    h.chars("\"unclosed");
    h.key(KeyCode::Enter);
    match &h.b().modal {
        Some(Modal::Prompt(p)) => assert!(p.error.as_deref().unwrap().contains("quote")),
        _ => panic!("prompt closed on a bad filter"),
    }
    h.key(KeyCode::Esc);
    assert!(h.b().modal.is_none());
}

#[test]
fn exclude_include_and_undo() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('x'));
    assert!(!root.join("10_lh/dusk.png").exists());
    assert!(root.join(".lorabench/excluded/10_lh/dusk.png").exists());
    assert!(root.join(".lorabench/excluded/10_lh/dusk.txt").exists());
    assert_eq!(h.b().visible.len(), 3);
    assert_eq!(h.current_name(), "night.png", "cursor stays in place");
    h.key(KeyCode::Char('/'));
    h.chars("excluded");
    h.key(KeyCode::Enter);
    assert_eq!(h.current_name(), "dusk.png");
    h.key(KeyCode::Char('x'));
    assert!(
        root.join("10_lh/dusk.png").exists(),
        "x on an excluded image includes it"
    );
    h.key(KeyCode::Char('u'));
    assert!(!root.join("10_lh/dusk.png").exists());
    h.key(KeyCode::Char('u'));
    assert!(root.join("10_lh/dusk.png").exists());
    assert_eq!(
        read(&root, "10_lh/dusk.txt"),
        "lhx, lighthouse, dusk, clouds\r\n"
    );
}

#[test]
fn leaving_the_item_by_mouse_saves() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.chars("new ");
    let list = h.b().areas().browser;
    h.app.update(Msg::Input(Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: list.x + 3,
        row: list.y + 3,
        modifiers: KeyModifiers::NONE,
    })));
    assert_eq!(h.current_name(), "night.png");
    assert!(h.b().editor.is_none());
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "new lhx, lighthouse, dawn, sea\n"
    );
    h.app.update(Msg::Input(Event::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: list.x + 3,
        row: list.y + 3,
        modifiers: KeyModifiers::NONE,
    })));
    assert_eq!(h.current_name(), "storm.png");
}

#[test]
fn external_change_reloads_a_clean_caption() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    let path = root.join("10_lh/dawn.txt");
    std::fs::write(&path, "edited elsewhere\n").unwrap();
    h.app.update(Msg::FsChanged(vec![path]));
    let item = &h.app.dataset.items[h.app.current().unwrap()];
    assert_eq!(item.caption.text(), Some("edited elsewhere"));
    assert!(h.b().modal.is_none());
}

#[test]
fn own_write_is_not_a_conflict() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.chars("a");
    h.key_mod(KeyCode::Char('s'), KeyModifiers::CONTROL);
    h.chars("b");
    // The watcher reports our own save: bytes equal what we hold, so no prompt.
    h.app
        .update(Msg::FsChanged(vec![root.join("10_lh/dawn.txt")]));
    assert!(h.b().modal.is_none());
}

#[test]
fn conflict_take_theirs() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.chars("mine ");
    let path = root.join("10_lh/dawn.txt");
    std::fs::write(&path, "theirs\n").unwrap();
    h.app.update(Msg::FsChanged(vec![path.clone()]));
    assert_eq!(h.app.mode(), "conflict");
    h.key(KeyCode::Char('t'));
    assert_eq!(h.app.mode(), "text");
    assert_eq!(h.b().editor.as_ref().unwrap().text(), "theirs");
    h.key(KeyCode::Esc);
    assert_eq!(read(&root, "10_lh/dawn.txt"), "theirs\n");
}

#[test]
fn conflict_keep_mine_is_undoable() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.chars("mine ");
    let path = root.join("10_lh/dawn.txt");
    std::fs::write(&path, "theirs\n").unwrap();
    // No watcher event: the save itself finds the change and asks.
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "conflict");
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "theirs\n",
        "nothing overwritten yet"
    );
    h.key(KeyCode::Char('m'));
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "mine lhx, lighthouse, dawn, sea\n"
    );
    h.key(KeyCode::Esc);
    h.key(KeyCode::Char('u'));
    assert_eq!(read(&root, "10_lh/dawn.txt"), "theirs\n");
}

#[test]
fn hangup_saves_the_draft_and_exits_with_the_signal_code() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.chars("kept ");
    h.app.update(Msg::Signal(1));
    assert_eq!(h.app.quit, Some(129));
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "kept lhx, lighthouse, dawn, sea\n"
    );
}

#[test]
fn grid_moves_by_rows_and_decodes_the_page() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('v'));
    h.settle();
    assert_eq!(h.b().thumbs.len(), 4);
    h.key(KeyCode::Char('l'));
    assert_eq!(h.current_name(), "dusk.png");
    h.key(KeyCode::Char('h'));
    assert_eq!(h.current_name(), "dawn.png");
}

#[test]
fn not_utf8_caption_is_refused_for_editing() {
    let (_tmp, root) = dataset();
    std::fs::write(root.join("10_lh/night.txt"), b"caf\xe9, night").unwrap();
    let mut h = open(&root);
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('e'));
    assert_eq!(h.app.mode(), "browse");
    assert!(h.app.status.as_ref().unwrap().text.contains("not UTF-8"));
    h.key(KeyCode::Char('b'));
    h.chars("add x");
    h.key(KeyCode::Enter);
    h.key(KeyCode::Char('y'));
    assert_eq!(
        std::fs::read(root.join("10_lh/night.txt")).unwrap(),
        b"caf\xe9, night"
    );
}

#[test]
fn quit_and_help() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('?'));
    assert_eq!(h.app.mode(), "help");
    h.key(KeyCode::Char('q'));
    assert_eq!(h.app.mode(), "browse");
    assert_eq!(h.app.quit, None, "q in help closes help only");
    h.key(KeyCode::Char('q'));
    assert_eq!(h.app.quit, Some(0));
}

/// A dataset whose captions cannot be saved: its `.lorabench` is a file, so no journal can be
/// kept and no change is written (root ignores permission bits, so this is how the tests
/// refuse writes).
fn unwritable() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, root) = dataset();
    std::fs::write(root.join(".lorabench"), "").unwrap();
    (tmp, root)
}

#[test]
fn unsaveable_editors_can_be_discarded_with_a_confirmation() {
    let (_tmp, root) = unwritable();
    let mut h = open(&root);
    for open_key in ['t', 'e'] {
        h.key(KeyCode::Char(open_key));
        let editor = h.app.mode();
        if open_key == 't' {
            h.key(KeyCode::Char('d'));
        } else {
            h.chars("zz ");
        }
        h.key(KeyCode::Esc);
        assert_eq!(h.app.mode(), editor, "close cannot save: the editor stays");
        let status = h.app.status.as_ref().unwrap().text.clone();
        assert!(
            status.contains("cannot save") && status.contains("Ctrl-g discards"),
            "{status}"
        );
        h.key_mod(KeyCode::Char('g'), KeyModifiers::CONTROL);
        assert_eq!(h.app.mode(), "preview", "discard asks first");
        assert!(
            h.screen()
                .contains("Discard your changes to 10_lh/dawn.txt?")
        );
        h.key(KeyCode::Char('n'));
        assert_eq!(h.app.mode(), editor, "no keeps the draft");
        assert!(h.b().editor.as_ref().unwrap().is_dirty());
        h.key_mod(KeyCode::Char('g'), KeyModifiers::CONTROL);
        h.key(KeyCode::Char('y'));
        assert_eq!(h.app.mode(), "browse");
        assert!(h.b().editor.is_none());
    }
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n"
    );
}

#[test]
fn quit_is_always_possible_and_keeps_an_unsaveable_draft_outside_the_dataset() {
    let (_tmp, root) = unwritable();
    let mut h = open(&root);
    h.key(KeyCode::Char('e'));
    h.chars("kept ");
    h.key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(
        h.app.quit, None,
        "quitting with an unsaved draft asks first"
    );
    let screen = h.screen();
    assert!(screen.contains("Quit, keeping your draft"), "{screen}");
    h.key(KeyCode::Esc);
    assert_eq!(h.app.mode(), "text", "no: back to the editor, draft intact");
    h.key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL);
    h.key(KeyCode::Enter);
    assert_eq!(h.app.quit, Some(0));
    let said = h.app.farewell.join("\n");
    let path = said.split("your draft is in ").nth(1).unwrap().trim();
    let path = std::path::Path::new(path);
    assert!(!path.starts_with(&root), "{said}");
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "kept lhx, lighthouse, dawn, sea"
    );
    std::fs::remove_file(path).unwrap();
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n"
    );
}

#[test]
fn a_signal_keeps_an_unsaveable_draft_too() {
    let (_tmp, root) = unwritable();
    let mut h = open(&root);
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('d'));
    h.app.update(Msg::Signal(15));
    assert_eq!(h.app.quit, Some(143));
    let said = h.app.farewell.join("\n");
    let path = said.split("your draft is in ").nth(1).unwrap().trim();
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "lighthouse, dawn, sea"
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn quitting_from_a_saveable_editor_saves_first() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('d'));
    h.key_mod(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(h.app.quit, Some(0));
    assert!(h.app.farewell.is_empty());
    assert_eq!(read(&root, "10_lh/dawn.txt"), "lighthouse, dawn, sea\n");
}

#[test]
fn prefilled_prompts_are_replaced_by_typing_and_cleared_by_ctrl_u() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('/'));
    h.chars("tag:sea");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().filter_text, "tag:sea");
    h.key(KeyCode::Char('/'));
    h.chars("night");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().filter_text, "night", "typing replaced the old filter");
    h.key(KeyCode::Char('/'));
    h.key(KeyCode::End);
    h.chars(" stars");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().filter_text, "night stars", "an arrow keeps it");
    h.key(KeyCode::Char('/'));
    h.key(KeyCode::End);
    h.key_mod(KeyCode::Char('u'), KeyModifiers::CONTROL);
    h.key(KeyCode::Enter);
    assert_eq!(h.b().filter_text, "", "Ctrl-U cleared it");
}

#[test]
fn a_filter_puts_the_cursor_on_the_first_match() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('G')); // storm: no caption, not a match
    h.key(KeyCode::Char('/'));
    h.chars("lighthouse");
    h.key(KeyCode::Enter);
    assert_eq!(h.b().visible.len(), 3);
    assert_eq!(h.current_name(), "dawn.png");
    // The item under the cursor stays when it still matches.
    h.key(KeyCode::Char('j'));
    h.key(KeyCode::Char('/'));
    h.chars("tag:lhx");
    h.key(KeyCode::Enter);
    assert_eq!(h.current_name(), "dusk.png");
}

#[test]
fn header_and_list_count_the_same_images() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('x')); // exclude dawn
    h.key(KeyCode::Char('/'));
    h.chars("lighthouse");
    h.key(KeyCode::Enter);
    let screen = h.screen();
    let header = screen.lines().next().unwrap();
    assert!(header.contains(" 4 images · 1 excluded"), "{header}");
    assert!(screen.contains("Images 2/4"), "{screen}");
}

#[test]
fn the_info_panel_follows_the_draft_and_unreadable_images_are_marked() {
    let (_tmp, root) = dataset();
    std::fs::write(root.join("10_lh/broken.png"), b"not a png at all").unwrap();
    let mut h = open(&root);
    h.key(KeyCode::Char('j')); // broken.png sorts first; dawn is next
    assert_eq!(h.current_name(), "dawn.png");
    assert!(h.screen().contains("4 tags"));
    h.key(KeyCode::Char('t'));
    h.key(KeyCode::Char('d'));
    assert!(h.screen().contains("3 tags (unsaved)"));
    h.key(KeyCode::Esc);
    assert!(h.screen().contains("3 tags"));
    // broken.png's row carries the mark, its info says what it is.
    h.key(KeyCode::Char('g'));
    assert_eq!(h.current_name(), "broken.png");
    let screen = h.screen();
    let row = screen
        .lines()
        .find(|l| l.contains("10_lh/broken.png"))
        .unwrap();
    assert!(row.contains('✗'), "{row}");
    assert!(screen.contains("format  not an image (named"), "{screen}");
    assert!(screen.contains("size    unreadable:"), "{screen}");
    assert!(!screen.contains("size    …"), "{screen}");
    let good = screen
        .lines()
        .find(|l| l.contains("10_lh/dusk.png"))
        .unwrap();
    assert!(!good.contains('✗'), "{good}");
}

#[test]
fn bulk_edit_is_cancelled_at_its_diff_and_nothing_is_written() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('b'));
    h.chars("add seascape");
    h.key(KeyCode::Enter);
    let screen = h.screen();
    assert!(
        screen.contains("+lhx, lighthouse, dawn, sea, seascape"),
        "{screen}"
    );
    h.key(KeyCode::Char('n'));
    assert_eq!(h.app.mode(), "browse");
    assert_eq!(
        read(&root, "10_lh/dawn.txt"),
        "lhx, lighthouse, dawn, sea\n"
    );
    assert!(!root.join(".lorabench").exists());
}

#[test]
fn the_filter_applies_as_it_is_typed_takes_bars_and_esc_puts_it_back() {
    let (_tmp, root) = dataset();
    let mut h = open(&root);
    h.key(KeyCode::Char('/'));
    h.chars("tag:dawn");
    assert_eq!(h.b().visible.len(), 1, "live, before Enter");
    h.chars(" | tag:night");
    assert_eq!(h.b().visible.len(), 2);
    h.chars(" | tag:");
    assert_eq!(
        h.b().visible.len(),
        2,
        "a half-typed term keeps the last filter"
    );
    h.key(KeyCode::Esc);
    assert_eq!(
        h.b().visible.len(),
        4,
        "Esc puts back the filter from before"
    );
    assert_eq!(h.b().filter_text, "");
}
