//! The dataset browser, the bottom screen: the list or thumbnail grid, the preview, the
//! caption editor, the filter and bulk prompts and the caption-conflict dialog. Its drawing is
//! in `browser_view.rs`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::Frame;
use ratatui::crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_textarea::TextArea;

use crate::dataset::caption::CaptionText;
use crate::dataset::ops::{self, BulkOp};
use crate::dataset::{CaptionState, Dataset, DatasetError, Query};
use crate::tui::bulk;

use super::changes;
use crate::tui::editor::{CaptionEditor, EditorMode, draft_path, keep_draft};
use crate::tui::images::{
    Decoded, ImageFacts, ImageKey, ImageWorkers, Purpose, Shown, protocol_of,
};
use crate::tui::keymap::nav;
use crate::tui::layout::{self, Areas, View};
use crate::tui::msg::Msg;
use crate::tui::popups::Popup;
use crate::tui::popups::preview::Preview;
use crate::tui::screen::{
    Browse, Command, Ctx, DrawCtx, Effect, Effects, Event, HeaderTone, Level, Screen,
};
use crate::tui::widgets::line_input;
use crate::tui::widgets::panel::plural;

/// Thumbnails kept decoded beyond the visible page.
const THUMB_CACHE: usize = 256;
/// How long to wait after a file appears or disappears before rescanning (editors and sync
/// tools touch several files in a burst).
pub const RESCAN_DELAY: Duration = Duration::from_millis(250);

const LEFT: &str = "left";
const RIGHT: &str = "right";
const EDIT: &str = "edit";
const EDIT_TAGS: &str = "edit-tags";
const SELECT: &str = "select";
const SELECT_ALL: &str = "select-all";
const ESCAPE: &str = "escape";
const FILTER: &str = "filter";
const BULK: &str = "bulk";
const EXCLUDE: &str = "exclude";
const UNDO: &str = "undo";
const REDO: &str = "redo";
const TOGGLE_VIEW: &str = "toggle-view";
const QUIT: &str = "quit";
// The tag and text editors.
const ADD: &str = "add";
const DELETE: &str = "delete";
const MOVE_DOWN: &str = "move-down";
const MOVE_UP: &str = "move-up";
const TO_FRONT: &str = "to-front";
const SWITCH: &str = "switch";
const SAVE: &str = "save";
const CLOSE: &str = "close";
const DISCARD: &str = "discard";
// Prompts and the conflict dialog.
const SUBMIT: &str = "submit";
const CANCEL: &str = "cancel";
const KEEP_MINE: &str = "keep-mine";
const TAKE_THEIRS: &str = "take-theirs";
const DIFF: &str = "diff";
/// A yes/no question takes the keys of a change preview (one yes/no everywhere).
pub(super) const CONFIRM: &str = crate::tui::popups::preview::MODE;

/// What a prompt is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    Bulk,
    TagAdd,
    TagEdit,
}

impl PromptKind {
    pub fn title(self) -> &'static str {
        match self {
            PromptKind::Filter => "Filter",
            PromptKind::Bulk => "Bulk edit",
            PromptKind::TagAdd => "Add tags",
            PromptKind::TagEdit => "Edit tag",
        }
    }
}

pub struct Prompt {
    pub kind: PromptKind,
    pub input: TextArea<'static>,
    pub error: Option<String>,
    /// What the operation will touch, shown in the prompt ("24 captions (filter)").
    pub scope: Option<String>,
    /// The filter prompt: the filter before it opened, put back on cancel.
    pub before: Option<String>,
    /// The filter prompt: the image the cursor was on when it opened; every filter typed
    /// keeps the cursor there while it matches.
    pub anchor: Option<PathBuf>,
}

/// A caption changed on disk while the editor had unsaved edits to it.
pub struct Conflict {
    pub item: usize,
    /// The caption as it is on disk now (`None`: the file was deleted).
    pub theirs: Option<Vec<u8>>,
    pub show_diff: bool,
}

/// A yes/no question about the editor's draft.
pub enum Confirm {
    /// Drop the draft; the caption on disk stays as it is.
    Discard,
    /// Quit although the draft cannot be saved (`why`); it is kept in `draft`, outside the
    /// dataset.
    Quit { why: String, draft: PathBuf },
}

/// A dialog on top of the panels; it has the keyboard until it closes.
pub enum Modal {
    Prompt(Box<Prompt>),
    Conflict(Conflict),
    Confirm(Confirm),
}

pub struct Browser {
    pub view: View,
    pub modal: Option<Modal>,
    pub editor: Option<CaptionEditor>,
    /// The bulk edit's diff, waiting for a yes.
    pub popup: Option<Popup>,
    pub filter_text: String,
    filter: Query,
    /// Indices into `dataset.items` that pass the filter, in order.
    pub visible: Vec<usize>,
    /// Position in `visible`.
    pub cursor: usize,
    /// First list row (list view) or grid row (grid view) on screen.
    pub scroll: usize,
    /// Items marked for a bulk operation, by relative path (stable across rescans).
    pub selected: BTreeSet<PathBuf>,
    pub preview: Option<Shown>,
    pub thumbs: HashMap<PathBuf, Shown>,
    pub facts: HashMap<PathBuf, ImageFacts>,
    /// Images that failed to decode, with why (the list marks them, the info panel says it).
    pub broken: HashMap<PathBuf, String>,
    /// The terminal area, as of the last event.
    pub area: Rect,
    workers: ImageWorkers,
    /// The graphics the workers encode for; a result in other graphics (from the workers
    /// before [`Browser::set_picker`]) is dropped.
    protocol: ProtocolType,
    wanted_preview: Option<ImageKey>,
    wanted_thumbs: Vec<ImageKey>,
    by_caption: HashMap<PathBuf, usize>,
    by_image: HashMap<PathBuf, usize>,
    /// Effects gathered while one event is handled.
    out: Effects,
}

