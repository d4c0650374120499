//! `lorabench [DIR]`: open the workbench.

use std::path::PathBuf;
use std::process::ExitCode;

use lorabench::tui::{self, ImageProtocol};

#[derive(clap::Args)]
pub struct Args {
    /// Colour theme: dark, light, high-contrast, or NAME for
    /// $XDG_CONFIG_HOME/lorabench/themes/NAME.yaml.
    #[arg(long, default_value = "dark", value_name = "NAME", value_parser = ThemeName)]
    theme: String,
    /// How images are drawn; auto asks the terminal and falls back to colour half-blocks.
    #[arg(long, value_enum, default_value_t = Protocol::Auto, value_name = "PROTOCOL")]
    image_protocol: Protocol,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Protocol {
    /// Ask the terminal; colour half-blocks if it does not answer.
    Auto,
    /// The kitty graphics protocol (kitty, WezTerm, Ghostty).
    Kitty,
    /// Sixel graphics (foot, mlterm, xterm -ti vt340).
    Sixel,
    /// iTerm2's inline images (iTerm2, WezTerm).
    Iterm2,
    /// Unicode half-blocks in colour: works everywhere.
    Halfblocks,
}

/// Any theme name is accepted (a file of the user's is looked up when the workbench starts);
/// completions offer the built-in themes.
#[derive(Clone)]
struct ThemeName;

impl clap::builder::TypedValueParser for ThemeName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::NonEmptyStringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            tui::theme::BUILTIN
                .iter()
                .map(|(name, _)| clap::builder::PossibleValue::new(*name)),
        ))
    }
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
