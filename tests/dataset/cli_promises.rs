//! What the command line promises a user, each as a class: a dry run writes nothing anywhere, a
//! flag that means nothing for a verb is refused, looking at a dataset creates nothing, user
//! text never sends control bytes to the terminal, an error is said once, counts are worded in
//! the right number, and a filter key that does not exist is an error. All on generated data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lorabench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 90]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// A small dataset: captions with tags, one image without a caption.
fn dataset(root: &Path) {
    let png = png();
    for (name, caption) in [
        ("day.png", Some("sea, day")),
        ("night.png", Some("sea, night, night")),
        ("dusk.png", Some("sea, dusk")),
        ("bare.png", None),
    ] {
        fs::write(root.join(name), &png).unwrap();
        if let Some(c) = caption {
            fs::write(root.join(name).with_extension("txt"), c).unwrap();
        }
    }
}

/// Every file under `root` (hidden ones included) with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), fs::read(e.path()).unwrap()))
        .collect()
}

fn dirs(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Every command that can change a dataset, as a dry run.
const DRY_RUNS: &[&[&str]] = &[
    &["captions", "@", "trigger", "lbx", "--dry-run"],
    &[
        "captions",
        "@",
        "add",
        "fog",
        "--dry-run",
        "--filter",
        "tag:night",
    ],
    &["captions", "@", "remove", "sea", "--dry-run", "--json"],
    &["captions", "@", "replace", "sea", "ocean", "--dry-run"],
    &[
        "captions",
        "@",
        "sub",
        "s(e)a",
        "l$1ke",
        "--regex",
        "--dry-run",
    ],
    &["captions", "@", "dedupe", "--dry-run"],
    &["captions", "@", "normalize", "--dry-run"],
    &[
        "captions",
        "@",
        "set",
        "day.png",
        "new caption",
        "--dry-run",
    ],
    &["captions", "@", "undo", "--dry-run"],
    &["captions", "@", "redo", "--dry-run"],
    &["exclude", "@", "day.png", "--dry-run"],
    &["include", "@", "--filter", "name:*", "--dry-run"],
    &[
        "lint",
        "@",
        "--fix",
        "whitespace,duplicate-tag",
        "--dry-run",
        "--no-images",
    ],
];

fn run_with(root: &Path, args: &[&str]) -> Output {
    let root = root.to_str().unwrap();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "@" { root } else { a })
        .collect();
    lorabench(&args)
}

