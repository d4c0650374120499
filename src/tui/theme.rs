//! Themes: YAML files mapping semantic roles to styles. Three are built in (embedded with
//! `include_str!`); a user file `$XDG_CONFIG_HOME/lorabench/themes/NAME.yaml` overrides only
//! the roles it names. A bad file is reported with file, line and column, and the defaults are
//! used. `NO_COLOR` strips every colour and keeps only text attributes.

use std::fmt;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The built-in themes: (name, YAML source).
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
];

/// Declares the theme roles once: the resolved [`Theme`] and the optional file form.
macro_rules! roles {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Resolved styles, one per semantic role. Views never pick raw colours.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Theme {
            /// The theme's name, shown in the status line.
            pub name: String,
            /// NO_COLOR stripped the colours (what colour alone would show is drawn another
            /// way, or said to be off).
            pub no_color: bool,
            $($(#[$doc])* pub $name: Style,)*
        }

        /// A theme file's `styles:` map; every role is optional so files can be partial.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Roles {
            $(#[serde(default)] $name: Option<StyleSpec>,)*
        }

        impl Theme {
            fn apply(&mut self, roles: &Roles) {
                $(if let Some(spec) = &roles.$name { spec.apply(&mut self.$name); })*
            }

            fn map_styles(&mut self, f: impl Fn(Style) -> Style) {
                $(self.$name = f(self.$name);)*
            }
        }
    };
}

roles! {
    /// Ordinary text and the background.
    base,
    /// Secondary text: counts, paths, placeholders.
    dim,
    /// Panel titles.
    title,
    /// Borders of panels without focus.
    border,
    /// Border of the focused panel.
    border_focus,
    /// The cursor row or thumbnail in the focused panel.
    cursor,
    /// The cursor row when its panel has no focus.
    cursor_unfocused,
    /// Items marked with space for a bulk operation.
    selected,
    /// Emphasis: counts, the active filter.
    accent,
    /// A tag chip in the caption pane.
    tag,
    /// The tag under the cursor in tag mode.
    tag_cursor,
    /// Unsaved-edit markers.
    dirty,
    /// Good news: saved, caption present.
    ok,
    /// Things to look at: missing captions, conflicts.
    warning,
    /// Failures.
    error,
    /// Excluded images.
    excluded,
    /// Key names in the hint bar and help.
    hint_key,
    /// Descriptions in the hint bar and help.
    hint_text,
    /// The status line.
    status,
    /// Pop-up dialogs (help, prompts, conflicts).
    popup,
}

/// One style in a theme file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<ColorSpec>,
    bg: Option<ColorSpec>,
    modifiers: Option<Vec<ModifierName>>,
}

