//! The loss chart: the raw loss as a min–max band per column, its moving average over it, and
//! the learning rate on a second axis (its scale on the right). Drawn from
//! [`Series::columns`], so a frame costs about its width, whatever the number of points; the
//! columns are kept in a [`Cache`] while the points and the view stay the same, so the frames
//! drawn for other reasons (the machine sample each second, a key in another panel) cost only
//! the drawing.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::canvas::{Canvas, Line as Stroke};
use ratatui::widgets::{Block, Paragraph};

use crate::train::metrics::series::{Bucket, Series};
use crate::tui::theme::Theme;

/// What the chart shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// The steps shown, inclusive.
    pub lo: u64,
    pub hi: u64,
    pub log: bool,
    pub ema: bool,
}

pub struct Data<'a> {
    pub loss: &'a Series,
    pub ema: &'a Series,
    pub lr: &'a Series,
}

/// The columns of the last frame and what they were computed for.
#[derive(Debug, Default)]
pub struct Cache {
    key: Option<Key>,
    loss: Vec<Option<Bucket>>,
    ema: Vec<Option<Bucket>>,
    lr: Vec<Option<Bucket>>,
}

/// What a frame's columns depend on: the series only ever grow, so their lengths tell whether
/// a point was added.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    lo: u64,
    hi: u64,
    columns: usize,
    ema: bool,
    lens: [usize; 3],
}

impl Cache {
    /// The columns for `view` over `n` columns, computed again only when something changed.
    fn columns(&mut self, data: &Data, view: View, n: usize) -> &Cache {
        let key = Key {
            lo: view.lo,
            hi: view.hi,
            columns: n,
            ema: view.ema,
            lens: [data.loss.len(), data.ema.len(), data.lr.len()],
        };
        if self.key != Some(key) {
            self.loss = data.loss.columns(view.lo, view.hi, n);
            self.ema = if view.ema {
                data.ema.columns(view.lo, view.hi, n)
            } else {
                Vec::new()
            };
            self.lr = data.lr.columns(view.lo, view.hi, n);
            self.key = Some(key);
        }
        self
    }
}

/// Width of the value labels on each side.
const LABEL: u16 = 9;

fn scaled(v: f64, log: bool) -> Option<f64> {
    match log {
        true if v > 0.0 => Some(v.log10()),
        true => None,
        false => Some(v),
    }
}

/// The range of the columns' values (after the log scale), a little widened when flat.
fn range(cols: &[Option<Bucket>], log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for b in cols.iter().flatten() {
        for v in [b.min, b.max].into_iter().filter_map(|v| scaled(v, log)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    if hi - lo < 1e-12 {
        let pad = lo.abs().max(1e-6) * 0.05;
        return Some((lo - pad, hi + pad));
    }
    Some((lo, hi))
}

/// A value for a label: `0.0123`, `1.2e-5`.
pub fn number(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:.1e}")
    } else {
        format!("{v:.4}")
    }
}

fn fg(style: ratatui::style::Style, or: Color) -> Color {
    style.fg.unwrap_or(or)
}

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    block: Block,
    data: &Data,
    view: View,
    cache: &mut Cache,
    t: &Theme,
) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.width <= 2 * LABEL + 4 || inner.height < 4 {
        return;
    }
    let plot = Rect::new(
        inner.x + LABEL,
        inner.y,
        inner.width - 2 * LABEL,
        inner.height - 1,
    );
    // Braille: two dots a cell across.
    let n = usize::from(plot.width) * 2;
    let Cache { loss, ema, lr, .. } = cache.columns(data, view, n);
    let Some((y0, y1)) = range(loss, view.log) else {
        let text = Paragraph::new(Line::styled("no loss reported yet", t.dim));
        frame.render_widget(text, plot);
        return;
    };
    let lr_range = range(lr, false);
    let (band, line, lr_colour) = (
        fg(t.dim, Color::DarkGray),
        fg(t.accent, Color::Cyan),
        fg(t.warning, Color::Yellow),
    );
    let canvas = Canvas::default()
        .marker(Marker::Braille)
        .x_bounds([0.0, n as f64])
        .y_bounds([y0, y1])
        .background_color(t.base.bg.unwrap_or(Color::Reset))
        .paint(|ctx| {
            for (x, b) in loss.iter().enumerate() {
                let Some(b) = b else { continue };
                let (Some(lo), Some(hi)) = (scaled(b.min, view.log), scaled(b.max, view.log))
                else {
                    continue;
                };
                let x = x as f64 + 0.5;
                ctx.draw(&Stroke::new(x, lo, x, hi, band));
            }
            ctx.layer();
            let means = |cols: &[Option<Bucket>], map: &dyn Fn(f64) -> Option<f64>| {
                cols.iter()
                    .enumerate()
                    .filter_map(|(x, b)| Some((x as f64 + 0.5, map(b.as_ref()?.mean)?)))
                    .collect::<Vec<_>>()
            };
            let poly = |ctx: &mut ratatui::widgets::canvas::Context, pts: &[(f64, f64)], c| {
                for w in pts.windows(2) {
                    ctx.draw(&Stroke::new(w[0].0, w[0].1, w[1].0, w[1].1, c));
                }
            };
            poly(ctx, &means(ema, &|v| scaled(v, view.log)), line);
            if let Some((l0, l1)) = lr_range {
                ctx.layer();
                let span = (l1 - l0).max(1e-30);
                let to_y = |v: f64| Some(y0 + (v - l0) / span * (y1 - y0));
                poly(ctx, &means(lr, &to_y), lr_colour);
            }
        });
    frame.render_widget(canvas, plot);

    // Labels: loss on the left, learning rate on the right, steps below.
    let unscale = |v: f64| if view.log { 10f64.powf(v) } else { v };
    let left = Rect::new(inner.x, inner.y, LABEL - 1, plot.height);
    let right = Rect::new(plot.right() + 1, inner.y, LABEL - 1, plot.height);
    let column = |top: String, bottom: String, style| {
        let mut lines = vec![Line::styled(top, style)];
        lines.resize(usize::from(plot.height).saturating_sub(1), Line::raw(""));
        lines.push(Line::styled(bottom, style));
        lines
    };
    frame.render_widget(
        Paragraph::new(column(number(unscale(y1)), number(unscale(y0)), t.base))
            .alignment(Alignment::Right),
        left,
    );
    if let Some((l0, l1)) = lr_range {
        frame.render_widget(
            Paragraph::new(column(number(l1), number(l0), t.warning)),
            right,
        );
    }
    let steps = Rect::new(plot.x, plot.bottom(), plot.width, 1);
    frame.render_widget(
        Paragraph::new(Line::styled(view.lo.to_string(), t.dim)),
        steps,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(format!("step {}", view.hi), t.dim))
            .alignment(Alignment::Right),
        steps,
    );
}
