//! Candidate base models for a picker: the usual model folders that exist, and what each entry
//! in one is (its family through [`model_family::detect`], which reads headers only, and its
//! size on disk). Nothing here fails as a whole: an entry that cannot be read says why.

use std::path::{Path, PathBuf};

use crate::dataset::buckets::Model;
use crate::train::model_family::{self, FamilyError, SD2};

/// Where model files usually live, relative to `$HOME` and `/workspace`.
const UNDER_ROOTS: &[&str] = &[
    "models",
    "stable-diffusion-webui/models/Stable-diffusion",
    "ComfyUI/models/checkpoints",
    "ComfyUI/models/diffusion_models",
];

/// The Hugging Face cache, under `$HOME`.
pub const HF_HUB: &str = ".cache/huggingface/hub";

/// What an entry is, as far as its headers tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    Trainable(Model),
    /// Stable Diffusion 2: recognised, not trained by lorabench.
    Sd2,
    /// Why it is no model lorabench can tell (the detector's words).
    Unknown(String),
}

impl Family {
    /// Why it is unknown.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Family::Unknown(why) => Some(why),
            _ => None,
        }
    }

    pub fn label(&self) -> &str {
        match self {
            Family::Trainable(Model::Sd15) => "SD1.x",
            Family::Trainable(Model::Sdxl) => "SDXL",
            Family::Trainable(Model::Flux) => "Flux",
            Family::Sd2 => "SD2",
            Family::Unknown(_) => "unknown",
        }
    }
}

/// A folder to browse, or a model (a file or a diffusers folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Folder,
    Model,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// The file or folder name as shown.
    pub name: String,
    pub kind: Kind,
    /// `None` for a folder to browse.
    pub family: Option<Family>,
    /// Bytes on disk (a folder: its files, links followed), or why they could not be read;
    /// `None` for a folder to browse.
    pub size: Option<Result<u64, String>>,
}

/// Where to look: the current value, `$LORABENCH_MODELS`, `$HOME` and the current folder.
pub struct Places {
    pub current: Option<PathBuf>,
    pub env: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub cwd: PathBuf,
}

impl Places {
    pub fn from_env(current: Option<PathBuf>, cwd: PathBuf) -> Places {
        Places {
            current,
            env: std::env::var_os("LORABENCH_MODELS").map(PathBuf::from),
            home: std::env::var_os("HOME").map(PathBuf::from),
            cwd,
        }
    }

    /// The model folders that exist.
    pub fn roots(&self) -> Vec<PathBuf> {
        folders(
            self.current.as_deref(),
            self.env.clone(),
            self.home.as_deref(),
            &self.cwd,
        )
    }
}

/// The model folders that exist: the current value's folder first, then `$LORABENCH_MODELS`,
/// `./models`, and the usual places under `home` and `/workspace`, each once.
pub fn folders(
    current: Option<&Path>,
    env: Option<PathBuf>,
    home: Option<&Path>,
    cwd: &Path,
) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(current.and_then(Path::parent).map(Path::to_path_buf));
    candidates.extend(env);
    candidates.push(cwd.join("models"));
    for root in home.into_iter().chain([Path::new("/workspace")]) {
        candidates.extend(UNDER_ROOTS.iter().map(|u| root.join(u)));
    }
    candidates.extend(home.map(|h| h.join(HF_HUB)));
    for c in candidates {
        if c.is_dir() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// The entries of `dir`: sub-folders and `.safetensors` / `.ckpt` files, each described;
/// in the Hugging Face cache, each repository's diffusers snapshots instead.
pub fn list(dir: &Path) -> Result<Vec<Entry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in read.flatten() {
        let p = entry.path();
        if p.is_dir() {
            let snapshots = p.join("snapshots");
            if snapshots.is_dir() {
                paths.extend(diffusers_snapshots(&snapshots));
            } else {
                paths.push(p);
            }
        } else if p.extension().is_some_and(|e| {
            e.eq_ignore_ascii_case("safetensors") || e.eq_ignore_ascii_case("ckpt")
        }) {
            paths.push(p);
        }
    }
    paths.sort();
    Ok(paths.iter().map(PathBuf::as_path).map(describe).collect())
}

