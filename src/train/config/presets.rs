//! Presets: config layers practitioners start from. The built-in ones are the YAML files in
//! `presets/`, embedded in the binary; a user's `$XDG_CONFIG_HOME/lorabench/presets/NAME.yaml`
//! wins over a built-in of the same name.

use std::path::Path;

use super::{ConfigError, Layer, Source, nearest};

/// (name, YAML) of the built-in presets.
pub const BUILTIN: &[(&str, &str)] = &[
    ("tiny", include_str!("../../../presets/tiny.yaml")),
    ("sd15", include_str!("../../../presets/sd15.yaml")),
    ("sdxl", include_str!("../../../presets/sdxl.yaml")),
    ("flux", include_str!("../../../presets/flux.yaml")),
];

/// Every preset name: the built-in ones, then the user's.
pub fn names(user_dir: Option<&Path>) -> Vec<String> {
    let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
    if let Some(dir) = user_dir
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        let mut user: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".yaml").map(str::to_string)
            })
            .filter(|n| !names.contains(n))
            .collect();
        user.sort();
        names.extend(user);
    }
    names
}

/// The preset `name` as a layer: the user's file if there is one, else the built-in.
pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Layer, ConfigError> {
    if let Some(dir) = user_dir {
        let path = dir.join(format!("{name}.yaml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                return Layer::parse(Source::File(path), text, dir).map_err(ConfigError::one);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConfigError::Io { path, source }),
        }
    }
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => Layer::parse(
            Source::Preset(n.to_string()),
            text.to_string(),
            Path::new("."),
        )
        .map_err(ConfigError::one),
        None => {
            let known = names(user_dir);
            Err(ConfigError::UnknownPreset {
                name: name.to_string(),
                nearest: nearest(name, known.iter().map(String::as_str)),
                known,
            })
        }
    }
}
