//! Excluding an image moves it and its caption under `.lorabench/excluded/`, keeping the
//! relative path; including moves them back. Nothing is ever deleted, and both are undoable.

use std::path::{Path, PathBuf};

use super::error::Result;
use super::journal::{FileOp, Journal};
use super::paths::EXCLUDED_DIR;
use super::scan::{CaptionState, Dataset};

/// Moves the items at `indices` out of the training set. Already-excluded ones are skipped.
pub fn exclude(journal: &Journal, dataset: &Dataset, indices: &[usize]) -> Result<Option<u64>> {
    moves(journal, dataset, indices, false)
}

/// Moves excluded items back where they were.
pub fn include(journal: &Journal, dataset: &Dataset, indices: &[usize]) -> Result<Option<u64>> {
    moves(journal, dataset, indices, true)
}

fn moves(
    journal: &Journal,
    dataset: &Dataset,
    indices: &[usize],
    excluded: bool,
) -> Result<Option<u64>> {
    let (from_base, to_base) = if excluded {
        (Path::new(EXCLUDED_DIR), Path::new(""))
    } else {
        (Path::new(""), Path::new(EXCLUDED_DIR))
    };
    let mut ops = Vec::new();
    let mut count = 0;
    for &i in indices {
        let Some(item) = dataset.items.get(i).filter(|it| it.excluded == excluded) else {
            continue;
        };
        count += 1;
        let mut move_one = |rel: &PathBuf| {
            ops.push(FileOp::Move {
                from: from_base.join(rel),
                to: to_base.join(rel),
            })
        };
        move_one(&item.path);
        // A caption shared with another image on the same side (`01.png` and `01.jpg`
        // pair with one `01.txt`) stays where that image still needs it.
        let shared = dataset.items.iter().enumerate().any(|(j, other)| {
            j != i
                && other.excluded == excluded
                && other.caption_path == item.caption_path
                && !indices.contains(&j)
        });
        if !matches!(item.caption, CaptionState::Missing) && !shared {
            move_one(&item.caption_path);
        }
    }
    if ops.is_empty() {
        return Ok(None);
    }
    let verb = if excluded { "include" } else { "exclude" };
    let what = if count == 1 {
        dataset.items[indices[0]].path.display().to_string()
    } else {
        format!("{count} images")
    };
    journal.commit(&format!("{verb} {what}"), ops).map(Some)
}
