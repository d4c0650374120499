//! Lint on a dataset built on the spot with one flaw per file: every flaw gives its finding,
//! nothing panics, the JSON schema and exit codes hold, and the safe fixes go through the
//! journal (undoable).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use lorabench::dataset::buckets::Model;
use lorabench::dataset::lint::{self, Kind, LintEvent, LintOptions, Severity, Trainer, fix};
use lorabench::dataset::{Journal, ScanOptions, scan};

/// A picture with structure (so perceptual hashes of different seeds differ).
fn picture(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let s = seed as f32;
        let v = ((fx * (3.0 + s)).sin() * (fy * (2.0 + s * 0.7)).cos() * 0.5 + 0.5) * 255.0;
        Rgb([
            v as u8,
            (255.0 - v) as u8,
            ((fx + fy) * 120.0 + s * 20.0) as u8,
        ])
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(picture(w, h, seed)),
        ImageFormat::Jpeg,
    )
}

fn png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    encode(
        &DynamicImage::ImageRgb8(picture(w, h, seed)),
        ImageFormat::Png,
    )
}

/// Insert an APP1 EXIF segment with the given orientation after the SOI marker.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08");
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

const GOOD: &str = "lbhouse, lighthouse, sea, cliff\n";

type Files = Vec<(&'static str, Vec<u8>)>;
type Expected = Vec<(&'static str, Kind)>;

/// (file, bytes) of the flawed dataset, and the finding each flaw must give.
fn flawed_files() -> (Files, Expected) {
    let original = jpeg(640, 512, 4);
    let near = {
        let img = image::load_from_memory(&original).expect("decode");
        let smaller = img
            .resize_exact(608, 486, image::imageops::FilterType::Triangle)
            .brighten(5);
        encode(
            &DynamicImage::ImageRgb8(smaller.to_rgb8()),
            ImageFormat::Jpeg,
        )
    };
    let full = jpeg(640, 512, 2);
    let rgba = RgbaImage::from_fn(512, 512, |x, y| {
        Rgba([x as u8, y as u8, 90, if x < 40 { 0 } else { 255 }])
    });
    let gray = DynamicImage::ImageRgb8(picture(512, 512, 9)).grayscale();
    let deep = DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(picture(512, 512, 10)).to_rgb16());
    let long = format!(
        "lbhouse, {}\n",
        (0..60)
            .map(|i| format!("tag number {i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let files: Vec<(&'static str, Vec<u8>)> = vec![
        (
            "corrupt.png",
            (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("corrupt.txt", GOOD.into()),
        ("truncated.jpg", full[..full.len() * 2 / 5].to_vec()),
        ("truncated.txt", GOOD.into()),
        ("zero-byte.png", Vec::new()),
        ("zero-byte.txt", GOOD.into()),
        ("png-named-jpg.jpg", png(512, 512, 11)),
        ("png-named-jpg.txt", GOOD.into()),
        ("missing-caption.jpg", jpeg(512, 640, 3)),
        ("empty-caption.jpg", jpeg(512, 512, 12)),
        ("empty-caption.txt", Vec::new()),
        ("orphan-caption.txt", GOOD.into()),
        ("latin1-caption.jpg", jpeg(512, 512, 13)),
        (
            "latin1-caption.txt",
            b"lbhouse, caf\xe9 terrace, sea\n".to_vec(),
        ),
        ("multi-line-caption.jpg", jpeg(512, 512, 14)),
        (
            "multi-line-caption.txt",
            b"lbhouse, lighthouse\nsea, cliff\n".to_vec(),
        ),
        ("duplicate-tags.jpg", jpeg(512, 512, 15)),
        (
            "duplicate-tags.txt",
            b"lbhouse, sea, Sea, rocks, sea\n".to_vec(),
        ),
        ("stray-whitespace.jpg", jpeg(512, 512, 16)),
        (
            "stray-whitespace.txt",
            b"  lbhouse ,lighthouse,  sunset\t\n".to_vec(),
        ),
        ("no-trigger-word.jpg", jpeg(512, 512, 17)),
        ("no-trigger-word.txt", b"lighthouse, fog\n".to_vec()),
        ("long-caption.jpg", jpeg(512, 512, 18)),
        ("long-caption.txt", long.into_bytes()),
        ("duplicate-original.jpg", original.clone()),
        ("duplicate-original.txt", GOOD.into()),
        ("duplicate-exact-copy.jpg", original),
        ("duplicate-exact-copy.txt", GOOD.into()),
        ("duplicate-near-copy.jpg", near),
        ("duplicate-near-copy.txt", GOOD.into()),
        ("tiny-64x64.png", png(64, 64, 19)),
        ("tiny-64x64.txt", GOOD.into()),
        ("extreme-aspect.jpg", jpeg(1536, 256, 20)),
        ("extreme-aspect.txt", GOOD.into()),
        ("exif-rotated.jpg", with_orientation(&jpeg(640, 512, 21), 6)),
        ("exif-rotated.txt", GOOD.into()),
        (
            "transparent.png",
            encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png),
        ),
        ("transparent.txt", GOOD.into()),
        ("grayscale.png", encode(&gray, ImageFormat::Png)),
        ("grayscale.txt", GOOD.into()),
        ("16-bit.png", encode(&deep, ImageFormat::Png)),
        ("16-bit.txt", GOOD.into()),
        ("Shore.Jpg", jpeg(512, 512, 22)),
        ("Shore.txt", GOOD.into()),
    ];
    let expected = vec![
        ("corrupt.png", Kind::Unreadable),
        ("truncated.jpg", Kind::Unreadable),
        ("zero-byte.png", Kind::Unreadable),
        ("png-named-jpg.jpg", Kind::ExtensionMismatch),
        ("missing-caption.jpg", Kind::MissingCaption),
        ("empty-caption.txt", Kind::EmptyCaption),
        ("orphan-caption.txt", Kind::OrphanCaption),
        ("latin1-caption.txt", Kind::CaptionEncoding),
        ("multi-line-caption.txt", Kind::MultiLineCaption),
        ("duplicate-tags.txt", Kind::DuplicateTag),
        ("stray-whitespace.txt", Kind::Whitespace),
        ("no-trigger-word.txt", Kind::MissingTrigger),
        ("long-caption.txt", Kind::TokenLimit),
        ("duplicate-exact-copy.jpg", Kind::Duplicate),
        ("duplicate-near-copy.jpg", Kind::NearDuplicate),
        ("tiny-64x64.png", Kind::LowResolution),
        ("extreme-aspect.jpg", Kind::AspectRatio),
        ("exif-rotated.jpg", Kind::ExifOrientation),
        ("transparent.png", Kind::Transparency),
        ("grayscale.png", Kind::ColorMode),
        ("16-bit.png", Kind::ColorMode),
        ("Shore.Jpg", Kind::UnsupportedByTrainer),
    ];
    (files, expected)
}

fn write_dataset(dir: &Path) -> Vec<(&'static str, Kind)> {
    let (files, expected) = flawed_files();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write fixture file");
    }
    expected
}

fn options() -> LintOptions {
    LintOptions {
        trainer: Trainer::Kohya,
        model: Model::Sd15,
        batch_size: 2,
        trigger: Some("lbhouse".into()),
        ..LintOptions::default()
    }
}

#[test]
fn every_flaw_gives_its_finding_and_events_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = write_dataset(dir.path());
    let dataset = scan(dir.path(), &ScanOptions::default()).expect("scan");
    let cancel = AtomicBool::new(false);
    let mut streamed = Vec::new();
    let mut progress = Vec::new();
    let report = lint::run(&dataset, &options(), &cancel, |e| match e {
        LintEvent::Finding(f) => streamed.push(f),
        LintEvent::Progress { done, total } => progress.push((done, total)),
    })
    .expect("lint runs");
    for (file, kind) in &expected {
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.kind == *kind && f.path == Path::new(file)),
            "{file}: no {kind} finding; got {:#?}",
            report
                .findings
                .iter()
                .filter(|f| f.path == Path::new(file))
                .collect::<Vec<_>>()
        );
    }
    assert_eq!(streamed.len(), report.findings.len());
    let total = dataset.items.len();
    assert_eq!(progress.last(), Some(&(total, total)));
    // Both copies of a duplicate pair are flagged, each naming the other.
    let dup = |file: &str, kind| {
        report
            .findings
            .iter()
            .find(|f| f.path == Path::new(file) && f.kind == kind)
            .map(|f| f.message.clone())
    };
    assert!(
        dup("duplicate-original.jpg", Kind::Duplicate)
            .is_some_and(|m| m.contains("duplicate-exact-copy.jpg"))
    );
    assert!(
        dup("duplicate-original.jpg", Kind::NearDuplicate)
            .is_some_and(|m| m.contains("duplicate-near-copy.jpg"))
    );
    // Different pictures are not near duplicates of each other.
    assert!(dup("grayscale.png", Kind::NearDuplicate).is_none());
    // sd-scripts aborts on a 0-byte caption and on non-UTF-8: errors.
    let sev = |file: &str, kind| {
        report
            .findings
            .iter()
            .find(|f| f.path == Path::new(file) && f.kind == kind)
            .map(|f| f.severity)
    };
    assert_eq!(
        sev("empty-caption.txt", Kind::EmptyCaption),
        Some(Severity::Error)
    );
    assert_eq!(
        sev("latin1-caption.txt", Kind::CaptionEncoding),
        Some(Severity::Error)
    );
    assert!(report.has_errors());
    // Findings about an image point back at it.
    let exif = report
        .findings
        .iter()
        .find(|f| f.kind == Kind::ExifOrientation)
        .expect("exif finding");
    let index = exif.item.expect("item index");
    assert_eq!(dataset.items[index].path, Path::new("exif-rotated.jpg"));
}

