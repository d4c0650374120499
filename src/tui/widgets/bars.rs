//! A horizontal bar chart: one row per bin, label on the left, the count on the right. Rows
//! read better than ratatui's vertical bars when the labels are ranges ("0.5-1.0 MP").

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Eighths of a cell, for bar ends finer than one column.
const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// The bar of `value` out of `max` in `width` cells (a non-zero value shows at least a sliver).
pub fn bar(value: usize, max: usize, width: usize) -> String {
    if max == 0 || width == 0 {
        return String::new();
    }
    let eighths = (value * width * 8).div_ceil(max).min(width * 8);
    let eighths = if value > 0 { eighths.max(1) } else { 0 };
    let mut s = "█".repeat(eighths / 8);
    s.push_str(PARTS[eighths % 8]);
    s
}

/// Heights of a sparkline cell, lowest first.
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The newest `width` of `values` (fractions of the whole, `None` where unknown: a blank) as
/// a one-row sparkline, oldest on the left.
pub fn spark(values: &std::collections::VecDeque<Option<f64>>, width: usize) -> String {
    let skip = values.len().saturating_sub(width);
    values
        .iter()
        .skip(skip)
        .map(|v| match v {
            Some(f) if f.is_finite() => LEVELS[((f.clamp(0.0, 1.0) * 7.0).round() as usize).min(7)],
            _ => ' ',
        })
        .collect()
}

/// Draws `rows` (label, count) into `area`, one per line, as many as fit.
pub fn draw(
    frame: &mut Frame,
    area: Rect,
    rows: &[(String, usize)],
    bar_style: Style,
    text: Style,
) {
    let label_w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let max = rows.iter().map(|&(_, c)| c).max().unwrap_or(0);
    let count_w = max.to_string().len();
    let bar_w = usize::from(area.width).saturating_sub(label_w + count_w + 3);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(label, count)| {
            let b = bar(*count, max, bar_w);
            let pad = bar_w.saturating_sub(b.chars().count());
            Line::from(vec![
                Span::styled(format!("{label:>label_w$} "), text),
                Span::styled(b, bar_style),
                Span::raw(" ".repeat(pad)),
                Span::styled(format!(" {count:>count_w$}"), text),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn bars_scale_to_the_largest_value() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 16, 2), "▏");
        assert_eq!(bar(0, 10, 4), "");
        assert_eq!(bar(3, 0, 4), "");
        // 3/8 of 1 cell is 3 eighths.
        assert_eq!(bar(3, 8, 1), "▍");
    }
}