impl Browser {
    pub fn new(ctx: &mut Ctx, picker: &Picker) -> Browser {
        let mut b = Browser {
            view: View::List,
            modal: None,
            editor: None,
            popup: None,
            filter_text: String::new(),
            filter: Query::default(),
            visible: Vec::new(),
            cursor: 0,
            scroll: 0,
            selected: BTreeSet::new(),
            preview: None,
            thumbs: HashMap::new(),
            facts: HashMap::new(),
            broken: HashMap::new(),
            area: ctx.area,
            // Leave a core to the UI thread: decoding must never slow a key press down.
            workers: ImageWorkers::start(picker.clone(), ctx.tx.clone(), decode_threads()),
            protocol: picker.protocol_type(),
            wanted_preview: None,
            wanted_thumbs: Vec::new(),
            by_caption: HashMap::new(),
            by_image: HashMap::new(),
            out: Vec::new(),
        };
        b.index(ctx.dataset);
        b.refilter(ctx.dataset, None);
        b
    }

    // ----- reading state (for drawing and tests) -----

    pub fn areas(&self) -> Areas {
        layout::areas(self.area, self.view)
    }

    /// The item under the cursor, as an index into `dataset.items`.
    pub fn current(&self) -> Option<usize> {
        self.visible.get(self.cursor).copied()
    }

    /// Why the image cannot be shown: its decode failed, or its bytes are no known image.
    pub fn unreadable(&self, ds: &Dataset, index: usize) -> Option<String> {
        let item = ds.items.get(index)?;
        if let Some(why) = self.broken.get(&ds.abs_path(item)) {
            return Some(why.clone());
        }
        item.sniffed_format
            .is_none()
            .then(|| "its content is no known image format".to_string())
    }

    pub fn is_selected(&self, ds: &Dataset, index: usize) -> bool {
        ds.items
            .get(index)
            .is_some_and(|it| self.selected.contains(&it.path))
    }

    /// Whether decodes asked for are still outstanding (tests and benchmarks wait on this).
    pub fn images_pending(&self) -> bool {
        self.wanted_preview.is_some() || !self.wanted_thumbs.is_empty()
    }

    fn set_status(&mut self, level: Level, text: impl Into<String>) {
        self.out.push(Effect::status(level, text));
    }

    // ----- keys -----

    fn on_key(&mut self, ctx: &mut Ctx, action: Option<&str>, key: KeyEvent) {
        match self.mode() {
            "prompt" => match action {
                Some(SUBMIT) => self.submit_prompt(ctx),
                Some(_) => {
                    // A cancelled filter puts back the one from before the prompt.
                    if let Some(Modal::Prompt(p)) = self.modal.take()
                        && let Some(before) = p.before
                    {
                        let keep = p.anchor.as_deref().and_then(|a| ctx.dataset.index_of(a));
                        let _ = self.filter_keeping(ctx.dataset, &before, keep);
                    }
                }
                None => {
                    let mut live = None;
                    if let Some(Modal::Prompt(p)) = &mut self.modal
                        && line_input::key(&mut p.input, key)
                    {
                        p.error = None;
                        if p.kind == PromptKind::Filter {
                            live = Some(line_input::text(&p.input));
                        }
                    }
                    // The filter applies as it is typed; a half-typed term (`tag:`) keeps the
                    // last one that parsed, and Enter says what is wrong with it.
                    if let Some(text) = live
                        && Query::parse(&text).is_ok()
                    {
                        let _ = self.apply_filter(ctx.dataset, &text);
                    }
                }
            },
            "conflict" => {
                if let Some(a) = action {
                    self.resolve_conflict(ctx, a);
                }
            }
            CONFIRM => match action {
                Some(SUBMIT) => self.confirmed(ctx),
                Some(CANCEL) => self.modal = None,
                _ => {}
            },
            "tags" => {
                if let Some(a) = action {
                    self.tags(ctx, a);
                }
            }
            "text" => match action {
                Some(a) => self.text(ctx, a),
                None => {
                    if let Some(CaptionEditor {
                        mode: EditorMode::Text(area),
                        ..
                    }) = &mut self.editor
                    {
                        area.input(key);
                    }
                }
            },
            _ => {
                if let Some(a) = action {
                    self.out.push(Effect::Status(None));
                    self.browse(ctx, a);
                }
            }
        }
    }

