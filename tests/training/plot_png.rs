//! `runs plot`'s chart as a PNG: it decodes at the size asked for, its curves move with the
//! data, its labels are drawn, the log scale leaves out what is not above 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a failure here is a failed test

use lorabench::train::Point;
use lorabench::train::metrics::curves::{Curves, EMA_ALPHA};
use lorabench::train::plot::*;
use plotters::style::RGBColor;

fn curves(points: impl IntoIterator<Item = (u64, f64, Option<f64>)>) -> Curves {
    let mut c = Curves::new();
    for (step, loss, lr) in points {
        c.add(&Point {
            step,
            loss: Some(loss),
            lr,
            ..Point::default()
        });
    }
    c
}

fn near(p: &image::Rgb<u8>, c: RGBColor) -> bool {
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs();
    d(p[0], c.0) + d(p[1], c.1) + d(p[2], c.2) < 40
}

/// Mean row of the pixels of colour `c` in the left and the right third of the plot (the
/// title, the key and the axes' labels left out).
fn ink_rows(img: &image::RgbImage, c: RGBColor) -> (f64, f64) {
    let (x0, x1) = (LEFT + MARGIN, img.width() - RIGHT - MARGIN);
    let third = (x1 - x0) / 3;
    let mean = |xs: std::ops::Range<u32>| {
        let (mut sum, mut n) = (0.0, 0usize);
        for x in xs {
            for y in TOP..img.height() {
                if near(img.get_pixel(x, y), c) {
                    sum += f64::from(y);
                    n += 1;
                }
            }
        }
        assert!(n > 0, "no pixel of {c:?}");
        sum / n as f64
    };
    (mean(x0..x0 + third), mean(x1 - third..x1))
}

fn options(ema: bool, log: bool) -> PlotOptions {
    PlotOptions {
        width: 640,
        height: 360,
        ema,
        log,
        title: "tiny run (20261202-061200-0a1b)".into(),
    }
}

/// Writes the plot as a PNG and reads it back, as someone opening the file would.
fn round_trip(plot: &Plot) -> image::RgbImage {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loss.png");
    write_png(plot, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

#[test]
fn the_curves_move_with_the_data() {
    // The loss falls from 2 to 0.5 while the learning rate warms up from 0 to 1e-4.
    let falling = curves((1..=400).map(|s| {
        let t = s as f64 / 400.0;
        (s, 2.0 - 1.5 * t, Some(1e-4 * t))
    }));
    let img = round_trip(&render(&falling, &options(true, false)).unwrap());
    assert_eq!(img.dimensions(), (640, 360));
    let (left, right) = ink_rows(&img, RAW);
    assert!(
        left + 50.0 < right,
        "raw loss: left row {left}, right row {right}"
    );
    let (left, right) = ink_rows(&img, EMA_COLOUR);
    assert!(left < right, "average: left row {left}, right row {right}");
    let (left, right) = ink_rows(&img, LR_COLOUR);
    assert!(
        left > right + 50.0,
        "learning rate: left row {left}, right row {right}"
    );

    // The same loss rising draws the other way.
    let rising = curves((1..=400).map(|s| (s, 0.5 + 1.5 * s as f64 / 400.0, None)));
    let img = round_trip(&render(&rising, &options(false, false)).unwrap());
    let (left, right) = ink_rows(&img, RAW);
    assert!(
        left > right + 50.0,
        "rising: left row {left}, right row {right}"
    );
    assert!(
        !img.pixels()
            .any(|p| near(p, EMA_COLOUR) || near(p, LR_COLOUR)),
        "no average asked for and no learning rate known"
    );
    // The key names what is drawn: with the average and the learning rate it is longer.
    let key_ink = |img: &image::RgbImage| {
        (0..img.width())
            .filter(|&x| (TOP / 2..TOP).any(|y| img.get_pixel(x, y).0.iter().all(|&v| v < 60)))
            .count()
    };
    let full = render(&falling, &options(true, false)).unwrap().image;
    assert!(key_ink(&full) > key_ink(&img) + 100);
}

#[test]
fn labels_are_drawn_in_the_embedded_font() {
    let c = curves((1..=50).map(|s| (s, 1.0 / s as f64, None)));
    let img = render(&c, &options(false, false)).unwrap().image;
    // Tick labels left of the plot and the title above it are black ink.
    let dark = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
        xs.flat_map(|x| ys.clone().map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&v| v < 60))
            .count()
    };
    assert!(dark(0..LEFT, 60..300) > 100, "no tick labels");
    assert!(dark(MARGIN..380, 0..TOP / 2) > 100, "no title");
}

#[test]
fn log_scale_leaves_out_what_is_not_above_zero() {
    let mut points: Vec<_> = (1..=300).map(|s| (s, 1.0 / s as f64, None)).collect();
    points[10].1 = 0.0;
    points[20].1 = -0.5;
    let c = curves(points);
    let plot = render(&c, &options(true, true)).unwrap();
    assert_eq!(plot.notes.len(), 1, "{:?}", plot.notes);
    assert!(plot.notes[0].contains("at or below 0"));
    let (left, right) = ink_rows(&plot.image, RAW);
    assert!(left < right);
    // The linear chart needs no note.
    assert!(render(&c, &options(false, false)).unwrap().notes.is_empty());

    let none_positive = curves((1..=10).map(|s| (s, -(s as f64), None)));
    assert!(matches!(
        render(&none_positive, &options(false, true)),
        Err(PlotError::NothingPositive)
    ));
    assert!(render(&none_positive, &options(false, false)).is_ok());
}

#[test]
fn nothing_to_plot_and_bad_sizes_are_errors() {
    assert!(matches!(
        render(&Curves::new(), &options(false, false)),
        Err(PlotError::NoLoss)
    ));
    let one = curves([(7, 0.3, Some(0.0))]);
    assert!(
        render(&one, &options(true, true)).is_ok(),
        "a single point draws"
    );
    for (w, h) in [(0, 300), (300, 10), (MAX_SIDE + 1, 300)] {
        let o = PlotOptions {
            width: w,
            height: h,
            ..options(false, false)
        };
        assert!(matches!(render(&one, &o), Err(PlotError::Size { .. })));
    }
}

#[test]
fn tick_labels_are_short() {
    assert_eq!(tick(0.0), "0");
    assert_eq!(tick(0.95), "0.95");
    assert_eq!(tick(1000.0), "1000");
    assert_eq!(tick(0.00012), "1.2e-4");
    assert_eq!(ascii("a→b"), "a?b");
}

#[test]
fn curves_from_a_metrics_file_with_torn_and_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.jsonl");
    std::fs::write(
        &path,
        "{\"step\":1,\"loss\":2.0,\"lr\":0.001}\nnot json\n{\"step\":2,\"loss\":1.0}\n{\"step\":3,\"lo",
    )
    .unwrap();
    let (c, problems) = Curves::read(&path).unwrap();
    assert_eq!(c.loss.len(), 2);
    assert_eq!(c.lr.len(), 1);
    assert_eq!(c.span(), Some((1, 2)));
    assert_eq!(problems.len(), 2, "{problems:?}");
    // The average starts at the first loss and moves towards the second by alpha.
    let (step, avg) = c.ema.last().unwrap();
    assert!(
        step == 2 && (avg - (2.0 - EMA_ALPHA)).abs() < 1e-12,
        "{avg}"
    );
    let (empty, none) = Curves::read(&dir.path().join("missing.jsonl")).unwrap();
    assert!(empty.span().is_none() && none.is_empty());
}
