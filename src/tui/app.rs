//! The workbench state and `update`: every message changes state here; views only read it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    Event, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use ratatui_image::picker::Picker;
use ratatui_image::protocol::Protocol;
use ratatui_textarea::TextArea;

use crate::dataset::caption::CaptionText;
use crate::dataset::journal::Journal;
use crate::dataset::lint::LintOptions;
use crate::dataset::ops::{self, BulkOp};
use crate::dataset::{CaptionState, Dataset, DatasetError, Query, ScanOptions, exclude, scan};

use super::bulk;
use super::editor::{CaptionEditor, EditorMode};
use super::images::{Decoded, ImageFacts, ImageKey, ImageWorkers, Purpose};
use super::keymap::{self, Action, Mode};
use super::layout::{self, Areas, View};
use super::msg::Msg;
use super::screens::{self, Screen};
use super::theme::Theme;

/// How long to wait after a file appears or disappears before rescanning (editors and sync
/// tools touch several files in a burst).
const RESCAN_DELAY: Duration = Duration::from_millis(250);
/// Thumbnails kept decoded beyond the visible page.
const THUMB_CACHE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// The one-line message under the panels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub level: Level,
}

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
}

/// A caption changed on disk while the editor had unsaved edits to it.
pub struct Conflict {
    pub item: usize,
    /// The caption as it is on disk now (`None`: the file was deleted).
    pub theirs: Option<Vec<u8>>,
    pub show_diff: bool,
}

/// A dialog on top of the panels; it has the keyboard until it closes.
pub enum Modal {
    Help { scroll: u16 },
    Prompt(Box<Prompt>),
    Conflict(Conflict),
}

/// A decoded image, or why there is none.
pub type Shown = (ImageKey, Result<Protocol, String>);

pub struct App {
    pub dataset: Dataset,
    pub journal: Option<Journal>,
    pub theme: Theme,
    /// The graphics protocol in use, for the header.
    pub protocol: String,
    pub view: View,
    pub modal: Option<Modal>,
    /// The Lint, Stats or LoRA screen, when one is open instead of the browser.
    pub screen: Option<Screen>,
    /// The training target lint and stats judge the dataset for (kept while screens come and go).
    pub target: LintOptions,
    /// The channel, for the screens' background workers.
    pub tx: Sender<Msg>,
    pub editor: Option<CaptionEditor>,
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
    pub status: Option<Status>,
    pub preview: Option<Shown>,
    pub thumbs: HashMap<PathBuf, Shown>,
    pub facts: HashMap<PathBuf, ImageFacts>,
    /// The terminal area, as of the last resize.
    pub area: Rect,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// Set when the workbench should exit, with the exit code.
    pub quit: Option<u8>,
    workers: ImageWorkers,
    wanted_preview: Option<ImageKey>,
    wanted_thumbs: Vec<ImageKey>,
    by_caption: HashMap<PathBuf, usize>,
    by_image: HashMap<PathBuf, usize>,
    rescan_at: Option<Instant>,
}

impl App {
    /// A workbench on `dataset`. `journal` is `None` when the folder cannot hold one (read
    /// only): browsing works, changes are refused with a message.
    pub fn new(
        dataset: Dataset,
        journal: Result<Journal, DatasetError>,
        theme: Theme,
        picker: &Picker,
        tx: Sender<Msg>,
        area: Rect,
    ) -> App {
        let protocol = format!("{:?}", picker.protocol_type()).to_lowercase();
        let (journal, status) = match journal {
            Ok(j) => (Some(j), None),
            Err(e) => (
                None,
                Some(Status {
                    text: format!("read-only: {e}"),
                    level: Level::Error,
                }),
            ),
        };
        let mut app = App {
            dataset,
            journal,
            theme,
            protocol,
            view: View::List,
            modal: None,
            screen: None,
            target: LintOptions::default(),
            tx: tx.clone(),
            editor: None,
            filter_text: String::new(),
            filter: Query::default(),
            visible: Vec::new(),
            cursor: 0,
            scroll: 0,
            selected: BTreeSet::new(),
            status,
            preview: None,
            thumbs: HashMap::new(),
            facts: HashMap::new(),
            area,
            dirty: true,
            quit: None,
            // Leave a core to the UI thread: decoding must never slow a key press down.
            workers: ImageWorkers::start(picker.clone(), tx, decode_threads()),
            wanted_preview: None,
            wanted_thumbs: Vec::new(),
            by_caption: HashMap::new(),
            by_image: HashMap::new(),
            rescan_at: None,
        };
        app.index();
        app.refilter(None);
        app
    }

