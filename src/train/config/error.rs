//! Config problems that name the file, line, column and key, with the nearest valid name for a
//! misspelt one.

use std::fmt;
use std::path::PathBuf;

/// Where a config layer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Preset(String),
    File(PathBuf),
    /// One `--set key=value` (or a flag such as `--dataset`), as given.
    Arg(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Preset(name) => write!(f, "preset {name}"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Arg(arg) => f.write_str(arg),
        }
    }
}

/// One thing wrong with the config.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The layer that set the key (None: the merged config as a whole).
    pub source: Option<Source>,
    /// 1-based, where known.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// Dotted key path, e.g. `network.rank`.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(source) = &self.source {
            write!(f, "{source}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(col) = self.column {
                    write!(f, ":{col}")?;
                }
            }
            f.write_str(": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
    #[error("unknown preset `{name}`{}; known presets: {}", hint(.nearest), .known.join(", "))]
    UnknownPreset {
        name: String,
        known: Vec<String>,
        nearest: Option<String>,
    },
    #[error("--set {arg}: expected KEY.PATH=VALUE on one line, e.g. --set network.rank=16")]
    BadSet { arg: String },
}

impl ConfigError {
    pub(crate) fn one(problem: Problem) -> ConfigError {
        ConfigError::Invalid(vec![problem])
    }
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    lines.join("\n")
}

pub(crate) fn hint(nearest: &Option<String>) -> String {
    nearest
        .as_ref()
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default()
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (levenshtein(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Every `key:` line of a block-style YAML text: (1-based line, 1-based column, dotted path).
fn key_lines(text: &str) -> Vec<(u64, u64, String)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for (n, l) in text.lines().enumerate() {
        let Some((indent, key)) = key_of(l) else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        out.push((n as u64 + 1, indent as u64 + 1, path.join(".")));
    }
    out
}

/// The dotted key path of the mapping key on `line` (1-based), or the nearest key above it.
pub(crate) fn key_path_at(text: &str, line: u64) -> Option<String> {
    key_lines(text)
        .into_iter()
        .rev()
        .find(|(l, _, _)| *l <= line)
        .map(|(_, _, p)| p)
}

/// (line, column), 1-based, where the dotted `key` is written.
pub(crate) fn locate(text: &str, key: &str) -> Option<(u64, u64)> {
    key_lines(text)
        .into_iter()
        .find(|(_, _, p)| p == key)
        .map(|(l, c, _)| (l, c))
}

/// (indentation, key) of a `key:` line; `- ` list markers count as indentation.
fn key_of(line: &str) -> Option<(usize, String)> {
    let body = line.trim_start();
    if body.starts_with('#') {
        return None;
    }
    let mut indent = line.len() - body.len();
    let mut body = body;
    while let Some(rest) = body.strip_prefix("- ") {
        indent += 2;
        body = rest;
    }
    let (key, _) = body.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && !key.contains(' ')).then(|| (indent, key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names() {
        let keys = ["rank", "alpha", "dropout", "conv_rank"];
        assert_eq!(nearest("rnak", keys).as_deref(), Some("rank"));
        assert_eq!(nearest("alpah", keys).as_deref(), Some("alpha"));
        assert_eq!(nearest("completely_else", keys), None);
    }

    const TEXT: &str =
        "name: x\nnetwork:\n  rank: 16\n  alpha: 8\ntrain:\n  lr: 1e-4\n  # c\n  steps: 10\n";

    #[test]
    fn key_paths_from_lines() {
        assert_eq!(key_path_at(TEXT, 3).as_deref(), Some("network.rank"));
        assert_eq!(key_path_at(TEXT, 8).as_deref(), Some("train.steps"));
        assert_eq!(key_path_at(TEXT, 1).as_deref(), Some("name"));
    }

    #[test]
    fn locate_keys() {
        assert_eq!(locate(TEXT, "network.alpha"), Some((4, 3)));
        assert_eq!(locate(TEXT, "train.steps"), Some((8, 3)));
        assert_eq!(locate(TEXT, "network.steps"), None);
        assert_eq!(locate(TEXT, "name"), Some((1, 1)));
    }
}
