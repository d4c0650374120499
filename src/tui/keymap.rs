//! Keys as data: `keymap.yaml` (embedded) maps the shell's, the browser's and the pop-ups'
//! actions to keys, each registered screen adds its own block (its module's `KEYS`, see
//! `screens!`), and a user file `keys.yaml` in the config dir overrides only the actions it
//! names. Screens name actions by the same words in their commands, so the hint bar, the help
//! and the dispatcher all read this one map.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

/// The default keys of the shell, the browser and the pop-ups.
pub const DEFAULT: &str = include_str!("../../keymap.yaml");

/// A keymap source: the name its errors give, and its YAML text.
pub type Source<'a> = (&'a str, &'a str);

/// The actions every list shares (the `list` block of the keymap).
pub mod nav {
    pub const DOWN: &str = "down";
    pub const UP: &str = "up";
    pub const PAGE_DOWN: &str = "page-down";
    pub const PAGE_UP: &str = "page-up";
    pub const TOP: &str = "top";
    pub const BOTTOM: &str = "bottom";
    /// Opens the help overlay (handled by the shell in every mode that binds it).
    pub const HELP: &str = "help";

    /// How far a list cursor moves for a movement action; `None` for other actions.
    pub fn step(action: &str, page: isize) -> Option<isize> {
        Some(match action {
            DOWN => 1,
            UP => -1,
            PAGE_DOWN => page,
            PAGE_UP => -page,
            TOP => -isize::MAX / 2,
            BOTTOM => isize::MAX / 2,
            _ => return None,
        })
    }

    /// Moves `cursor` in a list of `len` by `step`, clamped to the list.
    pub fn moved(cursor: usize, len: usize, step: isize) -> usize {
        let last = len.saturating_sub(1) as isize;
        (cursor as isize).saturating_add(step).clamp(0, last.max(0)) as usize
    }
}

/// A key with its modifiers. Shift is implied by the character for letters and symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    pub code: KeyCode,
    pub ctrl: bool,
}

/// Key names as the keymap file spells them, and how the hint bar shows them.
const NAMES: &[(&str, KeyCode, &str)] = &[
    ("Space", KeyCode::Char(' '), "Space"),
    ("Enter", KeyCode::Enter, "Enter"),
    ("Esc", KeyCode::Esc, "Esc"),
    ("Tab", KeyCode::Tab, "Tab"),
    ("Backspace", KeyCode::Backspace, "Bksp"),
    ("Delete", KeyCode::Delete, "Del"),
    ("Up", KeyCode::Up, "↑"),
    ("Down", KeyCode::Down, "↓"),
    ("Left", KeyCode::Left, "←"),
    ("Right", KeyCode::Right, "→"),
    ("PageUp", KeyCode::PageUp, "PgUp"),
    ("PageDown", KeyCode::PageDown, "PgDn"),
    ("Home", KeyCode::Home, "Home"),
    ("End", KeyCode::End, "End"),
];

impl Chord {
    /// `j`, `G`, `?`, `Ctrl-r`, `PageDown`...
    pub fn parse(text: &str) -> Option<Chord> {
        let (ctrl, rest) = match text.strip_prefix("Ctrl-") {
            Some(r) if !r.is_empty() => (true, r),
            _ => (false, text),
        };
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
            _ => NAMES.iter().find(|(n, _, _)| *n == rest)?.1,
        };
        Some(Chord { code, ctrl })
    }

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
        let name = match NAMES.iter().find(|(_, c, _)| *c == self.code) {
            Some((_, _, shown)) => shown.to_string(),
            None => match self.code {
                KeyCode::Char(c) => c.to_string(),
                other => format!("{other:?}"),
            },
        };
        if self.ctrl {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }
}

/// One block of a keymap file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Block {
    #[serde(default)]
    inherit: Vec<String>,
    #[serde(default)]
    keys: BTreeMap<String, String>,
}

type File = BTreeMap<String, Block>;

/// A keymap file that could not be used; the message names the file, line and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message} (using the default keys instead)")]
pub struct KeymapError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// The keys in effect: per mode, each action with its keys (inheritance resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    modes: BTreeMap<String, BTreeMap<String, Vec<Chord>>>,
}

