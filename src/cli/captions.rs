//! `lorabench captions DIR <op>`: bulk caption edits, undo, redo, history.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use lorabench::dataset::journal::Recovery;
use lorabench::dataset::ops::{self, BulkOp, Position};
use lorabench::dataset::{CaptionState, Dataset, Journal, Query, ScanOptions, scan};

#[derive(clap::Args)]
pub struct Args {
    /// The dataset folder.
    dir: PathBuf,
    #[command(subcommand)]
    op: Op,
    /// Only captions of images matching this filter (the workbench's `/` language).
    #[arg(long, global = true)]
    filter: Option<String>,
    /// Print a unified diff of what would change; write nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Caption extension to prefer and to write new captions with.
    #[arg(long, global = true, default_value = ".txt")]
    caption_ext: String,
    /// Undo/redo even if a file changed since the journal wrote it.
    #[arg(long, global = true)]
    force: bool,
    /// Machine-readable output (history, and a summary for the other ops).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Op {
    /// Add a tag to every caption that lacks it.
    Add {
        tag: String,
        /// front, back, or a 0-based index.
        #[arg(long, default_value = "back")]
        at: String,
    },
    /// Remove a tag everywhere.
    Remove { tag: String },
    /// Rename a tag everywhere.
    Replace { old: String, new: String },
    /// Put the trigger word first in every caption, once.
    Trigger { word: String },
    /// Substitute text (or a regex with --regex; `$1` in the replacement).
    Sub {
        pattern: String,
        replacement: String,
        #[arg(long)]
        regex: bool,
    },
    /// Drop repeated tags.
    Dedupe,
    /// Tidy whitespace and separators.
    Normalize,
    /// List images with their captions (the browser's view; `--json` for data).
    List,
    /// Set the caption of one image (path relative to DIR), as the editor does.
    Set { image: PathBuf, text: String },
    /// Undo the last change lorabench made to this dataset.
    Undo,
    /// Redo the last undone change.
    Redo,
    /// List the journal, oldest first.
    History,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (journal, recovery) = Journal::open(&args.dir)?;
    report_recovery(&recovery);
    let bulk = match args.op {
        Op::Undo | Op::Redo => {
            let undo = matches!(args.op, Op::Undo);
            let done = if undo {
                journal.undo(args.force)?
            } else {
                journal.redo(args.force)?
            };
            let verb = if undo { "undid" } else { "redid" };
            match done {
                Some(e) if args.json => println!("{}", serde_json::to_string(&e)?),
                Some(e) => println!("{verb} #{}: {} ({} files)", e.id, e.description, e.files),
                None => println!("nothing to {}", if undo { "undo" } else { "redo" }),
            }
            return Ok(ExitCode::SUCCESS);
        }
        Op::History => {
            let history = journal.history()?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&history)?);
            } else if history.is_empty() {
                println!("no changes recorded");
            }
            if !args.json {
                for e in &history {
                    let mark = if e.applied { ' ' } else { 'u' };
                    println!(
                        "{mark} #{:<4} {:>5} files  {}",
                        e.id, e.files, e.description
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        Op::List => {
            let dataset = scan(&args.dir, &ScanOptions::with_caption_ext(&args.caption_ext))?;
            list(
                &dataset,
                &selected(&dataset, args.filter.as_deref())?,
                args.json,
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        Op::Set { image, text } => {
            let dataset = scan(&args.dir, &ScanOptions::with_caption_ext(&args.caption_ext))?;
            let rel: PathBuf = image
                .strip_prefix(&args.dir)
                .unwrap_or(&image)
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect();
            let index = dataset.index_of(&rel).with_context(|| {
                format!(
                    "{} is not an image of {}",
                    rel.display(),
                    args.dir.display()
                )
            })?;
            match ops::write_caption(&journal, &dataset, index, &text)? {
                Some(id) => println!(
                    "saved {} (#{id})",
                    dataset.items[index].caption_path.display()
                ),
                None => println!("unchanged"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        Op::Add { tag, at } => BulkOp::Add {
            tag,
            at: parse_position(&at)?,
        },
        Op::Remove { tag } => BulkOp::Remove { tag },
        Op::Replace { old, new } => BulkOp::Replace { old, new },
        Op::Trigger { word } => BulkOp::Trigger { word },
        Op::Sub {
            pattern,
            replacement,
            regex,
        } => BulkOp::Sub {
            pattern,
            replacement,
            regex,
        },
        Op::Dedupe => BulkOp::Dedupe,
        Op::Normalize => BulkOp::Normalize,
    };
    let dataset = scan(&args.dir, &ScanOptions::with_caption_ext(&args.caption_ext))?;
    let indices = selected(&dataset, args.filter.as_deref())?;
    let plan = ops::plan(&dataset, &indices, &bulk)?;
    for (path, why) in &plan.skipped {
        eprintln!("warning: skipped {}: {why}", path.display());
    }
    let (changed, skipped) = (plan.edits.len(), plan.skipped.len());
    if args.dry_run {
        print!("{}", plan.diff());
        eprintln!("{changed} captions would change (dry run: nothing written)");
        return Ok(ExitCode::SUCCESS);
    }
    let entry = plan.apply(&journal, &bulk.describe())?;
    if args.json {
        let v = serde_json::json!({ "changed": changed, "entry": entry, "skipped": skipped });
        println!("{v}");
    } else {
        match entry {
            Some(id) => println!(
                "{changed} captions changed (#{id}; `lorabench captions DIR undo` reverts)"
            ),
            None => println!("nothing to change"),
        }
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
            CaptionState::Text(c) => c.text.replace('\n', " / "),
            other => format!("<{}>", caption_state(other)),
        };
        println!("{}\t{caption}", it.path.display());
    }
    Ok(())
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
            e.id, e.description
        ),
        Recovery::Dropped(id) => {
            eprintln!("lorabench: dropped change #{id}, interrupted before any file was touched")
        }
    }
}
