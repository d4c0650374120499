//! One tqdm frame, read from a line (trainers.md §2.2):
//! `<desc>: <pct>%|<bar>| <n>/<total> [<elapsed><<remaining>, <rate><postfix>]`, also without a
//! bar (`TQDM_NCOLS=0`: `<desc>: <pct>% <n>/<total> [...]`) and without a total
//! (`<desc>: <n><unit> [<elapsed>, <rate>]`). Not anchored at the end: a log line written without
//! a leading newline may follow the `]` ([`Frame::end`] says where it starts).
//! Works on bytes: the frame's own parts are ASCII, the bar's blocks are skipped.

#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    /// The description, without the `: ` (empty for a nameless bar).
    pub desc: &'a [u8],
    pub n: u64,
    pub total: Option<u64>,
    /// Steps per second (`s/it` inverted); `None` while tqdm shows `?`.
    pub rate: Option<f64>,
    /// The text after `rate, ` up to the `]`.
    pub postfix: Option<&'a [u8]>,
    /// Index just past the closing `]`.
    pub end: usize,
}

pub fn parse(line: &[u8]) -> Option<Frame<'_>> {
    memchr::memchr_iter(b'[', line).find_map(|b| at_bracket(line, b))
}

fn at_bracket(line: &[u8], b: usize) -> Option<Frame<'_>> {
    if b < 2 || line[b - 1] != b' ' {
        return None;
    }
    // The counter: `n/total` or `n<unit>`, just before ` [`.
    let counter_start = line[..b - 1]
        .iter()
        .rposition(|&c| c == b' ' || c == b'|')
        .map_or(0, |p| p + 1);
    let counter = &line[counter_start..b - 1];
    let digits = counter.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = parse_u64(&counter[..digits])?;
    let total = match counter.get(digits) {
        Some(b'/') => Some(parse_u64(&counter[digits + 1..])?),
        Some(c) if c.is_ascii_alphabetic() => None,
        _ => return None,
    };
    let (rate, postfix, end) = bracket(line, b + 1, total.is_some())?;
    let desc = left_of_counter(&line[..counter_start])?;
    Some(Frame {
        desc,
        n,
        total,
        rate,
        postfix,
        end,
    })
}

/// `elapsed<remaining, rate[, postfix]]` (no `<remaining` without a total).
/// Rate, postfix, and the index past the `]`.
type Bracket<'a> = (Option<f64>, Option<&'a [u8]>, usize);

fn bracket(line: &[u8], mut i: usize, with_total: bool) -> Option<Bracket<'_>> {
    let time_char = |c: u8| c.is_ascii_digit() || c == b':';
    let elapsed = line[i..].iter().take_while(|&&c| time_char(c)).count();
    if elapsed < 4 {
        return None;
    }
    i += elapsed;
    if with_total {
        if line.get(i) != Some(&b'<') {
            return None;
        }
        i += 1;
        i += line[i..]
            .iter()
            .take_while(|&&c| time_char(c) || c == b'?')
            .count();
    }
    if line.get(i..i + 2) != Some(b", ") {
        return None;
    }
    i += 2;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    let number = line[i..]
        .iter()
        .take_while(|&&c| c.is_ascii_digit() || c == b'.' || c == b'?')
        .count();
    let value = &line[i..i + number];
    i += number;
    let unit = line[i..]
        .iter()
        .take_while(|&&c| c.is_ascii_alphabetic() || c == b'/')
        .count();
    let unit_text = &line[i..i + unit];
    i += unit;
    let per_step = unit_text.starts_with(b"s/");
    if !per_step && !unit_text.ends_with(b"/s") {
        return None;
    }
    let rate = if value == b"?" {
        None
    } else {
        let v: f64 = std::str::from_utf8(value).ok()?.parse().ok()?;
        match per_step {
            true if v > 0.0 => Some(1.0 / v),
            true => None,
            false => Some(v),
        }
    };
    match line.get(i) {
        Some(b']') => Some((rate, None, i + 1)),
        Some(b',') => {
            let start = i + 1 + usize::from(line.get(i + 1) == Some(&b' '));
            let close = memchr::memchr(b']', &line[start..])?;
            Some((rate, Some(&line[start..start + close]), start + close + 1))
        }
        _ => None,
    }
}

