//! `lorabench [DIR]`: open the workbench.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_dir: PathBuf, _args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the workbench is not built yet")
}