#[test]
fn ai_toolkit_is_lenient_where_it_differs() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path());
    let dataset = scan(dir.path(), &ScanOptions::default()).expect("scan");
    let mut opts = options();
    opts.trainer = Trainer::AiToolkit;
    let report = lint::run(&dataset, &opts, &AtomicBool::new(false), |_| {}).expect("lint");
    let find = |kind| {
        report
            .findings
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.severity)
    };
    // ai-toolkit applies EXIF and prepends the trigger itself.
    assert_eq!(find(Kind::ExifOrientation), Some(Severity::Info));
    assert_eq!(find(Kind::MissingTrigger), Some(Severity::Info));
    // Mixed-case extensions are a sd-scripts trap only.
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.kind == Kind::UnsupportedByTrainer && f.path == Path::new("Shore.Jpg"))
    );
}

#[test]
fn cancelled_run_reports_partial_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path());
    let dataset = scan(dir.path(), &ScanOptions::default()).expect("scan");
    let cancel = AtomicBool::new(true);
    let report = lint::run(&dataset, &options(), &cancel, |_| {}).expect("lint");
    assert!(report.summary.cancelled);
    assert!(report.images.iter().all(Option::is_none));
}

#[test]
fn fixes_go_through_the_journal_and_undo() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path());
    let root = dir.path();
    let before_latin = std::fs::read(root.join("latin1-caption.txt")).expect("read");
    let dataset = scan(root, &ScanOptions::default()).expect("scan");
    let kinds = fix::parse_kinds(&[
        "caption-encoding".into(),
        "multi-line-caption".into(),
        "whitespace".into(),
        "duplicate-tag".into(),
        "missing-trigger".into(),
        "empty-caption".into(),
    ])
    .expect("fixable kinds");
    let plan = fix::plan(&dataset, &kinds, Some("lbhouse")).expect("plan");
    let diff = plan.diff();
    assert!(diff.contains("+lbhouse, café terrace, sea"), "{diff}");
    let (journal, _) = Journal::open(root).expect("journal");
    plan.apply(&journal, "lint fix")
        .expect("apply")
        .expect("an entry");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).expect("utf-8 caption");
    assert_eq!(read("latin1-caption.txt"), "lbhouse, café terrace, sea\n");
    assert_eq!(
        read("multi-line-caption.txt"),
        "lbhouse, lighthouse, sea, cliff\n"
    );
    assert_eq!(read("duplicate-tags.txt"), "lbhouse, sea, rocks\n");
    assert_eq!(read("stray-whitespace.txt"), "lbhouse,lighthouse, sunset\n");
    assert_eq!(read("no-trigger-word.txt"), "lbhouse, lighthouse, fog\n");
    // A missing caption is created from the folder name, then given the trigger.
    let created = read("missing-caption.txt");
    assert!(created.starts_with("lbhouse, "), "{created}");
    // After the fixes, lint no longer reports these kinds.
    let rescanned = scan(root, &ScanOptions::default()).expect("scan");
    let report = lint::run(&rescanned, &options(), &AtomicBool::new(false), |_| {}).expect("lint");
    for kind in &kinds {
        assert!(
            !report.findings.iter().any(|f| f.kind == *kind),
            "{kind} still reported"
        );
    }
    // One undo restores every file, byte for byte, and removes the created caption.
    journal.undo(false).expect("undo").expect("undone");
    assert_eq!(
        std::fs::read(root.join("latin1-caption.txt")).expect("read"),
        before_latin
    );
    assert!(!root.join("missing-caption.txt").exists());
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lorabench"))
}

