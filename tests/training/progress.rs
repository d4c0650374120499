//! Progress parsing and structured metrics against recordings made by the real programs:
//! tests/fixtures/logs/*.log were drawn by the real tqdm (make.py beside them drives it the way
//! each trainer does and writes what it showed into NAME.expected.json);
//! tests/fixtures/kohya_real/ is a real kohya sd-scripts run (record.sh) with its own
//! TensorBoard file; tests/fixtures/tensorboard/ was written by torch's SummaryWriter (make.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test or run

use std::fs;
use std::path::{Path, PathBuf};

use lorabench::train::metrics::{self, MetricsError, MetricsWatcher};
use lorabench::train::progress::{LogFormat, Update, parse_reader, parser_for};
use lorabench::train::{Event, Point, TrainerId};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn format_of(name: &str) -> LogFormat {
    if name.contains("jsonl") {
        LogFormat::Jsonl
    } else {
        LogFormat::Tqdm
    }
}

fn parse_all(trainer: TrainerId, format: LogFormat, bytes: &[u8]) -> (Vec<Point>, Vec<Event>) {
    let (mut points, mut events) = (Vec::new(), Vec::new());
    parse_reader(trainer, format, bytes, |u| match u {
        Update::Point(p) => points.push(p),
        Update::Event(e) => events.push(e),
    })
    .unwrap();
    (points, events)
}

/// Feeds `bytes` in chunks of the given sizes, flushing now and then as the supervisor does.
fn parse_chunked(
    trainer: TrainerId,
    format: LogFormat,
    bytes: &[u8],
    sizes: &mut dyn Iterator<Item = usize>,
) -> (Vec<Point>, Vec<Event>) {
    let mut parser = parser_for(trainer, format);
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = sizes.next().unwrap().clamp(1, rest.len());
        parser.feed(&rest[..n], &mut out);
        rest = &rest[n..];
    }
    parser.finish(&mut out);
    let (mut points, mut events) = (Vec::new(), Vec::new());
    for u in out {
        match u {
            Update::Point(p) => points.push(p),
            Update::Event(e) => events.push(e),
        }
    }
    (points, events)
}

fn recordings() -> Vec<(String, Value, Vec<u8>)> {
    let dir = fixtures().join("logs");
    let mut all: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".expected.json"))
        .map(|p| {
            let name = p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".expected.json", "");
            let expected: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
            let log = fs::read(dir.join(format!("{name}.log"))).unwrap();
            (name, expected, log)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        all.len() >= 15,
        "the recordings are missing: run tests/fixtures/logs/make.py"
    );
    all
}

/// Equal to within a few ULPs (serde_json's float parsing is not always correctly rounded).
fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-14 * b.abs(),
        (a, b) => a == b,
    }
}

fn trainer_of(expected: &Value) -> TrainerId {
    expected["trainer"].as_str().unwrap().parse().unwrap()
}