    fn browse(&mut self, ctx: &mut Ctx, action: &str) {
        let page = self.page_len() as isize;
        let cols = self.grid_cols() as isize;
        let step = match action {
            nav::DOWN => Some(cols),
            nav::UP => Some(-cols),
            RIGHT => Some(1),
            LEFT => Some(-1),
            other => nav::step(other, page),
        };
        if let Some(step) = step {
            return self.move_by(ctx, step);
        }
        if let Some(opener) = ctx.openers.iter().find(|o| o.action == action) {
            let screen = (opener.open)(ctx);
            return self.out.push(Effect::Open(screen));
        }
        match action {
            TOGGLE_VIEW => {
                self.view = match self.view {
                    View::List => View::Grid,
                    View::Grid => View::List,
                };
                self.keep_cursor_visible();
            }
            EDIT | EDIT_TAGS => self.open_editor(ctx.dataset, action == EDIT_TAGS),
            SELECT => {
                if let Some(i) = self.current() {
                    let path = ctx.dataset.items[i].path.clone();
                    if !self.selected.remove(&path) {
                        self.selected.insert(path);
                    }
                    self.move_by(ctx, 1);
                }
            }
            SELECT_ALL => {
                let paths: Vec<PathBuf> = self
                    .visible
                    .iter()
                    .map(|&i| ctx.dataset.items[i].path.clone())
                    .collect();
                self.selected.extend(paths);
            }
            ESCAPE => {
                if !self.selected.is_empty() {
                    self.selected.clear();
                } else if !self.filter_text.is_empty() {
                    self.filter_text.clear();
                    self.filter = Query::default();
                    self.refilter(ctx.dataset, self.current());
                }
            }
            FILTER => {
                let text = self.filter_text.clone();
                let anchor = self.current().map(|i| ctx.dataset.items[i].path.clone());
                self.open_prompt(PromptKind::Filter, &text);
                if let Some(Modal::Prompt(p)) = &mut self.modal {
                    p.anchor = anchor;
                }
            }
            BULK => {
                self.open_prompt(PromptKind::Bulk, "");
                let n = self.targets(ctx.dataset).len();
                let how = if self.selected.is_empty() {
                    if self.filter_text.is_empty() {
                        "all shown"
                    } else {
                        "filter"
                    }
                } else {
                    "selection"
                };
                if let Some(Modal::Prompt(p)) = &mut self.modal {
                    p.scope = Some(format!("{n} image{} ({how})", plural(n)));
                }
            }
            EXCLUDE => self.toggle_exclude(ctx),
            UNDO | REDO => self.undo_redo(ctx, action == UNDO),
            QUIT => self.out.push(Effect::Quit(0)),
            _ => {}
        }
    }

    fn tags(&mut self, ctx: &mut Ctx, action: &str) {
        let Some(CaptionEditor {
            mode: EditorMode::Tags(list),
            ..
        }) = &mut self.editor
        else {
            return;
        };
        match action {
            nav::DOWN => list.move_cursor(1),
            nav::UP => list.move_cursor(-1),
            DELETE => list.delete(),
            MOVE_DOWN => list.shift(1),
            MOVE_UP => list.shift(-1),
            TO_FRONT => list.to_front(),
            ADD => self.open_prompt(PromptKind::TagAdd, ""),
            EDIT => {
                let current = list.current().unwrap_or_default().to_string();
                self.open_prompt(PromptKind::TagEdit, &current);
            }
            other => self.text(ctx, other),
        }
    }

    /// What both editor faces share: switch, save, close.
    fn text(&mut self, ctx: &mut Ctx, action: &str) {
        match action {
            SAVE => {
                self.save_editor(ctx);
            }
            SWITCH => {
                if let Some(ed) = &mut self.editor {
                    ed.switch_mode();
                }
            }
            CLOSE => self.close_editor(ctx),
            DISCARD => match &self.editor {
                Some(ed) if ed.is_dirty() => self.modal = Some(Modal::Confirm(Confirm::Discard)),
                _ => self.editor = None,
            },
            QUIT => match self.write_editor(ctx) {
                Ok(()) => self.out.push(Effect::Quit(0)),
                Err(None) => {}
                Err(Some(why)) => {
                    let draft = self.draft_path(ctx.dataset);
                    self.modal = Some(Modal::Confirm(Confirm::Quit { why, draft }));
                }
            },
            _ => {}
        }
    }

    /// The user said yes to a [`Confirm`].
    fn confirmed(&mut self, ctx: &mut Ctx) {
        let Some(Modal::Confirm(confirm)) = self.modal.take() else {
            return;
        };
        let name = self.editor_caption(ctx.dataset);
        match confirm {
            Confirm::Discard => {
                self.editor = None;
                self.set_status(Level::Info, format!("discarded the changes to {name}"));
            }
            Confirm::Quit { why, draft } => {
                let text = self
                    .editor
                    .as_ref()
                    .map(CaptionEditor::text)
                    .unwrap_or_default();
                match keep_draft(&draft, &text) {
                    Ok(kept) => {
                        self.out.push(Effect::Farewell(format!(
                            "{name} could not be saved ({why}); your draft is in {}",
                            kept.display()
                        )));
                        self.out.push(Effect::Quit(0));
                    }
                    Err(e) => self.set_status(
                        Level::Error,
                        format!("cannot keep the draft in {}: {e}", draft.display()),
                    ),
                }
            }
        }
    }

    /// The caption file the editor is on, dataset-relative, for messages.
    fn editor_caption(&self, ds: &Dataset) -> String {
        self.editor
            .as_ref()
            .and_then(|ed| ds.items.get(ed.item))
            .map(|it| it.caption_path.display().to_string())
            .unwrap_or_default()
    }

    fn draft_path(&self, ds: &Dataset) -> PathBuf {
        draft_path(&ds.root, Path::new(&self.editor_caption(ds)))
    }

    fn on_mouse(&mut self, ctx: &mut Ctx, m: MouseEvent) {
        let areas = self.areas();
        let at = Position::new(m.column, m.row);
        if self.modal.is_some() || self.popup.is_some() || !areas.browser.contains(at) {
            return;
        }
        let step = self.grid_cols() as isize;
        match m.kind {
            MouseEventKind::ScrollDown => self.move_by(ctx, step),
            MouseEventKind::ScrollUp => self.move_by(ctx, -step),
            MouseEventKind::Down(MouseButton::Left) => {
                let inner = layout::inner(areas.browser);
                if !inner.contains(at) {
                    return;
                }
                let row = usize::from(at.y - inner.y);
                let target = match self.view {
                    View::List => self.scroll + row,
                    View::Grid => {
                        let (cols, _) = layout::grid_dims(areas.browser);
                        let col = usize::from((at.x - inner.x) / layout::THUMB_W);
                        if col >= cols {
                            return;
                        }
                        (self.scroll + row / usize::from(layout::THUMB_H)) * cols + col
                    }
                };
                if target < self.visible.len() {
                    self.move_to(ctx, target);
                }
            }
            _ => {}
        }
    }

