//! A run's loss chart as a PNG (`lorabench runs plot`): the raw loss as a min–max band per
//! column with its mean, optionally its moving average, and the learning rate on a second axis
//! (its scale on the right), the same curves and bucketing as the monitor's chart
//! ([`Curves`], [`Series::columns`](crate::train::metrics::series::Series::columns)), so the
//! cost follows the image's width, not the number of points.
//!
//! Drawn with plotters' bitmap backend into memory and encoded with `image`; labels use the
//! embedded pixel font ([`font`]), since plotters' text needs system fonts.

mod backend;
pub mod font;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::train::metrics::curves::Curves;
use crate::train::metrics::series::Bucket;
use backend::Labelled;

/// The smallest and largest image side accepted.
pub const MIN_SIDE: u32 = 320;
pub const MAX_SIDE: u32 = 8192;

#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    pub width: u32,
    pub height: u32,
    /// Draw the moving average over the raw loss.
    pub ema: bool,
    /// A logarithmic loss axis (values at or below zero are left out, as in the chart).
    pub log: bool,
    /// The caption (printable ASCII; anything else is drawn as `?`).
    pub title: String,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 1200,
            height: 600,
            ema: false,
            log: false,
            title: String::new(),
        }
    }
}

/// A drawn chart and what was left out of it.
pub struct Plot {
    pub image: image::RgbImage,
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("no loss to plot: metrics.jsonl has no step with a loss yet")]
    NoLoss,
    #[error("no loss above 0 to draw on a log scale; leave out --log")]
    NothingPositive,
    #[error("image size {width}x{height}: each side must be {MIN_SIDE} to {MAX_SIDE} pixels")]
    Size { width: u32, height: u32 },
    #[error("drawing the chart: {0}")]
    Draw(String),
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: image::ImageError,
    },
}

/// Pixels kept for labels: left (loss), right (learning rate), bottom (steps), the margin, and
/// the strip above the chart for the title and the key (kept out of the plot so it hides no
/// data).
pub const LEFT: u32 = 90;
pub const RIGHT: u32 = 116;
const BOTTOM: u32 = 50;
pub const MARGIN: u32 = 16;
pub const TOP: u32 = 56;
/// Font size in pixels (the embedded font draws it at twice its cell).
const LABEL_SIZE: f64 = 20.0;

pub const BAND: RGBColor = RGBColor(190, 205, 235);
pub const RAW: RGBColor = RGBColor(90, 125, 200);
pub const EMA_COLOUR: RGBColor = RGBColor(10, 40, 140);
pub const LR_COLOUR: RGBColor = RGBColor(230, 120, 20);

/// The columns to draw and the axes' ranges.
struct Columns {
    lo: u64,
    hi: u64,
    width: f64,
    loss: Vec<Option<Bucket>>,
    ema: Vec<Option<Bucket>>,
    lr: Vec<Option<Bucket>>,
    y: (f64, f64),
    lr_range: Option<(f64, f64)>,
}

impl Columns {
    /// The step at the middle of column `c`.
    fn x(&self, c: usize) -> f64 {
        self.lo as f64 + self.width * (c as f64 + 0.5)
    }
}

/// Draws the chart of `curves` as the options say.
pub fn render(curves: &Curves, o: &PlotOptions) -> Result<Plot, PlotError> {
    let (w, h) = (o.width, o.height);
    if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
        return Err(PlotError::Size {
            width: w,
            height: h,
        });
    }
    let (lo, hi) = curves.loss.span().ok_or(PlotError::NoLoss)?;
    let n = (w - LEFT - RIGHT - 2 * MARGIN) as usize;
    let loss = curves.loss.columns(lo, hi, n);
    let mut notes = Vec::new();
    if o.log {
        let left_out = loss.iter().flatten().filter(|b| b.min <= 0.0).count();
        if left_out > 0 {
            notes.push(format!(
                "{left_out} of {n} columns have a loss at or below 0: left out of the log scale"
            ));
        }
    }
    let y = value_range(&loss, o.log).ok_or(PlotError::NothingPositive)?;
    let lr = curves.lr.columns(lo, hi, n);
    let cols = Columns {
        lo,
        hi,
        width: (hi - lo + 1) as f64 / n as f64,
        ema: if o.ema {
            curves.ema.columns(lo, hi, n)
        } else {
            Vec::new()
        },
        lr_range: value_range(&lr, false),
        loss,
        lr,
        y,
    };
    let mut buf = vec![0u8; w as usize * h as usize * 3];
    {
        let inner = BitMapBackend::with_buffer_and_format(&mut buf, (w, h))
            .map_err(|e| PlotError::Draw(e.to_string()))?;
        let root = Labelled { inner }.into_drawing_area();
        let (y0, y1) = cols.y;
        let drawn = if o.log {
            chart(&root, (y0..y1).log_scale(), &cols, o)
        } else {
            chart(&root, y0..y1, &cols, o)
        };
        drawn.map_err(PlotError::Draw)?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let image = image::RgbImage::from_raw(w, h, buf)
        .ok_or_else(|| PlotError::Draw("the image buffer has the wrong size".into()))?;
    Ok(Plot { image, notes })
}