#[test]
fn dry_runs_write_nothing_anywhere_and_show_what_they_would_do() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dataset(root);
    // On a dataset lorabench never touched: not even `.lorabench/` may appear.
    let before = (snapshot(root), dirs(root));
    for args in DRY_RUNS {
        let out = run_with(root, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!((snapshot(root), dirs(root)), before, "{args:?} wrote");
    }
    // With a journal: one change, then every dry run again, undo's included.
    let out = run_with(root, &["captions", "@", "add", "fog"]);
    assert!(out.status.success(), "{}", text(&out));
    let before = (snapshot(root), dirs(root));
    for args in DRY_RUNS {
        let out = run_with(root, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!((snapshot(root), dirs(root)), before, "{args:?} wrote");
    }
    let undo = run_with(root, &["captions", "@", "undo", "--dry-run"]);
    let shown = text(&undo);
    assert!(
        shown.contains("-sea, day, fog") && shown.contains("+sea, day"),
        "{shown}"
    );
    assert!(shown.contains("would undo #1"), "{shown}");
    let exclude = text(&run_with(root, &["exclude", "@", "day.png", "--dry-run"]));
    assert!(
        exclude.contains("move day.png -> .lorabench/excluded/day.png"),
        "{exclude}"
    );
    // The real undo does what its dry run showed.
    assert!(run_with(root, &["captions", "@", "undo"]).status.success());
    assert_eq!(
        fs::read_to_string(root.join("day.txt")).unwrap(),
        "sea, day"
    );
    let redo = text(&run_with(root, &["captions", "@", "redo", "--dry-run"]));
    assert!(
        redo.contains("would redo #1") && redo.contains("+sea, day, fog"),
        "{redo}"
    );
    assert_eq!(
        fs::read_to_string(root.join("day.txt")).unwrap(),
        "sea, day"
    );
}

#[test]
fn a_flag_that_means_nothing_for_a_verb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    for args in [
        &["captions", "@", "undo", "--filter", "tag:night"][..],
        &["captions", "@", "redo", "--caption-ext", ".caption"],
        &["captions", "@", "history", "--dry-run"],
        &["captions", "@", "history", "--force"],
        &["captions", "@", "list", "--dry-run"],
        &["captions", "@", "list", "--force"],
        &[
            "captions", "@", "set", "day.png", "x", "--filter", "tag:day",
        ],
        &["captions", "@", "add", "x", "--force"],
        &["captions", "@", "dedupe", "--regex"],
        &["captions", "@", "--dry-run", "trigger", "x"],
    ] {
        let out = run_with(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?} accepted: {}",
            text(&out)
        );
        assert!(
            text(&out).contains("unexpected argument"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert!(!dir.path().join(".lorabench").exists());
}

#[test]
fn looking_at_a_dataset_needs_no_write_access_and_creates_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    fs::create_dir(&root).unwrap();
    dataset(&root);
    // Read-only, as a dataset on a shared mount. (Root ignores the bits, so the test also
    // demands that nothing at all is written: what makes read-only work.)
    let set_mode = |mode: u32| {
        for e in walkdir::WalkDir::new(&root) {
            let e = e.unwrap();
            let m = if e.file_type().is_dir() {
                mode | 0o111
            } else {
                mode
            };
            fs::set_permissions(e.path(), fs::Permissions::from_mode(m)).unwrap();
        }
    };
    set_mode(0o444);
    let before = (snapshot(&root), dirs(&root));
    for args in [
        &["captions", "@", "list"][..],
        &["captions", "@", "list", "--json", "--filter", "tag:sea"],
        &["captions", "@", "history"],
        &["captions", "@", "history", "--json"],
        &["captions", "@", "undo", "--dry-run"],
        &["captions", "@", "trigger", "x", "--dry-run"],
        &["exclude", "@", "day.png", "--dry-run"],
        &["lint", "@", "--no-images"],
        &["lint", "@"],
        &["lint", "@", "--fix", "whitespace", "--dry-run"],
        &["stats", "@"],
    ] {
        let out = run_with(&root, args);
        assert!(
            out.status.code() == Some(0) || (args[0] == "lint" && out.status.code() == Some(1)),
            "{args:?}: {}",
            text(&out)
        );
        assert_eq!((snapshot(&root), dirs(&root)), before, "{args:?} wrote");
    }
    assert!(!root.join(".lorabench").exists());
    set_mode(0o644);
}

/// Bytes a terminal would act on: C0 controls but newline and tab, DEL, and C1 (as UTF-8).
fn terminal_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.char_indices()
        .filter(|&(_, c)| c.is_control() && c != '\n' && c != '\t')
        .map(|(i, c)| {
            format!(
                "U+{:04X} at {i} in {:?}",
                u32::from(c),
                &text[i.saturating_sub(20)..]
            )
        })
        .collect()
}

#[test]
fn user_text_never_sends_control_bytes_to_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let png = png();
    let hostile = "sea, \x1b]0;owned\x07title, \x1b[2Jclear, \u{9b}31mred, nul\0byte, bell\x07";
    fs::write(root.join("day.png"), &png).unwrap();
    fs::write(root.join("day.txt"), hostile).unwrap();
    let odd_name = "esc\x1b[7mname.png";
    fs::write(root.join(odd_name), &png).unwrap();
    fs::write(root.join("esc\x1b[7mname.txt"), "sea, \x1b[5mblink").unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["captions", "@", "list"],
        vec!["captions", "@", "add", "\x1b[31mred tag", "--dry-run"],
        vec!["captions", "@", "add", "\x1b[31mred tag"],
        vec!["captions", "@", "history"],
        vec!["captions", "@", "undo", "--dry-run"],
        vec!["captions", "@", "undo"],
        vec![
            "captions",
            "@",
            "set",
            "day.png",
            "calm\x1b[0m",
            "--dry-run",
        ],
        vec!["captions", "@", "set", "no\x1b[1mimage.png", "x"],
        vec!["exclude", "@", odd_name, "--dry-run"],
        vec!["exclude", "@", "gone\x07.png"],
        vec!["lint", "@"],
        vec!["lint", "@", "--json"],
        vec!["lint", "@", "--fix", "whitespace", "--dry-run"],
        vec!["stats", "@"],
    ];
    for args in &runs {
        let out = run_with(root, args);
        for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let found = terminal_controls(bytes);
            assert!(found.is_empty(), "{args:?} {stream}: {found:?}");
        }
    }
    // Lint names the hostile caption for what it holds.
    let lint = text(&run_with(root, &["lint", "@", "--no-images"]));
    assert!(
        lint.contains("[control-character]") && lint.contains("ESC at character 5"),
        "{lint}"
    );
}

