//! `lorabench exclude|include DIR [FILE...] [--filter QUERY]`: move images out of the
//! training set and back, through the journal.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::dataset::{Journal, ScanOptions, exclude, scan};

#[derive(clap::Args)]
pub struct Args {
    /// The dataset folder.
    dir: PathBuf,
    /// Images, relative to DIR (as `lorabench` lists them).
    files: Vec<PathBuf>,
    /// Every image matching this filter (for include, `excluded` is implied).
    #[arg(long)]
    filter: Option<String>,
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
                "{} is not an {} image of {}",
                rel.display(),
                if include { "excluded" } else { "included" },
                args.dir.display()
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
    let entry = if include {
        exclude::include(&journal, &dataset, &indices)?
    } else {
        exclude::exclude(&journal, &dataset, &indices)?
    };
    let verb = if include { "included" } else { "excluded" };
    match entry {
        Some(id) => println!("{verb} {} images (#{id})", indices.len()),
        None => println!("nothing to do"),
    }
    Ok(ExitCode::SUCCESS)
}
