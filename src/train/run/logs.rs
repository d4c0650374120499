//! Reading `train.log` for people: the meaningful last lines of a failed run, the log as a
//! terminal would have shown it (each `\r` frame overwriting the one before), and following.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use crate::train::progress::{self, lines, tqdm};

/// How much of the end of a log is looked at for its last lines.
const TAIL: u64 = 64 * 1024;

/// The end of a file, at most `max` bytes.
pub fn tail_bytes(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut buf = Vec::new();
    // Bounded even if the file grows meanwhile (or is a device that never ends).
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// The last `n` lines of the log that are not progress frames (the traceback, the error):
/// split on `\r` and `\n`, escapes stripped; JSON step reports left out and JSON events in
/// words (the built-in trainer's and jsonl scripts' output, [`progress::readable`]).
pub fn meaningful_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(bytes) = tail_bytes(path, TAIL) else {
        return Vec::new();
    };
    let mut clean = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for raw in bytes.split(|b| *b == b'\r' || *b == b'\n') {
        lines::strip_ansi(raw, &mut clean);
        // What follows a frame is output printed without a newline (a traceback).
        let rest = tqdm::parse(&clean).map_or(&clean[..], |f| &clean[f.end..]);
        let text = String::from_utf8_lossy(rest);
        let Some(text) = progress::readable(text.trim_end()) else {
            continue;
        };
        if !text.trim().is_empty() {
            lines.push(text.into_owned());
        }
    }
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
    }

    #[test]
    fn the_built_in_trainers_json_lines_read_as_words() {
        let log = concat!(
            "loading the tiny model\n",
            "{\"step\":1,\"total\":2,\"loss\":0.5,\"lr\":0.0001,\"epoch\":1}\n",
            "{\"kind\":\"checkpoint_saved\",\"path\":\"/o/t-step00000001.safetensors\",\"step\":1}\n",
            "{\"step\":2,\"total\":2,\"loss\":0.4,\"lr\":0.0001,\"epoch\":1}\n",
            "{\"kind\":\"error\",\"message\":\"loss is NaN at step 2\"}\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("train.log");
        std::fs::write(&p, log).unwrap();
        assert_eq!(
            meaningful_tail(&p, 10),
            [
                "loading the tiny model",
                "checkpoint saved: t-step00000001.safetensors (step 1)",
                "loss is NaN at step 2"
            ]
        );
    }
}
