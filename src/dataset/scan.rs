//! Scanning a dataset folder: images (by extension and by content), their captions, kohya
//! `N_name` folders, orphan captions, and the problems met on the way.

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use image::ImageFormat;
use rayon::prelude::*;

use super::caption::CaptionText;
use super::error::{DatasetError, Result};
use super::paths::{EXCLUDED_DIR, STATE_DIR};

/// How captions are found beside images.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Caption extensions, with the dot, in order of preference. The first one that exists
    /// beside an image is its caption; a new caption is written with the first.
    pub caption_exts: Vec<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            caption_exts: vec![".txt".into(), ".caption".into()],
        }
    }
}

impl ScanOptions {
    /// Options that write and prefer `ext` (e.g. `.caption` for sd-scripts' default).
    pub fn with_caption_ext(ext: &str) -> ScanOptions {
        let ext = if ext.starts_with('.') {
            ext.to_string()
        } else {
            format!(".{ext}")
        };
        let mut exts = vec![ext.clone()];
        exts.extend(
            ScanOptions::default()
                .caption_exts
                .into_iter()
                .filter(|e| *e != ext),
        );
        ScanOptions { caption_exts: exts }
    }
}

/// What a caption file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptionState {
    Missing,
    Text(CaptionText),
    /// Not valid UTF-8: kept as bytes, never rewritten with replacement characters.
    NotUtf8(Vec<u8>),
    Unreadable(String),
}

impl CaptionState {
    pub fn text(&self) -> Option<&str> {
        match self {
            CaptionState::Text(c) => Some(&c.text),
            _ => None,
        }
    }

    /// The bytes on disk, `None` when there is no readable file.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            CaptionState::Text(c) => Some(c.encode()),
            CaptionState::NotUtf8(b) => Some(b.clone()),
            CaptionState::Missing | CaptionState::Unreadable(_) => None,
        }
    }

    pub fn read(path: &Path) -> CaptionState {
        match fs::read(path) {
            Ok(bytes) => match CaptionText::decode(&bytes) {
                Ok(text) => CaptionState::Text(text),
                Err(_) => CaptionState::NotUtf8(bytes),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CaptionState::Missing,
            Err(e) => CaptionState::Unreadable(e.to_string()),
        }
    }
}

/// A kohya-style `N_name` folder: every image in it is seen N times per epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConceptFolder {
    pub repeats: u32,
    pub name: String,
    /// The folder, relative to the dataset root.
    pub path: PathBuf,
}

/// One image of the dataset.
#[derive(Debug, Clone)]
pub struct Item {
    /// Relative to the dataset root; for an excluded image, the path it had (and will get back).
    pub path: PathBuf,
    /// The format the extension names (case-insensitive).
    pub ext_format: Option<ImageFormat>,
    /// The format the first bytes say, `None` when they are no known image.
    pub sniffed_format: Option<ImageFormat>,
    pub file_size: u64,
    /// Relative path of the caption: the existing one, or where a new one would be written.
    pub caption_path: PathBuf,
    pub caption: CaptionState,
    pub folder: Option<ConceptFolder>,
    pub excluded: bool,
}

impl Item {
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The caption's tags (first line and the rest, as written), empty when there is no text.
    pub fn tags(&self) -> Vec<String> {
        self.caption
            .text()
            .map(super::caption::caption_tags)
            .unwrap_or_default()
    }
}

/// Something the scan could not read or follow. Scanning goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProblem {
    pub path: PathBuf,
    pub message: String,
}

/// A scanned dataset folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub options: ScanOptions,
    /// Included images first, then excluded ones; each group sorted by path.
    pub items: Vec<Item>,
    /// Caption files with no image beside them (relative paths).
    pub orphans: Vec<PathBuf>,
    pub problems: Vec<ScanProblem>,
}

impl Dataset {
    /// Where the image is on disk now (under `.lorabench/excluded/` when excluded).
    pub fn abs_path(&self, item: &Item) -> PathBuf {
        self.base(item.excluded).join(&item.path)
    }