/// Writes the chart as a PNG.
pub fn write_png(plot: &Plot, path: &Path) -> Result<(), PlotError> {
    plot.image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| PlotError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn log_ok(v: f64, log: bool) -> bool {
    !log || v > 0.0
}

/// The range of the columns' values (only those above 0 on a log scale), padded a little.
fn value_range(cols: &[Option<Bucket>], log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for b in cols.iter().flatten() {
        for v in [b.min, b.max] {
            if log_ok(v, log) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    Some(if log {
        // A twentieth of the span in decades either side, at least a little.
        let pad = ((hi / lo).log10() * 0.05).max(0.01);
        (lo / 10f64.powf(pad), hi * 10f64.powf(pad))
    } else {
        let pad = ((hi - lo) * 0.05).max(lo.abs().max(1e-6) * 0.01);
        (lo - pad, hi + pad)
    })
}

/// A tick label: `0.95`, `1.2e-5`, `1000`.
pub fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() < 1e-3 || v.abs() >= 1e5 {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn chart<Y>(
    root: &DrawingArea<Labelled<'_>, Shift>,
    y: Y,
    cols: &Columns,
    o: &PlotOptions,
) -> Result<(), String>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (top, area) = root.split_vertically(TOP);
    let label = ("sans-serif", LABEL_SIZE);
    let (m, line_h) = (
        MARGIN as i32,
        font::text_size("", font::scale(LABEL_SIZE)).1,
    );
    if !o.title.is_empty() {
        top.draw(&Text::new(ascii(&o.title), (m, 6), label.into_font()))
            .map_err(err)?;
    }
    // The key: a stroke of each colour and its name, on the line under the title.
    let mut key = vec![(RAW, "loss (mean, min-max band)")];
    if o.ema {
        key.push((EMA_COLOUR, "moving average"));
    }
    if cols.lr_range.is_some() {
        key.push((LR_COLOUR, "learning rate"));
    }
    let (mut x, key_y) = (m, 10 + line_h);
    for (colour, name) in key {
        let mid = key_y + line_h / 2 - 1;
        top.draw(&PathElement::new(
            vec![(x, mid), (x + 24, mid)],
            colour.stroke_width(3),
        ))
        .map_err(err)?;
        top.draw(&Text::new(name, (x + 32, key_y), label.into_font()))
            .map_err(err)?;
        x += 32 + font::text_size(name, font::scale(LABEL_SIZE)).0 + 24;
    }
    let x = cols.lo as f64..(cols.hi as f64 + 1.0).max(cols.lo as f64 + 1.0);
    let mut builder = ChartBuilder::on(&area);
    builder
        .margin(MARGIN)
        .margin_top(4)
        .x_label_area_size(BOTTOM)
        .y_label_area_size(LEFT)
        .right_y_label_area_size(if cols.lr_range.is_some() { RIGHT } else { 0 });
    let (l0, l1) = cols.lr_range.unwrap_or((0.0, 1.0));
    let mut chart = builder
        .build_cartesian_2d(x.clone(), y)
        .map_err(err)?
        .set_secondary_coord(x, l0..l1);
    chart
        .configure_mesh()
        .label_style(label)
        .axis_desc_style(label)
        .x_desc("step")
        .y_desc(if o.log { "loss (log)" } else { "loss" })
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(err)?;
    if cols.lr_range.is_some() {
        chart
            .configure_secondary_axes()
            .label_style(("sans-serif", LABEL_SIZE).into_font().color(&LR_COLOUR))
            .axis_desc_style(("sans-serif", LABEL_SIZE).into_font().color(&LR_COLOUR))
            .y_desc("learning rate")
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(err)?;
    }
    let log = o.log;
    // The band: each column's min to max.
    let bands = cols.loss.iter().enumerate().filter_map(|(c, b)| {
        let b = b.as_ref()?;
        (log_ok(b.min, log) && log_ok(b.max, log)).then(|| {
            let x = cols.x(c);
            PathElement::new(vec![(x, b.min), (x, b.max)], BAND.stroke_width(1))
        })
    });
    chart.draw_series(bands).map_err(err)?;
    let means = |v: &[Option<Bucket>], log: bool| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .filter_map(|(c, b)| Some((cols.x(c), b.as_ref()?.mean)))
            .filter(|&(_, m)| log_ok(m, log))
            .collect()
    };
    chart
        .draw_series(LineSeries::new(means(&cols.loss, log), RAW.stroke_width(1)))
        .map_err(err)?;
    if o.ema {
        chart
            .draw_series(LineSeries::new(
                means(&cols.ema, log),
                EMA_COLOUR.stroke_width(2),
            ))
            .map_err(err)?;
    }
    if cols.lr_range.is_some() {
        chart
            .draw_secondary_series(LineSeries::new(
                means(&cols.lr, false),
                LR_COLOUR.stroke_width(2),
            ))
            .map_err(err)?;
    }
    Ok(())
}
