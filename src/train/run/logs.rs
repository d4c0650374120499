//! Reading `train.log` for people: the meaningful last lines of a failed run, the log as a
//! terminal would have shown it (each `\r` frame overwriting the one before), and following.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// How much of the end of a log is looked at for its last lines.
const TAIL: u64 = 64 * 1024;

/// The end of a file, at most `max` bytes.
pub fn tail_bytes(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // Parameters, then one final letter.
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() || d == '~' {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// A tqdm frame (`12%|█▎   | 3/25 [00:01<00:07, …]`, or the bar-less `3/25 [00:01<…]`) at
/// the start of `line`: what follows it, which is where output printed without a newline
/// lands (a traceback straight after the last frame). `None` when the line is no frame.
fn after_frame(line: &str) -> Option<&str> {
    let (head, rest) = line.split_once(" [")?;
    let counts = head.rsplit(' ').next()?.split_once('/')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !(digits(counts.0) && digits(counts.1) && rest.contains('<')) {
        return None;
    }
    Some(rest.split_once(']').map_or("", |(_, after)| after))
}

/// The last `n` lines of the log that are not progress frames (the traceback, the error):
/// split on `\r` and `\n`, escapes stripped.
pub fn meaningful_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = tail_bytes(path, TAIL) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text
        .split(['\r', '\n'])
        .map(|l| {
            let l = strip_ansi(l);
            after_frame(&l).unwrap_or(&l).trim_end().to_string()
        })
        .filter(|l| !l.trim().is_empty())
        .collect();
    let keep = lines.len().saturating_sub(n);
    lines.drain(..keep);
    lines
}

/// The log as a terminal shows it: of the `\r`-separated frames on a line, only the last.
pub fn cooked(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len().min(1 << 20));
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let (body, nl) = match line.strip_suffix(b"\n") {
            Some(b) => (b, true),
            None => (line, false),
        };
        // `\r` at the very end only returns the cursor; the frame before it is what shows.
        let trimmed = body.strip_suffix(b"\r").unwrap_or(body);
        let last = trimmed.rsplit(|b| *b == b'\r').next().unwrap_or(trimmed);
        out.extend_from_slice(last);
        if nl {
            out.push(b'\n');
        }
    }
    out
}

/// Writes the log (cooked) to `out`, then, with `follow`, what it gains, as written (frames
/// included, so a terminal redraws the bar in place), until `still_running` says no.
pub fn copy_log(
    path: &Path,
    out: &mut impl Write,
    follow: bool,
    mut still_running: impl FnMut() -> bool,
) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    out.write_all(&cooked(&buf))?;
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut chunk)?;
        if n > 0 {
            out.write_all(&chunk[..n])?;
            out.flush()?;
            continue;
        }
        if !still_running() {
            // One last look: the trainer may have written its last words just before exiting.
            let mut rest = Vec::new();
            f.read_to_end(&mut rest)?;
            out.write_all(&rest)?;
            return out.flush();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_collapse_and_the_traceback_is_found() {
        let log = b"loading\n\rsteps:   0%|          | 0/6 [00:00<?, ?it/s]\rsteps:  17%|\xe2\x96\x8b   | 1/6 [00:01<00:05,  1.00s/it, avr_loss=0.9]\nTraceback (most recent call last):\n  File \"t.py\", line 3\n\x1b[31mValueError: boom\x1b[0m\n";
        let cooked = String::from_utf8(cooked(log)).unwrap();
        assert_eq!(cooked.lines().count(), 5);
        assert!(cooked.lines().nth(1).unwrap().starts_with("steps:  17%"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.log");
        std::fs::write(&p, log).unwrap();
        let tail = meaningful_tail(&p, 2);
        assert_eq!(tail, ["  File \"t.py\", line 3", "ValueError: boom"]);
        assert_eq!(after_frame("100/1000 [01:24<12:36,  1.19it/s]"), Some(""));
        assert_eq!(
            after_frame("s:  1%|▏ | 2/9 [00:01<00:02, 1.0it/s, loss=1]Traceback (most"),
            Some("Traceback (most")
        );
        assert_eq!(after_frame("saving checkpoint: out [x]"), None);
    }
}
