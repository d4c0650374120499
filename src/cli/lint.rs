//! `lorabench lint`: check a dataset the way a trainer will read it; `--fix` applies the safe
//! fixes through the journal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use lorabench::dataset::buckets::Model;
use lorabench::dataset::lint::{
    self, Finding, LintEvent, LintOptions, LintReport, Severity, Trainer, fix,
};
use lorabench::dataset::similarity::DEFAULT_NEAR_DUPLICATE_DISTANCE;
use lorabench::dataset::{Dataset, Journal, ScanOptions, scan};
use serde_json::json;

use super::say::{plural, safe, safe_block};

/// What the dataset is checked against (shared with `lorabench stats`).
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The trainer that will read the dataset.
    #[arg(long, value_enum, default_value_t = Trainer::Kohya)]
    pub trainer: Trainer,
    /// The model family trained (sets the default resolution and the steps it accepts).
    #[arg(long, value_enum, default_value_t = Model::Sdxl)]
    pub model: Model,
    /// Training resolution (default: 512 for sd15, 1024 for sdxl and flux).
    #[arg(long)]
    pub resolution: Option<u32>,
    /// Training batch size (buckets smaller than this are reported).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Caption file extension.
    #[arg(long, default_value = ".txt")]
    pub caption_ext: String,
    /// sd-scripts --bucket_no_upscale.
    #[arg(long)]
    pub bucket_no_upscale: bool,
    /// sd-scripts --min_bucket_reso: the smallest bucket side [default: 256].
    #[arg(long, value_name = "PIXELS")]
    pub min_bucket_reso: Option<u32>,
    /// sd-scripts --max_bucket_reso: the largest bucket side [default: 1024].
    #[arg(long, value_name = "PIXELS")]
    pub max_bucket_reso: Option<u32>,
    /// sd-scripts --bucket_reso_steps: bucket sides are multiples of it [default: 64, for
    /// every model; SDXL and Flux accept multiples of 32, SD1.5 of 64].
    #[arg(long, value_name = "PIXELS")]
    pub bucket_reso_steps: Option<u32>,
}

impl Target {
    pub fn options(&self) -> LintOptions {
        LintOptions {
            trainer: self.trainer,
            model: self.model,
            resolution: self.resolution,
            batch_size: self.batch_size,
            bucket_no_upscale: self.bucket_no_upscale,
            min_bucket_reso: self.min_bucket_reso,
            max_bucket_reso: self.max_bucket_reso,
            bucket_reso_steps: self.bucket_reso_steps,
            ..LintOptions::default()
        }
    }