    /// Where the caption is (or would be) on disk now.
    pub fn abs_caption_path(&self, item: &Item) -> PathBuf {
        self.base(item.excluded).join(&item.caption_path)
    }

    /// The caption's path relative to the root, as the journal records it.
    pub fn rel_caption_path(&self, item: &Item) -> PathBuf {
        if item.excluded {
            Path::new(EXCLUDED_DIR).join(&item.caption_path)
        } else {
            item.caption_path.clone()
        }
    }

    fn base(&self, excluded: bool) -> PathBuf {
        if excluded {
            self.root.join(EXCLUDED_DIR)
        } else {
            self.root.clone()
        }
    }

    /// Re-reads one item's caption from disk (after an external change).
    pub fn reload_caption(&mut self, index: usize) {
        if let Some(item) = self.items.get(index) {
            let state = CaptionState::read(&self.abs_caption_path(item));
            self.items[index].caption = state;
        }
    }

    pub fn index_of(&self, path: &Path) -> Option<usize> {
        self.items.iter().position(|i| i.path == path)
    }
}

/// Extensions taken as images without looking inside.
const IMAGE_EXTS: &[&str] = &[
    "png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff", "avif",
];

/// Extensions never taken as images even if their content looks like one.
fn is_known_non_image(ext: &str, options: &ScanOptions) -> bool {
    const OTHER: &[&str] = &[
        "json",
        "jsonl",
        "yaml",
        "yml",
        "toml",
        "md",
        "npz",
        "safetensors",
        "ckpt",
        "pt",
        "py",
        "sh",
        "log",
        "csv",
    ];
    OTHER.contains(&ext)
        || options
            .caption_exts
            .iter()
            .any(|c| c[1..].eq_ignore_ascii_case(ext))
}

pub fn scan(root: &Path, options: &ScanOptions) -> Result<Dataset> {
    fs::read_dir(root).map_err(|source| DatasetError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();
    let mut found = Vec::new();
    collect(root, root, false, options, &mut found, &mut problems);
    let excluded_root = root.join(EXCLUDED_DIR);
    if excluded_root.is_dir() {
        collect(
            &excluded_root,
            &excluded_root,
            true,
            options,
            &mut found,
            &mut problems,
        );
    }

    // Every caption file, keyed by side (excluded or not) and relative path: one shared set,
    // so pairing stays linear with 10,000 images in one folder.
    let captions: HashSet<(bool, &Path)> = found
        .iter()
        .filter(|f| f.is_caption)
        .map(|f| (f.excluded, f.rel.as_path()))
        .collect();
    let mut items: Vec<Item> = found
        .par_iter()
        .filter_map(|f| make_item(root, f, &captions, options))
        .collect();
    items.sort_by(|a, b| (a.excluded, &a.path).cmp(&(b.excluded, &b.path)));

    let claimed: HashSet<(bool, &Path)> = items
        .iter()
        .map(|i| (i.excluded, i.caption_path.as_path()))
        .collect();
    let mut orphans: Vec<PathBuf> = found
        .iter()
        .filter(|f| f.is_caption && !f.excluded && !claimed.contains(&(false, f.rel.as_path())))
        .map(|f| f.rel.clone())
        .collect();
    orphans.sort();
    Ok(Dataset {
        root: root.to_path_buf(),
        options: options.clone(),
        items,
        orphans,
        problems,
    })
}

struct Found {
    rel: PathBuf,
    excluded: bool,
    is_caption: bool,
    /// Extension names an image; else the content must be sniffed.
    image_ext: bool,
    size: u64,
}

fn collect(
    root: &Path,
    base: &Path,
    excluded: bool,
    options: &ScanOptions,
    out: &mut Vec<Found>,
    problems: &mut Vec<ScanProblem>,
) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_hidden(e.file_name()));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = err.path().map(Path::to_path_buf).unwrap_or_default();
                let message = if err.loop_ancestor().is_some() {
                    "symbolic link loop: not followed".to_string()
                } else {
                    format!("cannot read: {err}")
                };
                problems.push(ScanProblem {
                    path: path.strip_prefix(base).unwrap_or(&path).to_path_buf(),
                    message,
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = match entry.path().strip_prefix(base) {
            Ok(r) => r.to_path_buf(),
            Err(_) => continue,
        };
        let ext = rel
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let is_caption = options
            .caption_exts
            .iter()
            .any(|c| rel.to_string_lossy().ends_with(c.as_str()));
        let image_ext = IMAGE_EXTS.contains(&ext.as_str());
        if !is_caption && (image_ext || !is_known_non_image(&ext, options)) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Found {
                rel,
                excluded,
                is_caption: false,
                image_ext,
                size,
            });
        } else if is_caption {
            out.push(Found {
                rel,
                excluded,
                is_caption: true,
                image_ext: false,
                size: 0,
            });
        }
    }
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || name == STATE_DIR
}

