//! The dataset core on real folders: scan, bulk edits through the journal, undo/redo across
//! "restarts" (a fresh Journal), conflicts, exclusion, and recovery of an interrupted entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::fs;
use std::path::Path;

use lorabench::dataset::exclude::{exclude, include};
use lorabench::dataset::journal::{FileOp, Recovery};
use lorabench::dataset::ops::{self, BulkOp, Position};
use lorabench::dataset::{CaptionState, DatasetError, Journal, Query, ScanOptions, scan};

/// A tiny valid PNG (1x1), so sniffing sees a real image.
fn png() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(1, 1)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

fn sample(root: &Path) {
    let png = png();
    write(root, "10_lbhouse/a.png", &png);
    write(root, "10_lbhouse/a.txt", b"lbhouse, sea, rocks\n");
    write(root, "10_lbhouse/b.PNG", &png);
    write(root, "10_lbhouse/b.txt", b"sea, night\r\n");
    write(root, "c.jpg", &png); // a PNG named .jpg: still an image
    write(root, "noext", &png); // found by content
    write(root, "d.png", &png);
    write(root, "d.caption", b"from caption file");
    write(root, "latin.png", &png);
    write(root, "latin.txt", b"caf\xe9, sea");
    write(root, "orphan.txt", b"nobody's");
    write(root, "notes.md", b"# not an image");
    write(root, ".hidden/x.png", &png);
    write(root, ".lorabench/journal/junk", b"");
}

#[test]
fn scan_finds_images_captions_folders_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let ds = scan(dir.path(), &ScanOptions::default()).unwrap();
    let names: Vec<String> = ds
        .items
        .iter()
        .map(|i| i.path.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "10_lbhouse/a.png",
            "10_lbhouse/b.PNG",
            "c.jpg",
            "d.png",
            "latin.png",
            "noext"
        ]
    );
    let a = &ds.items[0];
    assert_eq!(a.folder.as_ref().map(|f| f.repeats), Some(10));
    assert_eq!(a.caption.text(), Some("lbhouse, sea, rocks"));
    assert_eq!(ds.items[2].ext_format, Some(image::ImageFormat::Jpeg));
    assert_eq!(ds.items[2].sniffed_format, Some(image::ImageFormat::Png));
    assert_eq!(ds.items[3].caption_path, Path::new("d.caption"));
    assert!(matches!(ds.items[4].caption, CaptionState::NotUtf8(_)));
    assert_eq!(ds.items[5].caption, CaptionState::Missing);
    assert_eq!(ds.orphans, [Path::new("orphan.txt")]);
}

#[test]
fn scan_reports_symlink_loops_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "sub/a.png", &png());
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).unwrap();
    let ds = scan(dir.path(), &ScanOptions::default()).unwrap();
    assert_eq!(ds.items.len(), 1);
    assert!(
        ds.problems.iter().any(|p| p.message.contains("loop")),
        "{:?}",
        ds.problems
    );
}

#[test]
fn scan_of_missing_folder_is_a_clear_error() {
    let err = scan(Path::new("/no/such/dataset"), &ScanOptions::default()).unwrap_err();
    assert!(err.to_string().contains("/no/such/dataset"), "{err}");
}

#[test]
fn bulk_edit_undo_redo_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample(root);
    let ds = scan(root, &ScanOptions::default()).unwrap();
    let all: Vec<usize> = (0..ds.items.len()).collect();
    let op = BulkOp::Trigger {
        word: "lbhouse".into(),
    };
    let plan = ops::plan(&ds, &all, &op).unwrap();
    // latin.txt is skipped, never mangled; noext gets a new caption.
    assert_eq!(plan.skipped.len(), 1);
    assert!(plan.diff().contains("+lbhouse, sea, night"));
    {
        let (journal, rec) = Journal::open(root).unwrap();
        assert_eq!(rec, Recovery::Clean);
        assert!(plan.apply(&journal, &op.describe()).unwrap().is_some());
    }
    assert_eq!(
        fs::read(root.join("10_lbhouse/b.txt")).unwrap(),
        b"lbhouse, sea, night\r\n"
    );
    assert_eq!(
        fs::read(root.join("10_lbhouse/a.txt")).unwrap(),
        b"lbhouse, sea, rocks\n"
    );
    assert_eq!(fs::read(root.join("noext.txt")).unwrap(), b"lbhouse");
    assert_eq!(fs::read(root.join("latin.txt")).unwrap(), b"caf\xe9, sea");

    // A new process: undo from disk alone.
    let (journal, _) = Journal::open(root).unwrap();
    let undone = journal.undo(false).unwrap().unwrap();
    assert!(!undone.applied);
    assert_eq!(
        fs::read(root.join("10_lbhouse/b.txt")).unwrap(),
        b"sea, night\r\n"
    );
    assert!(
        !root.join("noext.txt").exists(),
        "a caption the op created is gone again"
    );
    assert!(journal.undo(false).unwrap().is_none());
    let (journal, _) = Journal::open(root).unwrap();
    journal.redo(false).unwrap().unwrap();
    assert_eq!(fs::read(root.join("noext.txt")).unwrap(), b"lbhouse");
    assert!(journal.redo(false).unwrap().is_none());
    assert_eq!(journal.history().unwrap().len(), 1);
}

