//! Every file of `sample-data/messy/` (one deliberate flaw each, see its README) produces its
//! finding, and lint survives the whole folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::path::Path;
use std::sync::atomic::AtomicBool;

use lorabench::dataset::buckets::Model;
use lorabench::dataset::lint::{self, Kind, LintOptions, Trainer};
use lorabench::dataset::{ScanOptions, scan};

/// (file, the finding it must give) for sd-scripts, SD1.5, batch size 2, trigger `lbhouse`.
const EXPECTED: &[(&str, Kind)] = &[
    ("corrupt.png", Kind::Unreadable),
    ("truncated.jpg", Kind::Unreadable),
    ("zero-byte.png", Kind::Unreadable),
    ("png-named-jpg.jpg", Kind::ExtensionMismatch),
    ("missing-caption.jpg", Kind::MissingCaption),
    ("empty-caption.txt", Kind::EmptyCaption),
    ("whitespace-caption.txt", Kind::EmptyCaption),
    ("orphan-caption.txt", Kind::OrphanCaption),
    ("latin1-caption.txt", Kind::CaptionEncoding),
    ("multi-line-caption.txt", Kind::MultiLineCaption),
    ("duplicate-tags.txt", Kind::DuplicateTag),
    ("stray-whitespace.txt", Kind::Whitespace),
    ("no-trigger-word.txt", Kind::MissingTrigger),
    ("long-caption.txt", Kind::TokenLimit),
    ("duplicate-exact-copy.jpg", Kind::Duplicate),
    ("duplicate-original.jpg", Kind::Duplicate),
    ("duplicate-near-copy.jpg", Kind::NearDuplicate),
    ("tiny-64x64.png", Kind::LowResolution),
    ("extreme-aspect-1536x256.jpg", Kind::AspectRatio),
    ("exif-rotated-orientation-6.jpg", Kind::ExifOrientation),
    ("transparent-rgba.png", Kind::Transparency),
    ("grayscale.png", Kind::ColorMode),
    ("16-bit.png", Kind::ColorMode),
    ("Shore.Jpg", Kind::UnsupportedByTrainer),
];

#[test]
fn every_messy_file_produces_its_finding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/messy");
    let dataset = scan(&root, &ScanOptions::default()).expect("sample-data/messy is readable");
    let options = LintOptions {
        trainer: Trainer::Kohya,
        model: Model::Sd15,
        batch_size: 2,
        trigger: Some("lbhouse".into()),
        ..LintOptions::default()
    };
    let report = lint::run(&dataset, &options, &AtomicBool::new(false), |_| {}).expect("lint");
    let missing: Vec<String> = EXPECTED
        .iter()
        .filter(|(file, kind)| {
            !report
                .findings
                .iter()
                .any(|f| f.kind == *kind && f.path == Path::new(file))
        })
        .map(|(file, kind)| format!("{file}: {kind}"))
        .collect();
    assert!(missing.is_empty(), "missing findings: {missing:#?}");
    // The odd-but-valid names are read, not reported as unreadable.
    for name in [
        "with spaces.jpg",
        "phare é.png",
        "-dash.png",
        "crlf-caption.jpg",
        "same-stem.png",
    ] {
        assert!(
            dataset.items.iter().any(|i| i.path == Path::new(name)),
            "{name} scanned"
        );
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.path == Path::new(name) && f.kind == Kind::Unreadable),
            "{name} is readable"
        );
    }
}

/// The README promises one exact duplicate pair and one near copy of it: every other picture
/// is a scene of its own, so lint finds those and nothing else alike.
#[test]
fn the_messy_sample_holds_exactly_the_duplicates_its_readme_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/messy");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("Exact duplicate: two byte-identical files."));
    let dataset = scan(&root, &ScanOptions::default()).unwrap();
    let report = lint::run(
        &dataset,
        &LintOptions::default(),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    let paths = |kind: Kind| -> std::collections::BTreeSet<String> {
        report
            .findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.path.display().to_string())
            .collect()
    };
    let exact = ["duplicate-exact-copy.jpg", "duplicate-original.jpg"];
    assert_eq!(
        paths(Kind::Duplicate),
        exact.iter().map(|s| s.to_string()).collect(),
        "one byte-identical pair"
    );
    let near: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::NearDuplicate)
        .map(|f| format!("{}: {}", f.path.display(), f.message))
        .collect();
    let trio = [exact[0], exact[1], "duplicate-near-copy.jpg"];
    assert!(
        near.iter()
            .all(|n| n.starts_with("duplicate-")
                && trio.iter().filter(|t| n.contains(*t)).count() == 2),
        "only the near copy and the pair look alike: {near:#?}"
    );
    assert!(
        paths(Kind::NearDuplicate).contains("duplicate-near-copy.jpg"),
        "{near:#?}"
    );
}
