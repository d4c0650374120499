//! Where base models live on a training box, for the Train screen's picker: of the usual
//! places, the folders that exist (`$LORABENCH_MODELS`, the A1111/Forge and ComfyUI model
//! folders under the current folder, the home folder and `/workspace`, the Hugging Face hub
//! cache's diffusers snapshots), and in each the checkpoints and diffusers folders with their
//! family (from the headers alone, [`model_family::detect`]) and size.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::dataset::buckets::Model;
use crate::train::model_family;

/// Model folders of the UIs people keep next to their trainers, below a root.
const APP_FOLDERS: [(&str, &str); 6] = [
    ("webui", "stable-diffusion-webui/models/Stable-diffusion"),
    (
        "forge",
        "stable-diffusion-webui-forge/models/Stable-diffusion",
    ),
    ("ComfyUI", "ComfyUI/models/checkpoints"),
    ("ComfyUI", "ComfyUI/models/diffusion_models"),
    ("ComfyUI", "ComfyUI/models/unet"),
    ("models", "models"),
];

/// Checkpoint files looked for (depth at most [`DEPTH`] below a folder).
const EXTENSIONS: [&str; 2] = ["safetensors", "ckpt"];
const DEPTH: usize = 3;

/// A folder models were looked for in.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Where it comes from: `ComfyUI`, `hf hub`, `LORABENCH_MODELS`.
    pub label: String,
    pub dir: PathBuf,
}

/// One base model found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: PathBuf,
    /// The place's label; for the hub, the repository (`org/name`).
    pub place: String,
    /// The family, or why it is not a base model lorabench trains.
    pub family: Result<Model, String>,
    /// Bytes: the file's, or everything in the folder.
    pub size: u64,
}

/// What the places are looked up from (the environment, passed in for the tests' sake).
#[derive(Debug, Clone, Default)]
pub struct Roots {
    /// `$LORABENCH_MODELS`: folders separated by `:`.
    pub models_var: Option<OsString>,
    /// The Hugging Face hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `~/.cache/huggingface/hub`).
    pub hub: Option<PathBuf>,
    /// Folders the UIs' model folders are looked for below.
    pub below: Vec<PathBuf>,
}

impl Roots {
    /// As this process sees them, with `cwd` first.
    pub fn here(cwd: &Path) -> Roots {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let hub = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| var("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .or_else(|| home.as_ref().map(|h| h.join(".cache/huggingface/hub")));
        let mut below = vec![cwd.to_path_buf()];
        below.extend(home);
        // Where rented GPU boxes (RunPod, Vast.ai) keep what survives a restart.
        below.push(PathBuf::from("/workspace"));
        below.dedup();
        Roots {
            models_var: var("LORABENCH_MODELS"),
            hub,
            below,
        }
    }

    /// The folders that exist, each once.
    pub fn places(&self) -> Vec<Place> {
        let mut out: Vec<Place> = Vec::new();
        let mut add = |label: &str, dir: PathBuf| {
            let same = |p: &Place| {
                p.dir == dir
                    || matches!((p.dir.canonicalize(), dir.canonicalize()), (Ok(a), Ok(b)) if a == b)
            };
            if dir.is_dir() && !out.iter().any(same) {
                out.push(Place {
                    label: label.to_string(),
                    dir,
                });
            }
        };
        if let Some(v) = &self.models_var {
            for dir in std::env::split_paths(v) {
                add("LORABENCH_MODELS", dir);
            }
        }
        for root in &self.below {
            for (label, sub) in APP_FOLDERS {
                add(label, root.join(sub));
            }
        }
        if let Some(hub) = &self.hub {
            add("hf hub", hub.clone());
        }
        out
    }
}

/// Every base model in `places`: the checkpoint files and the diffusers folders (a folder with
/// a `model_index.json`; in the hub cache, each snapshot), sorted by place and path. Their
/// families are read in parallel (one header each).
pub fn find(places: &[Place]) -> Vec<Found> {
    let mut candidates: Vec<(PathBuf, String)> = Vec::new();
    for place in places {
        let hub = place.label == "hf hub";
        let walk = walkdir::WalkDir::new(&place.dir)
            .max_depth(if hub { 3 } else { DEPTH })
            .follow_links(true)
            .sort_by_file_name();
        let mut it = walk.into_iter();
        while let Some(Ok(entry)) = it.next() {
            let path = entry.path();
            if entry.file_type().is_dir() {
                if path.join("model_index.json").is_file() {
                    let label = if hub {
                        hub_repo(&place.dir, path).unwrap_or_else(|| place.label.clone())
                    } else {
                        place.label.clone()
                    };
                    candidates.push((path.to_path_buf(), label));
                    // Its unet/ and vae/ weights are parts of it, not models.
                    it.skip_current_dir();
                }
                continue;
            }
            let ext = path
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase());
            if !hub && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
                candidates.push((path.to_path_buf(), place.label.clone()));
            }
        }
    }
    candidates
        .into_par_iter()
        .map(|(path, place)| Found {
            family: model_family::detect(&path).map_err(|e| short_reason(&e, &path)),
            size: size_of(&path),
            path,
            place,
        })
        .collect()
}