#[test]
fn an_error_is_said_once_and_names_the_file_the_user_gave() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dataset(root);
    let missing = root.join("nowhere");
    let missing = missing.to_str().unwrap();
    let lora = root.join("day.png");
    let not_lora = lora.to_str().unwrap();
    let out_in_missing = root.join("no/such/dir/out.safetensors");
    for args in [
        vec!["captions", missing, "list"],
        vec!["captions", missing, "history"],
        vec!["lint", missing],
        vec!["stats", missing],
        vec!["captions", "@", "sub", "(", "x", "--regex"],
        vec!["captions", "@", "list", "--filter", "tag:\"open"],
        vec!["lora", "inspect", not_lora],
        vec!["lora", "inspect", missing],
        vec![
            "lora",
            "resize",
            missing,
            "-o",
            out_in_missing.to_str().unwrap(),
            "--rank",
            "4",
        ],
        vec![
            "lora",
            "convert",
            not_lora,
            "-o",
            "x.safetensors",
            "--to",
            "peft",
        ],
    ] {
        let out = run_with(root, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let parts: Vec<&str> = err
            .trim()
            .trim_start_matches("lorabench: ")
            .split(": ")
            .map(str::trim)
            .filter(|p| p.len() > 3)
            .collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(!parts[..i].contains(p), "{args:?} repeats {p:?}: {err}");
        }
        assert!(err.starts_with("lorabench: "), "{args:?}: {err}");
        assert!(
            !err.contains(".partial") && !err.contains(".lbtmp"),
            "{err}"
        );
    }
    let err = text(&run_with(root, &["lora", "inspect", not_lora]));
    assert!(err.contains("is not a safetensors file"), "{err}");
}

#[test]
fn counts_are_worded_in_the_right_number() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("one.png"), png()).unwrap();
    fs::write(root.join("one.txt"), "").unwrap(); // 0 bytes: an error for sd-scripts
    let wrong =
        regex::Regex::new(r"\b1 (errors|warnings|infos|images|files|captions|buckets|modules)\b")
            .unwrap();
    let mut seen = String::new();
    for args in [
        &["lint", "@"][..],
        &["captions", "@", "add", "x"],
        &["captions", "@", "history"],
        &["captions", "@", "undo", "--dry-run"],
        &["captions", "@", "undo"],
        &["captions", "@", "redo", "--dry-run"],
        &["exclude", "@", "one.png", "--dry-run"],
        &["exclude", "@", "one.png"],
        &["captions", "@", "trigger", "t", "--dry-run"],
    ] {
        let out = text(&run_with(root, args));
        assert!(!wrong.is_match(&out), "{args:?}: {out}");
        seen.push_str(&out);
    }
    for right in ["1 image", "1 error", "1 file", "1 caption"] {
        assert!(seen.contains(right), "{right} never said: {seen}");
    }
    // The text report's groups use the JSON's names.
    let lint = text(&run_with(root, &["lint", "@", "--no-images"]));
    assert!(
        !lint.contains("Notes") && !lint.contains(" notes"),
        "{lint}"
    );
}

#[test]
fn bad_settings_and_unknown_filter_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let zero = run_with(dir.path(), &["lint", "@", "--batch-size", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", text(&zero));
    for filter in ["tags:night", "TAG:night", "-Name:day*"] {
        let flag = format!("--filter={filter}");
        let out = run_with(dir.path(), &["captions", "@", "list", &flag]);
        assert_eq!(out.status.code(), Some(2), "{filter}: {}", text(&out));
        assert!(
            text(&out).contains("tag:, name:"),
            "{filter}: {}",
            text(&out)
        );
    }
    let quoted = run_with(
        dir.path(),
        &["captions", "@", "list", "--filter", "\"tags:night\""],
    );
    assert!(quoted.status.success(), "{}", text(&quoted));
}

#[test]
fn history_shows_times_and_explains_its_marks() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    assert!(
        run_with(dir.path(), &["captions", "@", "add", "x"])
            .status
            .success()
    );
    assert!(
        run_with(dir.path(), &["captions", "@", "add", "y"])
            .status
            .success()
    );
    assert!(
        run_with(dir.path(), &["captions", "@", "undo"])
            .status
            .success()
    );
    let shown = text(&run_with(dir.path(), &["captions", "@", "history"]));
    let time = regex::Regex::new(r"#1 +\d{4}-\d\d-\d\d \d\d:\d\d +4 files +add tag").unwrap();
    assert!(time.is_match(&shown), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("u #2")), "{shown}");
    assert!(
        shown.contains("u marks an undone entry") && shown.contains("UTC"),
        "{shown}"
    );
}
