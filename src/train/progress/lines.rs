//! Cutting a trainer's byte stream into lines the way a terminal would see them: tqdm redraws
//! with `\r` and never writes `\n` while a bar is live, so both end a line. Chunks may end
//! anywhere (mid-line, mid-UTF-8); a line is only handed on once its end is seen, and no line
//! grows past [`MAX_LINE`] bytes whatever the input, so memory stays bounded.

/// The longest line kept; the rest of a longer one is dropped up to its end. tqdm frames are a
/// few hundred bytes, log lines rarely more than a few KiB.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Calls `line` with every line completed by `bytes` (separators not included; empty lines
    /// skipped). Whole lines inside `bytes` are passed without copying.
    pub fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(&[u8])) {
        let mut start = 0;
        for end in memchr::memchr2_iter(b'\r', b'\n', bytes) {
            if self.partial.is_empty() {
                let l = &bytes[start..end];
                if !l.is_empty() {
                    line(&l[..l.len().min(MAX_LINE)]);
                }
            } else {
                self.keep(&bytes[start..end]);
                line(&self.partial);
                self.partial.clear();
            }
            start = end + 1;
        }
        self.keep(&bytes[start..]);
    }

    /// Hands on the last line if the stream ended without a separator (a log cut mid-line).
    pub fn finish(&mut self, mut line: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            line(&self.partial);
            self.partial.clear();
        }
    }

    /// The line begun but not ended yet.
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = MAX_LINE - self.partial.len();
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// What [`strip_ansi`] found besides text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Escapes {
    /// A cursor-up (`ESC[A`): tqdm moves back up after drawing a bar below the first line, so the
    /// line held a nested bar (position ≥ 1).
    pub cursor_up: bool,
}

/// Copies `line` into `out` without its escape sequences (CSI `ESC[…X`, OSC `ESC]…BEL`/`ESC\`,
/// and two-byte `ESC X`).
pub fn strip_ansi(line: &[u8], out: &mut Vec<u8>) -> Escapes {
    out.clear();
    let mut esc = Escapes::default();
    let mut i = 0;
    while let Some(off) = memchr::memchr(0x1b, &line[i..]) {
        out.extend_from_slice(&line[i..i + off]);
        i += off + 1;
        match line.get(i) {
            Some(b'[') => {
                i += 1;
                while let Some(&b) = line.get(i) {
                    i += 1;
                    if (0x40..=0x7e).contains(&b) {
                        esc.cursor_up |= b == b'A';
                        break;
                    }
                }
            }
            Some(b']') => {
                i += 1;
                while let Some(&b) = line.get(i) {
                    i += 1;
                    if b == 0x07 {
                        break;
                    }
                    if b == 0x1b && line.get(i) == Some(&b'\\') {
                        i += 1;
                        break;
                    }
                }
            }
            Some(_) => i += 1,
            None => {}
        }
    }
    out.extend_from_slice(&line[i..]);
    esc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = Lines::default();
        let mut got = Vec::new();
        for c in chunks {
            lines.feed(c, |l| got.push(String::from_utf8_lossy(l).into_owned()));
        }
        lines.finish(|l| got.push(String::from_utf8_lossy(l).into_owned()));
        got
    }

    #[test]
    fn splits_on_cr_and_lf_across_chunks() {
        let got = collect(&[b"\ra 1", b"/2]\rb\n\nc", "é".as_bytes(), b"\r\n"]);
        assert_eq!(got, ["a 1/2]", "b", "cé"]);
    }

    #[test]
    fn a_cut_multibyte_character_is_joined_again() {
        let bytes = "x█y\n".as_bytes();
        let got = collect(&[&bytes[..2], &bytes[2..3], &bytes[3..]]);
        assert_eq!(got, ["x█y"]);
    }

    #[test]
    fn a_line_without_end_stays_bounded() {
        let mut lines = Lines::default();
        let big = vec![b'x'; 1000];
        for _ in 0..100 {
            lines.feed(&big, |_| panic!("no line ended"));
        }
        assert_eq!(lines.partial.len(), MAX_LINE);
        let mut n = 0;
        lines.feed(b"\nok\n", |l| {
            n += 1;
            assert!(l.len() <= MAX_LINE);
        });
        assert_eq!(n, 2);
        let long = vec![b'y'; MAX_LINE * 2];
        let mut lens = Vec::new();
        lines.feed(&[long.as_slice(), b"\n"].concat(), |l| lens.push(l.len()));
        assert_eq!(lens, [MAX_LINE]);
    }

    #[test]
    fn strips_csi_osc_and_notes_cursor_up() {
        let mut out = Vec::new();
        let esc = strip_ansi(b"\x1b[32m[INFO]\x1b[0m ok\x1b]0;title\x07!\x1b[A", &mut out);
        assert_eq!(out, b"[INFO] ok!");
        assert!(esc.cursor_up);
        let esc = strip_ansi(b"steps: 1/2]\x1b[0m", &mut out);
        assert_eq!(out, b"steps: 1/2]");
        assert!(!esc.cursor_up);
        strip_ansi(b"cut \x1b[", &mut out);
        assert_eq!(out, b"cut ");
    }
}
