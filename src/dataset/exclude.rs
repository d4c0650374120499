//! Excluding an image moves it and its caption under `.lorabench/excluded/`, keeping the
//! relative path; including moves them back. Nothing is ever deleted, and both are undoable.

use std::collections::HashSet;
use std::path::Path;

use super::error::Result;
use super::journal::{FileOp, Journal};
use super::paths::EXCLUDED_DIR;
use super::scan::{CaptionState, Dataset};

/// Moves the items at `indices` out of the training set. Already-excluded ones are skipped.
pub fn exclude(journal: &Journal, dataset: &Dataset, indices: &[usize]) -> Result<Option<u64>> {
    commit(journal, plan(dataset, indices, false))
}

/// Moves excluded items back where they were.
pub fn include(journal: &Journal, dataset: &Dataset, indices: &[usize]) -> Result<Option<u64>> {
    commit(journal, plan(dataset, indices, true))
}

fn commit(journal: &Journal, plan: Option<MovePlan>) -> Result<Option<u64>> {
    match plan {
        Some(p) => journal.commit(&p.description, p.ops).map(Some),
        None => Ok(None),
    }
}

/// The moves of an exclude (or include) and how many images they carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovePlan {
    pub description: String,
    pub images: usize,
    pub ops: Vec<FileOp>,
}

/// Plans moving the items at `indices` out of the training set (`include: false`) or back
/// (`include: true`); items already on the other side are skipped. Nothing is moved: a dry run
/// shows the plan. `None` when there is nothing to move.
pub fn plan(dataset: &Dataset, indices: &[usize], include: bool) -> Option<MovePlan> {
    let excluded = include;
    let (from_base, to_base) = if excluded {
        (Path::new(EXCLUDED_DIR), Path::new(""))
    } else {
        (Path::new(""), Path::new(EXCLUDED_DIR))
    };
    let mut ops = Vec::new();
    let mut moved: HashSet<&Path> = HashSet::new();
    let mut first = None;
    let mut count = 0;
    for &i in indices {
        let Some(item) = dataset.items.get(i).filter(|it| it.excluded == excluded) else {
            continue;
        };
        if !moved.insert(&item.path) {
            continue; // named twice (a file and a filter)
        }
        count += 1;
        first.get_or_insert(i);
        ops.push(FileOp::Move {
            from: from_base.join(&item.path),
            to: to_base.join(&item.path),
        });
        // A caption shared with another image on the same side (`01.png` and `01.jpg`
        // pair with one `01.txt`) stays where that image still needs it, and moves once.
        let shared = dataset.items.iter().enumerate().any(|(j, other)| {
            j != i
                && other.excluded == excluded
                && other.caption_path == item.caption_path
                && !indices.contains(&j)
        });
        if !matches!(item.caption, CaptionState::Missing)
            && !shared
            && moved.insert(&item.caption_path)
        {
            ops.push(FileOp::Move {
                from: from_base.join(&item.caption_path),
                to: to_base.join(&item.caption_path),
            });
        }
    }
    if ops.is_empty() {
        return None;
    }
    let verb = if excluded { "include" } else { "exclude" };
    let what = match first {
        Some(i) if count == 1 => dataset.items[i].path.display().to_string(),
        _ => format!("{count} images"),
    };
    Some(MovePlan {
        description: format!("{verb} {what}"),
        images: count,
        ops,
    })
}