    /// Scan `dir`; an unreadable folder is an error (exit code 2) that names it.
    pub fn scan(&self, dir: &Path) -> anyhow::Result<Dataset> {
        Ok(scan(
            dir,
            &ScanOptions::with_caption_ext(&self.caption_ext),
        )?)
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder.
    #[arg(value_hint = clap::ValueHint::DirPath)]
    dir: PathBuf,
    /// Print one JSON object (schema in the README) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
    /// The trigger word every caption should hold.
    #[arg(long)]
    trigger: Option<String>,
    /// Largest perceptual-hash distance (of 64 bits) reported as a near duplicate.
    #[arg(long, default_value_t = DEFAULT_NEAR_DUPLICATE_DISTANCE)]
    near_duplicate_distance: u32,
    /// Worker threads for the image checks (0: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Skip decoding images (captions, names and folders only).
    #[arg(long)]
    no_images: bool,
    /// Apply the safe fixes of these kinds (comma-separated finding kinds, e.g.
    /// duplicate-tag,whitespace) through the journal; undo with `lorabench captions DIR undo`.
    #[arg(long, value_delimiter = ',')]
    fix: Vec<String>,
    /// With --fix: print the diff, write nothing.
    #[arg(long, requires = "fix")]
    dry_run: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dataset = args.target.scan(&args.dir)?;
    if !args.fix.is_empty() {
        return run_fix(&args, &dataset);
    }
    let mut options = args.target.options();
    options.trigger = args.trigger.clone();
    options.near_duplicate_distance = args.near_duplicate_distance;
    options.check_images = !args.no_images;
    options.threads = (args.threads > 0).then_some(args.threads);

    let cancel = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&cancel))
        .context("cannot install the Ctrl-C handler")?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(dataset.items.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} lint {bar:30} {pos}/{len} images {msg}")
        {
            bar.set_style(style);
        }
        bar
    });
    let report = lint::run(&dataset, &options, &cancel, |event| {
        if let (Some(bar), LintEvent::Progress { done, total }) = (&bar, &event) {
            bar.set_length(*total as u64);
            bar.set_position(*done as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json_report(&report))?);
    } else {
        print!("{}", human_report(&report, &args.dir));
    }
    if report.summary.cancelled {
        eprintln!("lorabench: lint cancelled; the findings above are partial");
        return Ok(ExitCode::from(130));
    }
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The stable JSON shape: `{ "findings": [...], "summary": {...} }`.
pub fn json_report(report: &LintReport) -> serde_json::Value {
    json!({ "findings": report.findings, "summary": report.summary })
}

fn human_report(report: &LintReport, dir: &Path) -> String {
    let mut out = String::new();
    for (severity, title) in [
        (Severity::Error, "Errors"),
        (Severity::Warning, "Warnings"),
        (Severity::Info, "Infos"),
    ] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        out.push_str(&format!("{title} ({}):\n", group.len()));
        for f in group {
            out.push_str(&format!(
                "  {} [{}] {}\n",
                safe(&f.path.display().to_string()),
                f.kind,
                safe(&f.message)
            ));
            out.push_str(&format!("      → {}\n", safe(&f.hint)));
        }
        out.push('\n');
    }
    let s = &report.summary;
    out.push_str(&format!(
        "{}: {} ({} captioned), {} for {} at {} — {}, {}, {}\n",
        safe(&dir.display().to_string()),
        plural(s.images, "image", "images"),
        s.captions,
        plural(s.buckets, "bucket", "buckets"),
        s.trainer.name(),
        s.resolution,
        plural(s.errors, "error", "errors"),
        plural(s.warnings, "warning", "warnings"),
        plural(s.infos, "info", "infos")
    ));
    out
}

fn run_fix(args: &Args, dataset: &Dataset) -> anyhow::Result<ExitCode> {
    let kinds = fix::parse_kinds(&args.fix)?;
    let plan = fix::plan(dataset, &kinds, args.trigger.as_deref())?;
    let skipped: Vec<_> = plan
        .skipped
        .iter()
        .map(|(p, why)| json!({"path": p.to_string_lossy(), "reason": why}))
        .collect();
    let paths: Vec<String> = plan
        .edits
        .iter()
        .map(|e| e.path.to_string_lossy().into_owned())
        .collect();
    if args.dry_run {
        if args.json {
            let value =
                json!({"edits": paths, "skipped": skipped, "diff": plan.diff(), "applied": false});
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            print!("{}", safe_block(&plan.diff()));
            eprintln!(
                "{} would change (dry run: nothing written)",
                plural(plan.edits.len(), "caption", "captions")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (journal, _recovery) = Journal::open(&dataset.root)
        .with_context(|| format!("cannot open the journal of {}", dataset.root.display()))?;
    let ids: Vec<&str> = kinds.iter().map(|k| k.id()).collect();
    let skipped_list = plan.skipped.clone();
    let entry = plan
        .apply(&journal, &format!("lint fix {}", ids.join(",")))
        .context("applying the fixes")?;
    if args.json {
        let value = json!({"edits": paths, "skipped": skipped, "entry": entry, "applied": true});
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        match entry {
            Some(id) => println!(
                "fixed {} as journal entry {id}; `lorabench captions {} undo` takes it back",
                plural(paths.len(), "caption", "captions"),
                safe(&dataset.root.display().to_string())
            ),
            None => println!("nothing to fix"),
        }
        for s in &skipped_list {
            eprintln!(
                "skipped {}: {}",
                safe(&s.0.display().to_string()),
                safe(&s.1)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
