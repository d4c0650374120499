//! The dataset as the trainer will see it, made in `RUN/dataset/` at launch: captions copied as
//! they are now, images hard-linked (symlinked across file systems), excluded images left out,
//! `N_name` folders kept. Editing captions during the run changes nothing in it; generated
//! files (dataset TOML, metadata.jsonl) go there too, never into the user's folder.
//!
//! [`plan`] only reads (so `--dry-run` can show it); [`SnapshotPlan::make`] writes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::dataset::Dataset;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already holds files; a snapshot is only made into an empty folder")]
    NotEmpty(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One image of the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Where the image is now.
    pub source: PathBuf,
    /// Its path inside the snapshot (the same as in the dataset).
    pub rel: PathBuf,
    /// The caption's path inside the snapshot and its bytes as read now.
    pub caption: Option<(PathBuf, Vec<u8>)>,
}

/// One image folder of the snapshot (sd-scripts reads folders non-recursively: one subset each).
#[derive(Debug, Clone, PartialEq)]
pub struct Folder {
    /// Relative to the snapshot root ("" for the root itself).
    pub rel: PathBuf,
    /// The config's `dataset.repeats`, else the `N_name` count, else 1.
    pub repeats: u32,
    /// The class tokens of an `N_name` folder (the `name` part).
    pub class_tokens: Option<String>,
    pub images: usize,
}

/// What the snapshot will hold.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPlan {
    pub entries: Vec<Entry>,
    pub folders: Vec<Folder>,
    /// SHA-256 over every image's and caption's path and bytes, in path order.
    pub hash: String,
    /// The dataset folder it was taken from.
    pub origin: PathBuf,
}

/// How the images got into the snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Made {
    pub hard_links: usize,
    pub symlinks: usize,
    pub captions: usize,
}

/// Plans the snapshot of the included images of `dataset`. Reads every image once (for the
/// content hash) and every caption.
pub fn plan(dataset: &Dataset, repeats: Option<u32>) -> Result<SnapshotPlan, SnapshotError> {
    let mut entries = Vec::new();
    let mut folders: BTreeMap<PathBuf, Folder> = BTreeMap::new();
    let mut hasher = Sha256::new();
    for item in dataset.items.iter().filter(|i| !i.excluded) {
        let source = dataset.abs_path(item);
        let caption = item.caption.bytes().map(|b| (item.caption_path.clone(), b));
        hash_file(&mut hasher, &item.path, &source)?;
        if let Some((rel, bytes)) = &caption {
            hasher.update(rel.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        let dir = item.path.parent().unwrap_or(Path::new("")).to_path_buf();
        let folder = folders.entry(dir.clone()).or_insert_with(|| Folder {
            rel: dir,
            repeats: repeats
                .or(item.folder.as_ref().map(|f| f.repeats))
                .unwrap_or(1),
            class_tokens: item.folder.as_ref().map(|f| f.name.clone()),
            images: 0,
        });
        folder.images += 1;
        entries.push(Entry {
            source,
            rel: item.path.clone(),
            caption,
        });
    }
    Ok(SnapshotPlan {
        entries,
        folders: folders.into_values().collect(),
        hash: format!("{:x}", hasher.finalize()),
        origin: dataset.root.clone(),
    })
}

fn hash_file(hasher: &mut Sha256, rel: &Path, path: &Path) -> Result<(), SnapshotError> {
    let mut file = fs::File::open(path).map_err(io(path))?;
    hasher.update(rel.as_os_str().as_encoded_bytes());
    hasher.update([0]);
    let len = file.metadata().map_err(io(path))?.len();
    hasher.update(len.to_le_bytes());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(())
}

impl SnapshotPlan {
    /// The snapshot of a run without a dataset (a `command` script that reads its own data).
    pub fn empty() -> SnapshotPlan {
        SnapshotPlan {
            entries: Vec::new(),
            folders: Vec::new(),
            hash: String::new(),
            origin: PathBuf::new(),
        }
    }

    pub fn images(&self) -> usize {
        self.entries.len()
    }

    /// Makes the snapshot in `dest` (created; must be empty if it exists).
    pub fn make(&self, dest: &Path) -> Result<Made, SnapshotError> {
        if let Ok(mut entries) = fs::read_dir(dest)
            && entries.next().is_some()
        {
            return Err(SnapshotError::NotEmpty(dest.to_path_buf()));
        }
        fs::create_dir_all(dest).map_err(io(dest))?;
        let mut made = Made::default();
        for entry in &self.entries {
            let target = dest.join(&entry.rel);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            match fs::hard_link(&entry.source, &target) {
                Ok(()) => made.hard_links += 1,
                // Another file system, or one without hard links: point at the original.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::CrossesDevices
                            | ErrorKind::PermissionDenied
                            | ErrorKind::Unsupported
                    ) =>
                {
                    let source = std::path::absolute(&entry.source).map_err(io(&entry.source))?;
                    std::os::unix::fs::symlink(&source, &target).map_err(io(&target))?;
                    made.symlinks += 1;
                }
                Err(e) => return Err(io(&entry.source)(e)),
            }
            if let Some((rel, bytes)) = &entry.caption {
                let path = dest.join(rel);
                fs::write(&path, bytes).map_err(io(&path))?;
                made.captions += 1;
            }
        }
        Ok(made)
    }
}