    // ----- moving -----

    fn grid_cols(&self) -> usize {
        match self.view {
            View::List => 1,
            View::Grid => layout::grid_dims(self.areas().browser).0,
        }
    }

    fn page_len(&self) -> usize {
        let b = self.areas().browser;
        match self.view {
            View::List => layout::list_rows(b),
            View::Grid => {
                let (cols, rows) = layout::grid_dims(b);
                cols * rows
            }
        }
    }

    fn move_by(&mut self, ctx: &mut Ctx, delta: isize) {
        let to = nav::moved(self.cursor, self.visible.len(), delta);
        self.move_to(ctx, to);
    }

    /// Moves the cursor; leaving an item saves its caption edits.
    pub fn move_to(&mut self, ctx: &mut Ctx, pos: usize) {
        if pos != self.cursor && self.editor.is_some() {
            if !self.save_editor(ctx) {
                return;
            }
            self.editor = None;
        }
        self.cursor = pos.min(self.visible.len().saturating_sub(1));
        self.keep_cursor_visible();
    }

    fn keep_cursor_visible(&mut self) {
        let b = self.areas().browser;
        let (unit, rows) = match self.view {
            View::List => (1, layout::list_rows(b)),
            View::Grid => layout::grid_dims(b),
        };
        let row = self.cursor / unit;
        if row < self.scroll {
            self.scroll = row;
        } else if row >= self.scroll + rows {
            self.scroll = row + 1 - rows;
        }
        let total_rows = self.visible.len().div_ceil(unit);
        self.scroll = self.scroll.min(total_rows.saturating_sub(rows));
    }

    // ----- images -----

    /// Asks the workers for what the screen shows now (latest wins there).
    fn request_images(&mut self, ds: &Dataset) {
        let areas = self.areas();
        if let (Some(i), Some(rect)) = (self.current(), areas.preview) {
            let inner = layout::inner(rect);
            let key = ImageKey::new(ds.abs_path(&ds.items[i]), (inner.width, inner.height));
            let shown = self.preview.as_ref().is_some_and(|(k, _)| *k == key);
            if !shown && self.wanted_preview.as_ref() != Some(&key) && inner.area() > 0 {
                self.workers.want_preview(key.clone());
                self.wanted_preview = Some(key);
            }
        }
        if self.view == View::Grid {
            let cells = layout::thumb_image(areas.browser);
            let keys: Vec<ImageKey> = self
                .page(ds)
                .into_iter()
                .map(|path| ImageKey::new(path, cells))
                .filter(|k| self.thumbs.get(&k.path).is_none_or(|(have, _)| have != k))
                .collect();
            if keys != self.wanted_thumbs {
                self.workers.want_thumbs(keys.clone());
                self.wanted_thumbs = keys;
            }
        }
    }

    /// Draws images with `picker` from now on: new workers, and what was decoded is dropped.
    pub fn set_picker(&mut self, picker: &Picker, tx: std::sync::mpsc::Sender<Msg>) {
        self.workers = ImageWorkers::start(picker.clone(), tx, decode_threads());
        self.protocol = picker.protocol_type();
        self.preview = None;
        self.thumbs.clear();
        self.wanted_preview = None;
        self.wanted_thumbs.clear();
    }

    fn on_image(&mut self, ds: &Dataset, done: Decoded) {
        let Decoded {
            key,
            purpose,
            result,
        } = done;
        if protocol_of(&result).is_some_and(|k| k != self.protocol) {
            return;
        }
        match &result {
            Ok((_, facts)) => {
                self.facts.insert(key.path.clone(), *facts);
                self.broken.remove(&key.path);
            }
            Err(e) => {
                self.facts.remove(&key.path);
                self.broken.insert(key.path.clone(), e.clone());
            }
        }
        let result = result.map(|(protocol, _)| protocol);
        match purpose {
            // A preview nobody waits for any more is dropped, never shown.
            Purpose::Preview if self.wanted_preview.as_ref() == Some(&key) => {
                self.wanted_preview = None;
                self.preview = Some((key, result));
            }
            Purpose::Preview => {}
            Purpose::Thumb => {
                self.wanted_thumbs.retain(|k| *k != key);
                if self.thumbs.len() >= THUMB_CACHE {
                    let keep: BTreeSet<PathBuf> = self.page(ds).into_iter().collect();
                    self.thumbs.retain(|p, _| keep.contains(p));
                }
                self.thumbs.insert(key.path.clone(), (key, result));
            }
        }
    }

    /// The absolute paths of the images on the grid page shown.
    fn page(&self, ds: &Dataset) -> Vec<PathBuf> {
        let first = self.scroll * self.grid_cols();
        self.visible
            .iter()
            .skip(first)
            .take(self.page_len())
            .map(|&i| ds.abs_path(&ds.items[i]))
            .collect()
    }

    // ----- filter, selection -----

    /// Recomputes `visible` for a new filter: the cursor stays on `keep` when it still
    /// passes, else goes to the first match.
    fn refilter(&mut self, ds: &Dataset, keep: Option<usize>) {
        let keep_path = keep.and_then(|i| ds.items.get(i)).map(|it| it.path.clone());
        self.cursor = 0;
        self.refilter_to(ds, keep_path.as_deref());
    }

