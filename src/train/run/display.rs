//! A run summary in words, the same for `lorabench runs` and the workbench's Runs screen.

use super::status::State;
use super::summary::Summary;

/// `running`, `running (stalled)`, `failed, signal 9`.
pub fn state_label(s: &Summary) -> String {
    let mut label = s.state.to_string();
    if s.stalled {
        label.push_str(" (stalled)");
    }
    if s.state == State::Failed
        && let Some(sig) = s.signal
    {
        label.push_str(&format!(", signal {sig}"));
    }
    label
}

/// `120/1000`, `120`, `-/1000` or `-`.
pub fn steps(s: &Summary) -> String {
    match (s.step, s.total) {
        (Some(a), Some(t)) => format!("{a}/{t}"),
        (Some(a), None) => a.to_string(),
        (None, Some(t)) => format!("-/{t}"),
        (None, None) => "-".into(),
    }
}

/// `42s`, `3m07s`, `2h05m`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Why a run is where it is, when that is worth a look: for a failed run the error the
/// supervisor recorded (the exception, the OOM line, else the exit), else what is known, else
/// the log's last meaningful line; who stopped a stopped one; what a queued run waits for; the
/// note on an orphaned one.
pub fn reason(s: &Summary) -> Option<String> {
    let last_line = || {
        s.last_lines
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .cloned()
    };
    match s.state {
        State::Failed => s
            .message
            .clone()
            .or_else(|| s.note.clone())
            .or_else(last_line),
        State::Stopped => s.message.clone().or_else(|| s.note.clone()),
        State::Succeeded => None,
        State::Queued | State::Starting | State::Running => {
            s.note.clone().or_else(|| s.message.clone())
        }
    }
}

/// How long a finished run took, or `None` while it has not finished.
pub fn took(s: &Summary) -> Option<f64> {
    Some(s.finished_at? - s.started_at.unwrap_or(s.created_at))
}

/// `s` cut to at most `n` characters, the last of them `…` where it was cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
    c.push('…');
    c
}