#[test]
fn external_change_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample(root);
    let ds = scan(root, &ScanOptions::default()).unwrap();
    let (journal, _) = Journal::open(root).unwrap();
    // Someone edits a.txt after we read it.
    fs::write(root.join("10_lbhouse/a.txt"), b"theirs").unwrap();
    let err = ops::write_caption(&journal, &ds, 0, "mine").unwrap_err();
    assert!(matches!(err, DatasetError::Conflict { .. }), "{err}");
    assert_eq!(fs::read(root.join("10_lbhouse/a.txt")).unwrap(), b"theirs");
    assert!(journal.history().unwrap().is_empty());

    // An edit that lands, then an external change: undo refuses unless forced.
    let ds = scan(root, &ScanOptions::default()).unwrap();
    ops::write_caption(&journal, &ds, 0, "mine")
        .unwrap()
        .unwrap();
    fs::write(root.join("10_lbhouse/a.txt"), b"theirs again").unwrap();
    assert!(matches!(
        journal.undo(false),
        Err(DatasetError::Conflict { .. })
    ));
    journal.undo(true).unwrap().unwrap();
    assert_eq!(fs::read(root.join("10_lbhouse/a.txt")).unwrap(), b"theirs");
}

#[test]
fn unchanged_text_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let ds = scan(dir.path(), &ScanOptions::default()).unwrap();
    let (journal, _) = Journal::open(dir.path()).unwrap();
    assert_eq!(
        ops::write_caption(&journal, &ds, 0, "lbhouse, sea, rocks").unwrap(),
        None
    );
    let plan = ops::plan(
        &ds,
        &[0],
        &BulkOp::Add {
            tag: "sea".into(),
            at: Position::Back,
        },
    )
    .unwrap();
    assert!(plan.edits.is_empty());
}

#[test]
fn exclude_and_include_move_and_undo() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample(root);
    let (journal, _) = Journal::open(root).unwrap();
    let ds = scan(root, &ScanOptions::default()).unwrap();
    exclude(&journal, &ds, &[0, 3]).unwrap().unwrap();
    assert!(!root.join("10_lbhouse/a.png").exists());
    assert!(root.join(".lorabench/excluded/10_lbhouse/a.png").exists());
    assert!(root.join(".lorabench/excluded/10_lbhouse/a.txt").exists());
    assert!(root.join(".lorabench/excluded/d.caption").exists());

    let ds = scan(root, &ScanOptions::default()).unwrap();
    let excluded = Query::parse("excluded").unwrap();
    let ex: Vec<usize> = (0..ds.items.len())
        .filter(|&i| excluded.matches(&ds.items[i]))
        .collect();
    assert_eq!(ex.len(), 2);
    assert_eq!(ds.items[ex[0]].caption.text(), Some("lbhouse, sea, rocks"));
    // Editing an excluded caption works in place.
    ops::write_caption(&journal, &ds, ex[0], "edited while excluded").unwrap();
    assert_eq!(
        fs::read(root.join(".lorabench/excluded/10_lbhouse/a.txt")).unwrap(),
        b"edited while excluded\n"
    );
    include(&journal, &ds, &ex).unwrap().unwrap();
    assert!(root.join("10_lbhouse/a.png").exists());
    assert_eq!(
        fs::read(root.join("10_lbhouse/a.txt")).unwrap(),
        b"edited while excluded\n"
    );
    // Undo the include, then the edit, then the exclude: back where we began.
    for _ in 0..3 {
        journal.undo(false).unwrap().unwrap();
    }
    assert!(root.join("10_lbhouse/a.png").exists());
    assert_eq!(
        fs::read(root.join("10_lbhouse/a.txt")).unwrap(),
        b"lbhouse, sea, rocks\n"
    );
}

