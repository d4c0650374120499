//! The monitor's machine panel: per GPU its VRAM and utilisation (with the last minutes as
//! sparklines), temperature and power; the CPUs, the memory and the free disk under the run's
//! output folder, flagged when it runs low. One thread samples once a second; the history
//! lives here, so the sparklines survive a GPU that vanishes for a while (a driver reset).

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::monitor::gpu::{self, Report};
use crate::monitor::host::{Host, HostSampler};
use crate::tui::job::Reporter;
use crate::tui::msg::Msg;
use crate::tui::theme::Theme;
use crate::tui::widgets::bars::spark;
use crate::tui::widgets::panel::{human_size, panel};

/// Samples kept per GPU: five minutes at one a second.
pub const HISTORY: usize = 300;

/// What the sampler sends once a second.
#[derive(Debug, Clone)]
pub struct Machine {
    pub gpus: Report,
    pub host: Host,
}

/// A GPU's last samples, as fractions of the whole; `None` where it was not answered.
#[derive(Debug, Default)]
struct Trace {
    vram: VecDeque<Option<f64>>,
    util: VecDeque<Option<f64>>,
}

impl Trace {
    fn push(&mut self, vram: Option<f64>, util: Option<f64>) {
        for (q, v) in [(&mut self.vram, vram), (&mut self.util, util)] {
            q.push_back(v);
            while q.len() > HISTORY {
                q.pop_front();
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct MachinePanel {
    latest: Option<Machine>,
    /// Why the sampler stopped, when it did.
    failed: Option<String>,
    history: BTreeMap<u32, Trace>,
    /// Every GPU seen, by index: one that stops answering (a driver reset) is named as lost.
    names: BTreeMap<u32, String>,
}

impl MachinePanel {
    pub fn push(&mut self, m: Machine) {
        for g in &m.gpus.gpus {
            let vram = match (g.memory_used, g.memory_total) {
                (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64),
                _ => None,
            };
            let util = g.utilization.map(|u| f64::from(u) / 100.0);
            self.history.entry(g.index).or_default().push(vram, util);
            self.names.insert(g.index, g.name.clone());
        }
        // A GPU that did not answer this time leaves a gap, not a stale line.
        for (index, trace) in &mut self.history {
            if !m.gpus.gpus.iter().any(|g| g.index == *index) {
                trace.push(None, None);
            }
        }
        self.latest = Some(m);
    }

    pub fn failed(&mut self, why: String) {
        self.failed = Some(why);
    }

    /// The newest sample, if one came.
    pub fn latest(&self) -> Option<&Machine> {
        self.latest.as_ref()
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, t: &Theme) {
        let block = panel(Line::from(" Machine "), false, t);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let host = self.latest.as_ref().map(|m| host_lines(&m.host, t));
        let host_rows = host.as_ref().map_or(0, |h| h.len() as u16);
        let [gpus, bottom] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(host_rows)]).areas(inner);
        let width = usize::from(inner.width);
        let mut lines = Vec::new();
        if let Some(why) = &self.failed {
            lines.push(Line::styled(why.clone(), t.error));
        }
        match &self.latest {
            None => lines.push(Line::styled("sampling the GPUs…", t.dim)),
            Some(m) => {
                for g in &m.gpus.gpus {
                    lines.extend(self.gpu_lines(g, width, t));
                }
                let lost: Vec<String> = self
                    .names
                    .iter()
                    .filter(|(i, _)| !m.gpus.gpus.iter().any(|g| g.index == **i))
                    .map(|(i, name)| format!("gpu{i} {name} lost"))
                    .collect();
                if m.gpus.gpus.is_empty() && lost.is_empty() {
                    lines.push(Line::styled("no NVIDIA GPU found", t.dim));
                }
                let trouble = m.gpus.gpus.is_empty() || !lost.is_empty();
                lines.extend(lost.into_iter().map(|l| Line::styled(l, t.warning)));
                // Why, the source asked last first: nvidia-smi's own words are the ones
                // people know from a driver reset, and the panel may not have room for all.
                if trouble {
                    for n in m.gpus.notes.iter().rev() {
                        lines.push(Line::styled(n.clone(), t.dim));
                    }
                }
            }
        }
        // The reasons a source was not used are long (the loader's words): wrapped, not cut.
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), gpus);
        if let Some(h) = host {
            frame.render_widget(Paragraph::new(h), bottom);
        }
    }