fn make_item(
    root: &Path,
    f: &Found,
    captions: &HashSet<(bool, &Path)>,
    options: &ScanOptions,
) -> Option<Item> {
    if f.is_caption {
        return None;
    }
    let base = if f.excluded {
        root.join(EXCLUDED_DIR)
    } else {
        root.to_path_buf()
    };
    let sniffed_format = sniff(&base.join(&f.rel));
    if !f.image_ext && sniffed_format.is_none() {
        return None;
    }
    let ext_format = ImageFormat::from_path(&f.rel).ok();
    let caption_path = caption_for(&f.rel, |c| captions.contains(&(f.excluded, c)), options);
    let caption = CaptionState::read(&base.join(&caption_path));
    Some(Item {
        path: f.rel.clone(),
        ext_format,
        sniffed_format,
        file_size: f.size,
        caption_path,
        caption,
        folder: concept_folder(&f.rel),
        excluded: f.excluded,
    })
}

/// The existing caption beside `image` in preference order, else where a new one goes.
fn caption_for(image: &Path, present: impl Fn(&Path) -> bool, options: &ScanOptions) -> PathBuf {
    let stem = image.with_extension("");
    let candidates: Vec<PathBuf> = options
        .caption_exts
        .iter()
        .map(|ext| {
            let mut s = stem.clone().into_os_string();
            s.push(ext);
            PathBuf::from(s)
        })
        .collect();
    candidates
        .iter()
        .find(|c| present(c))
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| stem.with_extension("txt"))
}

/// The image format from the first bytes, if they are an image the `image` crate knows.
pub fn sniff(path: &Path) -> Option<ImageFormat> {
    let mut head = [0u8; 32];
    let mut file = fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    image::guess_format(&head[..n]).ok()
}

/// The nearest enclosing `N_name` folder (sd-scripts' DreamBooth layout).
pub fn concept_folder(rel: &Path) -> Option<ConceptFolder> {
    let mut dir = rel.parent();
    while let Some(d) = dir {
        if let Some(name) = d.file_name().and_then(|n| n.to_str())
            && let Some((n, rest)) = name.split_once('_')
            && let Ok(repeats) = n.parse::<u32>()
            && !rest.is_empty()
        {
            return Some(ConceptFolder {
                repeats,
                name: rest.to_string(),
                path: d.to_path_buf(),
            });
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concept_folders() {
        let c = concept_folder(Path::new("10_lbhouse sea/a.png")).unwrap();
        assert_eq!((c.repeats, c.name.as_str()), (10, "lbhouse sea"));
        assert!(concept_folder(Path::new("lbhouse/a.png")).is_none());
        assert!(concept_folder(Path::new("x_1/a.png")).is_none());
        assert_eq!(
            concept_folder(Path::new("img/3_cat/sub/a.png"))
                .unwrap()
                .path,
            Path::new("img/3_cat")
        );
    }

    #[test]
    fn caption_preference() {
        let o = ScanOptions::default();
        let img = Path::new("a/b.png");
        let none = |_: &Path| false;
        assert_eq!(caption_for(img, none, &o), Path::new("a/b.txt"));
        assert_eq!(
            caption_for(img, |c| c == Path::new("a/b.caption"), &o),
            Path::new("a/b.caption")
        );
        let o = ScanOptions::with_caption_ext("caption");
        assert_eq!(caption_for(img, none, &o), Path::new("a/b.caption"));
    }
}