#[test]
fn cli_json_schema_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path());
    let out = Command::new(bin())
        .args([
            "lint",
            "--json",
            "--model",
            "sd15",
            "--batch-size",
            "2",
            "--trigger",
            "lbhouse",
        ])
        .arg(dir.path())
        .output()
        .expect("run lorabench");
    assert_eq!(out.status.code(), Some(1), "errors present → exit 1");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let findings = value["findings"].as_array().expect("findings array");
    assert!(!findings.is_empty());
    for f in findings {
        let keys: Vec<&String> = f.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 5, "{f}");
        for key in ["kind", "severity", "path", "message", "hint"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
        assert!(Kind::from_id(f["kind"].as_str().unwrap_or_default()).is_some());
        assert!(!Path::new(f["path"].as_str().unwrap_or("/")).is_absolute());
    }
    assert_eq!(
        value["summary"]["errors"].as_u64(),
        Some(findings.iter().filter(|f| f["severity"] == "error").count() as u64)
    );

    // A clean dataset exits 0; a missing folder exits 2.
    let clean = tempfile::tempdir().expect("tempdir");
    for i in 0..6 {
        std::fs::write(clean.path().join(format!("{i}.png")), png(512, 512, 30 + i))
            .expect("write");
        std::fs::write(
            clean.path().join(format!("{i}.txt")),
            format!("lbhouse, view {i}\n"),
        )
        .expect("write");
    }
    let ok = Command::new(bin())
        .args(["lint", "--model", "sd15"])
        .arg(clean.path())
        .output()
        .expect("run");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let missing = Command::new(bin())
        .args(["lint"])
        .arg(dir.path().join("nope"))
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn same_length_is_not_a_duplicate_but_same_bytes_is() {
    // BMPs of one size have one length whatever the pixels: only a byte-equal copy counts.
    let dir = tempfile::tempdir().expect("tempdir");
    let a = encode(
        &DynamicImage::ImageRgb8(picture(96, 64, 1)),
        ImageFormat::Bmp,
    );
    let b = encode(
        &DynamicImage::ImageRgb8(picture(96, 64, 2)),
        ImageFormat::Bmp,
    );
    assert_eq!(a.len(), b.len());
    for (name, bytes) in [("a.bmp", &a), ("b.bmp", &b), ("a-copy.bmp", &a)] {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    let dataset = scan(dir.path(), &ScanOptions::default()).expect("scan");
    let report =
        lint::run(&dataset, &options(), &AtomicBool::new(false), |_| {}).expect("lint runs");
    let mut duplicates: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.kind == Kind::Duplicate)
        .map(|f| f.path.to_string_lossy().into_owned())
        .collect();
    duplicates.sort();
    assert_eq!(duplicates, ["a-copy.bmp", "a.bmp"]);
}

