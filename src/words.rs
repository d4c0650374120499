//! Counted words for messages, shared by the CLI and the core's printed plans.

/// `1 caption`, `2 captions`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
