//! A small TOML writer for the files sd-scripts reads (flat key/value tables and arrays of
//! tables): strings escaped per the TOML spec, floats always with a dot or exponent.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Value>),
    Table(Vec<(String, Value)>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}
impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(i64::from(n))
    }
}
impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl Value {
    /// A JSON value from `backend_options`; `None` for null (the key is left out).
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        Some(match v {
            serde_json::Value::Null => return None,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => {
                Value::Array(a.iter().filter_map(Value::from_json).collect())
            }
            serde_json::Value::Object(o) => Value::Table(
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), Value::from_json(v)?)))
                    .collect(),
            ),
        })
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Str(s) => quote(s, out),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => {
                let _ = write!(out, "{f:?}");
            }
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Value::Table(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    out.push_str(if i > 0 { ", " } else { " " });
                    key(k, out);
                    out.push_str(" = ");
                    v.write(out);
                }
                out.push_str(" }");
            }
        }
    }
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn key(k: &str, out: &mut String) {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        out.push_str(k);
    } else {
        quote(k, out);
    }
}

/// Key/value lines, in order.
pub type Entries = Vec<(String, Value)>;

/// Writes `entries` as `key = value` lines.
pub fn write_entries(entries: &Entries, out: &mut String) {
    for (k, v) in entries {
        key(k, out);
        out.push_str(" = ");
        v.write(out);
        out.push('\n');
    }
}

/// Sets `key` (replacing an earlier entry of the same name, keeping its place).
pub fn set(entries: &mut Entries, k: &str, v: impl Into<Value>) {
    let v = v.into();
    match entries.iter_mut().find(|(e, _)| e == k) {
        Some(slot) => slot.1 = v,
        None => entries.push((k.to_string(), v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_floats() {
        let mut out = String::new();
        write_entries(
            &vec![
                ("a".into(), Value::from("x \"q\" \\ \n\u{1}")),
                ("lr".into(), Value::Float(1e-4)),
                ("one".into(), Value::Float(1.0)),
                (
                    "odd key".into(),
                    Value::Array(vec![Value::Int(1), Value::Bool(true)]),
                ),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            "a = \"x \\\"q\\\" \\\\ \\n\\u0001\"\nlr = 0.0001\none = 1.0\n\"odd key\" = [1, true]\n"
        );
    }
}
