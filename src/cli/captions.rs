//! `lorabench captions DIR <op>`: bulk caption edits, undo, redo, history.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use lorabench::dataset::journal::{EntrySummary, Recovery};
use lorabench::dataset::ops::{self, BulkOp, Position};
use lorabench::dataset::{CaptionState, Dataset, Journal, Query, ScanOptions, scan};

use super::say::{plural, safe, safe_block};

#[derive(clap::Args)]
pub struct Args {
    /// The dataset folder.
    #[arg(value_hint = clap::ValueHint::DirPath)]
    dir: PathBuf,
    #[command(subcommand)]
    op: Op,
}

/// Which images an operation reads, and how it reports.
#[derive(clap::Args)]
struct Select {
    /// Only captions of images matching this filter (the workbench's `/` language).
    #[arg(long)]
    filter: Option<String>,
    /// Caption extension to prefer and to write new captions with.
    #[arg(long, default_value = ".txt")]
    caption_ext: String,
}

/// How a change is made.
#[derive(clap::Args)]
struct Change {
    /// Print a unified diff of what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Op {
    /// Add a tag to every caption that lacks it.
    Add {
        /// The tag to add.
        tag: String,
        /// front, back, or a 0-based index.
        #[arg(long, default_value = "back")]
        at: String,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Remove a tag everywhere.
    Remove {
        /// The tag to remove (case and spacing do not matter).
        tag: String,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Rename a tag everywhere.
    Replace {
        /// The tag to rename.
        old: String,
        /// Its new name (if a caption already has it, the old one is just removed).
        new: String,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Put the trigger word first in every caption, once.
    Trigger {
        /// The trigger word.
        word: String,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Substitute text (or a regex with --regex; `$1` in the replacement).
    Sub {
        /// The text (or regex) to find.
        pattern: String,
        /// What to put in its place.
        replacement: String,
        /// Take the pattern as a regular expression.
        #[arg(long)]
        regex: bool,
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Drop repeated tags.
    Dedupe {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// Tidy whitespace and separators.
    Normalize {
        #[command(flatten)]
        select: Select,
        #[command(flatten)]
        change: Change,
    },
    /// List images with their captions (the browser's view; `--json` for data).
    List {
        #[command(flatten)]
        select: Select,
        /// Print JSON rows instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Set the caption of one image (path relative to DIR), as the editor does.
    Set {
        /// The image, relative to DIR.
        image: PathBuf,
        /// Its new caption.
        text: String,
        /// Caption extension to prefer and to write a new caption with.
        #[arg(long, default_value = ".txt")]
        caption_ext: String,
        /// Print the diff; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Undo the last change lorabench made to this dataset.
    Undo(Step),
    /// Redo the last undone change.
    Redo(Step),
    /// List the journal, oldest first, with times.
    History {
        /// Print JSON (times in seconds since the Unix epoch).
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct Step {
    /// Undo/redo even if a file changed since the journal wrote it.
    #[arg(long)]
    force: bool,
    /// Print what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the entry as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let (journal, recovery) = Journal::open(dir)?;
    report_recovery(&recovery);
    let (bulk, select, change) = match args.op {
        Op::Undo(step) => return undo_redo(&journal, true, &step),
        Op::Redo(step) => return undo_redo(&journal, false, &step),
        Op::History { json } => {
            let history = journal.history()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else {
                print!("{}", history_text(&history));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Op::List { select, json } => {
            let dataset = scan(dir, &ScanOptions::with_caption_ext(&select.caption_ext))?;
            list(
                &dataset,
                &selected(&dataset, select.filter.as_deref())?,
                json,
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        Op::Set {
            image,
            text,
            caption_ext,
            dry_run,
        } => {
            let dataset = scan(dir, &ScanOptions::with_caption_ext(&caption_ext))?;
            let rel: PathBuf = image
                .strip_prefix(dir)
                .unwrap_or(&image)
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            let index = dataset.index_of(&rel).with_context(|| {
                format!(
                    "{} is not an image of {} (`lorabench captions DIR list` shows them)",
                    safe(&rel.display().to_string()),
                    safe(&dir.display().to_string())
                )
            })?;
            let caption = safe(&dataset.items[index].caption_path.display().to_string());
            if dry_run {
                match ops::caption_edit(&dataset, index, &text)? {
                    Some((_, file_ops)) => {
                        print!("{}", safe_block(&ops::ops_diff(&file_ops)));
                        eprintln!("{caption} would change (dry run: nothing written)");
                    }
                    None => eprintln!("{caption} is unchanged (dry run: nothing written)"),
                }
                return Ok(ExitCode::SUCCESS);
            }
            match ops::write_caption(&journal, &dataset, index, &text)? {
                Some(id) => println!("saved {caption} (#{id})"),
                None => println!("unchanged"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        Op::Add {
            tag,
            at,
            select,
            change,
        } => (
            BulkOp::Add {
                tag,
                at: parse_position(&at)?,
            },
            select,
            change,
        ),
        Op::Remove {
            tag,
            select,
            change,
        } => (BulkOp::Remove { tag }, select, change),
        Op::Replace {
            old,
            new,
            select,
            change,
        } => (BulkOp::Replace { old, new }, select, change),
        Op::Trigger {
            word,
            select,
            change,
        } => (BulkOp::Trigger { word }, select, change),
        Op::Sub {
            pattern,
            replacement,
            regex,
            select,
            change,
        } => (
            BulkOp::Sub {
                pattern,
                replacement,
                regex,
            },
            select,
            change,
        ),
        Op::Dedupe { select, change } => (BulkOp::Dedupe, select, change),
        Op::Normalize { select, change } => (BulkOp::Normalize, select, change),
    };
    let dataset = scan(dir, &ScanOptions::with_caption_ext(&select.caption_ext))?;
    let indices = selected(&dataset, select.filter.as_deref())?;
    let plan = ops::plan(&dataset, &indices, &bulk)?;
    for (path, why) in &plan.skipped {
        eprintln!(
            "warning: skipped {}: {}",
            safe(&path.display().to_string()),
            safe(why)
        );
    }
    let (changed, skipped) = (plan.edits.len(), plan.skipped.len());
    let captions = plural(changed, "caption", "captions");
    if change.dry_run {
        if change.json {
            let v = serde_json::json!({ "changed": changed, "entry": null, "skipped": skipped,
                "diff": plan.diff(), "applied": false });
            println!("{v}");
        } else {
            print!("{}", safe_block(&plan.diff()));
            eprintln!("{captions} would change (dry run: nothing written)");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let entry = plan.apply(&journal, &bulk.describe())?;
    if change.json {
        let v = serde_json::json!({ "changed": changed, "entry": entry, "skipped": skipped,
            "applied": entry.is_some() });
        println!("{v}");
    } else {
        match entry {
            Some(id) => {
                println!("{captions} changed (#{id}; `lorabench captions DIR undo` reverts)")
            }
            None => println!("nothing to change"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn undo_redo(journal: &Journal, undo: bool, step: &Step) -> anyhow::Result<ExitCode> {
    let verb = if undo { "undo" } else { "redo" };
    if step.dry_run {
        match journal.preview(undo, step.force)? {
            Some((entry, file_ops)) if step.json => {
                let v = serde_json::json!({ "entry": entry, "diff": ops::ops_diff(&file_ops),
                    "applied": false });
                println!("{v}");
            }
            Some((entry, file_ops)) => {
                print!("{}", safe_block(&ops::ops_diff(&file_ops)));
                eprintln!(
                    "would {verb} #{}: {} ({}; dry run: nothing written)",
                    entry.id,
                    safe(&entry.description),
                    plural(entry.files, "file", "files")
                );
            }
            None => println!("nothing to {verb}"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let done = if undo {
        journal.undo(step.force)?
    } else {
        journal.redo(step.force)?
    };
    match done {
        Some(e) if step.json => println!("{}", serde_json::to_string(&e)?),
        Some(e) => println!(
            "{} #{}: {} ({})",
            if undo { "undid" } else { "redid" },
            e.id,
            safe(&e.description),
            plural(e.files, "file", "files")
        ),
        None => println!("nothing to {verb}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn list(dataset: &Dataset, indices: &[usize], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = indices
            .iter()
            .map(|&i| {
                let it = &dataset.items[i];
                serde_json::json!({
                    "image": it.path,
                    "caption_file": it.caption_path,
                    "caption": it.caption.text(),
                    "caption_state": caption_state(&it.caption),
                    "repeats": it.folder.as_ref().map(|f| f.repeats),
                    "excluded": it.excluded,
                    "bytes": it.file_size,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for &i in indices {
        let it = &dataset.items[i];
        let caption = match &it.caption {
            CaptionState::Text(c) => safe(&c.text.replace('\n', " / ")),
            other => format!("<{}>", caption_state(other)),
        };
        println!("{}\t{caption}", safe(&it.path.display().to_string()));
    }
    Ok(())
}

/// The journal as `captions history` prints it: one line per entry with its time (UTC), and
/// what the marks mean.
fn history_text(history: &[EntrySummary]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if history.is_empty() {
        out.push_str("no changes recorded\n");
        return out;
    }
    for e in history {
        let mark = if e.applied { ' ' } else { 'u' };
        let _ = writeln!(
            out,
            "{mark} #{:<4} {}  {:>11}  {}",
            e.id,
            utc_minute(e.time),
            plural(e.files, "file", "files"),
            safe(&e.description)
        );
    }
    let undone = history.iter().filter(|e| !e.applied).count();
    let _ = writeln!(
        out,
        "times are UTC; `undo` takes back the newest unmarked entry{}",
        if undone > 0 {
            "; u marks an undone entry, which `redo` brings back (a new change discards it)"
        } else {
            ""
        }
    );
    out
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM` (UTC), by the civil-from-days algorithm.
fn utc_minute(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (hour, minute) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

fn caption_state(state: &CaptionState) -> &'static str {
    match state {
        CaptionState::Missing => "missing",
        CaptionState::Text(c) if c.text.trim().is_empty() => "empty",
        CaptionState::Text(_) => "text",
        CaptionState::NotUtf8(_) => "not-utf8",
        CaptionState::Unreadable(_) => "unreadable",
    }
}

pub(crate) fn selected(dataset: &Dataset, filter: Option<&str>) -> anyhow::Result<Vec<usize>> {
    let query = Query::parse(filter.unwrap_or("")).context("bad --filter")?;
    Ok((0..dataset.items.len())
        .filter(|&i| query.matches(&dataset.items[i]))
        .collect())
}

fn parse_position(at: &str) -> anyhow::Result<Position> {
    Ok(match at {
        "front" => Position::Front,
        "back" => Position::Back,
        n => Position::Index(
            n.parse()
                .with_context(|| format!("--at takes front, back or a number, not {n:?}"))?,
        ),
    })
}

pub(crate) fn report_recovery(recovery: &Recovery) {
    match recovery {
        Recovery::Clean => {}
        Recovery::Completed(e) => eprintln!(
            "lorabench: finished an interrupted change (#{}: {}) so every caption is consistent",
            e.id,
            safe(&e.description)
        ),
        Recovery::Dropped(id) => {
            eprintln!("lorabench: dropped change #{id}, interrupted before any file was touched")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_minutes_are_civil_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_minute(1_798_830_000), "2027-01-01 19:00");
    }
}