/// The caption flaws a tag list hides: empty tags, a bracket without its partner, control
/// characters, and one caption read by two images. The safe fixes leave none of the fixable
/// ones behind (the whitespace fix drops empty tags).
#[test]
fn empty_tags_lone_brackets_controls_and_shared_captions_are_found_and_fixed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let files: [(&str, &[u8], Option<&str>); 6] = [
        ("commas.jpg", &jpeg(512, 512, 1), Some("a,b,, c,, d,")),
        (
            "lone.jpg",
            &jpeg(512, 512, 2),
            Some("lbx, smile (happy, red hair"),
        ),
        (
            "controls.jpg",
            &jpeg(512, 512, 3),
            Some("sea,\0 rocks\x1b[31m, sky"),
        ),
        ("same-stem.jpg", &jpeg(512, 512, 4), Some("sea, shared")),
        ("same-stem.png", &png(512, 512, 5), None),
        (
            "clean.jpg",
            &jpeg(512, 512, 6),
            Some("(a, b), [c], \\(d, e"),
        ),
    ];
    for (name, bytes, caption) in files {
        std::fs::write(root.join(name), bytes).expect("write image");
        if let Some(c) = caption {
            std::fs::write(root.join(name).with_extension("txt"), c).expect("write caption");
        }
    }
    let lint_kinds = || {
        let dataset = scan(root, &ScanOptions::default()).expect("scan");
        let report =
            lint::run(&dataset, &options(), &AtomicBool::new(false), |_| {}).expect("lint");
        report
            .findings
            .into_iter()
            .map(|f| (f.path.to_string_lossy().into_owned(), f.kind))
            .collect::<Vec<_>>()
    };
    let found = lint_kinds();
    for expected in [
        ("commas.txt", Kind::EmptyTag),
        ("lone.txt", Kind::UnbalancedBracket),
        ("controls.txt", Kind::ControlCharacter),
        ("same-stem.txt", Kind::SharedCaption),
    ] {
        let expected = (expected.0.to_string(), expected.1);
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert!(
        !found.iter().any(|(p, k)| p == "clean.txt"
            && matches!(k, Kind::UnbalancedBracket | Kind::EmptyTag)),
        "escaped and balanced brackets are fine: {found:?}"
    );
    let dataset = scan(root, &ScanOptions::default()).expect("scan");
    let kinds = fix::parse_kinds(&["whitespace".into(), "control-character".into()])
        .expect("fixable kinds");
    let plan = fix::plan(&dataset, &kinds, None).expect("plan");
    let (journal, _) = Journal::open(root).expect("journal");
    plan.apply(&journal, "lint fix").expect("apply");
    assert_eq!(
        std::fs::read_to_string(root.join("commas.txt")).expect("caption"),
        "a,b, c, d"
    );
    let after = lint_kinds();
    for kind in [Kind::EmptyTag, Kind::Whitespace, Kind::ControlCharacter] {
        assert!(
            !after.iter().any(|(_, k)| *k == kind),
            "{kind} left after the fix: {after:?}"
        );
    }
}
