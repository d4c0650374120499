//! What the workbench remembers about each dataset from one run to the next: the training
//! target, the browser's cursor (the image, by path), its view and its filter. Kept outside the
//! dataset, so looking at one needs no write access: `$XDG_STATE_HOME/lorabench/datasets/`,
//! one JSON file per dataset, named by a hash of its canonical path (which the file also holds,
//! so two datasets never share one). A file that cannot be read back is ignored with a warning.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::buckets::Model;
use crate::dataset::fsio::write_atomic;
use crate::dataset::lint::{LintOptions, Trainer};

use super::layout::View;

/// The folder below lorabench's state folder that holds the remembered datasets.
const FOLDER: &str = "datasets";

/// One dataset's remembered place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The dataset's canonical path.
    pub dataset: PathBuf,
    pub target: Target,
    /// The image under the browser's cursor, relative to the dataset.
    pub cursor: Option<PathBuf>,
    /// `list` or `grid`.
    pub view: String,
    pub filter: String,
}

/// The training target, in the CLI's words (a renamed value is then a warning, not a crash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub trainer: String,
    pub model: String,
    pub resolution: Option<u32>,
    pub batch_size: u32,
    pub trigger: Option<String>,
    pub bucket_no_upscale: bool,
    pub min_bucket_reso: Option<u32>,
    pub max_bucket_reso: Option<u32>,
    pub bucket_reso_steps: Option<u32>,
    pub near_duplicate_distance: u32,
}

fn word<T: ValueEnum>(v: &T) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

impl Target {
    pub fn of(o: &LintOptions) -> Target {
        Target {
            trainer: word(&o.trainer),
            model: word(&o.model),
            resolution: o.resolution,
            batch_size: o.batch_size,
            trigger: o.trigger.clone(),
            bucket_no_upscale: o.bucket_no_upscale,
            min_bucket_reso: o.min_bucket_reso,
            max_bucket_reso: o.max_bucket_reso,
            bucket_reso_steps: o.bucket_reso_steps,
            near_duplicate_distance: o.near_duplicate_distance,
        }
    }

    /// The target as lint options, checked as the CLI checks its flags.
    pub fn options(&self) -> Result<LintOptions, String> {
        let o = LintOptions {
            trainer: Trainer::from_str(&self.trainer, true)
                .map_err(|_| format!("unknown trainer `{}`", self.trainer))?,
            model: Model::from_str(&self.model, true)
                .map_err(|_| format!("unknown model `{}`", self.model))?,
            resolution: self.resolution,
            batch_size: self.batch_size,
            trigger: self.trigger.clone(),
            bucket_no_upscale: self.bucket_no_upscale,
            min_bucket_reso: self.min_bucket_reso,
            max_bucket_reso: self.max_bucket_reso,
            bucket_reso_steps: self.bucket_reso_steps,
            near_duplicate_distance: self.near_duplicate_distance,
            ..LintOptions::default()
        };
        o.check().map_err(|e| e.to_string())?;
        Ok(o)
    }
}

pub fn view_word(v: View) -> &'static str {
    match v {
        View::List => "list",
        View::Grid => "grid",
    }
}

pub fn view_of(word: &str) -> Option<View> {
    match word {
        "list" => Some(View::List),
        "grid" => Some(View::Grid),
        _ => None,
    }
}

/// Where the dataset at `root` (canonical) is remembered, below the state folder `state`.
pub fn file_for(state: &Path, root: &Path) -> PathBuf {
    let hash = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let hex: String = hash[..12].iter().map(|b| format!("{b:02x}")).collect();
    state.join(FOLDER).join(format!("{hex}.json"))
}

/// What was remembered about `root`, and a warning when there was a file that could not be
/// used (it is then ignored; the next save replaces it).
pub fn load(state: &Path, root: &Path) -> (Option<Remembered>, Option<String>) {
    let path = file_for(state, root);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (None, None),
        Err(e) => {
            let w = format!("not restoring the last place: {}: {e}", path.display());
            return (None, Some(w));
        }
    };
    match serde_json::from_slice::<Remembered>(&bytes) {
        Ok(r) if r.dataset == root => (Some(r), None),
        // Another dataset's (a hash collision, or a file copied over): not ours.
        Ok(_) => (None, None),
        Err(e) => {
            let w = format!(
                "not restoring the last place: {} is damaged ({e}); it will be rewritten",
                path.display()
            );
            (None, Some(w))
        }
    }
}

/// Remembers `r` (atomically: a crash leaves the old file or the new one).
pub fn save(state: &Path, r: &Remembered) -> Result<(), String> {
    let path = file_for(state, &r.dataset);
    let said =
        |e: &dyn std::fmt::Display| format!("cannot remember the place in {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| said(&e))?;
    }
    let json = serde_json::to_vec_pretty(r).map_err(|e| said(&e))?;
    write_atomic(&path, &json, false).map_err(|e| said(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(root: &Path) -> Remembered {
        Remembered {
            dataset: root.to_path_buf(),
            target: Target::of(&LintOptions {
                batch_size: 4,
                model: Model::Sd15,
                ..LintOptions::default()
            }),
            cursor: Some(PathBuf::from("10_a/b.png")),
            view: "grid".into(),
            filter: "tag:night".into(),
        }
    }

    #[test]
    fn saves_and_loads_per_dataset() {
        let state = tempfile::tempdir().unwrap();
        let (a, b) = (Path::new("/data/a"), Path::new("/data/b"));
        save(state.path(), &sample(a)).unwrap();
        assert_eq!(load(state.path(), a), (Some(sample(a)), None));
        // Another dataset has its own file, and nothing yet.
        assert_ne!(file_for(state.path(), a), file_for(state.path(), b));
        assert_eq!(load(state.path(), b), (None, None));
        let o = sample(a).target.options().unwrap();
        assert_eq!((o.batch_size, o.model), (4, Model::Sd15));
    }

    #[test]
    fn a_damaged_file_is_one_warning_and_another_datasets_is_ignored() {
        let state = tempfile::tempdir().unwrap();
        let a = Path::new("/data/a");
        let file = file_for(state.path(), a);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"{\"dataset\": \"/data/a\", \"view\": ").unwrap();
        let (got, warning) = load(state.path(), a);
        assert!(got.is_none());
        let w = warning.unwrap();
        assert!(
            w.contains("damaged") && w.contains(&*file.to_string_lossy()),
            "{w}"
        );
        // The file names another dataset: not ours, and nothing to warn about.
        let other = sample(Path::new("/data/other"));
        std::fs::write(&file, serde_json::to_vec(&other).unwrap()).unwrap();
        assert_eq!(load(state.path(), a), (None, None));
        // A target the trainer would refuse is refused as the CLI refuses it.
        let mut bad = sample(a);
        bad.target.batch_size = 0;
        assert!(bad.target.options().unwrap_err().contains("batch"));
        bad.target.trainer = "kohya_ss".into();
        assert!(bad.target.options().unwrap_err().contains("kohya_ss"));
    }
}
