//! `lorabench keys`: the keys in effect (keymap.yaml's defaults with the user's keys.yaml on
//! top), one line per mode and action.

use std::process::ExitCode;

use lorabench::train::config::user::config_dir;
use lorabench::tui::keymap::Keymap;
use lorabench::tui::screens;

pub fn run() -> anyhow::Result<ExitCode> {
    let (keys, warning) = Keymap::load(config_dir().as_deref(), screens::KEYS);
    if let Some(w) = warning {
        eprintln!("lorabench: {w}");
    }
    for (mode, action, keys) in keys.rows() {
        println!("{mode:<10} {action:<14} {keys}");
    }
    Ok(ExitCode::SUCCESS)
}