    /// Recomputes `visible`, keeping the cursor on `keep` when it still passes, else where
    /// it was (a rescan that removed the item under it).
    fn refilter_to(&mut self, ds: &Dataset, keep: Option<&Path>) {
        let old_cursor = self.cursor;
        self.visible = (0..ds.items.len())
            .filter(|&i| self.filter.matches(&ds.items[i]))
            .collect();
        self.cursor = keep
            .and_then(|p| self.visible.iter().position(|&i| ds.items[i].path == p))
            .unwrap_or(old_cursor)
            .min(self.visible.len().saturating_sub(1));
        self.keep_cursor_visible();
    }

    /// What a bulk operation or exclusion acts on: the selection, else everything shown.
    fn targets(&self, ds: &Dataset) -> Vec<usize> {
        if self.selected.is_empty() {
            self.visible.clone()
        } else {
            (0..ds.items.len())
                .filter(|&i| self.is_selected(ds, i))
                .collect()
        }
    }

    // ----- prompts -----

    fn open_prompt(&mut self, kind: PromptKind, initial: &str) {
        let input = line_input::new(initial);
        let before = (kind == PromptKind::Filter).then(|| self.filter_text.clone());
        let anchor = None;
        self.modal = Some(Modal::Prompt(Box::new(Prompt {
            kind,
            input,
            error: None,
            scope: None,
            before,
            anchor,
        })));
    }

    fn submit_prompt(&mut self, ctx: &mut Ctx) {
        let Some(Modal::Prompt(p)) = &self.modal else {
            return;
        };
        let kind = p.kind;
        let text = line_input::text(&p.input);
        let result = match kind {
            PromptKind::Filter => self.apply_filter(ctx.dataset, &text),
            PromptKind::Bulk => self.apply_bulk(ctx, &text),
            PromptKind::TagAdd | PromptKind::TagEdit => {
                if let Some(CaptionEditor {
                    mode: EditorMode::Tags(list),
                    ..
                }) = &mut self.editor
                {
                    if kind == PromptKind::TagAdd {
                        list.add(&text);
                    } else {
                        list.edit(&text);
                    }
                }
                Ok(())
            }
        };
        match result {
            Ok(()) => {
                if matches!(self.modal, Some(Modal::Prompt(_))) {
                    self.modal = None;
                }
            }
            Err(e) => {
                if let Some(Modal::Prompt(p)) = &mut self.modal {
                    p.error = Some(e);
                }
            }
        }
    }

    /// Applies a filter; the cursor stays on its image while that matches (while the filter
    /// prompt is open: the image it opened on, so typing does not lose it), else goes to the
    /// first match.
    pub fn apply_filter(&mut self, ds: &Dataset, text: &str) -> Result<(), String> {
        let keep = match &self.modal {
            Some(Modal::Prompt(p)) if p.kind == PromptKind::Filter => {
                p.anchor.as_deref().and_then(|a| ds.index_of(a))
            }
            _ => self.current(),
        };
        self.filter_keeping(ds, text, keep)
    }

    fn filter_keeping(
        &mut self,
        ds: &Dataset,
        text: &str,
        keep: Option<usize>,
    ) -> Result<(), String> {
        let query = Query::parse(text).map_err(|e| e.to_string())?;
        self.filter = query;
        self.filter_text = text.trim().to_string();
        self.refilter(ds, keep);
        let n = self.visible.len();
        self.set_status(Level::Info, format!("{n} image{} match", plural(n)));
        Ok(())
    }

    /// Plans the bulk operation and shows its diff, to be written on the user's yes (the
    /// same preview and keys as lint's fixes).
    fn apply_bulk(&mut self, ctx: &mut Ctx, text: &str) -> Result<(), String> {
        let op: BulkOp = bulk::parse(text)?;
        if ctx.journal.is_none() {
            return Err("the dataset is read-only here".into());
        }
        let targets = self.targets(ctx.dataset);
        let plan = ops::plan(ctx.dataset, &targets, &op).map_err(|e| e.to_string())?;
        let changed = plan.edits.len();
        let description = format!("{} ({changed} caption{})", op.describe(), plural(changed));
        let title = format!("Bulk edit: {}", op.describe());
        self.popup = Some(Popup::Preview(Preview::new(title, description, plan)));
        Ok(())
    }

    // ----- editing -----

    fn open_editor(&mut self, ds: &Dataset, tags: bool) {
        let Some(i) = self.current() else { return };
        let item = &ds.items[i];
        if item.excluded {
            return self.set_status(
                Level::Warn,
                "excluded image: include it again to edit its caption",
            );
        }
        let original = match &item.caption {
            CaptionState::Text(c) => c.text.clone(),
            CaptionState::Missing => String::new(),
            CaptionState::NotUtf8(_) | CaptionState::Unreadable(_) => {
                let e = DatasetError::NotEditable {
                    path: ds.abs_caption_path(item),
                };
                return self.set_status(Level::Error, e.to_string());
            }
        };
        self.editor = Some(if tags {
            CaptionEditor::tag_mode(i, original)
        } else {
            CaptionEditor::text_mode(i, original)
        });
    }

    /// Writes the editor's draft if it changed. `false` when it could not be written (a
    /// conflict prompt is open, or an error is shown with the ways out) and the editor must
    /// stay open.
    fn save_editor(&mut self, ctx: &mut Ctx) -> bool {
        match self.write_editor(ctx) {
            Ok(()) => true,
            Err(None) => false,
            Err(Some(why)) => {
                let mode = self.mode();
                let (discard, quit) = (ctx.keys.first(mode, DISCARD), ctx.keys.first(mode, QUIT));
                let text = format!(
                    "cannot save: {why} · {discard} discards the draft, {quit} quits keeping it in a file"
                );
                self.set_status(Level::Error, text);
                false
            }
        }
    }

