//! The LoRA screen: the inspection of one file (format, family, modules, rank/alpha, scale,
//! dtypes, training metadata, top tags, hash check) and the running operation's gauge.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::lora::inspect::Inspection;
use crate::tui::app::App;
use crate::tui::screens::lora::LoraScreen;
use crate::tui::theme::Theme;

use super::dataset::{human_size, panel};
use super::screen::{chrome, gauge};

pub fn draw(frame: &mut Frame, app: &App, s: &LoraScreen) {
    let body = chrome(frame, app);
    if body.height < 3 {
        return;
    }
    let t = &app.theme;
    let [main, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(body);
    let name = s
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "no file".into());
    let lines = match &s.inspection {
        None if s.path.as_os_str().is_empty() => vec![Line::styled("open a file (o)", t.dim)],
        None => vec![Line::styled("reading…", t.dim)],
        Some(Err(e)) => vec![Line::styled(e.clone(), t.error)],
        Some(Ok(i)) => inspection_lines(i, t),
    };
    let block = panel(Line::from(format!(" LoRA · {name} ")), true, app);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((s.scroll, 0)),
        main,
    );
    let block = panel(Line::from(" Operation "), false, app);
    let room = block.inner(bottom);
    frame.render_widget(block, bottom);
    match (&s.job, &s.outcome) {
        (Some(j), _) => {
            let ratio = if j.total == 0 {
                0.0
            } else {
                j.done as f64 / j.total as f64
            };
            let state = if j.cancelling { "cancelling" } else { j.what };
            let label = format!("{state}: {}/{} {} · Esc cancels", j.done, j.total, j.item);
            gauge(frame, room, ratio, label, t);
        }
        (None, Some(Ok(text))) => {
            frame.render_widget(Line::styled(format!("done: {text}"), t.ok), room)
        }
        (None, Some(Err(e))) => frame.render_widget(Line::styled(e.clone(), t.error), room),
        (None, None) => frame.render_widget(
            Line::styled(
                "c convert · m merge · z resize · x mix · e extract — outputs go beside the file",
                t.dim,
            ),
            room,
        ),
    }
}

fn row<'a>(key: &'a str, value: String, t: &Theme) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{key:>14}  "), t.dim),
        Span::styled(value, t.base),
    ])
}

fn list_or_range<T: PartialOrd + Copy + std::fmt::Display>(v: &[T], varies: bool) -> String {
    match (v.first(), v.last()) {
        (Some(a), Some(b)) if varies => format!("{a}–{b} (varies)"),
        (Some(a), _) => a.to_string(),
        _ => "—".into(),
    }
}

fn inspection_lines<'a>(i: &'a Inspection, t: &Theme) -> Vec<Line<'a>> {
    let mut lines = vec![
        row(
            "format",
            format!("{}{}", i.format, if i.dora { " + DoRA" } else { "" }),
            t,
        ),
        row("family", i.family.to_string(), t),
        row(
            "modules",
            format!(
                "{} UNet/transformer, {} text encoder",
                i.unet_modules, i.text_encoder_modules
            ),
            t,
        ),
        row("rank", list_or_range(&i.ranks, i.rank_varies), t),
        row("alpha", list_or_range(&i.alphas, i.alpha_varies), t),
        row(
            "scale",
            i.scale
                .map_or("varies by module".into(), |s| format!("{s} (alpha/rank)")),
            t,
        ),
        row(
            "tensors",
            format!(
                "{} · {} parameters · {}",
                i.tensor_count,
                i.parameter_count,
                human_size(i.file_size)
            ),
            t,
        ),
        row(
            "dtypes",
            i.dtypes
                .iter()
                .map(|(d, n)| format!("{d} ×{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            t,
        ),
    ];
    let hash = &i.hash;
    let (text, style) = match (hash.matches, &hash.stored) {
        (Some(true), _) => (
            format!("sshs_model_hash matches ({})", short(&hash.computed)),
            t.ok,
        ),
        (Some(false), Some(stored)) => (
            format!(
                "sshs_model_hash MISMATCH: stored {}, computed {}",
                short(stored),
                short(&hash.computed)
            ),
            t.error,
        ),
        _ => (
            format!("no stored hash (computed {})", short(&hash.computed)),
            t.dim,
        ),
    };
    lines.push(Line::from(vec![
        Span::styled(format!("{:>14}  ", "hash"), t.dim),
        Span::styled(text, style),
    ]));
    if let Some(tr) = &i.training {
        lines.push(Line::raw(""));
        lines.push(Line::styled("Training (ss_* metadata)", t.title));
        let fields = [
            ("base model", &tr.sd_model_name),
            ("network", &tr.network_module),
            ("dim / alpha", &tr.network_dim),
            ("steps", &tr.steps),
            ("epochs", &tr.num_epochs),
            ("resolution", &tr.resolution),
            ("learning rate", &tr.learning_rate),
            ("optimizer", &tr.optimizer),
            ("images", &tr.num_train_images),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                let v = if k == "dim / alpha" {
                    format!("{v} / {}", tr.network_alpha.as_deref().unwrap_or("?"))
                } else {
                    v.clone()
                };
                lines.push(row(k, v, t));
            }
        }
        for (dir, repeats, images) in &tr.dataset_dirs {
            let r = repeats.map_or("?".into(), |r| r.to_string());
            let n = images.map_or("?".into(), |n| n.to_string());
            lines.push(row("dataset", format!("{dir} ({n} images × {r})"), t));
        }
        if !tr.top_tags.is_empty() {
            let tags: Vec<String> = tr
                .top_tags
                .iter()
                .map(|(tag, n)| format!("{tag} {n}"))
                .collect();
            lines.push(row(
                "top tags",
                format!("{} (of {})", tags.join(", "), tr.distinct_tags),
                t,
            ));
        }
    }
    if !i.modelspec.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("modelspec", t.title));
        for (k, v) in &i.modelspec {
            let k = k.strip_prefix("modelspec.").unwrap_or(k);
            lines.push(row(k, v.clone(), t));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!("Modules ({})", i.modules.len()),
        t.title,
    ));
    for m in &i.modules {
        let rank = m.rank.map_or("?".into(), |r| r.to_string());
        let alpha = m.alpha.map_or("?".into(), |a| a.to_string());
        lines.push(Line::styled(
            format!("  {} · {} · rank {rank} · alpha {alpha}", m.name, m.kind),
            t.base,
        ));
    }
    lines
}

/// The first 12 hex digits of a hash (enough to compare by eye).
fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}
