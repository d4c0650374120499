//! Changes to the dataset that more than one screen makes: excluding or including images and
//! undoing or redoing the journal's last entry. The browser and the Lint screen call these, so
//! both go through the same core functions and journal and say the same words.

use crate::dataset::exclude;
use crate::tui::screen::{Ctx, Effect, Effects, Level};
use crate::tui::widgets::panel::plural;

/// Excludes the items at `targets`, or includes them when every one is excluded already. On
/// success: a rescan and a status that names undo; `Err` is the status saying why not.
pub fn toggle_exclude(ctx: &Ctx, targets: &[usize]) -> Result<Effects, Effect> {
    let Some(journal) = ctx.journal else {
        return Err(Effect::status(Level::Error, "read-only: cannot exclude"));
    };
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let all_excluded = targets
        .iter()
        .all(|&i| ctx.dataset.items.get(i).is_some_and(|it| it.excluded));
    let result = if all_excluded {
        exclude::include(journal, ctx.dataset, targets)
    } else {
        exclude::exclude(journal, ctx.dataset, targets)
    };
    let n = targets.len();
    let verb = if all_excluded { "included" } else { "excluded" };
    match result {
        Ok(_) => Ok(vec![
            Effect::Reload,
            Effect::status(
                Level::Info,
                format!("{verb} {n} image{} (undo takes it back)", plural(n)),
            ),
        ]),
        Err(e) => Err(Effect::status(Level::Error, e.to_string())),
    }
}

/// Undoes (or redoes) the journal's last change; a rescan follows one that happened.
pub fn undo_redo(ctx: &Ctx, undo: bool) -> Effects {
    let Some(journal) = ctx.journal else {
        return vec![Effect::status(Level::Error, "read-only: nothing to undo")];
    };
    let result = if undo {
        journal.undo(false)
    } else {
        journal.redo(false)
    };
    let verb = if undo { "undid" } else { "redid" };
    match result {
        Ok(Some(entry)) => vec![
            Effect::Reload,
            Effect::status(Level::Info, format!("{verb}: {}", entry.description)),
        ],
        Ok(None) => {
            let what = if undo {
                "nothing to undo"
            } else {
                "nothing to redo"
            };
            vec![Effect::status(Level::Info, what)]
        }
        Err(e) => vec![Effect::status(Level::Error, e.to_string())],
    }
}