    /// [`Browser::save_editor`]'s work: `Ok` when nothing is left unsaved, `Err(None)` when
    /// the conflict dialog opened, `Err(Some(why))` when the caption cannot be written.
    fn write_editor(&mut self, ctx: &mut Ctx) -> Result<(), Option<String>> {
        let Some(ed) = &self.editor else {
            return Ok(());
        };
        if !ed.is_dirty() {
            return Ok(());
        }
        let (index, draft) = (ed.item, ed.text());
        let Some(journal) = ctx.journal else {
            return Err(Some("the dataset is read-only".into()));
        };
        match ops::write_caption(journal, ctx.dataset, index, &draft) {
            Ok(_) => {
                ctx.dataset.reload_caption(index);
                if let Some(ed) = &mut self.editor {
                    ed.mark_saved();
                }
                let name = ctx.dataset.items[index].caption_path.display().to_string();
                self.set_status(Level::Info, format!("saved {name}"));
                Ok(())
            }
            Err(DatasetError::Conflict { .. }) => {
                self.open_conflict(ctx.dataset, index);
                Err(None)
            }
            Err(e) => Err(Some(e.to_string())),
        }
    }

    fn close_editor(&mut self, ctx: &mut Ctx) {
        if self.save_editor(ctx) {
            self.editor = None;
        }
    }

    fn open_conflict(&mut self, ds: &Dataset, item: usize) {
        let theirs = std::fs::read(ds.abs_caption_path(&ds.items[item])).ok();
        self.modal = Some(Modal::Conflict(Conflict {
            item,
            theirs,
            show_diff: false,
        }));
    }

    fn resolve_conflict(&mut self, ctx: &mut Ctx, action: &str) {
        let Some(Modal::Conflict(c)) = &mut self.modal else {
            return;
        };
        match action {
            DIFF => c.show_diff = !c.show_diff,
            KEEP_MINE => {
                let item = c.item;
                self.modal = None;
                // Take their file as the base, then write my draft over it (journalled, so
                // their version can still be had back with undo).
                ctx.dataset.reload_caption(item);
                self.save_editor(ctx);
            }
            TAKE_THEIRS => {
                let item = c.item;
                self.modal = None;
                ctx.dataset.reload_caption(item);
                match ctx.dataset.items[item].caption.clone() {
                    CaptionState::Text(c) => {
                        if let Some(ed) = &mut self.editor {
                            ed.reset_to(c.text);
                        }
                    }
                    CaptionState::Missing => {
                        if let Some(ed) = &mut self.editor {
                            ed.reset_to(String::new());
                        }
                    }
                    // Their bytes are not text the editor can hold: close it, keep the file.
                    CaptionState::NotUtf8(_) | CaptionState::Unreadable(_) => self.editor = None,
                }
                self.set_status(Level::Info, "took the version on disk");
            }
            _ => {}
        }
    }

    /// The caption text on disk for a conflict, and the draft, for the diff view.
    pub fn conflict_texts(&self, c: &Conflict) -> (String, String) {
        let theirs = c
            .theirs
            .as_deref()
            .map(|b| match CaptionText::decode(b) {
                Ok(t) => t.text,
                Err(_) => String::from_utf8_lossy(b).into_owned(),
            })
            .unwrap_or_default();
        let mine = self
            .editor
            .as_ref()
            .map(CaptionEditor::text)
            .unwrap_or_default();
        (theirs, mine)
    }

    // ----- dataset-wide actions -----

    fn toggle_exclude(&mut self, ctx: &mut Ctx) {
        let targets: Vec<usize> = if self.selected.is_empty() {
            self.current().into_iter().collect()
        } else {
            self.targets(ctx.dataset)
        };
        match changes::toggle_exclude(ctx, &targets) {
            Ok(effects) => {
                if !effects.is_empty() {
                    self.selected.clear();
                }
                self.out.extend(effects);
            }
            Err(said) => self.out.push(said),
        }
    }

    fn undo_redo(&mut self, ctx: &mut Ctx, undo: bool) {
        self.out.extend(changes::undo_redo(ctx, undo));
    }

    // ----- disk -----

    /// The dataset was scanned again: keep the cursor, selection and open editor on the same
    /// files.
    fn reloaded(&mut self, ds: &Dataset, old: &Dataset) {
        let keep = self
            .current()
            .and_then(|i| old.items.get(i))
            .map(|it| it.path.clone());
        let editing = self
            .editor
            .as_ref()
            .and_then(|ed| old.items.get(ed.item))
            .map(|it| it.path.clone());
        self.index(ds);
        let paths: BTreeSet<&PathBuf> = ds.items.iter().map(|i| &i.path).collect();
        self.selected.retain(|p| paths.contains(p));
        match editing.and_then(|p| ds.index_of(&p)) {
            Some(i) => {
                if let Some(ed) = &mut self.editor {
                    ed.item = i;
                }
            }
            None => self.editor = None,
        }
        self.refilter_to(ds, keep.as_deref());
    }

    fn index(&mut self, ds: &Dataset) {
        self.by_caption.clear();
        self.by_image.clear();
        for (i, item) in ds.items.iter().enumerate() {
            self.by_caption.insert(ds.abs_caption_path(item), i);
            self.by_image.insert(ds.abs_path(item), i);
        }
    }