#[test]
fn recorded_logs_parse_to_what_tqdm_showed() {
    for (name, expected, log) in recordings() {
        let trainer = trainer_of(&expected);
        let (points, events) = parse_all(trainer, format_of(&name), &log);
        let want = expected["points"].as_array().unwrap();
        let steps: Vec<u64> = points.iter().map(|p| p.step).collect();
        let want_steps: Vec<u64> = want.iter().map(|w| w["step"].as_u64().unwrap()).collect();
        assert_eq!(steps, want_steps, "{name}: steps");
        let rate = expected["rate"].as_f64().unwrap();
        for (p, w) in points.iter().zip(want) {
            let at = format!("{name} step {}", p.step);
            assert_eq!(p.total, w["total"].as_u64(), "{at}: total");
            if w["loss_nan"].as_bool() == Some(true) {
                assert!(p.loss.unwrap().is_nan(), "{at}: NaN loss");
            } else {
                assert!(close(p.loss, w["loss"].as_f64()), "{at}: loss {:?}", p.loss);
            }
            assert!(close(p.lr, w["lr"].as_f64()), "{at}: lr {:?}", p.lr);
            if let Some(epoch) = w["epoch"].as_u64() {
                assert_eq!(p.epoch, Some(epoch), "{at}: epoch");
            }
            if format_of(&name) == LogFormat::Tqdm {
                let r = p.rate.unwrap_or_else(|| panic!("{at}: no rate"));
                assert!((r - rate).abs() / rate < 0.01, "{at}: rate {r} vs {rate}");
            }
        }
        let want_ckpts: Vec<(PathBuf, Option<u64>)> = expected["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "checkpoint_saved")
            .map(|e| {
                (
                    PathBuf::from(e["path"].as_str().unwrap()),
                    e["step"].as_u64(),
                )
            })
            .collect();
        let ckpts: Vec<(PathBuf, Option<u64>)> = events
            .iter()
            .filter_map(|e| match e {
                Event::CheckpointSaved { path, step } => Some((path.clone(), *step)),
                _ => None,
            })
            .collect();
        assert_eq!(ckpts, want_ckpts, "{name}: checkpoints");
        let errors: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::Error { message } => Some(message.as_str()),
                _ => None,
            })
            .collect();
        let want_errors: Vec<&str> = expected["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["contains"].as_str())
            .collect();
        assert_eq!(errors.len(), want_errors.len(), "{name}: errors {errors:?}");
        for (got, want) in errors.iter().zip(&want_errors) {
            assert!(got.contains(want), "{name}: error {got:?} lacks {want:?}");
        }
    }
}

#[test]
fn any_chunking_gives_the_same_result() {
    for (name, expected, log) in recordings() {
        let trainer = trainer_of(&expected);
        // Debug text, since a NaN loss is not equal to itself.
        let whole = format!("{:?}", parse_all(trainer, format_of(&name), &log));
        let mut ones = std::iter::repeat(1);
        assert_eq!(
            format!(
                "{:?}",
                parse_chunked(trainer, format_of(&name), &log, &mut ones)
            ),
            whole,
            "{name}: one byte at a time"
        );
        // A fixed pseudo-random sequence of sizes from 1 to 300 bytes.
        let mut x = 12345u32;
        let mut random = std::iter::from_fn(move || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            Some((x >> 16) as usize % 300 + 1)
        });
        assert_eq!(
            format!(
                "{:?}",
                parse_chunked(trainer, format_of(&name), &log, &mut random)
            ),
            whole,
            "{name}: random chunks"
        );
    }
}

#[test]
fn flush_hands_out_the_newest_step_and_a_redraw_replaces_it() {
    let log = "\rsteps:   5%|▌         | 1/20 [00:00<00:09,  2.00it/s]\
               \rsteps:   5%|▌         | 1/20 [00:00<00:09,  2.00it/s, avr_loss=0.216]";
    let mut parser = parser_for(TrainerId::Kohya, LogFormat::Tqdm);
    let mut out = Vec::new();
    parser.feed(log.as_bytes(), &mut out);
    assert!(out.is_empty(), "held until the step is known complete");
    parser.flush(&mut out);
    let [Update::Point(p)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((p.step, p.loss), (1, Some(0.216)));
}

#[test]
fn a_real_kohya_run_parses_to_its_own_tensorboard_scalars() {
    let dir = fixtures().join("kohya_real");
    let log = fs::read(dir.join("train.log")).unwrap();
    let (points, events) = parse_all(TrainerId::Kohya, LogFormat::Tqdm, &log);
    assert_eq!(
        points.iter().map(|p| p.step).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert!(points.iter().all(|p| p.total == Some(6)));
    assert_eq!(
        points.iter().map(|p| p.epoch.unwrap()).collect::<Vec<_>>(),
        [1, 1, 1, 1, 2, 2]
    );

    let mut watcher = MetricsWatcher::new(TrainerId::Kohya, &dir);
    let tb = watcher.poll().unwrap();
    assert!(watcher.take_problems().is_empty());
    assert_eq!(
        tb.iter().map(|p| p.step).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    for (bar, file) in points.iter().zip(&tb) {
        // The bar shows loss/average to three significant digits.
        let (a, b) = (bar.loss.unwrap(), file.loss.unwrap());
        assert!(
            (a - b).abs() <= 0.005 * b.abs(),
            "step {}: bar {a}, tensorboard {b}",
            bar.step
        );
        assert_eq!(
            file.lr,
            Some(1e-4_f32 as f64),
            "lr/unet at step {}",
            file.step
        );
    }
    let names: Vec<(String, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::CheckpointSaved { path, step } => {
                Some((path.file_name()?.to_string_lossy().into_owned(), *step))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            ("tiny-step00000003.safetensors".to_string(), Some(3)),
            ("tiny-step00000006.safetensors".to_string(), Some(6)),
            ("tiny.safetensors".to_string(), Some(6)),
        ]
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Error { .. })),
        "{events:?}"
    );
}

fn tensorboard_expected(name: &str) -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&fs::read(fixtures().join("tensorboard/expected.json")).unwrap())
            .unwrap();
    v[name].as_array().unwrap().clone()
}

