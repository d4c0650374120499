//! A run's sample images arranged for looking through them: grouped by the prompt they were
//! made from, each prompt's images by step. A [`Pick`] names the one looked at; with no file
//! named it follows the newest, so new samples show as they arrive.

use std::path::PathBuf;

use super::summary::Artifact;

/// One prompt's samples, oldest step first.
#[derive(Debug, PartialEq)]
pub struct Prompt<'a> {
    /// `None`: samples whose names carry no prompt (one group).
    pub key: Option<&'a str>,
    pub samples: Vec<&'a Artifact>,
}

/// Which sample is looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pick {
    /// Counted in [`Sheet::prompts`]' order.
    pub prompt: usize,
    /// `None` follows the prompt's newest sample.
    pub file: Option<PathBuf>,
}

/// The samples by prompt: numbered prompts by number, then named ones, then those with none.
#[derive(Debug)]
pub struct Sheet<'a> {
    pub prompts: Vec<Prompt<'a>>,
}

/// Where a prompt sorts: numbers as numbers (`"10"` after `"2"`).
fn order(key: Option<&str>) -> (u8, u64, &str) {
    match key {
        Some(k) => match k.parse::<u64>() {
            Ok(n) => (0, n, ""),
            Err(_) => (1, 0, k),
        },
        None => (2, 0, ""),
    }
}

impl<'a> Sheet<'a> {
    /// `samples` as `summary::detail` lists them (by step, then path).
    pub fn of(samples: &'a [Artifact]) -> Sheet<'a> {
        let mut prompts: Vec<Prompt<'a>> = Vec::new();
        for a in samples {
            let key = a.prompt.as_deref();
            match prompts.iter_mut().find(|p| p.key == key) {
                Some(p) => p.samples.push(a),
                None => prompts.push(Prompt {
                    key,
                    samples: vec![a],
                }),
            }
        }
        prompts.sort_by(|a, b| order(a.key).cmp(&order(b.key)));
        Sheet { prompts }
    }

    /// The prompt and the position in it of the sample `pick` names: its file, else (gone, or
    /// following) the prompt's newest.
    pub fn find(&self, pick: &Pick) -> Option<(usize, usize)> {
        let p = pick.prompt.min(self.prompts.len().checked_sub(1)?);
        let list = &self.prompts[p].samples;
        let newest = list.len().checked_sub(1)?;
        let at = pick
            .file
            .as_ref()
            .and_then(|f| list.iter().position(|a| &a.path == f));
        Some((p, at.unwrap_or(newest)))
    }

    /// The sample `pick` names.
    pub fn get(&self, pick: &Pick) -> Option<&'a Artifact> {
        let (p, i) = self.find(pick)?;
        Some(self.prompts[p].samples[i])
    }

    /// `by` samples newer (negative: older) in the same prompt; reaching the newest follows it
    /// again.
    pub fn step(&self, pick: &Pick, by: isize) -> Pick {
        let Some((p, i)) = self.find(pick) else {
            return pick.clone();
        };
        let list = &self.prompts[p].samples;
        let last = list.len() - 1;
        let to = i.saturating_add_signed(by).min(last);
        Pick {
            prompt: p,
            file: (to < last).then(|| list[to].path.clone()),
        }
    }

    /// The next (`by` 1) or previous (-1) prompt, wrapping, at the same step where it has one
    /// (else its nearest older); a pick following the newest keeps following.
    pub fn prompt(&self, pick: &Pick, by: isize) -> Pick {
        let Some((p, i)) = self.find(pick) else {
            return pick.clone();
        };
        let n = self.prompts.len() as isize;
        let to = (p as isize + by).rem_euclid(n) as usize;
        let Some(step) = pick.file.as_ref().map(|_| self.prompts[p].samples[i].step) else {
            return Pick {
                prompt: to,
                file: None,
            };
        };
        let list = &self.prompts[to].samples;
        let at = list.iter().rposition(|a| a.step <= step).unwrap_or(0);
        Pick {
            prompt: to,
            file: (at + 1 < list.len()).then(|| list[at].path.clone()),
        }
    }