/// What is left of the counter: `desc: pct%|bar| `, `desc: pct% `, `desc: ` or nothing.
fn left_of_counter(left: &[u8]) -> Option<&[u8]> {
    let mut l = trim_end(left);
    if let Some(rest) = l.strip_suffix(b"|") {
        let open = memchr::memrchr(b'|', rest)?;
        l = percent(&rest[..open])?;
    } else if l.ends_with(b"%") {
        l = percent(l)?;
    }
    let l = trim_end(l);
    if l.is_empty() {
        return Some(l);
    }
    Some(trim(l.strip_suffix(b":")?))
}

/// Strips `NNN%` off the end.
fn percent(l: &[u8]) -> Option<&[u8]> {
    let l = l.strip_suffix(b"%")?;
    let digits = l.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    Some(&l[..l.len() - digits])
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_whitespace())
        .count();
    &s[..s.len() - n]
}

pub fn trim(s: &[u8]) -> &[u8] {
    let s = trim_end(s);
    let n = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &s[n..]
}

/// `key=value` pairs of a `set_postfix` postfix, joined with `, ` (keys may hold spaces).
pub fn postfix_pairs(postfix: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    postfix.split(|&c| c == b',').filter_map(|pair| {
        let eq = memchr::memchr(b'=', pair)?;
        Some((trim(&pair[..eq]), trim(&pair[eq + 1..])))
    })
}

/// A number as tqdm shows one (`0.123`, `5e-5`, `nan`, `inf`).
pub fn number(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kohya_frame_with_a_log_line_glued_after() {
        let line =
            "steps:  17%|█▋        | 1/6 [00:02<00:10,  2.02s/it, avr_loss=0.946]2026-12-01 INFO x";
        let f = parse(line.as_bytes()).unwrap();
        assert_eq!(f.desc, b"steps");
        assert_eq!((f.n, f.total), (1, Some(6)));
        assert!((f.rate.unwrap() - 1.0 / 2.02).abs() < 1e-12);
        assert_eq!(f.postfix, Some(&b"avr_loss=0.946"[..]));
        assert_eq!(&line.as_bytes()[f.end..], b"2026-12-01 INFO x");
    }

    #[test]
    fn forms_without_bar_desc_rate_or_total() {
        let f = parse(b"steps:  10% 100/1000 [01:24<12:36,  1.19it/s, avr_loss=0.123]").unwrap();
        assert_eq!((f.desc, f.n, f.rate), (&b"steps"[..], 100, Some(1.19)));
        let f = parse("  0%|          | 0/8 [00:00<?, ?it/s]".as_bytes()).unwrap();
        assert_eq!((f.desc, f.n, f.total, f.rate), (&b""[..], 0, Some(8), None));
        let f = parse(b"train: 5it [00:01,  4.50it/s, loss=0.5]").unwrap();
        assert_eq!((f.desc, f.n, f.total), (&b"train"[..], 5, None));
        let f = parse(b"Epoch 1/10, Steps:  10%|#         | 1000/10000 [20:00<3:00:00,  1.20s/it, lr=0.0001, step_loss=0.123]").unwrap();
        assert_eq!(f.desc, b"Epoch 1/10, Steps");
        let pairs: Vec<_> = postfix_pairs(f.postfix.unwrap()).collect();
        assert_eq!(
            pairs,
            [
                (&b"lr"[..], &b"0.0001"[..]),
                (&b"step_loss"[..], &b"0.123"[..])
            ]
        );
    }

    #[test]
    fn log_lines_are_not_frames() {
        for line in [
            "[RANK 0] 2026-12-01 18:40:00 [INFO] Saving current state to out/checkpoint-3",
            "epoch 1/2",
            "  num epochs / epoch数: 2",
            "load train state from x: {'current_epoch': 2, 'current_step': 1500}",
            "a [1/2 [00:00<?, ?]",
            "steps: 1/2 [00:00<00:01, fast]",
        ] {
            assert_eq!(parse(line.as_bytes()), None, "{line}");
        }
    }
}