fn diffusers_snapshots(snapshots: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(snapshots)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("model_index.json").is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// One entry: a folder without `model_index.json` is a folder to browse.
pub fn describe(path: &Path) -> Entry {
    let browse = path.is_dir() && !path.join("model_index.json").is_file();
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if browse {
        return Entry {
            path: path.to_path_buf(),
            name,
            kind: Kind::Folder,
            family: None,
            size: None,
        };
    }
    let family = match model_family::detect(path) {
        Ok(m) => Family::Trainable(m),
        Err(FamilyError::Unsupported { family, .. }) if family == SD2 => Family::Sd2,
        Err(e) => Family::Unknown(e.to_string()),
    };
    let size = size_of(path, 4).ok_or_else(|| format!("{}: size unreadable", path.display()));
    Entry {
        path: path.to_path_buf(),
        name,
        kind: Kind::Model,
        family: Some(family),
        size: Some(size),
    }
}

/// Bytes under `path`, links followed, `depth` folders deep.
fn size_of(path: &Path, depth: usize) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return Some(meta.len());
    }
    if depth == 0 {
        return Some(0);
    }
    let read = std::fs::read_dir(path).ok()?;
    Some(
        read.flatten()
            .filter_map(|e| size_of(&e.path(), depth - 1))
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A minimal safetensors file holding zero-length tensors with these names.
    fn safetensors(path: &Path, names: &[&str]) {
        let entries: Vec<String> = names
            .iter()
            .map(|n| format!("\"{n}\":{{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"))
            .collect();
        let header = format!("{{{}}}", entries.join(","));
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_folder_lists_models_with_family_and_size_and_says_why_for_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        safetensors(&d.join("xl.safetensors"), &["conditioner.embedders.1.x"]);
        safetensors(&d.join("flux.safetensors"), &["double_blocks.0.x"]);
        safetensors(&d.join("sd2.safetensors"), &["cond_stage_model.model.x"]);
        std::fs::write(d.join("broken.safetensors"), b"no").unwrap();
        std::fs::write(d.join("notes.txt"), b"skipped").unwrap();
        std::fs::create_dir(d.join("more")).unwrap();
        let hub = d.join("models--x--y/snapshots/abc");
        std::fs::create_dir_all(hub.join("unet")).unwrap();
        std::fs::write(hub.join("model_index.json"), b"{}").unwrap();
        safetensors(
            &hub.join("unet/diffusion_pytorch_model.safetensors"),
            &["down_blocks.0.x"],
        );
        let got = list(d).unwrap();
        let shown: Vec<(String, &str)> = got
            .iter()
            .map(|e| {
                let name = e.path.strip_prefix(d).unwrap().display().to_string();
                (name, e.family.as_ref().map_or("folder", Family::label))
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("broken.safetensors".to_string(), "unknown"),
                ("flux.safetensors".into(), "Flux"),
                ("models--x--y/snapshots/abc".into(), "SD1.x"),
                ("more".into(), "folder"),
                ("sd2.safetensors".into(), "SD2"),
                ("xl.safetensors".into(), "SDXL"),
            ]
        );
        let why = got[0].family.as_ref().and_then(Family::reason).unwrap();
        assert!(why.contains("broken.safetensors"), "{why}");
        assert_eq!(got[0].size, Some(Ok(2)));
        assert!(
            got[2].size.clone().unwrap().unwrap() > 2,
            "a snapshot counts its files"
        );
        assert_eq!(got[3].kind, Kind::Folder);
    }

    #[test]
    fn only_existing_folders_each_once_current_first() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("models")).unwrap();
        std::fs::create_dir_all(d.join("ComfyUI/models/checkpoints")).unwrap();
        let current = d.join("ComfyUI/models/checkpoints/a.safetensors");
        let got = folders(Some(&current), Some(d.join("models")), Some(d), d);
        assert_eq!(got[0], d.join("ComfyUI/models/checkpoints"));
        assert_eq!(got[1], d.join("models"));
        assert_eq!(got.iter().filter(|p| p.starts_with(d)).count(), 2);
        assert!(list(&d.join("missing")).unwrap_err().contains("missing"));
    }
}