    /// Files changed on disk (from the watcher). Our own writes come back here too; they are
    /// recognised because the bytes on disk equal what we hold.
    fn on_fs_change(&mut self, ctx: &mut Ctx, paths: &[PathBuf]) {
        for path in paths {
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden || path.components().any(|c| c.as_os_str() == ".lorabench") {
                continue;
            }
            if let Some(&i) = self.by_caption.get(path) {
                self.caption_changed(ctx, i, path);
                continue;
            }
            if let Some(&i) = self.by_image.get(path) {
                let abs = ctx.dataset.abs_path(&ctx.dataset.items[i]);
                self.thumbs.remove(&abs);
                self.facts.remove(&abs);
                self.broken.remove(&abs);
                if self.preview.as_ref().is_some_and(|(k, _)| k.path == abs) {
                    self.preview = None;
                }
            }
            // A new, removed or changed image: rescan once the burst is over.
            self.out.push(Effect::ReloadAfter(RESCAN_DELAY));
        }
    }

    fn caption_changed(&mut self, ctx: &mut Ctx, i: usize, path: &Path) {
        let on_disk = std::fs::read(path).ok();
        if on_disk == ctx.dataset.items[i].caption.bytes() {
            return;
        }
        let draft_dirty = self
            .editor
            .as_ref()
            .is_some_and(|ed| ed.item == i && ed.is_dirty());
        if draft_dirty {
            // Never overwrite either side silently: ask.
            if let Some(Modal::Conflict(c)) = &mut self.modal {
                c.theirs = on_disk;
            } else {
                self.open_conflict(ctx.dataset, i);
            }
            return;
        }
        ctx.dataset.reload_caption(i);
        let name = ctx.dataset.items[i].caption_path.display().to_string();
        if let Some(ed) = &mut self.editor
            && ed.item == i
        {
            let text = ctx.dataset.items[i]
                .caption
                .text()
                .unwrap_or_default()
                .to_string();
            ed.reset_to(text);
        }
        self.set_status(Level::Info, format!("{name} changed on disk; reloaded"));
    }

    /// Puts back the view, filter and cursor remembered from the last run (the cursor by
    /// path: the images may have changed since). A filter that no longer parses is said.
    pub fn restore(
        &mut self,
        ctx: &mut Ctx,
        view: View,
        filter: &str,
        cursor: Option<&Path>,
    ) -> Option<String> {
        self.view = view;
        let said = self
            .apply_filter(ctx.dataset, filter)
            .err()
            .map(|e| format!("remembered filter `{filter}` not applied: {e}"));
        if let Some(path) = cursor {
            self.show(
                ctx,
                &Browse::Item {
                    path: path.to_path_buf(),
                    index: usize::MAX,
                },
            );
        }
        self.keep_cursor_visible();
        self.request_images(ctx.dataset);
        // Not news at start ("20 images match"): it would hide the start-up warnings.
        self.out.clear();
        said
    }

    /// The image under the cursor, relative to the dataset.
    pub fn current_path<'d>(&self, ds: &'d Dataset) -> Option<&'d Path> {
        self.current()
            .and_then(|i| ds.items.get(i))
            .map(|it| it.path.as_path())
    }

    /// Another screen asked to show an item or a filter.
    fn show(&mut self, ctx: &mut Ctx, what: &Browse) {
        match what {
            Browse::Item { path, index } => {
                // By path first: a rescan since may have renumbered the items.
                let i = ctx.dataset.index_of(path).unwrap_or(*index);
                if i >= ctx.dataset.items.len() {
                    return;
                }
                if !self.visible.contains(&i) {
                    let _ = self.apply_filter(ctx.dataset, "");
                }
                if let Some(pos) = self.visible.iter().position(|&v| v == i) {
                    self.move_to(ctx, pos);
                }
            }
            Browse::Filter(query) => {
                if let Err(e) = self.apply_filter(ctx.dataset, query) {
                    self.set_status(Level::Error, e);
                }
            }
        }
    }
}

/// Decode workers: one fewer than the cores (at least one, at most four).
fn decode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 4))
}

