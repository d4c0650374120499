//! A model file picker as a pop-up component: it starts on the model folders found on this
//! machine ([`model_folders::Places::roots`]), enters folders and goes back up, and shows each
//! model's family and size ([`model_folders::list`]). Choosing a model hands its path to the
//! owner as the one value of a submit, so the owner's normal check runs on it.

use std::path::PathBuf;

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, List, ListItem, ListState};

use crate::train::model_folders::{self, Entry, Kind, Places};
use crate::tui::command::Command;
use crate::tui::keymap::nav;
use crate::tui::popups::form::{FormId, Values};
use crate::tui::theme::Theme;
use crate::tui::widgets::panel::{centered, human_size, panel};

/// The keymap mode of an open picker.
pub const MODE: &str = "picker";
const OPEN: &str = "open";
const PARENT: &str = "parent";
const CANCEL: &str = "cancel";

pub enum Outcome {
    Stay,
    Cancel,
    /// A model was chosen: its path.
    Pick(Values),
}

pub struct Picker {
    pub id: FormId,
    pub title: &'static str,
    roots: Vec<PathBuf>,
    /// The folder shown; `None`: the list of model folders.
    pub dir: Option<PathBuf>,
    /// The folder's entries, or why it could not be read.
    pub entries: Result<Vec<Entry>, String>,
    pub cursor: usize,
}

impl Picker {
    pub fn new(id: FormId, title: &'static str, places: &Places) -> Picker {
        let roots = places.roots();
        let mut p = Picker {
            id,
            title,
            entries: Ok(Vec::new()),
            roots,
            dir: None,
            cursor: 0,
        };
        p.show(None);
        p
    }

    fn show(&mut self, dir: Option<PathBuf>) {
        self.entries = match &dir {
            Some(d) => model_folders::list(d),
            None => Ok(self
                .roots
                .iter()
                .map(|r| Entry {
                    path: r.clone(),
                    name: r.display().to_string(),
                    kind: Kind::Folder,
                    family: None,
                    size: None,
                })
                .collect()),
        };
        self.dir = dir;
        self.cursor = 0;
    }

    fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Vec::len)
    }

    /// Up one folder; from a model folder itself, back to the list of them.
    fn up(&mut self) {
        let Some(dir) = self.dir.clone() else {
            return;
        };
        let parent = if self.roots.contains(&dir) {
            None
        } else {
            dir.parent().map(PathBuf::from)
        };
        self.show(parent);
        if let Some(i) = self
            .entries
            .as_ref()
            .ok()
            .and_then(|es| es.iter().position(|e| e.path == dir))
        {
            self.cursor = i;
        }
    }

    pub fn commands() -> Vec<Command> {
        vec![
            Command::new(OPEN, "enter the folder / choose the model").bar("open / choose", 0),
            Command::new(PARENT, "up one folder").bar("up", 1),
            Command::new(nav::DOWN, "next entry"),
            Command::new(nav::UP, "previous entry"),
            Command::new(CANCEL, "cancel").bar("cancel", 0),
        ]
    }

    pub fn event(&mut self, action: Option<&str>) -> Outcome {
        let Some(action) = action else {
            return Outcome::Stay;
        };
        if let Some(step) = nav::step(action, 10) {
            self.cursor = nav::moved(self.cursor, self.len(), step);
            return Outcome::Stay;
        }
        match action {
            CANCEL => return Outcome::Cancel,
            PARENT => self.up(),
            OPEN => {
                let chosen = self
                    .entries
                    .as_ref()
                    .ok()
                    .and_then(|es| es.get(self.cursor))
                    .map(|e| (e.kind.clone(), e.path.clone()));
                match chosen {
                    Some((Kind::Folder, path)) => self.show(Some(path)),
                    Some((Kind::Model, path)) => {
                        return Outcome::Pick(Values {
                            id: self.id,
                            values: vec![path.display().to_string()],
                        });
                    }
                    None => {}
                }
            }
            _ => {}
        }
        Outcome::Stay
    }

    pub fn draw(&self, frame: &mut Frame, t: &Theme) {
        let area = centered(
            frame.area(),
            frame.area().width.saturating_sub(6).min(110),
            frame.area().height.saturating_sub(4),
        );
        frame.render_widget(Clear, area);
        let place = match &self.dir {
            Some(d) => d.display().to_string(),
            None => "model folders".into(),
        };
        let block =
            panel(Line::from(format!(" {} · {place} ", self.title)), true, t).style(t.popup);
        let entries = match &self.entries {
            Ok(es) if es.is_empty() => {
                let text = match self.dir {
                    Some(_) => "no folders or model files here",
                    None => {
                        "no model folders found (set LORABENCH_MODELS, or type the path in the field)"
                    }
                };
                frame.render_widget(
                    ratatui::widgets::Paragraph::new(Line::styled(text, t.dim)).block(block),
                    area,
                );
                return;
            }
            Ok(es) => es,
            Err(e) => {
                frame.render_widget(
                    ratatui::widgets::Paragraph::new(Line::styled(e.clone(), t.error)).block(block),
                    area,
                );
                return;
            }
        };
        let name_w = entries.iter().map(|e| e.name.len()).max().unwrap_or(0) + 2;
        let items: Vec<ListItem> = entries.iter().map(|e| row(e, name_w, t)).collect();
        let mut state = ListState::default().with_selected(Some(self.cursor));
        frame.render_stateful_widget(
            List::new(items).block(block).highlight_style(t.cursor),
            area,
            &mut state,
        );
    }
}

fn row<'a>(e: &'a Entry, name_w: usize, t: &Theme) -> ListItem<'a> {
    let Some(family) = &e.family else {
        return ListItem::new(Line::from(vec![Span::styled(
            format!("{}/", e.name),
            t.accent,
        )]));
    };
    let size = match &e.size {
        Some(Ok(n)) => human_size(*n),
        Some(Err(_)) | None => "?".into(),
    };
    let mut spans = vec![
        Span::styled(format!("{:<name_w$}", e.name), t.base),
        Span::styled(
            format!("{:<8}", family.label()),
            if family.reason().is_some() {
                t.warning
            } else {
                t.ok
            },
        ),
        Span::styled(format!("{size:>9}"), t.dim),
    ];
    let why = family
        .reason()
        .map(str::to_string)
        .or_else(|| e.size.as_ref().and_then(|s| s.clone().err()));
    if let Some(why) = why {
        spans.push(Span::styled(format!("  {why}"), t.warning));
    }
    ListItem::new(Line::from(spans))
}