/// Where in `source` the key `needle:` (else the text `needle`) first stands, 1-based line and
/// column, for errors found after parsing.
fn locate(source: &str, needle: &str) -> (u64, u64) {
    let key = format!("{needle}:");
    let found = |pick: &dyn Fn(&str) -> Option<usize>| {
        source
            .lines()
            .enumerate()
            .find_map(|(n, line)| pick(line).map(|col| (n as u64 + 1, col as u64 + 1)))
    };
    found(&|line: &str| {
        let indent = line.len() - line.trim_start().len();
        line.trim_start().starts_with(&key).then_some(indent)
    })
    .or_else(|| found(&|line: &str| line.find(needle)))
    .unwrap_or((0, 0))
}

fn parse_file(file: &str, source: &str) -> Result<File, KeymapError> {
    crate::tui::config::parse(source).map_err(|e| KeymapError {
        file: file.to_string(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

impl Keymap {
    /// The embedded defaults with the keys of `screens` (`screens::KEYS`). They are tested to
    /// parse, so a failure is a build bug; even then this returns an empty map (every key does
    /// nothing) rather than panicking.
    pub fn defaults(screens: &[Source]) -> Keymap {
        Keymap::from_files(screens, None).unwrap_or(Keymap {
            modes: BTreeMap::new(),
        })
    }

    /// The defaults (with the keys of `screens`) with the user's `keys.yaml` from `config_dir`
    /// on top, and the warning to show when that file could not be used.
    pub fn load(config_dir: Option<&Path>, screens: &[Source]) -> (Keymap, Option<String>) {
        let Some(path) = config_dir.map(|d| d.join("keys.yaml")) else {
            return (Keymap::defaults(screens), None);
        };
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Keymap::defaults(screens), None);
            }
            Err(e) => {
                let msg = format!("{}: {e} (using the default keys instead)", path.display());
                return (Keymap::defaults(screens), Some(msg));
            }
        };
        let name = path.display().to_string();
        match Keymap::from_files(screens, Some((&name, &source))) {
            Ok(k) => (k, None),
            Err(e) => (Keymap::defaults(screens), Some(e.to_string())),
        }
    }

    /// keymap.yaml, then each screen's keys, which may add modes and actions but not rebind
    /// one already there; then the user's file, which may only rebind actions that exist.
    fn from_files(screens: &[Source], user: Option<Source>) -> Result<Keymap, KeymapError> {
        let mut files = vec![("keymap.yaml", DEFAULT)];
        files.extend_from_slice(screens);
        let defaults = files.len();
        files.extend(user);
        let mut blocks: BTreeMap<String, Block> = BTreeMap::new();
        for (i, (name, source)) in files.iter().enumerate() {
            let by_user = i >= defaults;
            let err = |needle: &str, message: String| {
                let (line, column) = locate(source, needle);
                KeymapError {
                    file: name.to_string(),
                    line,
                    column,
                    message,
                }
            };
            for (mode, block) in parse_file(name, source)? {
                let Some(base) = blocks.get_mut(&mode) else {
                    if !by_user {
                        blocks.insert(mode, block);
                        continue;
                    }
                    let known: Vec<&str> = blocks.keys().map(String::as_str).collect();
                    return Err(err(
                        &mode,
                        format!("no mode `{mode}` (modes: {})", known.join(", ")),
                    ));
                };
                if !block.inherit.is_empty() {
                    let why = if by_user {
                        "a user file rebinds keys only".to_string()
                    } else {
                        format!("`{mode}` is already defined: add actions to it, not inheritance")
                    };
                    return Err(err("inherit", why));
                }
                for (action, keys) in block.keys {
                    let known = base.keys.contains_key(&action);
                    if by_user && !known {
                        let known: Vec<&str> = base.keys.keys().map(String::as_str).collect();
                        return Err(err(
                            &action,
                            format!(
                                "`{mode}` has no action `{action}` (actions: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                    if !by_user && known {
                        return Err(err(
                            &action,
                            format!("`{mode}` already binds `{action}` in an earlier file"),
                        ));
                    }
                    base.keys.insert(action, keys);
                }
            }
        }
        let source_of = |needle: &str| {
            files
                .iter()
                .rev()
                .find(|(_, s)| s.contains(needle))
                .map_or(("keymap.yaml", DEFAULT), |(n, s)| (*n, *s))
        };
        let mut modes = BTreeMap::new();
        for (mode, block) in &blocks {
            let mut actions: BTreeMap<String, Vec<Chord>> = BTreeMap::new();
            for parent in &block.inherit {
                let Some(p) = blocks.get(parent) else {
                    let (file, src) = source_of(parent);
                    let (line, column) = locate(src, parent);
                    return Err(KeymapError {
                        file: file.into(),
                        line,
                        column,
                        message: format!("`{mode}` inherits `{parent}`, which is not a block"),
                    });
                };
                for (action, keys) in &p.keys {
                    actions.insert(action.clone(), parse_keys(action, keys, &source_of)?);
                }
            }
            for (action, keys) in &block.keys {
                actions.insert(action.clone(), parse_keys(action, keys, &source_of)?);
            }
            let mut seen: HashMap<Chord, &str> = HashMap::new();
            for (action, keys) in &actions {
                for k in keys {
                    if let Some(other) = seen.insert(*k, action) {
                        let (file, src) = source_of(action);
                        let (line, column) = locate(src, action);
                        return Err(KeymapError {
                            file: file.into(),
                            line,
                            column,
                            message: format!(
                                "in `{mode}`, {} is bound to both `{other}` and `{action}`",
                                k.label()
                            ),
                        });
                    }
                }
            }
            modes.insert(mode.clone(), actions);
        }
        Ok(Keymap { modes })
    }

    /// The action bound to `ev` in `mode`, if any.
    pub fn lookup(&self, mode: &str, ev: &KeyEvent) -> Option<&str> {
        self.modes
            .get(mode)?
            .iter()
            .find(|(_, keys)| keys.iter().any(|k| k.matches(ev)))
            .map(|(a, _)| a.as_str())
    }

    /// The keys of `action` in `mode` (empty when unbound).
    pub fn keys(&self, mode: &str, action: &str) -> &[Chord] {
        self.modes
            .get(mode)
            .and_then(|m| m.get(action))
            .map_or(&[], Vec::as_slice)
    }

    /// All keys of an action, for the help: "j/↓".
    pub fn label(&self, mode: &str, action: &str) -> String {
        self.keys(mode, action)
            .iter()
            .map(Chord::label)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The first key of an action, for the hint bar and for prose that must name a key.
    pub fn first(&self, mode: &str, action: &str) -> String {
        self.keys(mode, action)
            .first()
            .map(Chord::label)
            .unwrap_or_default()
    }

    /// The actions bound in `mode`.
    pub fn actions(&self, mode: &str) -> impl Iterator<Item = &str> {
        self.modes
            .get(mode)
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }

    /// Every mode with its actions and keys, as `lorabench keys` prints them.
    pub fn rows(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (mode, actions) in &self.modes {
            for action in actions.keys() {
                out.push((mode.clone(), action.clone(), self.label(mode, action)));
            }
        }
        out
    }
}

fn parse_keys<'a>(
    action: &str,
    text: &str,
    source_of: &impl Fn(&str) -> (&'a str, &'a str),
) -> Result<Vec<Chord>, KeymapError> {
    text.split_whitespace()
        .map(|k| {
            Chord::parse(k).ok_or_else(|| {
                let (file, src) = source_of(text);
                let (line, column) = locate(src, text);
                KeymapError {
                    file: file.into(),
                    line,
                    column,
                    message: format!(
                        "`{action}`: unknown key `{k}` (a character, Ctrl-x, or one of {})",
                        NAMES.iter().map(|n| n.0).collect::<Vec<_>>().join(", ")
                    ),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::screens::KEYS as SCREENS;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn defaults_parse_and_lists_inherit_navigation() {
        let k = Keymap::from_files(SCREENS, None).unwrap();
        let none = KeyModifiers::NONE;
        for mode in ["browse", "lint", "stats", "lora"] {
            assert_eq!(
                k.lookup(mode, &press(KeyCode::Char('j'), none)),
                Some("down")
            );
            assert_eq!(k.lookup(mode, &press(KeyCode::End, none)), Some("bottom"));
        }
        // A mode's own keys win over the inherited ones.
        assert_eq!(k.label("browse", "page-down"), "PgDn/Ctrl-d");
        assert_eq!(k.label("lint", "page-down"), "PgDn");
    }

    #[test]
    fn a_screen_adds_modes_and_actions_but_rebinds_nothing() {
        let file = "src/tui/screens/extra.rs";
        let extra = "browse:\n  keys:\n    open-extra: P\nextra:\n  inherit: [list]\n  keys:\n    close: Esc\n";
        let k = Keymap::from_files(&[(file, extra)], None).unwrap();
        assert_eq!(k.label("browse", "open-extra"), "P");
        assert_eq!(k.label("browse", "quit"), "q/Ctrl-c", "keymap.yaml kept");
        assert_eq!(k.label("extra", "down"), "j/↓", "inherits like any mode");
        let cases = [
            (
                "browse:\n  keys:\n    quit: Q\n",
                Some(3),
                "already binds `quit`",
            ),
            ("browse:\n  inherit: [list]\n", Some(2), "already defined"),
            (
                "browse:\n  keys:\n    open-extra: q\n",
                None,
                "bound to both",
            ),
        ];
        for (src, line, text) in cases {
            let e = Keymap::from_files(&[(file, src)], None).unwrap_err();
            assert!(e.to_string().contains(text), "{e}");
            if let Some(line) = line {
                assert_eq!((e.file.as_str(), e.line), (file, line), "{e}");
            }
        }
    }

    #[test]
    fn shifted_letters_and_ctrl_are_distinct() {
        let k = Keymap::defaults(SCREENS);
        let shift = KeyModifiers::SHIFT;
        assert_eq!(
            k.lookup("browse", &press(KeyCode::Char('G'), shift)),
            Some("bottom")
        );
        let ctrl_r = press(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(k.lookup("browse", &ctrl_r), Some("redo"));
        let ctrl_r_upper = press(KeyCode::Char('R'), KeyModifiers::CONTROL | shift);
        assert_eq!(k.lookup("browse", &ctrl_r_upper), Some("redo"));
        assert_eq!(
            k.lookup("browse", &press(KeyCode::Char('r'), KeyModifiers::NONE)),
            None
        );
        assert_eq!(k.first("browse", "select"), "Space");
        assert_eq!(k.label("help", "close"), "Esc/?/q");
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let user = "lint:\n  keys:\n    fix: F\nlist:\n  keys:\n    down: w Down\n";
        let k = Keymap::from_files(SCREENS, Some(("keys.yaml", user))).unwrap();
        assert_eq!(k.label("lint", "fix"), "F");
        assert_eq!(k.label("lint", "severity"), "s", "the rest kept");
        // A shared block changes every mode that inherits it.
        assert_eq!(k.label("stats", "down"), "w/↓");
        assert_eq!(
            k.label("tags", "down"),
            "j/↓",
            "tags does not inherit the list block"
        );
    }

    #[test]
    fn bad_user_files_name_file_line_and_column() {
        let cases = [
            ("lint:\n  keys:\n    fixx: F\n", 3, "no action `fixx`"),
            (
                "lint:\n  keys:\n    fix: Hyper-f\n",
                3,
                "unknown key `Hyper-f`",
            ),
            ("lint:\n  keys:\n    fix: s\n", 0, "bound to both"),
            ("lint:\n  keys: [\n", 0, ""),
            ("nope:\n  keys: {}\n", 1, "no mode `nope`"),
        ];
        for (src, line, text) in cases {
            let e = Keymap::from_files(SCREENS, Some(("keys.yaml", src))).unwrap_err();
            assert!(e.to_string().contains(text), "{e}");
            if line > 0 {
                assert_eq!((e.file.as_str(), e.line), ("keys.yaml", line), "{e}");
                assert!(e.column > 0, "{e}");
            }
        }
        // The syntax error is located by the parser.
        let e = Keymap::from_files(SCREENS, Some(("keys.yaml", "lint:\n  keys: [\n"))).unwrap_err();
        assert!(e.line > 0, "{e}");
    }

    #[test]
    fn load_falls_back_to_the_defaults_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (k, w) = Keymap::load(Some(dir.path()), SCREENS);
        assert_eq!((k, w), (Keymap::defaults(SCREENS), None));
        std::fs::write(
            dir.path().join("keys.yaml"),
            "lint:\n  keys:\n    fix: ''\n    x: y\n",
        )
        .unwrap();
        let (k, w) = Keymap::load(Some(dir.path()), SCREENS);
        assert_eq!(k, Keymap::defaults(SCREENS));
        assert!(w.unwrap().contains("keys.yaml:4:"));
    }
}