    fn gpu_lines(&self, g: &gpu::Gpu, width: usize, t: &Theme) -> Vec<Line<'static>> {
        let head = format!("gpu{} {}", g.index, g.name);
        let facts: Vec<String> = [
            g.temperature_c.map(|c| format!("{c}°C")),
            g.power_w.map(|w| format!("{w:.0} W")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let facts = facts.join(" · ");
        // Temperature and power beside the name when they fit, on a row of their own if not.
        let mut lines = Vec::new();
        if facts.is_empty() {
            lines.push(Line::styled(head, t.title));
        } else if head.chars().count() + 3 + facts.chars().count() <= width {
            lines.push(Line::styled(format!("{head} · {facts}"), t.title));
        } else {
            lines.push(Line::styled(head, t.title));
            lines.push(Line::styled(format!(" {facts}"), t.base));
        }
        let trace = self.history.get(&g.index);
        // Label, figure, then the sparkline in what is left of the row.
        const LABEL: usize = 18;
        let room = width.saturating_sub(LABEL);
        let vram = match (g.memory_used, g.memory_total) {
            (Some(u), Some(t)) => format!("{}/{}", short_size(u), short_size(t)),
            (None, Some(t)) => format!("?/{}", short_size(t)),
            _ => "?".into(),
        };
        let util = g.utilization.map_or_else(|| "?".into(), |u| format!("{u}%"));
        let row = |label: &str, figure: String, q: Option<&VecDeque<Option<f64>>>| {
            Line::from(vec![
                Span::styled(format!(" {label:<4} "), t.dim),
                Span::styled(format!("{figure:<w$}", w = LABEL - 6), t.base),
                Span::styled(q.map(|q| spark(q, room)).unwrap_or_default(), t.accent),
            ])
        };
        lines.push(row("vram", vram, trace.map(|t| &t.vram)));
        lines.push(row("util", util, trace.map(|t| &t.util)));
        lines
    }
}

/// `12.0G`: the panel is narrow.
fn short_size(bytes: u64) -> String {
    human_size(bytes).replace(" GB", "G").replace(" MB", "M")
}

fn host_lines(h: &Host, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let cpu = h.cpu.map_or_else(|| "?".into(), |c| format!("{c:.0}%"));
    lines.push(Line::from(vec![
        Span::styled("cpu  ", t.dim),
        Span::styled(format!("{cpu} of {} cores", h.cores), t.base),
    ]));
    if let Some(m) = h.memory {
        let used = m.total.saturating_sub(m.available);
        lines.push(Line::from(vec![
            Span::styled("ram  ", t.dim),
            Span::styled(format!("{} / {}", short_size(used), short_size(m.total)), t.base),
        ]));
    }
    match h.disk {
        Some(d) if d.low() => lines.push(Line::from(vec![
            Span::styled("disk ", t.dim),
            Span::styled(format!("{} free: low", short_size(d.free)), t.warning),
        ])),
        Some(d) => lines.push(Line::from(vec![
            Span::styled("disk ", t.dim),
            Span::styled(format!("{} free", short_size(d.free)), t.base),
        ])),
        None => lines.push(Line::styled("disk free space unknown", t.dim)),
    }
    lines
}

/// The sampler thread: the GPUs and the machine once a second, with the free disk of
/// `folder` (the run's output folder), until cancelled.
pub fn sampler(folder: PathBuf) -> impl FnOnce(&Reporter<Msg>) -> Result<(), String> + Send {
    move |r| {
        let gpus = gpu::Sampler::open();
        let mut host = HostSampler::new();
        while !r.flag().load(Ordering::Relaxed) {
            r.item(Machine {
                gpus: gpus.sample(),
                host: host.sample(&folder),
            });
            for _ in 0..10 {
                std::thread::sleep(Duration::from_millis(100));
                if r.flag().load(Ordering::Relaxed) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::gpu::{Gpu, Source};

    fn machine(used: Option<u64>, util: Option<u32>) -> Machine {
        Machine {
            gpus: Report {
                source: Source::NvidiaSmi,
                driver: None,
                cuda: None,
                gpus: vec![Gpu {
                    index: 0,
                    name: "NVIDIA H200".into(),
                    uuid: None,
                    memory_total: Some(100 << 30),
                    memory_used: used,
                    utilization: util,
                    temperature_c: None,
                    power_w: None,
                }],
                notes: vec![],
            },
            host: Host {
                cpu: Some(12.0),
                cores: 2,
                memory: None,
                disk: None,
            },
        }
    }

    #[test]
    fn history_is_bounded_and_a_missing_gpu_leaves_a_gap() {
        let mut p = MachinePanel::default();
        for i in 0..HISTORY + 20 {
            p.push(machine(Some((i as u64 % 100) << 30), Some(50)));
        }
        let trace = &p.history[&0];
        assert_eq!(trace.vram.len(), HISTORY);
        assert_eq!(trace.util.back(), Some(&Some(0.5)));
        let mut gone = machine(None, None);
        gone.gpus.gpus.clear();
        p.push(gone);
        assert_eq!(p.history[&0].util.back(), Some(&None));
        assert_eq!(p.history[&0].util.len(), HISTORY);
    }
}