    /// Up to `n` samples of the picked prompt ending at the picked one, oldest first: the same
    /// prompt side by side across steps.
    pub fn row(&self, pick: &Pick, n: usize) -> &[&'a Artifact] {
        let Some((p, i)) = self.find(pick) else {
            return &[];
        };
        let list = &self.prompts[p].samples;
        &list[(i + 1).saturating_sub(n)..=i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(step: u64, prompt: Option<&str>) -> Artifact {
        let p = prompt.unwrap_or("x");
        Artifact {
            path: PathBuf::from(format!("/o/sample/s_{step:06}_{p}.png")),
            step: Some(step),
            epoch: None,
            prompt: prompt.map(str::to_string),
            size: 1,
        }
    }

    /// Steps 10, 20, 30 for prompts 0, 1 and 10; prompt 1 has no sample at 20.
    fn run() -> Vec<Artifact> {
        let mut v = Vec::new();
        for step in [10, 20, 30] {
            for p in ["0", "1", "10"] {
                if !(p == "1" && step == 20) {
                    v.push(sample(step, Some(p)));
                }
            }
        }
        v
    }

    fn step_of(sheet: &Sheet, pick: &Pick) -> (Option<&'static str>, u64) {
        let a = sheet.get(pick).unwrap();
        let key = ["0", "1", "10"]
            .into_iter()
            .find(|k| Some(*k) == a.prompt.as_deref());
        (key, a.step.unwrap())
    }

    #[test]
    fn prompts_sort_by_number_then_name() {
        let mut v = run();
        v.push(sample(5, Some("validation")));
        v.push(sample(5, None));
        let sheet = Sheet::of(&v);
        let keys: Vec<_> = sheet.prompts.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [Some("0"), Some("1"), Some("10"), Some("validation"), None]
        );
        let steps: Vec<_> = sheet.prompts[1].samples.iter().map(|a| a.step).collect();
        assert_eq!(steps, [Some(10), Some(30)]);
    }

    #[test]
    fn a_new_pick_follows_the_newest_and_steps_move_within_the_prompt() {
        let v = run();
        let sheet = Sheet::of(&v);
        let pick = Pick::default();
        assert_eq!(step_of(&sheet, &pick), (Some("0"), 30));
        let older = sheet.step(&pick, -1);
        assert_eq!(step_of(&sheet, &older), (Some("0"), 20));
        let oldest = sheet.step(&older, -5);
        assert_eq!(step_of(&sheet, &oldest), (Some("0"), 10));
        // Back at the newest: following again (the file is no longer named).
        let back = sheet.step(&oldest, 9);
        assert_eq!(back, Pick::default());
        // A newer sample arriving is what a following pick shows.
        let mut grown = run();
        grown.push(sample(40, Some("0")));
        assert_eq!(step_of(&Sheet::of(&grown), &back), (Some("0"), 40));
        // One named stays where it is.
        assert_eq!(step_of(&Sheet::of(&grown), &older), (Some("0"), 20));
    }

    #[test]
    fn another_prompt_keeps_the_step_or_the_nearest_older() {
        let v = run();
        let sheet = Sheet::of(&v);
        let at20 = sheet.step(&Pick::default(), -1);
        let p1 = sheet.prompt(&at20, 1);
        assert_eq!(
            step_of(&sheet, &p1),
            (Some("1"), 10),
            "prompt 1 has no step 20"
        );
        let p10 = sheet.prompt(&p1, 1);
        assert_eq!(step_of(&sheet, &p10), (Some("10"), 10));
        // It wraps, both ways.
        assert_eq!(sheet.prompt(&p10, 1).prompt, 0);
        assert_eq!(sheet.prompt(&at20, -1).prompt, 2);
        // Following the newest keeps following in the other prompt.
        assert_eq!(
            sheet.prompt(&Pick::default(), 1),
            Pick {
                prompt: 1,
                file: None
            }
        );
    }

    #[test]
    fn the_row_ends_at_the_pick() {
        let v = run();
        let sheet = Sheet::of(&v);
        let steps = |r: &[&Artifact]| r.iter().map(|a| a.step.unwrap()).collect::<Vec<_>>();
        assert_eq!(steps(sheet.row(&Pick::default(), 4)), [10, 20, 30]);
        assert_eq!(steps(sheet.row(&Pick::default(), 2)), [20, 30]);
        let at20 = sheet.step(&Pick::default(), -1);
        assert_eq!(steps(sheet.row(&at20, 4)), [10, 20]);
    }

    #[test]
    fn no_samples_and_a_vanished_file() {
        let sheet = Sheet::of(&[]);
        assert!(sheet.get(&Pick::default()).is_none());
        assert!(sheet.row(&Pick::default(), 3).is_empty());
        assert_eq!(sheet.step(&Pick::default(), 1), Pick::default());
        let v = run();
        let sheet = Sheet::of(&v);
        let gone = Pick {
            prompt: 7,
            file: Some(PathBuf::from("/o/sample/deleted.png")),
        };
        assert_eq!(step_of(&sheet, &gone), (Some("10"), 30));
    }
}