/// `models--org--name/snapshots/<rev>` as `org/name`.
fn hub_repo(hub: &Path, snapshot: &Path) -> Option<String> {
    let first = snapshot.strip_prefix(hub).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?.strip_prefix("models--")?;
    Some(name.replacen("--", "/", 1))
}

/// The reason without the model's path (the picker's row names it already).
fn short_reason(e: &model_family::FamilyError, path: &Path) -> String {
    use model_family::FamilyError as E;
    match e {
        E::NotAModel { what, .. } => format!("not a base model: {what}"),
        E::Unsupported { family, .. } => format!("{family}: not trained by lorabench"),
        E::Unreadable { problem, .. } => problem.clone(),
        other => {
            // `PATH: why`, `PATH is …`, or a part's `PATH/unet/…: why` (the part keeps its name).
            let text = other.to_string();
            match text.strip_prefix(&path.display().to_string()) {
                Some(rest) => rest.trim_start_matches([':', '/', ' ']).to_string(),
                None => text,
            }
        }
    }
}

fn size_of(path: &Path) -> u64 {
    if path.is_file() {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    }
    walkdir::WalkDir::new(path)
        .follow_links(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_models_of_each_place_that_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let comfy = root.join("work/ComfyUI/models/checkpoints");
        std::fs::create_dir_all(comfy.join("sdxl")).unwrap();
        std::fs::write(comfy.join("sdxl/broken.safetensors"), b"\x01").unwrap();
        std::fs::write(comfy.join("notes.txt"), b"not a model").unwrap();
        let hub = root.join("hub");
        let snap = hub.join("models--acme--tiny-sd/snapshots/0123abc");
        std::fs::create_dir_all(snap.join("unet")).unwrap();
        std::fs::write(snap.join("model_index.json"), b"{}").unwrap();
        std::fs::write(
            snap.join("unet/diffusion_pytorch_model.safetensors"),
            b"\x02\x03",
        )
        .unwrap();
        let mine = root.join("mine");
        std::fs::create_dir_all(&mine).unwrap();
        std::fs::write(mine.join("model.ckpt"), b"pickle").unwrap();
        let roots = Roots {
            models_var: Some(mine.clone().into_os_string()),
            hub: Some(hub.clone()),
            below: vec![root.join("work"), root.join("gone")],
        };
        let places = roots.places();
        let labels: Vec<&str> = places.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["LORABENCH_MODELS", "ComfyUI", "hf hub"]);
        let found = find(&places);
        let rows: Vec<(String, &str, u64)> = found
            .iter()
            .map(|f| {
                let name = f.path.strip_prefix(root).unwrap().display().to_string();
                (name, f.place.as_str(), f.size)
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("mine/model.ckpt".to_string(), "LORABENCH_MODELS", 6),
                (
                    "work/ComfyUI/models/checkpoints/sdxl/broken.safetensors".to_string(),
                    "ComfyUI",
                    1
                ),
                (
                    "hub/models--acme--tiny-sd/snapshots/0123abc".to_string(),
                    "acme/tiny-sd",
                    4
                ),
            ]
        );
        // Each says why it is no model to train on, without repeating its path.
        for f in &found {
            let why = f.family.as_ref().unwrap_err();
            assert!(!why.contains(root.to_str().unwrap()), "{why}");
        }
    }
}
