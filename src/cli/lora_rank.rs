//! `lorabench lora resize | mix | extract`: arguments, a call into `lorabench::lora`, printing.
//! Wired into the `lora` subcommand by src/cli/lora.rs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use lorabench::lora::extract::{self, ExtractFileOptions, SvdMethod};
use lorabench::lora::lowrank::{RankRule, Retained};
use lorabench::lora::mix::{self, MixInput};
use lorabench::lora::progress::Task;
use lorabench::lora::resize;
use lorabench::lora::safetensors::Dtype;

use super::say::{plural, safe};

/// Reduce the rank of a LoRA (same strength); report the retained energy per module.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("target").required(true).multiple(true).args(["rank", "dynamic"]))]
pub struct ResizeArgs {
    /// The LoRA to resize.
    pub input: PathBuf,
    /// Where to write the resized LoRA.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The new rank; with --dynamic, the largest rank allowed.
    #[arg(long)]
    pub rank: Option<usize>,
    /// Choose each module's rank from its singular values, as kohya's resize_lora.py:
    /// sv_ratio=X, sv_fro=X or sv_cumulative=X.
    #[arg(long, value_name = "RULE=X")]
    pub dynamic: Option<RankRule>,
    /// Factor dtype of the output (default: the input's).
    #[arg(long, value_enum)]
    pub dtype: Option<SaveDtype>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Combine LoRAs into one: exact (ranks add up), or reduced to --rank.
#[derive(clap::Args)]
pub struct MixArgs {
    /// LoRA files, each optionally followed by `:weight` (default 1; negative subtracts).
    #[arg(required = true, value_name = "LORA[:W]")]
    pub inputs: Vec<String>,
    /// Where to write the mixed LoRA.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Reduce each module to this rank (best approximation); without it the mix is exact.
    #[arg(long)]
    pub rank: Option<usize>,
    /// Clamp the reduced factors to this quantile of their values (kohya's svd_merge uses 0.99).
    #[arg(long, requires = "rank")]
    pub clamp_quantile: Option<f32>,
    /// Factor dtype of the output (default: the first input's).
    #[arg(long, value_enum)]
    pub dtype: Option<SaveDtype>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Extract a LoRA from the difference of two checkpoints (tuned − base).
#[derive(clap::Args)]
pub struct ExtractArgs {
    /// The checkpoint the fine-tune started from.
    #[arg(long)]
    pub base: PathBuf,
    /// The fine-tuned checkpoint.
    #[arg(long)]
    pub tuned: PathBuf,
    /// Rank of linear (and 1×1 conv) modules.
    #[arg(long)]
    pub rank: usize,
    /// Also extract k×k convolutions (resnets) at this rank.
    #[arg(long)]
    pub conv_rank: Option<usize>,
    /// Where to write the extracted LoRA.
    #[arg(short, long)]
    pub output: PathBuf,
    /// SVD method: auto (exact up to 2048 on the smaller side, randomized above), exact, randomized.
    #[arg(long, value_enum, default_value = "auto")]
    pub svd: SvdArg,
    /// Clamp the factors to this quantile of their values (kohya's extract uses 0.99).
    #[arg(long)]
    pub clamp_quantile: Option<f32>,
    /// Skip weights whose largest absolute change is at most this.
    #[arg(long, default_value_t = 0.0)]
    pub min_diff: f32,
    /// Factor dtype of the output.
    #[arg(long, value_enum, default_value = "f16")]
    pub dtype: SaveDtype,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SaveDtype {
    F16,
    Bf16,
    F32,
}

impl From<SaveDtype> for Dtype {
    fn from(d: SaveDtype) -> Self {
        match d {
            SaveDtype::F16 => Dtype::F16,
            SaveDtype::Bf16 => Dtype::BF16,
            SaveDtype::F32 => Dtype::F32,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SvdArg {
    Auto,
    Exact,
    Randomized,
}

pub fn resize(args: ResizeArgs) -> anyhow::Result<ExitCode> {
    let (rule, cap) = match (args.dynamic, args.rank) {
        (Some(rule), cap) => (rule, cap),
        (None, Some(rank)) => (RankRule::Fixed(rank), None),
        (None, None) => anyhow::bail!("give --rank N or --dynamic RULE=X"),
    };
    let dtype = args.dtype.map(Dtype::from);
    let report = with_task("modules", |task| {
        resize::resize_file(&args.input, &args.output, rule, cap, dtype, task)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<72} {:>5} {:>5} {:>9} {:>9} {:>8} {:>8}",
        "module", "rank", "new", "alpha", "new α", "fro", "sum"
    );
    for m in &report.modules {
        let r = &m.resize;
        println!(
            "{:<72} {:>5} {:>5} {:>9} {:>9} {:>8} {:>8}",
            safe(&m.module),
            r.old_rank,
            r.new_rank,
            r.old_alpha,
            r.new_alpha,
            percent(r.retained.fro),
            r.retained.sum.map_or("-".into(), percent)
        );
    }
    let kept = match report.kept {
        0 => String::new(),
        n => format!(
            "; {} kept at {} rank (already at or below it)",
            plural(n, "module", "modules"),
            if n == 1 { "its" } else { "their" }
        ),
    };
    println!(
        "resized {} ({rule}{}) to rank {} at most{kept} -> {}; retained energy mean {}, lowest {}",
        plural(report.modules.len(), "module", "modules"),
        cap.filter(|_| args.dynamic.is_some())
            .map_or(String::new(), |c| format!(", at most rank {c}")),
        report.new_rank,
        report.output.display(),
        percent(report.mean_fro),
        percent(report.min_fro),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn mix(args: MixArgs) -> anyhow::Result<ExitCode> {
    let inputs = args
        .inputs
        .iter()
        .map(|s| parse_weighted(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let dtype = args.dtype.map(Dtype::from);
    let report = with_task("modules", |task| {
        mix::mix_files(
            &inputs,
            &args.output,
            args.rank,
            args.clamp_quantile,
            dtype,
            task,
        )
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.rank.is_some() {
        println!(
            "{:<72} {:>6} {:>5} {:>8}",
            "module", "inputs", "rank", "fro"
        );
        for m in &report.modules {
            println!(
                "{:<72} {:>6} {:>5} {:>8}",
                safe(&m.module),
                m.inputs,
                m.rank,
                m.retained
                    .as_ref()
                    .map_or("-".into(), |r: &Retained| percent(r.fro))
            );
        }
    }
    let how = match args.rank {
        Some(r) if report.reduced() => format!("reduced to rank {}", report.max_rank().min(r)),
        Some(r) => format!(
            "exact: the inputs stack to rank {} at most, not above --rank {r}",
            report.max_rank()
        ),
        None => format!("exact, ranks stacked to {} at most", report.max_rank()),
    };
    println!(
        "mixed {} into {} ({how}) -> {}",
        plural(inputs.len(), "file", "files"),
        plural(report.modules.len(), "module", "modules"),
        report.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn extract(args: ExtractArgs) -> anyhow::Result<ExitCode> {
    let opts = ExtractFileOptions {
        rank: args.rank,
        conv_rank: args.conv_rank,
        method: match args.svd {
            SvdArg::Auto => SvdMethod::Auto,
            SvdArg::Exact => SvdMethod::Exact,
            SvdArg::Randomized => SvdMethod::Randomized,
        },
        clamp_quantile: args.clamp_quantile,
        min_diff: args.min_diff,
        dtype: args.dtype.into(),
    };
    let report = with_task("tensors", |task| {
        extract::extract_file(&args.base, &args.tuned, &args.output, &opts, task)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<72} {:>5} {:>10} {:>8}", "module", "rank", "svd", "fro");
    for m in &report.modules {
        println!(
            "{:<72} {:>5} {:>10} {:>8}",
            safe(&m.module),
            m.rank,
            format!("{:?}", m.method).to_lowercase(),
            percent(m.retained.fro)
        );
    }
    println!(
        "extracted {} modules ({} weights unchanged, skipped) -> {}",
        report.modules.len(),
        report.unchanged,
        report.output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `file.safetensors[:weight]` for mix, and `[:strength]` for merge (the rules are
/// `lora::args::weighted_path`'s). Without one the weight is 1.
pub(crate) fn path_and_weight(arg: &str) -> anyhow::Result<(PathBuf, f32)> {
    Ok(lorabench::lora::args::weighted_path(arg)?)
}

fn parse_weighted(arg: &str) -> anyhow::Result<MixInput> {
    let (path, weight) = path_and_weight(arg)?;
    Ok(MixInput { path, weight })
}

/// Runs `work` with a progress bar on a terminal; Ctrl-C or SIGTERM cancel it cleanly (the
/// output is written atomically, so nothing is left under its name).
pub(super) fn with_task<T, E>(
    unit: &str,
    work: impl FnOnce(&mut Task<'_>) -> Result<T, E>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&cancel))
            .context("cannot install the signal handler")?;
    }
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        let template =
            format!("{{bar:40}} {{pos}}/{{len}} {unit}  {{elapsed_precise}}  {{wide_msg}}");
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut task = Task::new(&cancel, |step| {
        bar.set_length(step.total);
        bar.set_position(step.done);
        bar.set_message(step.item.to_string());
    });
    let result = work(&mut task);
    drop(task);
    bar.finish_and_clear();
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    enum Cli {
        Resize(ResizeArgs),
        Mix(MixArgs),
    }

    #[test]
    fn resize_needs_a_rank_or_a_rule_and_parses_the_rule() {
        assert!(Cli::try_parse_from(["x", "resize", "in", "-o", "out"]).is_err());
        let Ok(Cli::Resize(a)) = Cli::try_parse_from([
            "x",
            "resize",
            "in",
            "-o",
            "out",
            "--dynamic",
            "sv_fro=0.9",
            "--rank",
            "64",
        ]) else {
            panic!("valid arguments rejected");
        };
        assert_eq!(a.dynamic, Some(RankRule::SvFro(0.9)));
        assert_eq!(a.rank, Some(64));
        assert!(
            Cli::try_parse_from(["x", "resize", "in", "-o", "out", "--dynamic", "sv_fro=2"])
                .is_err()
        );
    }

    #[test]
    fn mix_weights_follow_the_last_colon() {
        let w = parse_weighted("a:b.safetensors:-0.5").unwrap();
        assert_eq!((w.path, w.weight), (PathBuf::from("a:b.safetensors"), -0.5));
        let w = parse_weighted("c:d.safetensors").unwrap();
        assert_eq!((w.path, w.weight), (PathBuf::from("c:d.safetensors"), 1.0));
        assert!(parse_weighted("e.safetensors:inf").is_err());
        assert!(
            Cli::try_parse_from(["x", "mix", "a", "-o", "o", "--clamp-quantile", "0.99"]).is_err()
        );
    }
}