impl StyleSpec {
    /// Named fields replace the base style's; unnamed ones are kept.
    fn apply(&self, style: &mut Style) {
        if let Some(c) = &self.fg {
            style.fg = Some(c.0);
        }
        if let Some(c) = &self.bg {
            style.bg = Some(c.0);
        }
        if let Some(mods) = &self.modifiers {
            style.add_modifier = mods.iter().fold(Modifier::empty(), |m, n| m | n.modifier());
            style.sub_modifier = Modifier::empty();
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ModifierName {
    Bold,
    Dim,
    Italic,
    Underlined,
    Reversed,
    CrossedOut,
}

impl ModifierName {
    fn modifier(self) -> Modifier {
        match self {
            ModifierName::Bold => Modifier::BOLD,
            ModifierName::Dim => Modifier::DIM,
            ModifierName::Italic => Modifier::ITALIC,
            ModifierName::Underlined => Modifier::UNDERLINED,
            ModifierName::Reversed => Modifier::REVERSED,
            ModifierName::CrossedOut => Modifier::CROSSED_OUT,
        }
    }
}

/// A colour: a name, `#rrggbb`, or a 0-255 palette index.
#[derive(Debug, Clone, Copy)]
struct ColorSpec(Color);

/// Parses a colour with ratatui's own parser (names in any spelling, `#rrggbb`, a palette
/// index); `default` is the terminal's own colour. `None` when it is none of these.
fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("default") {
        return Some(Color::Reset);
    }
    s.parse::<Color>().ok()
}

impl<'de> Deserialize<'de> for ColorSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ColorVisitor;
        impl Visitor<'_> for ColorVisitor {
            type Value = ColorSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a colour name, \"#rrggbb\" or a palette index 0-255")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ColorSpec, E> {
                parse_color(v)
                    .map(ColorSpec)
                    .ok_or_else(|| E::custom(format!("unknown colour {v:?}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ColorSpec, E> {
                u8::try_from(v)
                    .map(|i| ColorSpec(Color::Indexed(i)))
                    .map_err(|_| E::custom(format!("palette index {v} is over 255")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ColorSpec, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("palette index {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        deserializer.deserialize_any(ColorVisitor)
    }
}

/// A theme file: `inherits` (a built-in name; for user themes with a new name) and `styles`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    inherits: Option<String>,
    #[serde(default)]
    styles: Roles,
}

/// A theme file that could not be used; the message names the file, line and column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message} (using the built-in theme instead)")]
pub struct ThemeError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

fn parse_file(file: &str, source: &str) -> Result<ThemeFile, ThemeError> {
    crate::tui::config::parse(source).map_err(|e| ThemeError {
        file: file.to_string(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

impl Theme {
    /// The default theme. The built-in files are tested to parse, so a failure is a build bug;
    /// even then this returns unstyled roles rather than panicking.
    pub fn builtin_dark() -> Theme {
        Theme::builtin("dark").unwrap_or_else(|_| Theme {
            name: "dark".into(),
            ..Theme::default()
        })
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let (_, source) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError {
                file: format!("<built-in {name}>"),
                line: 0,
                column: 0,
                message: format!(
                    "no theme named {name:?}; built in: {}",
                    BUILTIN
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let file = parse_file(&format!("themes/{name}.yaml"), source)?;
        let mut theme = Theme {
            name: name.to_string(),
            ..Theme::default()
        };
        theme.apply(&file.styles);
        Ok(theme)
    }

    /// Resolves `name`: a user file in `config_dir/themes/` on top of the built-in of the same
    /// name (or the one it `inherits`, or dark). Problems come back as warnings to show; the
    /// theme returned is always usable. `no_color` strips colours (the NO_COLOR convention).
    pub fn load(name: &str, config_dir: Option<&Path>, no_color: bool) -> (Theme, Vec<String>) {
        let mut warnings = Vec::new();
        let user_path = config_dir.map(|d| d.join("themes").join(format!("{name}.yaml")));
        let user = user_path
            .as_ref()
            .and_then(|p| match std::fs::read_to_string(p) {
                Ok(text) => match parse_file(&p.display().to_string(), &text) {
                    Ok(file) => Some(file),
                    Err(err) => {
                        warnings.push(err.to_string());
                        None
                    }
                },
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => {
                    warnings.push(format!("{}: {err} (using the built-in theme)", p.display()));
                    None
                }
            });
        let base_name = user
            .as_ref()
            .and_then(|f| f.inherits.clone())
            .unwrap_or_else(|| name.to_string());
        let mut theme = match Theme::builtin(&base_name) {
            Ok(theme) => theme,
            Err(err) => {
                // A user theme with a new name and no `inherits` starts from dark.
                if user.is_none() || user.as_ref().is_some_and(|f| f.inherits.is_some()) {
                    warnings.push(err.message);
                }
                Theme::builtin_dark()
            }
        };
        if let Some(file) = &user {
            theme.apply(&file.styles);
            theme.name = name.to_string();
        }
        if no_color {
            theme.strip_colors();
        }
        (theme, warnings)
    }

    /// NO_COLOR: no foreground or background colours; the roles that only colour told apart
    /// get reverse video so the cursor and key names stay visible.
    pub fn strip_colors(&mut self) {
        self.map_styles(|s| Style {
            fg: None,
            bg: None,
            underline_color: None,
            ..s
        });
        for s in [
            &mut self.cursor,
            &mut self.tag_cursor,
            &mut self.hint_key,
            &mut self.status,
        ] {
            *s = s.add_modifier(Modifier::REVERSED);
        }
        self.selected = self
            .selected
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        self.dirty = self.dirty.add_modifier(Modifier::BOLD);
        self.no_color = true;
    }
}

/// NO_COLOR is honoured when set to anything non-empty (no-color.org).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_sets_every_role() {
        for (name, _) in BUILTIN {
            let theme = Theme::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            // The cursor must stand out from the base style in every built-in theme.
            assert_ne!(theme.cursor, theme.base, "{name}");
            assert_ne!(theme.cursor, Style::default(), "{name}");
        }
    }

    #[test]
    fn user_file_overrides_only_what_it_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/dark.yaml"),
            "styles:\n  cursor: { bg: \"#ff0000\" }\n",
        )
        .unwrap();
        let (theme, warnings) = Theme::load("dark", Some(dir.path()), false);
        assert!(warnings.is_empty(), "{warnings:?}");
        let dark = Theme::builtin("dark").unwrap();
        assert_eq!(theme.cursor.bg, Some(Color::Rgb(255, 0, 0)));
        assert_eq!(
            theme.cursor.fg, dark.cursor.fg,
            "fg was not named, so it is kept"
        );
        assert_eq!(theme.title, dark.title);
    }

    #[test]
    fn new_user_theme_inherits_a_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        std::fs::write(
            dir.path().join("themes/mine.yaml"),
            "inherits: light\nstyles:\n  title: { fg: 33, modifiers: [italic] }\n",
        )
        .unwrap();
        let (theme, warnings) = Theme::load("mine", Some(dir.path()), false);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(theme.name, "mine");
        assert_eq!(theme.title.fg, Some(Color::Indexed(33)));
        assert_eq!(theme.title.add_modifier, Modifier::ITALIC);
        assert_eq!(theme.cursor, Theme::builtin("light").unwrap().cursor);
    }

    #[test]
    fn bad_file_reports_line_and_column_then_uses_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("themes")).unwrap();
        let path = dir.path().join("themes/dark.yaml");
        std::fs::write(&path, "styles:\n  cursor:\n    fg: \"#12345\"\n").unwrap();
        let (theme, warnings) = Theme::load("dark", Some(dir.path()), false);
        assert_eq!(theme, Theme::builtin("dark").unwrap());
        assert_eq!(warnings.len(), 1);
        let w = &warnings[0];
        assert!(w.starts_with(&format!("{}:3:", path.display())), "{w}");
        assert!(w.contains("#12345"), "{w}");
    }

    #[test]
    fn unknown_role_is_an_error_not_ignored() {
        let err = parse_file("t.yaml", "styles:\n  cursr: { fg: red }\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("cursr"), "{}", err.message);
    }

    #[test]
    fn unknown_theme_name_warns_and_falls_back_to_dark() {
        let (theme, warnings) = Theme::load("nope", None, false);
        assert_eq!(theme.cursor, Theme::builtin("dark").unwrap().cursor);
        assert!(warnings[0].contains("nope"));
    }

    #[test]
    fn no_color_strips_every_colour() {
        let (theme, _) = Theme::load("dark", None, true);
        for style in [
            theme.base,
            theme.cursor,
            theme.tag,
            theme.error,
            theme.status,
        ] {
            assert_eq!((style.fg, style.bg), (None, None));
        }
        assert!(theme.cursor.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn colour_parsing() {
        assert_eq!(parse_color("#0a0B0c"), Some(Color::Rgb(10, 11, 12)));
        assert_eq!(parse_color("Light-Blue"), Some(Color::LightBlue));
        assert_eq!(parse_color("#zzzzzz"), None);
        assert_eq!(parse_color("mauve"), None);
    }
}