    // ----- reading state (for views) -----

    /// Who has the keyboard.
    pub fn mode(&self) -> Mode {
        if self.modal.is_none()
            && let Some(screen) = &self.screen
        {
            return screen.mode();
        }
        match (&self.modal, &self.editor) {
            (Some(Modal::Help { .. }), _) => Mode::Help,
            (Some(Modal::Prompt(_)), _) => Mode::Prompt,
            (Some(Modal::Conflict(_)), _) => Mode::Conflict,
            (None, Some(ed)) if matches!(ed.mode, EditorMode::Tags(_)) => Mode::Tags,
            (None, Some(_)) => Mode::Text,
            (None, None) => Mode::Browse,
        }
    }

    pub fn areas(&self) -> Areas {
        layout::areas(self.area, self.view)
    }

    /// The item under the cursor, as an index into `dataset.items`.
    pub fn current(&self) -> Option<usize> {
        self.visible.get(self.cursor).copied()
    }

    pub fn is_selected(&self, index: usize) -> bool {
        self.dataset
            .items
            .get(index)
            .is_some_and(|it| self.selected.contains(&it.path))
    }

    pub fn excluded_count(&self) -> usize {
        self.dataset.items.iter().filter(|i| i.excluded).count()
    }

    /// Whether decodes asked for are still outstanding (tests and benchmarks wait on this).
    pub fn images_pending(&self) -> bool {
        self.wanted_preview.is_some() || !self.wanted_thumbs.is_empty()
    }