#[test]
fn include_never_overwrites_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample(root);
    let (journal, _) = Journal::open(root).unwrap();
    let ds = scan(root, &ScanOptions::default()).unwrap();
    exclude(&journal, &ds, &[2]).unwrap().unwrap();
    write(root, "c.jpg", b"a new file with the old name");
    let ds = scan(root, &ScanOptions::default()).unwrap();
    let i = ds.items.iter().position(|it| it.excluded).unwrap();
    let err = include(&journal, &ds, &[i]).unwrap_err();
    assert!(matches!(err, DatasetError::Exists { .. }), "{err}");
    assert_eq!(
        fs::read(root.join("c.jpg")).unwrap(),
        b"a new file with the old name"
    );
}

#[test]
fn damaged_journal_entry_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample(root);
    let (journal, _) = Journal::open(root).unwrap();
    journal
        .commit(
            "x",
            vec![FileOp::Write {
                path: "new.txt".into(),
                before: None,
                after: Some(b"x".to_vec()),
            }],
        )
        .unwrap();
    for garbage in [
        &b""[..],
        b"LBJ1",
        b"LBJ1\xff\xff\xff\xff\xff\xff\xff\xff{}",
        b"LBJ1\x02\0\0\0\0\0\0\0{}",
    ] {
        fs::write(root.join(".lorabench/journal/00000001.entry"), garbage).unwrap();
        let err = journal.undo(false).unwrap_err();
        assert!(matches!(err, DatasetError::Journal { .. }), "{err}");
    }
}

#[test]
fn saving_keeps_the_caption_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample(root);
    let caption = root.join("10_lbhouse/a.txt");
    fs::set_permissions(&caption, fs::Permissions::from_mode(0o664)).unwrap();
    let ds = scan(root, &ScanOptions::default()).unwrap();
    let (journal, _) = Journal::open(root).unwrap();
    ops::write_caption(&journal, &ds, 0, "changed")
        .unwrap()
        .unwrap();
    let mode = fs::metadata(&caption).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o664);
}

/// Opening and viewing (what the CLI's readers and the workbench do on start) create nothing:
/// not in an empty folder, a folder of models, or a dataset; `.lorabench/` comes with the first
/// change, and undo/redo with nothing to do leave no trace either.
#[test]
fn opening_and_viewing_leave_nothing_behind() {
    let everything = |root: &Path| -> Vec<std::path::PathBuf> {
        let mut all: Vec<_> = walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.unwrap().path().to_path_buf())
            .collect();
        all.sort();
        all
    };
    let empty = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    write(models.path(), "style.safetensors", b"\x02\0\0\0\0\0\0\0{}");
    let data = tempfile::tempdir().unwrap();
    sample(data.path());
    for root in [empty.path(), models.path(), data.path()] {
        let before = everything(root);
        let (journal, recovery) = Journal::open(root).unwrap();
        assert_eq!(recovery, Recovery::Clean);
        let dataset = scan(root, &ScanOptions::default()).unwrap();
        assert!(journal.history().unwrap().is_empty());
        assert!(journal.preview(true, false).unwrap().is_none());
        assert!(journal.undo(false).unwrap().is_none());
        assert!(journal.redo(false).unwrap().is_none());
        let plan = ops::plan(&dataset, &[0, 1, 2], &BulkOp::Dedupe).unwrap();
        let _ = plan.diff();
        assert_eq!(everything(root), before, "{}", root.display());
    }
    // The first change makes the journal.
    let (journal, _) = Journal::open(data.path()).unwrap();
    let dataset = scan(data.path(), &ScanOptions::default()).unwrap();
    let all: Vec<usize> = (0..dataset.items.len()).collect();
    let op = BulkOp::Add {
        tag: "new".into(),
        at: Position::Back,
    };
    let id = ops::plan(&dataset, &all, &op)
        .unwrap()
        .apply(&journal, "add")
        .unwrap();
    assert_eq!(id, Some(1));
    assert!(data.path().join(".lorabench/journal").is_dir());
}
