//! `lorabench exclude|include DIR [FILE...] [--filter QUERY] [--dry-run]`: move images out of
//! the training set and back, through the journal.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::dataset::{Journal, ScanOptions, exclude, ops, scan};

use super::say::{plural, safe, safe_block};

#[derive(clap::Args)]
pub struct Args {
    /// The dataset folder.
    #[arg(value_hint = clap::ValueHint::DirPath)]
    dir: PathBuf,
    /// Images, relative to DIR (as `lorabench captions DIR list` prints them).
    files: Vec<PathBuf>,
    /// Every image matching this filter (for include, `excluded` is implied).
    #[arg(long)]
    filter: Option<String>,
    /// Print the moves; move nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: Args, include: bool) -> anyhow::Result<ExitCode> {
    let (journal, recovery) = Journal::open(&args.dir)?;
    super::captions::report_recovery(&recovery);
    let dataset = scan(&args.dir, &ScanOptions::default())?;
    let mut indices = Vec::new();
    for f in &args.files {
        let rel = f.strip_prefix(&args.dir).unwrap_or(f);
        match dataset
            .items
            .iter()
            .position(|it| it.path == rel && it.excluded == include)
        {
            Some(i) => indices.push(i),
            None => anyhow::bail!(
                "{} is not an {} image of {} (`lorabench captions DIR list{}` shows them)",
                safe(&rel.display().to_string()),
                if include { "excluded" } else { "included" },
                safe(&args.dir.display().to_string()),
                if include { " --filter excluded" } else { "" }
            ),
        }
    }
    if let Some(filter) = &args.filter {
        let filter = if include {
            format!("excluded {filter}")
        } else {
            filter.clone()
        };
        indices.extend(super::captions::selected(&dataset, Some(&filter))?);
    }
    let Some(plan) = exclude::plan(&dataset, &indices, include) else {
        println!("nothing to do");
        return Ok(ExitCode::SUCCESS);
    };
    let verb = if include { "include" } else { "exclude" };
    let images = plural(plan.images, "image", "images");
    if args.dry_run {
        print!("{}", safe_block(&ops::ops_diff(&plan.ops)));
        eprintln!("would {verb} {images} (dry run: nothing moved)");
        return Ok(ExitCode::SUCCESS);
    }
    let id = journal.commit(&plan.description, plan.ops)?;
    println!("{verb}d {images} (#{id})");
    Ok(ExitCode::SUCCESS)
}