    /// When `on_deadline` wants to run next (a pending rescan), if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.rescan_at
    }

    // ----- update -----

    pub fn update(&mut self, msg: Msg) {
        match msg {
            Msg::Input(Event::Key(key)) if key.kind != KeyEventKind::Release => self.on_key(key),
            Msg::Input(Event::Mouse(m)) => self.on_mouse(m),
            Msg::Input(Event::Resize(w, h)) => {
                self.area = Rect::new(0, 0, w, h);
                self.keep_cursor_visible();
            }
            Msg::Input(_) => return,
            Msg::Image(done) => return self.on_image(*done),
            Msg::FsChanged(paths) => self.on_fs_change(&paths),
            Msg::Screen(m) => screens::on_msg(self, m),
            Msg::WatchError(e) => self.set_status(Level::Warn, format!("not watching: {e}")),
            Msg::Signal(sig) => {
                // The link dropped or someone asked us to stop: keep the user's words.
                self.save_editor();
                self.quit = Some(128u8.saturating_add(u8::try_from(sig).unwrap_or(0)));
            }
        }
        self.dirty = true;
        self.request_images();
    }

    /// Runs what was scheduled for `next_deadline`.
    pub fn on_deadline(&mut self, now: Instant) {
        if self.rescan_at.is_some_and(|t| t <= now) {
            self.rescan_at = None;
            self.reload();
            self.dirty = true;
            self.request_images();
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        let mode = self.mode();
        let action = keymap::lookup(mode, &key);
        match mode {
            Mode::Browse => {
                if let Some(a) = action {
                    self.status = None;
                    self.browse(a);
                }
            }
            Mode::Tags => {
                if let Some(a) = action {
                    self.tags(a);
                }
            }
            Mode::Text => match action {
                Some(a) => self.text(a),
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
            Mode::Prompt => match action {
                Some(Action::Submit) => self.submit_prompt(),
                Some(_) => self.modal = None,
                None => {
                    if let Some(Modal::Prompt(p)) = &mut self.modal {
                        p.input.input(key);
                        p.error = None;
                    }
                }
            },
            Mode::Help => match (action, &mut self.modal) {
                (Some(Action::Down), Some(Modal::Help { scroll })) => *scroll += 1,
                (Some(Action::Up), Some(Modal::Help { scroll })) => {
                    *scroll = scroll.saturating_sub(1)
                }
                (Some(Action::Close), _) => self.modal = None,
                _ => {}
            },
            Mode::Conflict => {
                if let Some(a) = action {
                    self.resolve_conflict(a);
                }
            }
            Mode::Lint | Mode::Stats | Mode::Lora | Mode::Form | Mode::Preview => {
                screens::on_key(self, mode, action, key)
            }
        }
    }

    fn browse(&mut self, action: Action) {
        let page = self.page_len() as isize;
        let cols = self.grid_cols() as isize;
        match action {
            Action::Down => self.move_by(cols),
            Action::Up => self.move_by(-cols),
            Action::Right => self.move_by(1),
            Action::Left => self.move_by(-1),
            Action::PageDown => self.move_by(page),
            Action::PageUp => self.move_by(-page),
            Action::Top => self.move_to(0),
            Action::Bottom => self.move_to(self.visible.len().saturating_sub(1)),
            Action::ToggleView => {
                self.view = match self.view {
                    View::List => View::Grid,
                    View::Grid => View::List,
                };
                self.keep_cursor_visible();
            }
            Action::EditText | Action::EditTags => self.open_editor(action == Action::EditTags),
            Action::ToggleSelect => {
                if let Some(i) = self.current() {
                    let path = self.dataset.items[i].path.clone();
                    if !self.selected.remove(&path) {
                        self.selected.insert(path);
                    }
                    self.move_by(1);
                }
            }
            Action::SelectAll => {
                let paths: Vec<PathBuf> = self
                    .visible
                    .iter()
                    .map(|&i| self.dataset.items[i].path.clone())
                    .collect();
                self.selected.extend(paths);
            }
            Action::Escape => {
                if !self.selected.is_empty() {
                    self.selected.clear();
                } else if !self.filter_text.is_empty() {
                    self.filter_text.clear();
                    self.filter = Query::default();
                    self.refilter(self.current());
                }
            }
            Action::Filter => {
                let text = self.filter_text.clone();
                self.open_prompt(PromptKind::Filter, &text);
            }
            Action::Bulk => {
                self.open_prompt(PromptKind::Bulk, "");
                let n = self.targets().len();
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
            Action::ToggleExclude => self.toggle_exclude(),
            Action::Undo | Action::Redo => self.undo_redo(action == Action::Undo),
            Action::Help => self.modal = Some(Modal::Help { scroll: 0 }),
            Action::OpenLint => screens::lint::open(self),
            Action::OpenStats => screens::stats::open(self),
            Action::OpenLora => screens::lora::open_prompt(self),
            Action::Quit => {
                self.quit = Some(0);
            }
            _ => {}
        }
    }

    fn tags(&mut self, action: Action) {
        let Some(CaptionEditor {
            mode: EditorMode::Tags(list),
            ..
        }) = &mut self.editor
        else {
            return;
        };
        match action {
            Action::Down => list.move_cursor(1),
            Action::Up => list.move_cursor(-1),
            Action::TagDelete => list.delete(),
            Action::TagMoveDown => list.shift(1),
            Action::TagMoveUp => list.shift(-1),
            Action::TagToFront => list.to_front(),
            Action::TagAdd => self.open_prompt(PromptKind::TagAdd, ""),
            Action::TagEdit => {
                let current = list.current().unwrap_or_default().to_string();
                self.open_prompt(PromptKind::TagEdit, &current);
            }
            Action::SwitchEditor => {
                if let Some(ed) = &mut self.editor {
                    ed.switch_mode();
                }
            }
            Action::Save => {
                self.save_editor();
            }
            Action::Close => self.close_editor(),
            _ => {}
        }
    }

    fn text(&mut self, action: Action) {
        match action {
            Action::Save => {
                self.save_editor();
            }
            Action::SwitchEditor => {
                if let Some(ed) = &mut self.editor {
                    ed.switch_mode();
                }
            }
            Action::Close => self.close_editor(),
            _ => {}
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        let areas = self.areas();
        let at = Position::new(m.column, m.row);
        if self.modal.is_some() || self.screen.is_some() || !areas.browser.contains(at) {
            return;
        }
        let step = self.grid_cols() as isize;
        match m.kind {
            MouseEventKind::ScrollDown => self.move_by(step),
            MouseEventKind::ScrollUp => self.move_by(-step),
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
                    self.move_to(target);
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

    fn move_by(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1) as isize;
        let to = (self.cursor as isize + delta).clamp(0, last.max(0));
        self.move_to(to as usize);
    }

    /// Moves the cursor; leaving an item saves its caption edits.
    pub fn move_to(&mut self, pos: usize) {
        if pos != self.cursor && self.editor.is_some() {
            if !self.save_editor() {
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
            View::Grid => {
                let (cols, rows) = layout::grid_dims(b);
                (cols, rows)
            }
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
    fn request_images(&mut self) {
        let areas = self.areas();
        let current = self.current();
        if let (Some(i), Some(rect)) = (current, areas.preview) {
            let inner = layout::inner(rect);
            let path = self.dataset.abs_path(&self.dataset.items[i]);
            let key = ImageKey::new(path, (inner.width, inner.height));
            let shown = self.preview.as_ref().is_some_and(|(k, _)| *k == key);
            if !shown && self.wanted_preview.as_ref() != Some(&key) && inner.area() > 0 {
                self.workers.want_preview(key.clone());
                self.wanted_preview = Some(key);
            }
        }
        if self.view == View::Grid {
            let page = self.page_len();
            let first = self.scroll * self.grid_cols();
            let keys: Vec<ImageKey> = self
                .visible
                .iter()
                .skip(first)
                .take(page)
                .map(|&i| {
                    ImageKey::new(
                        self.dataset.abs_path(&self.dataset.items[i]),
                        layout::THUMB_IMAGE,
                    )
                })
                .filter(|k| self.thumbs.get(&k.path).is_none_or(|(have, _)| have != k))
                .collect();
            if keys != self.wanted_thumbs {
                self.workers.want_thumbs(keys.clone());
                self.wanted_thumbs = keys;
            }
        }
    }

    fn on_image(&mut self, done: Decoded) {
        let Decoded {
            key,
            purpose,
            result,
        } = done;
        let result = result.map(|(protocol, facts)| {
            self.facts.insert(key.path.clone(), facts);
            protocol
        });
        match purpose {
            // A preview nobody waits for any more is dropped, never shown.
            Purpose::Preview if self.wanted_preview.as_ref() == Some(&key) => {
                self.wanted_preview = None;
                self.preview = Some((key, result));
                self.dirty = true;
            }
            Purpose::Preview => {}
            Purpose::Thumb => {
                self.wanted_thumbs.retain(|k| *k != key);
                if self.thumbs.len() >= THUMB_CACHE {
                    let keep: BTreeSet<PathBuf> = self.page_paths().into_iter().collect();
                    self.thumbs.retain(|p, _| keep.contains(p));
                }
                self.thumbs.insert(key.path.clone(), (key, result));
                self.dirty = true;
            }
        }
    }

    fn page_paths(&self) -> Vec<PathBuf> {
        let first = self.scroll * self.grid_cols();
        self.visible
            .iter()
            .skip(first)
            .take(self.page_len())
            .map(|&i| self.dataset.abs_path(&self.dataset.items[i]))
            .collect()
    }

    // ----- filter, selection -----

    /// Recomputes `visible`, keeping the cursor on `keep` when it still passes.
    fn refilter(&mut self, keep: Option<usize>) {
        let keep_path = keep
            .and_then(|i| self.dataset.items.get(i))
            .map(|it| it.path.clone());
        self.refilter_to(keep_path.as_deref());
    }

    fn refilter_to(&mut self, keep: Option<&Path>) {
        let old_cursor = self.cursor;
        self.visible = (0..self.dataset.items.len())
            .filter(|&i| self.filter.matches(&self.dataset.items[i]))
            .collect();
        self.cursor = keep
            .and_then(|p| {
                self.visible
                    .iter()
                    .position(|&i| self.dataset.items[i].path == p)
            })
            .unwrap_or(old_cursor)
            .min(self.visible.len().saturating_sub(1));
        self.keep_cursor_visible();
    }

    /// What a bulk operation or exclusion acts on: the selection, else everything shown.
    fn targets(&self) -> Vec<usize> {
        if self.selected.is_empty() {
            self.visible.clone()
        } else {
            (0..self.dataset.items.len())
                .filter(|&i| self.is_selected(i))
                .collect()
        }
    }

    // ----- prompts -----

    fn open_prompt(&mut self, kind: PromptKind, initial: &str) {
        let mut input = TextArea::new(vec![initial.to_string()]);
        input.move_cursor(ratatui_textarea::CursorMove::End);
        self.modal = Some(Modal::Prompt(Box::new(Prompt {
            kind,
            input,
            error: None,
            scope: None,
        })));
    }

    fn submit_prompt(&mut self) {
        let Some(Modal::Prompt(p)) = &self.modal else {
            return;
        };
        let kind = p.kind;
        let text = p.input.lines().join(" ");
        let result = match kind {
            PromptKind::Filter => self.apply_filter(&text),
            PromptKind::Bulk => self.apply_bulk(&text),
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

    pub fn apply_filter(&mut self, text: &str) -> Result<(), String> {
        let query = Query::parse(text).map_err(|e| e.to_string())?;
        self.filter = query;
        self.filter_text = text.trim().to_string();
        self.refilter(self.current());
        let n = self.visible.len();
        self.set_status(Level::Info, format!("{n} image{} match", plural(n)));
        Ok(())
    }

    fn apply_bulk(&mut self, text: &str) -> Result<(), String> {
        let op: BulkOp = bulk::parse(text)?;
        let Some(journal) = &self.journal else {
            return Err("the dataset is read-only here".into());
        };
        let targets = self.targets();
        let plan = ops::plan(&self.dataset, &targets, &op).map_err(|e| e.to_string())?;
        let (changed, skipped) = (plan.edits.len(), plan.skipped.len());
        let description = format!("{} ({changed} caption{})", op.describe(), plural(changed));
        let applied = plan
            .apply(journal, &description)
            .map_err(|e| e.to_string())?;
        self.reload();
        let mut msg = match applied {
            Some(_) => format!("{description}: done (u undoes)"),
            None => format!("{}: nothing to change", op.describe()),
        };
        if skipped > 0 {
            msg.push_str(&format!("; {skipped} skipped (not UTF-8 or unreadable)"));
        }
        self.set_status(
            if skipped > 0 {
                Level::Warn
            } else {
                Level::Info
            },
            msg,
        );
        Ok(())
    }

    // ----- editing -----

    fn open_editor(&mut self, tags: bool) {
        let Some(i) = self.current() else { return };
        let item = &self.dataset.items[i];
        if item.excluded {
            return self.set_status(
                Level::Warn,
                "excluded image: include it (x) to edit its caption".into(),
            );
        }
        let original = match &item.caption {
            CaptionState::Text(c) => c.text.clone(),
            CaptionState::Missing => String::new(),
            CaptionState::NotUtf8(_) | CaptionState::Unreadable(_) => {
                let e = DatasetError::NotEditable {
                    path: self.dataset.abs_caption_path(item),
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
    /// conflict prompt is open, or an error is shown) and the editor must stay open.
    fn save_editor(&mut self) -> bool {
        let Some(ed) = &self.editor else { return true };
        if !ed.is_dirty() {
            return true;
        }
        let (index, draft) = (ed.item, ed.text());
        let Some(journal) = &self.journal else {
            self.set_status(
                Level::Error,
                "read-only: the caption cannot be saved".into(),
            );
            return false;
        };
        match ops::write_caption(journal, &self.dataset, index, &draft) {
            Ok(_) => {
                self.dataset.reload_caption(index);
                if let Some(ed) = &mut self.editor {
                    ed.mark_saved();
                }
                let name = self.dataset.items[index].caption_path.display().to_string();
                self.set_status(Level::Info, format!("saved {name}"));
                true
            }
            Err(DatasetError::Conflict { .. }) => {
                self.open_conflict(index);
                false
            }
            Err(e) => {
                self.set_status(Level::Error, e.to_string());
                false
            }
        }
    }

    fn close_editor(&mut self) {
        if self.save_editor() {
            self.editor = None;
        }
    }

    fn open_conflict(&mut self, item: usize) {
        let path = self.dataset.abs_caption_path(&self.dataset.items[item]);
        let theirs = std::fs::read(&path).ok();
        self.modal = Some(Modal::Conflict(Conflict {
            item,
            theirs,
            show_diff: false,
        }));
    }

    fn resolve_conflict(&mut self, action: Action) {
        let Some(Modal::Conflict(c)) = &mut self.modal else {
            return;
        };
        match action {
            Action::ShowDiff => c.show_diff = !c.show_diff,
            Action::KeepMine => {
                let item = c.item;
                self.modal = None;
                // Take their file as the base, then write my draft over it (journalled, so
                // their version can still be had back with undo).
                self.dataset.reload_caption(item);
                self.save_editor();
            }
            Action::TakeTheirs => {
                let item = c.item;
                self.modal = None;
                self.dataset.reload_caption(item);
                match self.dataset.items[item].caption.clone() {
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
                self.set_status(Level::Info, "took the version on disk".into());
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

    fn toggle_exclude(&mut self) {
        let Some(journal) = &self.journal else {
            return self.set_status(Level::Error, "read-only: cannot exclude".into());
        };
        let targets = if self.selected.is_empty() {
            self.current().into_iter().collect()
        } else {
            self.targets()
        };
        if targets.is_empty() {
            return;
        }
        let all_excluded = targets.iter().all(|&i| self.dataset.items[i].excluded);
        let result = if all_excluded {
            exclude::include(journal, &self.dataset, &targets)
        } else {
            exclude::exclude(journal, &self.dataset, &targets)
        };
        let n = targets.len();
        let verb = if all_excluded { "included" } else { "excluded" };
        match result {
            Ok(_) => {
                self.selected.clear();
                self.reload();
                let msg = format!("{verb} {n} image{} (u undoes)", plural(n));
                self.set_status(Level::Info, msg);
            }
            Err(e) => self.set_status(Level::Error, e.to_string()),
        }
    }

    fn undo_redo(&mut self, undo: bool) {
        let Some(journal) = &self.journal else {
            return self.set_status(Level::Error, "read-only: nothing to undo".into());
        };
        let result = if undo {
            journal.undo(false)
        } else {
            journal.redo(false)
        };
        let verb = if undo { "undid" } else { "redid" };
        match result {
            Ok(Some(entry)) => {
                self.reload();
                self.set_status(Level::Info, format!("{verb}: {}", entry.description));
            }
            Ok(None) => {
                let what = if undo {
                    "nothing to undo"
                } else {
                    "nothing to redo"
                };
                self.set_status(Level::Info, what.into());
            }
            Err(e) => self.set_status(Level::Error, e.to_string()),
        }
    }

    // ----- disk -----

    /// Rescans the folder, keeping the cursor, selection and open editor on the same files.
    pub fn reload(&mut self) {
        let keep = self.current().map(|i| self.dataset.items[i].path.clone());
        let editing = self
            .editor
            .as_ref()
            .map(|ed| self.dataset.items[ed.item].path.clone());
        let options: ScanOptions = self.dataset.options.clone();
        match scan(&self.dataset.root, &options) {
            Ok(ds) => self.dataset = ds,
            Err(e) => return self.set_status(Level::Error, e.to_string()),
        }
        self.index();
        let paths: BTreeSet<&PathBuf> = self.dataset.items.iter().map(|i| &i.path).collect();
        self.selected.retain(|p| paths.contains(p));
        match editing.and_then(|p| self.dataset.index_of(&p)) {
            Some(i) => {
                if let Some(ed) = &mut self.editor {
                    ed.item = i;
                }
            }
            None => self.editor = None,
        }
        self.refilter_to(keep.as_deref());
    }

    fn index(&mut self) {
        self.by_caption.clear();
        self.by_image.clear();
        for (i, item) in self.dataset.items.iter().enumerate() {
            self.by_caption
                .insert(self.dataset.abs_caption_path(item), i);
            self.by_image.insert(self.dataset.abs_path(item), i);
        }
    }

    /// Files changed on disk (from the watcher). Our own writes come back here too; they are
    /// recognised because the bytes on disk equal what we hold.
    fn on_fs_change(&mut self, paths: &[PathBuf]) {
        for path in paths {
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden || path.components().any(|c| c.as_os_str() == ".lorabench") {
                continue;
            }
            if let Some(&i) = self.by_caption.get(path) {
                self.caption_changed(i, path);
            } else if let Some(&i) = self.by_image.get(path) {
                let abs = self.dataset.abs_path(&self.dataset.items[i]);
                self.thumbs.remove(&abs);
                self.facts.remove(&abs);
                if self.preview.as_ref().is_some_and(|(k, _)| k.path == abs) {
                    self.preview = None;
                }
                self.rescan_at = Some(Instant::now() + RESCAN_DELAY);
            } else {
                // A new or removed file: rescan once the burst is over.
                self.rescan_at = Some(Instant::now() + RESCAN_DELAY);
            }
        }
    }

    fn caption_changed(&mut self, i: usize, path: &Path) {
        let on_disk = std::fs::read(path).ok();
        if on_disk == self.dataset.items[i].caption.bytes() {
            return;
        }
        let draft_dirty = self
            .editor
            .as_ref()
            .is_some_and(|ed| ed.item == i && ed.is_dirty());
        if draft_dirty {
            // Never overwrite either side silently: ask.
            if !matches!(self.modal, Some(Modal::Conflict(_))) {
                self.open_conflict(i);
            } else if let Some(Modal::Conflict(c)) = &mut self.modal {
                c.theirs = on_disk;
            }
            return;
        }
        self.dataset.reload_caption(i);
        let name = self.dataset.items[i].caption_path.display().to_string();
        if let Some(ed) = &mut self.editor
            && ed.item == i
        {
            let text = self.dataset.items[i]
                .caption
                .text()
                .unwrap_or_default()
                .to_string();
            ed.reset_to(text);
        }
        self.set_status(Level::Info, format!("{name} changed on disk; reloaded"));
    }

    fn set_status(&mut self, level: Level, text: String) {
        self.status = Some(Status { text, level });
    }
}

/// Decode workers: one fewer than the cores (at least one, at most four).
fn decode_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).clamp(1, 4))
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
