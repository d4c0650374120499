//! Small printing helpers every command shares: plurals and terminal-safe user text.

pub use lorabench::words::plural;

/// User text (a path, a caption, a description) on one line, control characters escaped.
pub fn safe(text: &str) -> String {
    lorabench::safe_text::one_line(text).into_owned()
}

/// A block of user text (a diff) with its lines kept, other control characters escaped.
pub fn safe_block(text: &str) -> String {
    lorabench::safe_text::block(text).into_owned()
}
