//! `lorabench stats`: folders and repeats, resolutions, aspects, buckets, tags, tokens.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::dataset::stats::{self, Bin, Stats, TagSort, sort_tags};

use super::lint::Target;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum SortBy {
    Count,
    Name,
}

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder.
    #[arg(value_hint = clap::ValueHint::DirPath)]
    dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: Target,
    /// Order of the tag table.
    #[arg(long, value_enum, default_value_t = SortBy::Count)]
    sort: SortBy,
    /// Tags shown in the text output (all in JSON).
    #[arg(long, default_value_t = 40)]
    top: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dataset = args.target.scan(&args.dir)?;
    let mut stats = stats::compute(&dataset, &args.target.options())?;
    sort_tags(
        &mut stats.tags,
        match args.sort {
            SortBy::Count => TagSort::Count,
            SortBy::Name => TagSort::Name,
        },
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", super::say::safe_block(&render(&stats, args.top)));
    }
    Ok(ExitCode::SUCCESS)
}

fn bars(title: &str, bins: &[Bin]) -> String {
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let width = bins.iter().map(|b| b.label.len()).max().unwrap_or(0);
    let mut out = format!("{title}\n");
    for b in bins {
        let bar = "█".repeat((b.count * 40).div_ceil(max));
        out.push_str(&format!("  {:>width$}  {bar} {}\n", b.label, b.count));
    }
    out
}

fn render(stats: &Stats, top: usize) -> String {
    let mut out = format!("{} images\n\nFolders\n", stats.images);
    for f in &stats.folders {
        let name = f
            .name
            .as_deref()
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}{name}: {} images × {} repeats = {} per epoch\n",
            f.path, f.images, f.repeats, f.per_epoch
        ));
    }
    out.push('\n');
    out.push_str(&bars("Resolution (megapixels)", &stats.resolutions));
    out.push('\n');
    out.push_str(&bars("Aspect (width / height)", &stats.aspects));
    out.push_str("\nBuckets (count with repeats)\n");
    for b in &stats.buckets {
        out.push_str(&format!(
            "  {:>9}  {:>4}  {}\n",
            b.bucket.to_string(),
            b.count,
            b.images.join(", ")
        ));
    }
    out.push_str(&format!(
        "\nTags ({} distinct; images holding each)\n",
        stats.tags.len()
    ));
    for t in stats.tags.iter().take(top) {
        out.push_str(&format!("  {:>5}  {}\n", t.count, t.tag));
    }
    if stats.tags.len() > top {
        out.push_str(&format!(
            "  … {} more (--top N, or --json)\n",
            stats.tags.len() - top
        ));
    }
    out.push('\n');
    out.push_str(&bars(
        &format!(
            "CLIP tokens per caption (first line; max {}, mean {:.1}, {} over 75)",
            stats.tokens.max, stats.tokens.mean, stats.tokens.over_limit
        ),
        &stats.tokens.bins,
    ));
    if !stats.unreadable.is_empty() {
        out.push_str(&format!(
            "\nSize unreadable: {}\n",
            stats.unreadable.join(", ")
        ));
    }
    out
}
