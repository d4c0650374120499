//! Desktop notifications through the terminal: OSC 777 (`notify;title;body`: urxvt, foot,
//! Ghostty, WezTerm) or OSC 9 (iTerm2, kitty, WezTerm, Windows Terminal), whichever the
//! terminal is known for; a terminal that knows neither ignores the sequence. Inside tmux the
//! sequence is wrapped for passthrough (`\ePtmux;…\e\\`, every ESC doubled), which tmux 3.3+
//! forwards when `allow-passthrough` is on. This works over SSH, where nothing else reaches
//! the person's desktop.

/// Which sequence: the terminal names itself in `$TERM` (or, for iTerm2 and others, in
/// `$TERM_PROGRAM`, which SSH does not forward; OSC 9 is then the likelier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Osc {
    Nine,
    SevenSevenSeven,
}

impl Osc {
    pub fn for_term(term: &str) -> Osc {
        if term.starts_with("rxvt") || term.starts_with("foot") {
            Osc::SevenSevenSeven
        } else {
            Osc::Nine
        }
    }
}

/// Control characters (an escape in a run's name would end the sequence early) and, for
/// OSC 777, the `;` that separates its fields, replaced.
fn clean(s: &str, semicolons: bool) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || (semicolons && c == ';') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The bytes that ask for a notification with `title` and `body`.
pub fn sequence(osc: Osc, title: &str, body: &str, tmux: bool) -> Vec<u8> {
    let inner = match osc {
        Osc::SevenSevenSeven => format!(
            "\x1b]777;notify;{};{}\x1b\\",
            clean(title, true),
            clean(body, true)
        ),
        Osc::Nine => format!(
            "\x1b]9;{}: {}\x1b\\",
            clean(title, false),
            clean(body, false)
        ),
    };
    if !tmux {
        return inner.into_bytes();
    }
    format!("\x1bPtmux;{}\x1b\\", inner.replace('\x1b', "\x1b\x1b")).into_bytes()
}

/// The sequence for this process's terminal, from `$TERM` and `$TMUX`.
pub fn for_this_terminal(title: &str, body: &str) -> Vec<u8> {
    let term = std::env::var("TERM").unwrap_or_default();
    let tmux = std::env::var_os("TMUX").is_some_and(|v| !v.is_empty());
    // Inside tmux, $TERM names tmux; the outer terminal is unknown.
    let osc = if tmux {
        Osc::Nine
    } else {
        Osc::for_term(&term)
    };
    sequence(osc, title, body, tmux)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc_9_and_777_and_the_tmux_wrapping() {
        assert_eq!(
            sequence(Osc::Nine, "lorabench: run a succeeded", "done", false),
            b"\x1b]9;lorabench: run a succeeded: done\x1b\\"
        );
        assert_eq!(
            sequence(Osc::SevenSevenSeven, "t;1", "b\x1b]x", false),
            b"\x1b]777;notify;t 1;b ]x\x1b\\"
        );
        assert_eq!(
            sequence(Osc::Nine, "t", "b", true),
            b"\x1bPtmux;\x1b\x1b]9;t: b\x1b\x1b\\\x1b\\"
        );
        assert_eq!(Osc::for_term("rxvt-unicode-256color"), Osc::SevenSevenSeven);
        assert_eq!(Osc::for_term("foot"), Osc::SevenSevenSeven);
        assert_eq!(Osc::for_term("xterm-kitty"), Osc::Nine);
    }
}