fn event_file(dir: &Path) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
        })
        .unwrap()
}

#[test]
fn tensorboard_scalars_from_torch_summary_writer() {
    for (name, trainer) in [
        ("scalars", TrainerId::Kohya),
        ("tensor", TrainerId::Simpletuner),
    ] {
        let mut w = MetricsWatcher::new(trainer, &fixtures().join("tensorboard").join(name));
        let points = w.poll().unwrap();
        assert!(w.take_problems().is_empty(), "{name}");
        let want = tensorboard_expected(name);
        assert_eq!(points.len(), want.len(), "{name}");
        for (p, w) in points.iter().zip(&want) {
            assert_eq!(p.step, w["step"].as_u64().unwrap(), "{name}");
            assert!(close(p.loss, w["loss"].as_f64()), "{name} step {}", p.step);
            // kohya's lr/unet is old-style float32; SimpleTuner's written as a double.
            assert!(close(p.lr, w["lr"].as_f64()), "{name} step {}", p.step);
            assert_eq!(p.epoch, w["epoch"].as_u64(), "{name} step {}", p.step);
            assert!(p.time.unwrap() > 1.7e9);
        }
        assert!(w.poll().unwrap().is_empty(), "{name}: nothing new");
    }
}

#[test]
fn tensorboard_file_read_while_it_is_written() {
    let src = event_file(&fixtures().join("tensorboard/scalars"));
    let bytes = fs::read(&src).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(src.file_name().unwrap());
    let mut w = MetricsWatcher::new(TrainerId::Kohya, tmp.path());
    let mut got = Vec::new();
    let mut written = 0;
    for cut in [0, 7, 100, 1001, 5000, 5001, 17_000, bytes.len()] {
        fs::write(&dst, &bytes[..cut.max(written)]).unwrap();
        written = cut.max(written);
        got.extend(w.poll().unwrap());
    }
    assert!(w.take_problems().is_empty());
    // Points of one step may come in two polls (loss in one, lr in the next): merge them.
    let mut merged: Vec<Point> = Vec::new();
    for p in got {
        match merged.last_mut() {
            Some(last) if last.step == p.step => metrics::overlay(last, &p),
            _ => merged.push(p),
        }
    }
    let want = tensorboard_expected("scalars");
    assert_eq!(merged.len(), want.len());
    for (p, w) in merged.iter().zip(&want) {
        assert_eq!(p.step, w["step"].as_u64().unwrap());
        assert!(
            close(p.loss, w["loss"].as_f64()) && close(p.lr, w["lr"].as_f64()),
            "step {}",
            p.step
        );
    }
}

#[test]
fn a_corrupt_tensorboard_record_is_reported_and_skipped() {
    let src = event_file(&fixtures().join("tensorboard/scalars"));
    let mut bytes = fs::read(&src).unwrap();
    // Flip a byte inside the fourth record's data (records: 12-byte header, data, 4-byte crc).
    let mut at = 0;
    for _ in 0..3 {
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        at += 12 + len + 4;
    }
    bytes[at + 14] ^= 0x55;
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(src.file_name().unwrap()), &bytes).unwrap();
    let mut w = MetricsWatcher::new(TrainerId::Kohya, tmp.path());
    let points = w.poll().unwrap();
    let problems = w.take_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(matches!(&problems[0], MetricsError::Corrupt { offset, .. } if *offset == at as u64));
    assert!(problems[0].to_string().contains("checksum"));
    assert_eq!(points.len(), 40, "every step still has a point");
}

