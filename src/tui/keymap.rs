//! One table of key bindings. The dispatcher, the hint bar and the help overlay all read it,
//! so what the help says is what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Which part of the workbench has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Moving through the images.
    Browse,
    /// Editing the caption as a list of tags.
    Tags,
    /// Editing the caption as free text.
    Text,
    /// A one-line prompt (filter, bulk operation, tag).
    Prompt,
    /// The help overlay.
    Help,
    /// A caption changed on disk while it had unsaved edits.
    Conflict,
    /// The Lint screen.
    Lint,
    /// The Stats/Tags screen.
    Stats,
    /// The LoRA screen.
    Lora,
    /// A form on a screen (trigger word, tag name, LoRA operation).
    Form,
    /// Caption changes shown as a diff before they are written.
    Preview,
}

impl Mode {
    /// The heading of this mode's section in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Mode::Browse => "Browse",
            Mode::Tags => "Tag editor",
            Mode::Text => "Text editor",
            Mode::Prompt => "Prompt",
            Mode::Help => "Help",
            Mode::Conflict => "Caption changed on disk",
            Mode::Lint => "Lint (L)",
            Mode::Stats => "Stats and tags (S)",
            Mode::Lora => "LoRA file (O)",
            Mode::Form => "Form",
            Mode::Preview => "Change preview",
        }
    }
}

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Down,
    Up,
    Left,
    Right,
    PageDown,
    PageUp,
    Top,
    Bottom,
    ToggleView,
    EditText,
    EditTags,
    ToggleSelect,
    SelectAll,
    Escape,
    Filter,
    Bulk,
    ToggleExclude,
    Undo,
    Redo,
    Help,
    Quit,
    TagAdd,
    TagEdit,
    TagDelete,
    TagMoveDown,
    TagMoveUp,
    TagToFront,
    SwitchEditor,
    Save,
    Close,
    Submit,
    KeepMine,
    TakeTheirs,
    ShowDiff,
    OpenLint,
    OpenStats,
    OpenLora,
    Jump,
    Fix,
    CycleSeverity,
    Trigger,
    Target,
    Rerun,
    Sort,
    Rename,
    RemoveTag,
    NextField,
    Convert,
    Merge,
    Resize,
    Mix,
    Extract,
}

