//! The error a run ended with, from the lines around the progress bar: the last line of a Python
//! traceback (the exception), a `CUDA out of memory` line wherever it appears (trainers.md §11:
//! the class differs by PyTorch version, the text does not). `accelerate launch` re-raises a
//! failed child as `subprocess.CalledProcessError: … returned non-zero exit status N`, which says
//! nothing the child's own traceback did not; it is reported only when nothing else was.

use super::tqdm::trim;

/// The longest message kept (an exception line can carry a whole tensor).
const MAX_MESSAGE: usize = 500;

/// Lines of other output tolerated between `Traceback …` and its exception line.
const MAX_STRAY: u8 = 8;

#[derive(Debug, Default)]
pub struct ErrorWatch {
    /// Inside a traceback: how many stray lines were seen.
    traceback: Option<u8>,
    /// What follows `Type: ` in the last message reported, to say one error once.
    last_core: String,
    reported: bool,
}

impl ErrorWatch {
    /// Looks at one line of output (escapes stripped); returns a message to report.
    pub fn line(&mut self, line: &[u8]) -> Option<String> {
        if line.starts_with(b"Traceback (most recent call last):") {
            self.traceback = Some(0);
            return None;
        }
        if let Some(stray) = self.traceback {
            if line.first().is_some_and(|c| c.is_ascii_whitespace())
                || line.starts_with(b"During handling")
                || line.starts_with(b"The above exception")
            {
                return None;
            }
            if exception_name(line) {
                self.traceback = None;
                return self.report(line);
            }
            self.traceback = (stray < MAX_STRAY).then_some(stray + 1);
        }
        if memchr::memmem::find(line, b"CUDA out of memory").is_some() {
            return self.report(trim(line));
        }
        None
    }

    /// Reports `message` unless it repeats the last one.
    pub fn report(&mut self, message: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(message);
        let text = cap(text.trim());
        if self.reported
            && text.starts_with("subprocess.CalledProcessError")
            && text.contains("returned non-zero exit status")
        {
            return None;
        }
        let core = text.split_once(": ").map_or(text.as_str(), |(_, c)| c);
        if self.reported && core == self.last_core {
            return None;
        }
        self.last_core = core.to_string();
        self.reported = true;
        Some(text)
    }
}

/// `Name` or `Name: …` where Name is a dotted Python identifier (`torch.OutOfMemoryError`,
/// `KeyboardInterrupt`).
fn exception_name(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
        .count();
    name_len > 0
        && line[0].is_ascii_alphabetic()
        && (name_len == line.len() || line[name_len] == b':')
}

fn cap(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Vec<String> {
        let mut w = ErrorWatch::default();
        lines.iter().filter_map(|l| w.line(l.as_bytes())).collect()
    }

    #[test]
    fn the_exception_line_of_a_traceback() {
        let got = run(&[
            "Traceback (most recent call last):",
            "  File \"train.py\", line 3, in <module>",
            "    main()",
            "ValueError: bad batch",
        ]);
        assert_eq!(got, ["ValueError: bad batch"]);
    }

    #[test]
    fn oom_once_and_accelerate_echo_dropped() {
        let got = run(&[
            "Traceback (most recent call last):",
            "  File \"x\", line 1",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.",
            "Traceback (most recent call last):",
            "  File \"accelerate\", line 1",
            "subprocess.CalledProcessError: Command '['python']' returned non-zero exit status 1.",
        ]);
        assert_eq!(got.len(), 1);
        assert!(got[0].contains("CUDA out of memory"));
        assert_eq!(run(&["RuntimeError: CUDA out of memory. Tried"]).len(), 1);
        let mut w = ErrorWatch::default();
        assert!(w.report(b"Error running job: boom").is_some());
        for l in ["Traceback (most recent call last):", "  x"] {
            assert_eq!(w.line(l.as_bytes()), None);
        }
        assert_eq!(w.line(b"RuntimeError: boom"), None, "the same error twice");
    }

    #[test]
    fn plain_lines_are_not_errors() {
        assert!(run(&["Error: not after a traceback", "loss=0.1"]).is_empty());
        let got = run(&[
            "Traceback (most recent call last):",
            "  x",
            "KeyboardInterrupt",
        ]);
        assert_eq!(got, ["KeyboardInterrupt"]);
    }
}