/// ai-toolkit's UI logger database, built here with the schema trainers.md §5.4 documents
/// (and toolkit/logging_aitk.py creates): WAL mode, steps + metrics.
#[test]
fn ai_toolkit_loss_log_incrementally_and_across_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("loss_log.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "PRAGMA journal_mode=WAL;
         CREATE TABLE steps (step INTEGER PRIMARY KEY, wall_time REAL NOT NULL);
         CREATE TABLE metric_keys (key TEXT PRIMARY KEY, first_seen_step INTEGER, last_seen_step INTEGER);
         CREATE TABLE metrics (step INTEGER NOT NULL, key TEXT NOT NULL, value_real REAL, value_text TEXT,
             PRIMARY KEY (step, key), FOREIGN KEY (step) REFERENCES steps(step) ON DELETE CASCADE);",
    )
    .unwrap();
    let write = |steps: std::ops::RangeInclusive<i64>, t0: f64, scale: f64| {
        for s in steps {
            db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?1, ?2)",
                (s, t0 + s as f64),
            )
            .unwrap();
            db.execute(
                "INSERT OR REPLACE INTO metrics VALUES (?1, 'loss/loss', ?2, NULL)",
                (s, scale / s as f64),
            )
            .unwrap();
            db.execute(
                "INSERT OR REPLACE INTO metrics VALUES (?1, 'learning_rate', ?2, NULL)",
                (s, 1e-4),
            )
            .unwrap();
        }
    };
    write(1..=10, 1000.0, 1.0);
    let mut w = MetricsWatcher::new(TrainerId::AiToolkit, tmp.path());
    let first = w.poll().unwrap();
    assert_eq!(
        first.iter().map(|p| p.step).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(first[3].loss, Some(0.25));
    assert_eq!(first[3].lr, Some(1e-4));
    assert_eq!(first[3].time, Some(1004.0));
    write(11..=12, 1000.0, 1.0);
    assert_eq!(
        w.poll().unwrap().iter().map(|p| p.step).collect::<Vec<_>>(),
        [11, 12]
    );
    // Resumed from step 8: later rows deleted, written again later with other values.
    db.execute("DELETE FROM metrics WHERE step > 8", ())
        .unwrap();
    db.execute("DELETE FROM steps WHERE step > 8", ()).unwrap();
    write(9..=14, 5000.0, 2.0);
    let again = w.poll().unwrap();
    assert_eq!(
        again.iter().map(|p| p.step).collect::<Vec<_>>(),
        (9..=14).collect::<Vec<_>>()
    );
    assert_eq!(
        again[1].loss,
        Some(0.2),
        "step 10 as written after the resume"
    );
}

#[test]
fn simpletuner_metrics_jsonl_with_a_line_still_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("training_metrics.jsonl");
    let line = |s: u64| {
        format!(
            "{{\"metrics\":{{\"epoch\":1,\"learning_rate\":0.0001,\"train_loss\":{}}},\"schema_version\":1,\"step\":{s},\"timestamp\":\"2026-01-01T12:00:0{s}+00:00\"}}\n",
            0.5 / s as f64
        )
    };
    let mut text = line(1) + &line(2);
    let third = line(3);
    text.push_str(&third[..20]);
    fs::write(&path, &text).unwrap();
    let mut w = MetricsWatcher::new(TrainerId::Simpletuner, tmp.path());
    let got = w.poll().unwrap();
    assert_eq!(got.iter().map(|p| p.step).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        (got[1].loss, got[1].lr, got[1].epoch),
        (Some(0.25), Some(1e-4), Some(1))
    );
    assert_eq!(got[1].time, Some(1_767_268_802.0));
    text.push_str(&third[20..]);
    fs::write(&path, &text).unwrap();
    assert_eq!(
        w.poll().unwrap().iter().map(|p| p.step).collect::<Vec<_>>(),
        [3]
    );
    assert!(w.take_problems().is_empty());
}