/// A key with its modifiers. Shift is implied by the character for letters and symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chord {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn ch(c: char) -> Chord {
    Chord {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn ctrl(c: char) -> Chord {
    Chord {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

const fn key(code: KeyCode) -> Chord {
    Chord { code, ctrl: false }
}

impl Chord {
    fn matches(&self, ev: &KeyEvent) -> bool {
        let ev_ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let code = match ev.code {
            // Terminals differ in whether Ctrl-letters arrive upper- or lower-case.
            KeyCode::Char(c) if ev_ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            other => other,
        };
        code == self.code && ev_ctrl == self.ctrl
    }

    /// How the key is written in the hint bar and the help.
    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Delete => "Del".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct Binding {
    pub mode: Mode,
    pub keys: &'static [Chord],
    pub action: Action,
    pub desc: &'static str,
    /// The short label in the hint bar; `None`: only in the help.
    pub hint: Option<&'static str>,
}

const fn b(
    mode: Mode,
    keys: &'static [Chord],
    action: Action,
    desc: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        mode,
        keys,
        action,
        desc,
        hint,
    }
}

use Action as A;
use Mode as M;

/// The key table. Order is the order of the hint bar and the help.
pub const BINDINGS: &[Binding] = &[
    b(
        M::Browse,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "next image",
        None,
    ),
    b(
        M::Browse,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "previous image",
        None,
    ),
    b(
        M::Browse,
        &[ch('h'), key(KeyCode::Left)],
        A::Left,
        "left (grid)",
        None,
    ),
    b(
        M::Browse,
        &[ch('l'), key(KeyCode::Right)],
        A::Right,
        "right (grid)",
        None,
    ),
    b(
        M::Browse,
        &[key(KeyCode::PageDown), ctrl('d')],
        A::PageDown,
        "page down",
        None,
    ),
    b(
        M::Browse,
        &[key(KeyCode::PageUp), ctrl('u')],
        A::PageUp,
        "page up",
        None,
    ),
    b(
        M::Browse,
        &[ch('g'), key(KeyCode::Home)],
        A::Top,
        "first image",
        None,
    ),
    b(
        M::Browse,
        &[ch('G'), key(KeyCode::End)],
        A::Bottom,
        "last image",
        None,
    ),
    b(
        M::Browse,
        &[ch('e'), key(KeyCode::Enter)],
        A::EditText,
        "edit caption",
        Some("edit"),
    ),
    b(
        M::Browse,
        &[ch('t')],
        A::EditTags,
        "edit tags",
        Some("tags"),
    ),
    b(
        M::Browse,
        &[ch(' ')],
        A::ToggleSelect,
        "select",
        Some("select"),
    ),
    b(
        M::Browse,
        &[ch('A')],
        A::SelectAll,
        "select all shown",
        None,
    ),
    b(
        M::Browse,
        &[key(KeyCode::Esc)],
        A::Escape,
        "clear selection, then filter",
        None,
    ),
    b(M::Browse, &[ch('/')], A::Filter, "filter", Some("filter")),
    b(M::Browse, &[ch('b')], A::Bulk, "bulk edit", Some("bulk")),
    b(
        M::Browse,
        &[ch('x')],
        A::ToggleExclude,
        "exclude/include",
        Some("exclude"),
    ),
    b(M::Browse, &[ch('u')], A::Undo, "undo", Some("undo")),
    b(M::Browse, &[ctrl('r')], A::Redo, "redo", None),
    b(
        M::Browse,
        &[ch('v')],
        A::ToggleView,
        "list/grid",
        Some("grid"),
    ),
    b(M::Browse, &[ch('L')], A::OpenLint, "lint the dataset", None),
    b(
        M::Browse,
        &[ch('S')],
        A::OpenStats,
        "statistics and tags",
        None,
    ),
    b(M::Browse, &[ch('O')], A::OpenLora, "open a LoRA file", None),
    b(M::Browse, &[ch('?')], A::Help, "help", Some("help")),
    b(
        M::Browse,
        &[ch('q'), ctrl('c')],
        A::Quit,
        "quit",
        Some("quit"),
    ),
    b(
        M::Tags,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "next tag",
        None,
    ),
    b(
        M::Tags,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "previous tag",
        None,
    ),
    b(
        M::Tags,
        &[ch('a'), ch('o')],
        A::TagAdd,
        "add tag",
        Some("add"),
    ),
    b(
        M::Tags,
        &[ch('e'), key(KeyCode::Enter)],
        A::TagEdit,
        "edit tag",
        Some("edit"),
    ),
    b(
        M::Tags,
        &[ch('d'), key(KeyCode::Delete)],
        A::TagDelete,
        "delete tag",
        Some("delete"),
    ),
    b(
        M::Tags,
        &[ch('J')],
        A::TagMoveDown,
        "move down",
        Some("down"),
    ),
    b(M::Tags, &[ch('K')], A::TagMoveUp, "move up", Some("up")),
    b(
        M::Tags,
        &[ch('f')],
        A::TagToFront,
        "to front",
        Some("front"),
    ),
    b(
        M::Tags,
        &[key(KeyCode::Tab)],
        A::SwitchEditor,
        "text mode",
        Some("text"),
    ),
    b(M::Tags, &[ctrl('s')], A::Save, "save", None),
    b(
        M::Tags,
        &[key(KeyCode::Esc), ch('q')],
        A::Close,
        "save and close",
        Some("done"),
    ),
    b(M::Text, &[ctrl('s')], A::Save, "save", Some("save")),
    b(
        M::Text,
        &[ctrl('t')],
        A::SwitchEditor,
        "tag mode",
        Some("tags"),
    ),
    b(
        M::Text,
        &[key(KeyCode::Esc)],
        A::Close,
        "save and close",
        Some("done"),
    ),
    b(
        M::Prompt,
        &[key(KeyCode::Enter)],
        A::Submit,
        "apply",
        Some("apply"),
    ),
    b(
        M::Prompt,
        &[key(KeyCode::Esc)],
        A::Close,
        "cancel",
        Some("cancel"),
    ),
    b(
        M::Help,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "scroll down",
        None,
    ),
    b(
        M::Help,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "scroll up",
        None,
    ),
    b(
        M::Help,
        &[key(KeyCode::Esc), ch('?'), ch('q')],
        A::Close,
        "close help",
        Some("close"),
    ),
    b(
        M::Conflict,
        &[ch('m')],
        A::KeepMine,
        "keep mine",
        Some("keep mine"),
    ),
    b(
        M::Conflict,
        &[ch('t')],
        A::TakeTheirs,
        "take theirs",
        Some("take theirs"),
    ),
    b(
        M::Conflict,
        &[ch('d')],
        A::ShowDiff,
        "show diff",
        Some("diff"),
    ),
    b(
        M::Lint,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "next finding",
        None,
    ),
    b(
        M::Lint,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "previous finding",
        None,
    ),
    b(
        M::Lint,
        &[key(KeyCode::PageDown)],
        A::PageDown,
        "page down",
        None,
    ),
    b(M::Lint, &[key(KeyCode::PageUp)], A::PageUp, "page up", None),
    b(
        M::Lint,
        &[ch('g'), key(KeyCode::Home)],
        A::Top,
        "first row",
        None,
    ),
    b(
        M::Lint,
        &[ch('G'), key(KeyCode::End)],
        A::Bottom,
        "last row",
        None,
    ),
    b(
        M::Lint,
        &[key(KeyCode::Enter)],
        A::Jump,
        "show the image in the browser",
        Some("show"),
    ),
    b(
        M::Lint,
        &[ch('f')],
        A::Fix,
        "fix this kind (preview first)",
        Some("fix"),
    ),
    b(
        M::Lint,
        &[ch('s')],
        A::CycleSeverity,
        "severity: all, errors, warnings, infos",
        Some("severity"),
    ),
    b(
        M::Lint,
        &[ch('/')],
        A::Filter,
        "filter findings",
        Some("filter"),
    ),
    b(
        M::Lint,
        &[ch('T')],
        A::Trigger,
        "trigger word to check",
        Some("trigger"),
    ),
    b(
        M::Lint,
        &[ch('o')],
        A::Target,
        "training target: trainer, model, resolution, batch",
        Some("target"),
    ),
    b(M::Lint, &[ch('r')], A::Rerun, "check again", Some("rerun")),
    b(M::Lint, &[ch('?')], A::Help, "help", None),
    b(
        M::Lint,
        &[key(KeyCode::Esc), ch('q')],
        A::Close,
        "stop, then back to the browser",
        Some("back"),
    ),
    b(
        M::Stats,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "next row",
        None,
    ),
    b(
        M::Stats,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "previous row",
        None,
    ),
    b(
        M::Stats,
        &[key(KeyCode::PageDown)],
        A::PageDown,
        "page down",
        None,
    ),
    b(
        M::Stats,
        &[key(KeyCode::PageUp)],
        A::PageUp,
        "page up",
        None,
    ),
    b(
        M::Stats,
        &[ch('g'), key(KeyCode::Home)],
        A::Top,
        "first row",
        None,
    ),
    b(
        M::Stats,
        &[ch('G'), key(KeyCode::End)],
        A::Bottom,
        "last row",
        None,
    ),
    b(
        M::Stats,
        &[key(KeyCode::Tab)],
        A::NextField,
        "tags / buckets",
        Some("tags/buckets"),
    ),
    b(
        M::Stats,
        &[ch('s')],
        A::Sort,
        "sort tags by count / name",
        Some("sort"),
    ),
    b(
        M::Stats,
        &[key(KeyCode::Enter)],
        A::Jump,
        "filter the browser to the tag",
        Some("filter"),
    ),
    b(
        M::Stats,
        &[ch('r')],
        A::Rename,
        "rename the tag everywhere",
        Some("rename"),
    ),
    b(
        M::Stats,
        &[ch('d')],
        A::RemoveTag,
        "remove the tag everywhere",
        Some("remove"),
    ),
    b(
        M::Stats,
        &[ch('o')],
        A::Target,
        "training target: trainer, model, resolution, batch",
        Some("target"),
    ),
    b(M::Stats, &[ch('R')], A::Rerun, "recompute", None),
    b(M::Stats, &[ch('?')], A::Help, "help", None),
    b(
        M::Stats,
        &[key(KeyCode::Esc), ch('q')],
        A::Close,
        "back to the browser",
        Some("back"),
    ),
    b(
        M::Lora,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "scroll down",
        None,
    ),
    b(
        M::Lora,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "scroll up",
        None,
    ),
    b(
        M::Lora,
        &[key(KeyCode::PageDown)],
        A::PageDown,
        "page down",
        None,
    ),
    b(M::Lora, &[key(KeyCode::PageUp)], A::PageUp, "page up", None),
    b(
        M::Lora,
        &[ch('c')],
        A::Convert,
        "convert kohya/peft",
        Some("convert"),
    ),
    b(
        M::Lora,
        &[ch('m')],
        A::Merge,
        "merge into a base",
        Some("merge"),
    ),
    b(
        M::Lora,
        &[ch('z')],
        A::Resize,
        "resize the rank",
        Some("resize"),
    ),
    b(
        M::Lora,
        &[ch('x')],
        A::Mix,
        "mix with other LoRAs",
        Some("mix"),
    ),
    b(
        M::Lora,
        &[ch('e')],
        A::Extract,
        "extract from two checkpoints",
        Some("extract"),
    ),
    b(
        M::Lora,
        &[ch('o')],
        A::OpenLora,
        "open another file",
        Some("open"),
    ),
    b(M::Lora, &[ch('?')], A::Help, "help", None),
    b(
        M::Lora,
        &[key(KeyCode::Esc), ch('q')],
        A::Close,
        "cancel the running operation, else back",
        Some("back/cancel"),
    ),
    b(
        M::Form,
        &[key(KeyCode::Enter)],
        A::Submit,
        "run / apply",
        Some("ok"),
    ),
    b(
        M::Form,
        &[key(KeyCode::Tab)],
        A::NextField,
        "next field",
        Some("next field"),
    ),
    b(
        M::Form,
        &[key(KeyCode::Esc)],
        A::Close,
        "cancel",
        Some("cancel"),
    ),
    b(
        M::Preview,
        &[key(KeyCode::Enter), ch('y')],
        A::Submit,
        "write the changes (one undo step)",
        Some("apply"),
    ),
    b(
        M::Preview,
        &[ch('j'), key(KeyCode::Down)],
        A::Down,
        "scroll down",
        None,
    ),
    b(
        M::Preview,
        &[ch('k'), key(KeyCode::Up)],
        A::Up,
        "scroll up",
        None,
    ),
    b(
        M::Preview,
        &[key(KeyCode::Esc), ch('n')],
        A::Close,
        "cancel",
        Some("cancel"),
    ),
];

/// The action bound to `ev` in `mode`, if any.
pub fn lookup(mode: Mode, ev: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|bd| bd.mode == mode)
        .find(|bd| bd.keys.iter().any(|k| k.matches(ev)))
        .map(|bd| bd.action)
}

/// The bindings of `mode`, in table order.
pub fn bindings(mode: Mode) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |bd| bd.mode == mode)
}

