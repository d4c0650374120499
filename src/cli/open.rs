//! `lorabench [DIR]`: open the workbench.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::tui::{self, ImageProtocol};

#[derive(clap::Args)]
pub struct Args {
    /// Colour theme: dark, light, high-contrast, or NAME for
    /// $XDG_CONFIG_HOME/lorabench/themes/NAME.yaml.
    #[arg(long, default_value = "dark", value_name = "NAME")]
    theme: String,
    /// How images are drawn; auto asks the terminal and falls back to colour half-blocks.
    #[arg(long, value_enum, default_value_t = Protocol::Auto, value_name = "PROTOCOL")]
    image_protocol: Protocol,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Protocol {
    Auto,
    Kitty,
    Sixel,
    Iterm2,
    Halfblocks,
}

pub fn run(dir: PathBuf, args: Args) -> anyhow::Result<ExitCode> {
    let protocol = match args.image_protocol {
        Protocol::Auto => ImageProtocol::Auto,
        Protocol::Kitty => ImageProtocol::Kitty,
        Protocol::Sixel => ImageProtocol::Sixel,
        Protocol::Iterm2 => ImageProtocol::Iterm2,
        Protocol::Halfblocks => ImageProtocol::Halfblocks,
    };
    let code = tui::run(tui::Options {
        dir,
        theme: args.theme,
        protocol,
    })?;
    Ok(ExitCode::from(code))
}