impl Screen for Browser {
    fn mode(&self) -> &'static str {
        match (&self.modal, &self.editor) {
            (Some(Modal::Prompt(_)), _) => "prompt",
            (Some(Modal::Conflict(_)), _) => "conflict",
            (Some(Modal::Confirm(_)), _) => CONFIRM,
            (None, Some(ed)) if matches!(ed.mode, EditorMode::Tags(_)) => "tags",
            (None, Some(_)) => "text",
            (None, None) => "browse",
        }
    }

    fn title(&self) -> &'static str {
        match self.mode() {
            "prompt" => "Prompt",
            "conflict" => "Caption changed on disk",
            CONFIRM => "Confirm",
            "tags" => "Tag editor",
            "text" => "Text editor",
            _ => "Browse",
        }
    }

    fn commands(&self, ctx: &DrawCtx) -> Vec<Command> {
        match self.mode() {
            "prompt" => vec![
                Command::new(SUBMIT, "apply").bar("apply", 0),
                Command::new(CANCEL, "cancel").bar("cancel", 0),
            ],
            CONFIRM => vec![
                Command::new(SUBMIT, "yes").bar("yes", 0),
                Command::new(CANCEL, "no").bar("no", 0),
            ],
            "conflict" => vec![
                Command::new(KEEP_MINE, "keep mine (theirs stays in undo)").bar("keep mine", 0),
                Command::new(TAKE_THEIRS, "take theirs").bar("take theirs", 0),
                Command::new(DIFF, "show the differences").bar("diff", 1),
            ],
            "tags" => vec![
                Command::new(nav::DOWN, "next tag"),
                Command::new(nav::UP, "previous tag"),
                Command::new(ADD, "add tags").bar("add", 1),
                Command::new(EDIT, "edit the tag").bar("edit", 1),
                Command::new(DELETE, "delete the tag").bar("delete", 1),
                Command::new(MOVE_DOWN, "move it down").bar("down", 2),
                Command::new(MOVE_UP, "move it up").bar("up", 2),
                Command::new(TO_FRONT, "move it to the front").bar("front", 2),
                Command::new(SWITCH, "edit as text").bar("text", 3),
                Command::new(SAVE, "save"),
                Command::new(CLOSE, "save and close").bar("done", 0),
                Command::new(DISCARD, "discard the changes").bar("discard", 3),
                Command::new(QUIT, "save and quit (a draft that cannot be saved is kept)"),
            ],
            "text" => vec![
                Command::new(SAVE, "save").bar("save", 1),
                Command::new(SWITCH, "edit as tags").bar("tags", 2),
                Command::new(CLOSE, "save and close").bar("done", 0),
                Command::new(DISCARD, "discard the changes").bar("discard", 1),
                Command::new(QUIT, "save and quit (a draft that cannot be saved is kept)"),
            ],
            _ => {
                let none = self.visible.is_empty();
                let why = "no image is shown";
                let mut c = vec![
                    Command::new(nav::DOWN, "next image"),
                    Command::new(nav::UP, "previous image"),
                    Command::new(LEFT, "left (grid)"),
                    Command::new(RIGHT, "right (grid)"),
                    Command::new(nav::PAGE_DOWN, "page down"),
                    Command::new(nav::PAGE_UP, "page up"),
                    Command::new(nav::TOP, "first image"),
                    Command::new(nav::BOTTOM, "last image"),
                    Command::new(EDIT, "edit the caption")
                        .bar("edit", 1)
                        .off_if(none, why),
                    Command::new(EDIT_TAGS, "edit the tags")
                        .bar("tags", 2)
                        .off_if(none, why),
                    Command::new(SELECT, "select")
                        .bar("select", 3)
                        .off_if(none, why),
                    Command::new(SELECT_ALL, "select all shown"),
                    Command::new(ESCAPE, "clear the selection, then the filter"),
                    Command::new(FILTER, "filter").bar("filter", 2),
                    Command::new(BULK, "bulk edit")
                        .bar("bulk", 4)
                        .off_if(none, why),
                    Command::new(EXCLUDE, "exclude/include")
                        .bar("exclude", 4)
                        .off_if(none, why),
                    Command::new(UNDO, "undo").bar("undo", 3),
                    Command::new(REDO, "redo"),
                    Command::new(TOGGLE_VIEW, "list/grid").bar("grid", 5),
                ];
                c.extend(ctx.openers.iter().map(|o| Command::new(o.action, o.desc)));
                c.push(Command::new(nav::HELP, "help").bar("help", 0));
                c.push(Command::new(QUIT, "quit").bar("quit", 0));
                c
            }
        }
    }

    fn event(&mut self, ctx: &mut Ctx, event: Event) -> Effects {
        self.area = ctx.area;
        match event {
            Event::Key { action, key } => self.on_key(ctx, action, key),
            Event::Mouse(m) => self.on_mouse(ctx, m),
            Event::Resized => self.keep_cursor_visible(),
            Event::Message(msg) => match msg.take() {
                Some(Msg::Image(done)) => self.on_image(ctx.dataset, *done),
                Some(Msg::FsChanged(paths)) => self.on_fs_change(ctx, &paths),
                other => *msg = other,
            },
            Event::Reloaded { old } => self.reloaded(ctx.dataset, old),
            Event::Browse(what) => self.show(ctx, what),
            Event::Exiting => {
                // The link dropped or someone asked us to stop: keep the user's words, in the
                // dataset if it can be written, else beside it.
                if let Err(Some(why)) = self.write_editor(ctx) {
                    let draft = self.draft_path(ctx.dataset);
                    let text = self
                        .editor
                        .as_ref()
                        .map(CaptionEditor::text)
                        .unwrap_or_default();
                    let name = self.editor_caption(ctx.dataset);
                    let said = match keep_draft(&draft, &text) {
                        Ok(kept) => format!(
                            "{name} could not be saved ({why}); your draft is in {}",
                            kept.display()
                        ),
                        Err(e) => format!("{name} could not be saved ({why}) nor kept ({e})"),
                    };
                    self.out.push(Effect::Farewell(said));
                }
            }
        }
        self.request_images(ctx.dataset);
        std::mem::take(&mut self.out)
    }

    fn draw(&self, frame: &mut Frame, _body: Rect, ctx: &DrawCtx) {
        self.draw_all(frame, ctx);
    }

    crate::tui::screen::popup_slot!(popup);

    fn header_extra(&self) -> Vec<(String, HeaderTone)> {
        let mut v = Vec::new();
        if !self.selected.is_empty() {
            v.push((
                format!(" · {} selected", self.selected.len()),
                HeaderTone::Selected,
            ));
        }
        if !self.filter_text.is_empty() {
            v.push((" · filter: ".into(), HeaderTone::Dim));
            v.push((self.filter_text.clone(), HeaderTone::Accent));
        }
        v
    }

    fn images_pending(&self) -> bool {
        Browser::images_pending(self)
    }

    fn status_right(&self) -> Option<String> {
        (!self.visible.is_empty()).then(|| format!("{}/{} ", self.cursor + 1, self.visible.len()))
    }
}
