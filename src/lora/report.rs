//! An inspection as labelled rows in sections: the one reading of a [`Inspection`] that both
//! `lorabench lora inspect` and the TUI's LoRA screen print, so the two cannot drift apart.

use super::inspect::Inspection;

/// How a value reads: the TUI colours by it, the CLI prints it plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Faint,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub label: String,
    pub value: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// `None` for the first block (the file itself).
    pub title: Option<String>,
    pub rows: Vec<Row>,
}

fn row(label: &str, value: impl Into<String>) -> Row {
    Row {
        label: label.to_string(),
        value: value.into(),
        tone: Tone::Plain,
    }
}

fn join_or_dash(v: Vec<String>) -> String {
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join(", ")
    }
}

fn varies(b: bool) -> &'static str {
    if b { " (varies by module)" } else { "" }
}

/// The first 12 hex digits of a hash (enough to compare by eye).
fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Every section of the inspection; the per-module table last, when `modules` is set.
pub fn sections(i: &Inspection, modules: bool) -> Vec<Section> {
    let mut out = vec![Section {
        title: None,
        rows: summary(i),
    }];
    if let Some(t) = training(i) {
        out.push(t);
    }
    if !i.modelspec.is_empty() {
        out.push(Section {
            title: Some("modelspec".into()),
            rows: i
                .modelspec
                .iter()
                // A data URL: unreadable as text.
                .filter(|(k, _)| k.as_str() != "thumbnail")
                .map(|(k, v)| row(k, v.clone()))
                .collect(),
        });
    }
    if modules {
        out.push(Section {
            title: Some(format!("modules ({})", i.modules.len())),
            rows: i
                .modules
                .iter()
                .map(|m| {
                    let rank = m.rank.map_or("?".into(), |r| r.to_string());
                    let alpha = m.alpha.map_or("?".into(), |a| a.to_string());
                    let dora = if m.dora { " · DoRA" } else { "" };
                    row(
                        &m.name,
                        format!("{} · rank {rank} · alpha {alpha}{dora}", m.kind),
                    )
                })
                .collect(),
        });
    }
    out
}

fn summary(i: &Inspection) -> Vec<Row> {
    let dora = if i.dora { " + DoRA" } else { "" };
    let dtypes: Vec<String> = i.dtypes.iter().map(|(d, n)| format!("{d} x{n}")).collect();
    let scale = match i.scale {
        Some(sc) => format!("{sc} (alpha / rank)"),
        None => {
            // How many modules have each scale, e.g. `2 x113, 4 x1, 0.75 x1`.
            let mut counts: Vec<(f32, usize)> = Vec::new();
            for sc in i.modules.iter().filter_map(|m| m.scale) {
                match counts.iter_mut().find(|(v, _)| *v == sc) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((sc, 1)),
                }
            }
            counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
            let shown: Vec<String> = counts.iter().map(|(v, n)| format!("{v} x{n}")).collect();
            format!("{} (alpha / rank, varies by module)", shown.join(", "))
        }
    };
    let mut rows = vec![
        row("file", i.path.display().to_string()),
        row(
            "size",
            format!(
                "{} bytes, {} tensors, {} parameters",
                i.file_size, i.tensor_count, i.parameter_count
            ),
        ),
        row("format", format!("{}{dora}", i.format)),
        row("family", i.family.to_string()),
        row("dtypes", dtypes.join(", ")),
        row(
            "modules",
            format!(
                "{} ({} unet/transformer, {} text encoder)",
                i.modules.len(),
                i.unet_modules,
                i.text_encoder_modules
            ),
        ),
        row(
            "rank",
            format!(
                "{}{}",
                join_or_dash(i.ranks.iter().map(|r| r.to_string()).collect()),
                varies(i.rank_varies)
            ),
        ),
        row(
            "alpha",
            format!(
                "{}{}",
                join_or_dash(i.alphas.iter().map(|a| a.to_string()).collect()),
                varies(i.alpha_varies)
            ),
        ),
        row("scale", scale),
    ];
    let h = &i.hash;
    let (value, tone) = match (h.matches, &h.stored) {
        (Some(true), _) => (
            format!("sshs_model_hash matches ({})", short(&h.computed)),
            Tone::Good,
        ),
        (Some(false), stored) => (
            format!(
                "sshs_model_hash MISMATCH: stored {}, data hashes to {}",
                stored.as_deref().unwrap_or(""),
                h.computed
            ),
            Tone::Bad,
        ),
        (None, _) => (
            format!("no sshs_model_hash stored; data hashes to {}", h.computed),
            Tone::Faint,
        ),
    };
    rows.push(Row {
        label: "hash".into(),
        value,
        tone,
    });
    if let Some(first) = i.other_keys.first() {
        rows.push(row(
            "other keys",
            format!(
                "{} not part of an adapter module (e.g. {first})",
                i.other_keys.len()
            ),
        ));
    }
    rows
}

fn training(i: &Inspection) -> Option<Section> {
    let t = i.training.as_ref()?;
    let of = |a: &Option<String>, b: &Option<String>, sep: &str| {
        a.as_ref()
            .map(|a| format!("{a}{sep}{}", b.as_deref().unwrap_or("?")))
    };
    let fields = [
        ("output name", t.output_name.clone()),
        ("base model", t.base_model.clone()),
        ("trained on", t.sd_model_name.clone()),
        ("network", t.network_module.clone()),
        ("dim / alpha", of(&t.network_dim, &t.network_alpha, " / ")),
        ("network args", t.network_args.clone()),
        ("steps", of(&t.steps, &t.max_train_steps, " of ")),
        ("epochs", of(&t.epoch, &t.num_epochs, " of ")),
        ("resolution", t.resolution.clone()),
        ("learning rate", t.learning_rate.clone()),
        ("unet / te lr", of(&t.unet_lr, &t.text_encoder_lr, " / ")),
        ("optimizer", t.optimizer.clone()),
        ("scheduler", t.lr_scheduler.clone()),
        ("batch size", t.batch_size.clone()),
        ("train images", t.num_train_images.clone()),
        ("precision", t.mixed_precision.clone()),
        ("seed", t.seed.clone()),
        ("started", t.started_at.clone()),
        ("finished", t.finished_at.clone()),
        ("comment", t.training_comment.clone()),
    ];
    let mut rows: Vec<Row> = fields
        .into_iter()
        .filter_map(|(label, v)| v.map(|v| row(label, v)))
        .collect();
    for (dir, repeats, images) in &t.dataset_dirs {
        let n = |v: &Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        rows.push(row(
            "dataset",
            format!("{dir}: {} images x {} repeats", n(images), n(repeats)),
        ));
    }
    if !t.top_tags.is_empty() {
        let tags: Vec<String> = t
            .top_tags
            .iter()
            .map(|(tag, n)| format!("{tag} ({n})"))
            .collect();
        rows.push(row(
            "top tags",
            format!("{} (of {} distinct)", tags.join(", "), t.distinct_tags),
        ));
    }
    Some(Section {
        title: Some("training (sd-scripts metadata)".into()),
        rows,
    })
}

/// The sections as plain text, labels in a column (what the CLI prints).
pub fn text(sections: &[Section]) -> String {
    let width = sections
        .iter()
        .flat_map(|s| &s.rows)
        .map(|r| r.label.chars().count())
        .filter(|&w| w <= 24)
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for s in sections {
        let indent = match &s.title {
            Some(t) => {
                out.push_str(t);
                out.push('\n');
                "  "
            }
            None => "",
        };
        for r in &s.rows {
            out.push_str(&format!("{indent}{:<width$}  {}\n", r.label, r.value));
        }
    }
    out
}
