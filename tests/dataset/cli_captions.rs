//! The `captions`, `exclude` and `include` commands as a script would use them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn lorabench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lorabench"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn dataset(root: &Path) {
    let mut png = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(2, 2)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    for (name, caption) in [
        ("day.png", Some(&b"sea, day"[..])),
        ("night.png", Some(b"sea, night, night\n")),
        ("latin.png", Some(b"caf\xe9, sea")),
        ("-dash.png", None),
    ] {
        fs::write(root.join(name), &png).unwrap();
        if let Some(c) = caption {
            fs::write(root.join(name).with_extension("txt"), c).unwrap();
        }
    }
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    dataset(dir.path());
    let out = lorabench(&["captions", root, "trigger", "lbhouse", "--dry-run"]);
    assert!(out.status.success());
    let diff = stdout(&out);
    assert!(diff.contains("--- a/day.txt\n+++ b/day.txt"), "{diff}");
    assert!(diff.contains("-sea, day\n"), "{diff}");
    assert!(diff.contains("+lbhouse, sea, day\n"), "{diff}");
    assert!(
        diff.contains("+++ b/-dash.txt"),
        "a missing caption would be created: {diff}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("latin.txt"));
    assert_eq!(fs::read(dir.path().join("day.txt")).unwrap(), b"sea, day");
    assert!(
        !dir.path()
            .join(".lorabench/journal/00000001.entry")
            .exists()
    );
}

#[test]
fn filter_limits_the_edit_and_undo_reverts_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    dataset(dir.path());
    let out = lorabench(&["captions", root, "add", "dark", "--filter", "tag:night"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read(dir.path().join("night.txt")).unwrap(),
        b"sea, night, night, dark\n"
    );
    assert_eq!(fs::read(dir.path().join("day.txt")).unwrap(), b"sea, day");
    let out = lorabench(&["captions", root, "dedupe"]);
    assert!(out.status.success());
    assert_eq!(
        fs::read(dir.path().join("night.txt")).unwrap(),
        b"sea, night, dark\n"
    );

    let out = lorabench(&["captions", root, "history", "--json"]);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[1]["description"], "dedupe tags");

    for _ in 0..2 {
        assert!(lorabench(&["captions", root, "undo"]).status.success());
    }
    assert_eq!(
        fs::read(dir.path().join("night.txt")).unwrap(),
        b"sea, night, night\n"
    );
    assert!(stdout(&lorabench(&["captions", root, "undo"])).contains("nothing to undo"));
}

#[test]
fn set_list_and_odd_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    dataset(dir.path());
    let out = lorabench(&["captions", root, "set", "--", "-dash.png", "a, b"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read(dir.path().join("-dash.txt")).unwrap(), b"a, b");
    let out = lorabench(&["captions", root, "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["caption_state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["text", "text", "not-utf8", "text"]);
    let out = lorabench(&["captions", root, "set", "nope.png", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.png"));
}

#[test]
fn bad_regex_and_bad_filter_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    dataset(dir.path());
    let out = lorabench(&["captions", root, "sub", "(", "x", "--regex"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid pattern"));
    let out = lorabench(&["captions", root, "dedupe", "--filter", "tag:\"open"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unclosed quote"));
}

#[test]
fn exclude_then_include_by_filter() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    dataset(dir.path());
    assert!(lorabench(&["exclude", root, "night.png"]).status.success());
    assert!(dir.path().join(".lorabench/excluded/night.png").exists());
    assert!(dir.path().join(".lorabench/excluded/night.txt").exists());
    let listed = stdout(&lorabench(&["captions", root, "list"]));
    assert!(!listed.contains("night.png"));
    let listed = stdout(&lorabench(&[
        "captions", root, "list", "--filter", "excluded",
    ]));
    assert!(listed.contains("night.png"));
    assert!(
        lorabench(&["include", root, "--filter", "tag:night"])
            .status
            .success()
    );
    assert!(dir.path().join("night.png").exists());
    assert!(!dir.path().join(".lorabench/excluded/night.png").exists());
}
