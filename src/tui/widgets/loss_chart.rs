//! The loss chart: the raw loss as a min–max band per column, its moving average over it, and
//! the learning rate on a second axis (its scale on the right). Columns are a whole number of
//! steps wide (a power of two, between half and all of the plot's dots used), summarised by
//! [`Series::columns_every`] at a cost of about the width, whatever the number of points. The
//! [`Cache`] keeps them between frames: a redraw with nothing new costs only the drawing, and
//! a new point of a followed run recomputes only the last column or two.

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
/// points were added.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    lo: u64,
    hi: u64,
    /// Steps per column.
    width: u64,
    ema: bool,
    lens: [usize; 3],
}

impl Cache {
    /// The columns for `view` with at most `n` of them; only those that can have changed are
    /// computed again.
    fn columns(&mut self, data: &Data, view: View, n: usize) -> &Cache {
        let steps = view.hi.saturating_sub(view.lo).saturating_add(1);
        let width = steps.div_ceil(n.max(1) as u64).max(1).next_power_of_two();
        let key = Key {
            lo: view.lo,
            hi: view.hi,
            width,
            ema: view.ema,
            lens: [data.loss.len(), data.ema.len(), data.lr.len()],
        };
        let old = self.key.replace(key);
        if old == Some(key) {
            return self;
        }
        // The same columns with more points or a later end: from the column the old end or the
        // first new point is in (the old last column was cut at the old end).
        let grown = old.filter(|o| {
            o.lo == key.lo
                && o.width == key.width
                && o.ema == key.ema
                && o.hi <= key.hi
                && o.lens.iter().zip(&key.lens).all(|(a, b)| a <= b)
        });
        let series: [(&mut Vec<Option<Bucket>>, &Series, bool); 3] = [
            (&mut self.loss, data.loss, true),
            (&mut self.ema, data.ema, view.ema),
            (&mut self.lr, data.lr, true),
        ];
        for (i, (cols, s, shown)) in series.into_iter().enumerate() {
            if !shown {
                cols.clear();
                continue;
            }
            let from = grown.map_or(0, |o| {
                let first = s.step_at(o.lens[i]).map_or(o.hi, |f| f.min(o.hi));
                usize::try_from(first.saturating_sub(view.lo) / width).unwrap_or(0)
            });
            cols.truncate(from);
            let from = cols.len();
            cols.extend(s.columns_every(view.lo, view.hi, width, from));
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
    // Braille: two dots a cell across; each column one or two of them.
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
        .x_bounds([0.0, loss.len().max(1) as f64])
        .y_bounds([y0, y1])
        .background_color(t.base.bg.unwrap_or(Color::Reset))
        .paint(|ctx| {
            for (x, b) in loss.iter().enumerate() {
                let Some(b) = b else { continue };
                let (Some(lo), Some(hi)) = (scaled(b.min, view.log), scaled(b.max, view.log))
                else {
                    continue;
                };
                // Both dots of a column that is two wide.
                for x in [x as f64 + 0.25, x as f64 + 0.75] {
                    ctx.draw(&Stroke::new(x, lo, x, hi, band));
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    type Columns = [Vec<Option<Bucket>>; 3];

    fn of(c: &Cache) -> Columns {
        [c.loss.clone(), c.ema.clone(), c.lr.clone()]
    }

    #[test]
    fn a_followed_run_gets_the_columns_a_fresh_computation_gets() {
        let (mut loss, mut ema, mut lr) = (Series::new(), Series::new(), Series::new());
        let mut cache = Cache::default();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut step = 0;
        for i in 0..3_000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Repeated and skipped steps, as trainers log them.
            step += seed % 3;
            let v = 1.0 / (1.0 + i as f64) + (seed >> 40) as f64 * 1e-9;
            loss.push(step, v);
            ema.push(step, v * 0.9);
            lr.push(step, 1e-4 * (1.0 - i as f64 / 3_000.0));
            if i % 37 == 0 || i < 20 {
                let data = Data {
                    loss: &loss,
                    ema: &ema,
                    lr: &lr,
                };
                let view = View {
                    lo: 0,
                    hi: step,
                    log: false,
                    ema: i % 2 == 0 || i > 100,
                };
                cache.columns(&data, view, 200);
                let mut fresh = Cache::default();
                fresh.columns(&data, view, 200);
                assert_eq!(of(&cache), of(&fresh), "point {i}");
                assert!(
                    cache.loss.len() <= 200 && cache.loss.len() * 2 > 200.min(step as usize + 1)
                );
            }
        }
    }
}