#[test]
fn metrics_jsonl_survives_a_torn_line_and_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metrics.jsonl");
    let p = |step| Point {
        step,
        total: Some(10),
        loss: Some(0.1),
        ..Point::default()
    };
    metrics::append_metrics(&path, &[p(1), p(2)]).unwrap();
    // A writer killed mid-line, then a line from something else.
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"{\"step\":3,\"tot").unwrap();
    drop(f);
    metrics::append_metrics(&path, &[p(4)]).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"not json\n{\"step\":5,").unwrap();
    drop(f);
    let read = metrics::read_metrics(&path).unwrap();
    assert_eq!(
        read.points.iter().map(|p| p.step).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    let problems: Vec<String> = read.problems.iter().map(|e| e.to_string()).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("metrics.jsonl line 3"), "{problems:?}");
    assert!(problems[1].contains("line 5"), "{problems:?}");
    assert!(
        problems[2].contains("line 6") && problems[2].contains("cut short"),
        "{problems:?}"
    );
    assert!(
        metrics::read_metrics(&tmp.path().join("none.jsonl"))
            .unwrap()
            .points
            .is_empty()
    );
}

/// The supervisor's follower over the recorded kohya run as it was written, its TensorBoard
/// file arriving while the console is half-way (torch's writer flushes every two minutes, or at
/// the end): the file's exact loss/average and lr/unet win for every step, also for steps the
/// console draws again after the file was read, and the last line stays the newest step.
#[test]
fn the_follower_lays_the_recorded_tensorboard_file_over_the_console() {
    use lorabench::train::supervisor::follow::{Follower, METRICS};
    use std::io::Write;
    let rec = fixtures().join("kohya_real");
    let tmp = tempfile::tempdir().unwrap();
    let (run, logs) = (
        tmp.path().join("run"),
        tmp.path().join("logs/20261201/network_train"),
    );
    fs::create_dir_all(&run).unwrap();
    fs::create_dir_all(&logs).unwrap();
    let log = run.join("train.log");
    let bytes = fs::read(rec.join("train.log")).unwrap();
    let mut writer = fs::File::create(&log).unwrap();
    let mut follower = Follower::new(&run, log, parser_for(TrainerId::Kohya, LogFormat::Tqdm))
        .with_metrics(TrainerId::Kohya, &tmp.path().join("logs"));
    // The structured files are read every fourth poll. 40 pieces: the bar's steps 1 to 5 are
    // in the first 31, step 6 (drawn again after `model saved.`) in the rest.
    let pieces = 40;
    let size = bytes.len().div_ceil(pieces);
    let events = event_file(&rec);
    for (i, piece) in bytes.chunks(size).enumerate() {
        writer.write_all(piece).unwrap();
        if i == 31 {
            let before = metrics::read_metrics(&run.join(METRICS)).unwrap().points;
            assert!(before.len() >= 4, "{before:?}");
            assert!(before.iter().all(|p| p.lr.is_none()), "{before:?}");
            fs::copy(&events, logs.join(events.file_name().unwrap())).unwrap();
        }
        follower.poll();
    }
    follower.finish();
    let lines = metrics::read_metrics(&run.join(METRICS)).unwrap();
    assert!(lines.problems.is_empty(), "{:?}", lines.problems);
    let last = lines.points.last().unwrap();
    assert_eq!((last.step, last.total), (6, Some(6)));
    let tb = MetricsWatcher::new(TrainerId::Kohya, &rec).poll().unwrap();
    let mut by_step = std::collections::BTreeMap::new();
    for p in &lines.points {
        by_step.insert(p.step, p.clone());
    }
    assert_eq!(by_step.len(), 6);
    for t in &tb {
        let p = &by_step[&t.step];
        assert_eq!((p.loss, p.lr), (t.loss, t.lr), "step {}", t.step);
        // The console's own fields stay.
        assert_eq!(p.total, Some(6), "step {}", t.step);
        assert!(
            p.epoch.is_some() && p.time.is_some(),
            "step {}: {p:?}",
            t.step
        );
    }
    assert_eq!(follower.last.as_ref().map(|p| p.loss), Some(tb[5].loss));
}