/// The label for a binding's keys: "j/↓".
pub fn keys_label(bd: &Binding) -> String {
    bd.keys
        .iter()
        .map(Chord::label)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEvent;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn vim_keys_and_arrows_map_to_the_same_action() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            lookup(M::Browse, &press(KeyCode::Char('j'), none)),
            Some(A::Down)
        );
        assert_eq!(
            lookup(M::Browse, &press(KeyCode::Down, none)),
            Some(A::Down)
        );
        assert_eq!(
            lookup(M::Tags, &press(KeyCode::Char('j'), none)),
            Some(A::Down)
        );
    }

    #[test]
    fn shifted_letters_and_ctrl_are_distinct() {
        let shift = KeyModifiers::SHIFT;
        assert_eq!(
            lookup(M::Browse, &press(KeyCode::Char('G'), shift)),
            Some(A::Bottom)
        );
        assert_eq!(
            lookup(M::Browse, &press(KeyCode::Char('g'), KeyModifiers::NONE)),
            Some(A::Top)
        );
        let ctrl_r = press(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(lookup(M::Browse, &ctrl_r), Some(A::Redo));
        let ctrl_r_upper = press(KeyCode::Char('R'), KeyModifiers::CONTROL | shift);
        assert_eq!(lookup(M::Browse, &ctrl_r_upper), Some(A::Redo));
        assert_eq!(
            lookup(M::Browse, &press(KeyCode::Char('r'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn no_key_is_bound_twice_in_one_mode() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for bb in &BINDINGS[i + 1..] {
                if a.mode == bb.mode {
                    for k in a.keys {
                        assert!(!bb.keys.contains(k), "{:?} bound twice in {:?}", k, a.mode);
                    }
                }
            }
        }
    }

    #[test]
    fn labels() {
        let down = bindings(M::Browse).next().unwrap();
        assert_eq!(keys_label(down), "j/↓");
        assert_eq!(ctrl('r').label(), "Ctrl-r");
        assert_eq!(ch(' ').label(), "Space");
    }
}
