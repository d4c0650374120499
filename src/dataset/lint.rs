//! Dataset lint: find what would spoil a training run, the way the chosen trainer reads the
//! dataset (datasets.md §2.6).
//!
//! [`run`] checks every included image in parallel (one decode per worker at a time, pixels
//! dropped at once, so memory stays bounded), streams findings and progress to a callback as
//! they come, then adds the dataset-level findings (duplicates, buckets, balance). It can be
//! cancelled between images.

mod finding;
pub mod fix;
mod image_check;
pub mod text;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use image::metadata::Orientation;
use image::{ColorType, ImageFormat};
use rayon::prelude::*;
use serde::Serialize;

use super::buckets::{
    Assignment, BucketError, KohyaBuckets, KohyaConfig, Model, Size, ai_toolkit_bucket,
};
use super::caption::{self, CaptionText, same_tag};
use super::scan::{CaptionState, Dataset, Item};
use super::similarity::{self, DEFAULT_NEAR_DUPLICATE_DISTANCE, PerceptualHash};
use super::tokens::{self, CLIP_TOKEN_LIMIT};

pub use finding::{Finding, Kind, Severity};
pub use image_check::{ImageFacts, MAX_ALLOC, MAX_DIMENSION, Unreadable, inspect};

/// The trainer the dataset is meant for: it decides what is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Trainer {
    Builtin,
    Kohya,
    AiToolkit,
    Onetrainer,
    Simpletuner,
    Diffusers,
}

impl Trainer {
    pub fn name(self) -> &'static str {
        match self {
            Trainer::Builtin => "the built-in trainer",
            Trainer::Kohya => "sd-scripts",
            Trainer::AiToolkit => "ai-toolkit",
            Trainer::Onetrainer => "OneTrainer",
            Trainer::Simpletuner => "SimpleTuner",
            Trainer::Diffusers => "the diffusers scripts",
        }
    }

    /// Image formats the trainer reads (by lower-case extension).
    pub fn reads(self, ext: &str) -> bool {
        match self {
            Trainer::Kohya => matches!(ext, "png" | "jpg" | "jpeg" | "webp" | "bmp"),
            Trainer::AiToolkit => matches!(ext, "png" | "jpg" | "jpeg" | "webp"),
            Trainer::Builtin => {
                matches!(
                    ext,
                    "png" | "jpg" | "jpeg" | "webp" | "bmp" | "gif" | "tif" | "tiff"
                )
            }
            Trainer::Onetrainer | Trainer::Simpletuner | Trainer::Diffusers => {
                matches!(
                    ext,
                    "png" | "jpg" | "jpeg" | "webp" | "bmp" | "tif" | "tiff"
                )
            }
        }
    }

    /// Whether the trainer rotates images by their EXIF orientation (datasets.md §1).
    pub fn applies_exif(self) -> bool {
        matches!(
            self,
            Trainer::AiToolkit | Trainer::Onetrainer | Trainer::Diffusers
        )
    }
}

/// What to check against.
#[derive(Debug, Clone, PartialEq)]
pub struct LintOptions {
    pub trainer: Trainer,
    pub model: Model,
    /// Training resolution (default: the model's).
    pub resolution: Option<u32>,
    pub batch_size: u32,
    /// The trigger word every caption should hold (no check when `None`).
    pub trigger: Option<String>,
    pub near_duplicate_distance: u32,
    /// sd-scripts `bucket_no_upscale`.
    pub bucket_no_upscale: bool,
    /// sd-scripts `min_bucket_reso` (default 256).
    pub min_bucket_reso: Option<u32>,
    /// sd-scripts `max_bucket_reso` (default 1024).
    pub max_bucket_reso: Option<u32>,
    /// sd-scripts `bucket_reso_steps` (default 64 for every model).
    pub bucket_reso_steps: Option<u32>,
    /// Decode and hash images (off: captions, names and dataset shape only).
    pub check_images: bool,
    /// Worker threads (default: all cores).
    pub threads: Option<usize>,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            trainer: Trainer::Kohya,
            model: Model::Sdxl,
            resolution: None,
            batch_size: 1,
            trigger: None,
            near_duplicate_distance: DEFAULT_NEAR_DUPLICATE_DISTANCE,
            bucket_no_upscale: false,
            min_bucket_reso: None,
            max_bucket_reso: None,
            bucket_reso_steps: None,
            check_images: true,
            threads: None,
        }
    }
}

impl LintOptions {
    pub fn resolution(&self) -> u32 {
        self.resolution
            .unwrap_or_else(|| self.model.default_resolution())
    }

    /// Refuses settings the trainer would refuse: a zero batch, a bucket step the model's
    /// script rejects, a resolution outside the bucket sizes. `run` checks this before any
    /// work; the TUI's target form and its remembered target are checked with it too.
    pub fn check(&self) -> Result<(), LintError> {
        if self.batch_size == 0 {
            return Err(LintError::ZeroBatch);
        }
        if self.trainer != Trainer::AiToolkit {
            self.kohya_config().check_step(self.model)?;
        }
        KohyaBuckets::new(self.kohya_config())?;
        Ok(())
    }

    fn kohya_config(&self) -> KohyaConfig {
        let mut cfg = KohyaConfig::defaults(self.resolution());
        cfg.bucket_no_upscale = self.bucket_no_upscale;
        if let Some(min) = self.min_bucket_reso {
            cfg.min_bucket_reso = min;
        }
        if let Some(max) = self.max_bucket_reso {
            cfg.max_bucket_reso = max;
        }
        if let Some(step) = self.bucket_reso_steps {
            cfg.bucket_reso_steps = step;
        }
        // diffusers example scripts do not bucket: one fixed square crop.
        cfg.enable_bucket = self.trainer != Trainer::Diffusers;
        cfg
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("bucket settings: {0}")]
    Buckets(#[from] BucketError),
    #[error("{0}")]
    Tokenizer(String),
    #[error("cannot start lint workers: {0}")]
    Threads(String),
    #[error("batch size must be at least 1")]
    ZeroBatch,
}

/// What `run` streams while it works.
#[derive(Debug, Clone)]
pub enum LintEvent {
    Finding(Finding),
    /// Images checked so far, of `total`.
    Progress {
        done: usize,
        total: usize,
    },
}

/// One bucket and the images in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketUse {
    pub bucket: Size,
    /// Images counted with their folder repeats (what the trainer batches).
    pub count: u64,
    /// Item indices.
    #[serde(skip)]
    pub items: Vec<usize>,
    pub images: Vec<String>,
}

/// Counts for the JSON summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub images: usize,
    pub excluded: usize,
    pub captions: usize,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub kinds: BTreeMap<Kind, usize>,
    pub trainer: Trainer,
    pub model: Model,
    pub resolution: u32,
    pub batch_size: u32,
    pub buckets: usize,
    pub cancelled: bool,
}

/// Everything lint found.
#[derive(Debug, Clone)]
pub struct LintReport {
    /// Sorted by severity, then path, then kind.
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// Per item (same index as `Dataset::items`): decode facts, when decoded.
    pub images: Vec<Option<ImageFacts>>,
    /// Per item: bucket, when the size is known.
    pub assignments: Vec<Option<Assignment>>,
    pub buckets: Vec<BucketUse>,
}

impl LintReport {
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

/// Results of the per-image work, sent back to the collecting thread.
struct ItemResult {
    index: usize,
    findings: Vec<Finding>,
    facts: Option<ImageFacts>,
}

/// Lint a scanned dataset. Findings and progress go to `on_event` as they are found (on the
/// calling thread); the full report is returned at the end. When `cancel` becomes true the
/// remaining images are skipped and the report says `cancelled`.
pub fn run(
    dataset: &Dataset,
    options: &LintOptions,
    cancel: &AtomicBool,
    mut on_event: impl FnMut(LintEvent),
) -> Result<LintReport, LintError> {
    let tokenizer = tokens::clip().map_err(|e| LintError::Tokenizer(e.to_string()))?;
    // Fail early on bad settings, before the long part.
    options.check()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.unwrap_or(0))
        .build()
        .map_err(|e| LintError::Threads(e.to_string()))?;

    let included: Vec<usize> = (0..dataset.items.len())
        .filter(|&i| !dataset.items[i].excluded)
        .collect();
    let total = included.len();
    let mut findings = Vec::new();
    let emit = |f: Finding, findings: &mut Vec<Finding>, on_event: &mut dyn FnMut(LintEvent)| {
        on_event(LintEvent::Finding(f.clone()));
        findings.push(f);
    };
    for problem in &dataset.problems {
        emit(
            Finding::new(
                Kind::Unreadable,
                Severity::Warning,
                &problem.path,
                format!("folder not scanned: {}", problem.message),
                "check its permissions or remove the link loop; the rest was scanned",
            ),
            &mut findings,
            &mut on_event,
        );
    }
    for orphan in &dataset.orphans {
        emit(
            Finding::new(
                Kind::OrphanCaption,
                Severity::Warning,
                orphan,
                "caption file with no image beside it",
                "rename it to match its image, or delete it",
            ),
            &mut findings,
            &mut on_event,
        );
    }

    for f in shared_captions(dataset, &included) {
        emit(f, &mut findings, &mut on_event);
    }

    let mut images: Vec<Option<ImageFacts>> = vec![None; dataset.items.len()];
    let (tx, rx) = mpsc::channel::<ItemResult>();
    let mut done = 0;
    std::thread::scope(|scope| {
        let included = &included;
        scope.spawn(move || {
            pool.install(|| {
                included.par_iter().for_each_with(tx, |tx, &index| {
                    if cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let result = check_item(dataset, index, options, tokenizer);
                    // The receiver only goes away when the caller stops listening.
                    let _ = tx.send(result);
                });
            });
        });
        for result in rx {
            done += 1;
            for f in result.findings {
                emit(f, &mut findings, &mut on_event);
            }
            images[result.index] = result.facts;
            on_event(LintEvent::Progress { done, total });
        }
    });
    let cancelled = cancel.load(Ordering::Relaxed) && done < total;

    let sizes: Vec<Option<Size>> = images
        .iter()
        .map(|f| f.as_ref().map(|f| trainer_size(f, options.trainer)))
        .collect();
    let (assignments, buckets) = assign_buckets(dataset, &sizes, options)?;
    if !cancelled {
        let mut dataset_findings = duplicates(dataset, &images, options);
        dataset_findings.extend(bucket_checks(
            dataset,
            &assignments,
            &buckets,
            &sizes,
            options,
        ));
        dataset_findings.extend(shape_checks(dataset, &included));
        for f in dataset_findings {
            emit(f, &mut findings, &mut on_event);
        }
    }

    findings.sort_by(|a, b| (a.severity, &a.path, a.kind).cmp(&(b.severity, &b.path, b.kind)));
    let mut kinds = BTreeMap::new();
    for f in &findings {
        *kinds.entry(f.kind).or_insert(0) += 1;
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let summary = Summary {
        images: total,
        excluded: dataset.items.len() - total,
        captions: included
            .iter()
            .filter(|&&i| !matches!(dataset.items[i].caption, CaptionState::Missing))
            .count(),
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
        kinds,
        trainer: options.trainer,
        model: options.model,
        resolution: options.resolution(),
        batch_size: options.batch_size,
        buckets: buckets.len(),
        cancelled,
    };
    Ok(LintReport {
        findings,
        summary,
        images,
        assignments,
        buckets,
    })
}

/// One caption file that two images read (`a.jpg` and `a.png` both pair with `a.txt`).
fn shared_captions(dataset: &Dataset, included: &[usize]) -> Vec<Finding> {
    let mut by_caption: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
    for &i in included {
        let item = &dataset.items[i];
        if !matches!(item.caption, CaptionState::Missing) {
            by_caption.entry(&item.caption_path).or_default().push(i);
        }
    }
    by_caption
        .into_iter()
        .filter(|(_, users)| users.len() > 1)
        .map(|(caption, users)| {
            let names: Vec<String> = users
                .iter()
                .map(|&i| dataset.items[i].path.display().to_string())
                .collect();
            Finding::new(
                Kind::SharedCaption,
                Severity::Warning,
                caption,
                format!(
                    "one caption for {} images ({}): each trains with it",
                    users.len(),
                    names.join(", ")
                ),
                "give each image its own stem and caption, or exclude the copies",
            )
            .for_item(users[0])
        })
        .collect()
}

fn check_item(
    dataset: &Dataset,
    index: usize,
    options: &LintOptions,
    tokenizer: &tokens::ClipTokenizer,
) -> ItemResult {
    let item = &dataset.items[index];
    let mut findings = Vec::new();
    let mut push = |f: Finding| findings.push(f.for_item(index));
    name_checks(item, options, &mut push);
    caption_checks(item, options, tokenizer, &mut push);
    let facts = if options.check_images {
        match inspect(&dataset.abs_path(item)) {
            Ok(facts) => {
                image_checks(item, &facts, options, &mut push);
                Some(facts)
            }
            Err(why) => {
                push(Finding::new(
                    Kind::Unreadable,
                    Severity::Error,
                    &item.path,
                    format!("unusable image: {why}"),
                    "replace it with a good copy, or exclude it from the dataset",
                ));
                None
            }
        }
    } else {
        None
    };
    ItemResult {
        index,
        findings,
        facts,
    }
}

fn ext_of(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn format_name(format: ImageFormat) -> String {
    format
        .extensions_str()
        .first()
        .map(|e| e.to_uppercase())
        .unwrap_or_else(|| format!("{format:?}"))
}

/// Extension against content, and what the trainer reads.
fn name_checks(item: &Item, options: &LintOptions, push: &mut impl FnMut(Finding)) {
    let ext = ext_of(&item.path);
    let lower = ext.to_ascii_lowercase();
    if let (Some(named), Some(actual)) = (item.ext_format, item.sniffed_format)
        && named != actual
    {
        push(Finding::new(
            Kind::ExtensionMismatch,
            Severity::Warning,
            &item.path,
            format!("named .{ext} but the content is {}", format_name(actual)),
            format!(
                "rename it to .{}",
                actual.extensions_str().first().copied().unwrap_or("?")
            ),
        ));
    }
    let trainer = options.trainer;
    if !trainer.reads(&lower) {
        push(Finding::new(
            Kind::UnsupportedByTrainer,
            Severity::Warning,
            &item.path,
            format!(
                "{} does not read .{ext} images: it will be left out",
                trainer.name()
            ),
            "convert it to PNG or JPEG",
        ));
    } else if trainer == Trainer::Kohya && ext != lower && ext != ext.to_ascii_uppercase() {
        push(Finding::new(
            Kind::UnsupportedByTrainer,
            Severity::Warning,
            &item.path,
            format!(
                "sd-scripts only finds .{lower} or .{} on Linux: this .{ext} image is silently skipped",
                lower.to_ascii_uppercase()
            ),
            format!("rename the extension to .{lower}"),
        ));
    }
}

fn caption_checks(
    item: &Item,
    options: &LintOptions,
    tokenizer: &tokens::ClipTokenizer,
    push: &mut impl FnMut(Finding),
) {
    let trainer = options.trainer;
    let kohya = trainer == Trainer::Kohya;
    let cap_path = &item.caption_path;
    let caption = match &item.caption {
        CaptionState::Missing => {
            let fallback = match (&item.folder, trainer) {
                (Some(folder), Trainer::Kohya) => {
                    format!(
                        "; sd-scripts trains it with the folder's class tokens \"{}\"",
                        folder.name
                    )
                }
                (_, Trainer::AiToolkit) => "; ai-toolkit uses its default_caption".into(),
                _ => "; it trains with an empty caption".into(),
            };
            push(Finding::new(
                Kind::MissingCaption,
                Severity::Warning,
                &item.path,
                format!("no caption file ({}){fallback}", cap_path.display()),
                "write a caption, or `lorabench lint --fix empty-caption` to create one from the folder name",
            ));
            return;
        }
        CaptionState::Unreadable(e) => {
            push(Finding::new(
                Kind::Unreadable,
                Severity::Error,
                cap_path,
                format!("caption cannot be read: {e}"),
                "check the file's permissions",
            ));
            return;
        }
        CaptionState::NotUtf8(bytes) => {
            let guess = text::guess_encoding(bytes);
            let (severity, effect) = if kohya {
                (Severity::Error, "sd-scripts aborts on it")
            } else {
                (Severity::Warning, "the trainer may misread it")
            };
            let hint = if guess.text.is_some() {
                "`lorabench lint --fix caption-encoding` re-encodes it as UTF-8"
            } else {
                "re-save it as UTF-8 in an editor that knows its encoding"
            };
            push(Finding::new(
                Kind::CaptionEncoding,
                severity,
                cap_path,
                format!("caption is not UTF-8 (looks like {}); {effect}", guess.name),
                hint,
            ));
            return;
        }
        CaptionState::Text(c) => c,
    };
    check_caption_text(caption, cap_path, options, tokenizer, push);
}

fn check_caption_text(
    caption: &CaptionText,
    cap_path: &Path,
    options: &LintOptions,
    tokenizer: &tokens::ClipTokenizer,
    push: &mut impl FnMut(Finding),
) {
    let trainer = options.trainer;
    let kohya = trainer == Trainer::Kohya;
    let text = &caption.text;
    if text.trim().is_empty() {
        let zero_bytes = text.is_empty() && !caption.final_newline && !caption.bom;
        let (severity, message) = if zero_bytes && kohya {
            (
                Severity::Error,
                "caption file is empty (0 bytes): sd-scripts aborts training on it",
            )
        } else if zero_bytes {
            (Severity::Warning, "caption file is empty (0 bytes)")
        } else {
            (
                Severity::Warning,
                "caption holds only whitespace: the image trains uncaptioned",
            )
        };
        push(Finding::new(
            Kind::EmptyCaption,
            severity,
            cap_path,
            message,
            "write a caption, or `lorabench lint --fix empty-caption` to fill it from the folder name",
        ));
        return;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let content = text::content_lines(text);
    if lines.len() > 1 {
        let (severity, message) = match trainer {
            Trainer::Kohya if lines[0].trim().is_empty() => (
                Severity::Error,
                "the first line is empty: sd-scripts reads only the first line, so it trains uncaptioned".to_string(),
            ),
            Trainer::Kohya => (
                Severity::Warning,
                format!("{} lines: sd-scripts reads only the first line", lines.len()),
            ),
            Trainer::Onetrainer | Trainer::Simpletuner => (
                Severity::Info,
                format!("{} lines: {} takes each line as a separate caption", lines.len(), trainer.name()),
            ),
            _ => (Severity::Warning, format!("{} lines in one caption", lines.len())),
        };
        if content.len() > 1 || kohya {
            push(Finding::new(
                Kind::MultiLineCaption,
                severity,
                cap_path,
                message,
                "`lorabench lint --fix multi-line-caption` joins the lines with commas",
            ));
        }
    }
    // What the trainer reads: sd-scripts the first line, the others every line.
    let read: Vec<&str> = if kohya {
        vec![lines[0]]
    } else {
        content.clone()
    };
    for line in &read {
        let dups = text::duplicate_tags(line);
        if !dups.is_empty() {
            push(Finding::new(
                Kind::DuplicateTag,
                Severity::Warning,
                cap_path,
                format!(
                    "repeated tag{}: {}",
                    if dups.len() > 1 { "s" } else { "" },
                    dups.join(", ")
                ),
                "`lorabench lint --fix duplicate-tag` keeps the first of each",
            ));
            break;
        }
    }
    let empty = read.iter().map(|l| caption::empty_tags(l)).sum::<usize>();
    if empty > 0 {
        push(Finding::new(
            Kind::EmptyTag,
            Severity::Info,
            cap_path,
            format!(
                "{empty} empty tag{} (commas with nothing between, or a trailing comma): \
                 they train as stray commas",
                if empty > 1 { "s" } else { "" }
            ),
            "`lorabench lint --fix empty-tag` drops them (`--fix whitespace` too)",
        ));
    }
    if text::tidy_whitespace(text) != text::drop_empty_tags(text) {
        push(Finding::new(
            Kind::Whitespace,
            Severity::Info,
            cap_path,
            "stray whitespace (leading/trailing, doubled, or before a comma)",
            "`lorabench lint --fix whitespace` tidies it",
        ));
    }
    let read_lines = if kohya { 1 } else { lines.len() };
    for (n, line) in lines.iter().enumerate().take(read_lines) {
        let lone = caption::unbalanced_brackets(line);
        if let Some(&(at, bracket)) = lone.first() {
            let which = if lines.len() > 1 {
                format!(" of line {}", n + 1)
            } else {
                String::new()
            };
            let more = if lone.len() > 1 {
                format!(" (and {} more)", lone.len() - 1)
            } else {
                String::new()
            };
            push(Finding::new(
                Kind::UnbalancedBracket,
                Severity::Warning,
                cap_path,
                format!(
                    "unbalanced `{bracket}` at character {at}{which}{more}: taken as text, so it \
                     groups nothing (a tool that groups by brackets reads the rest as one tag)"
                ),
                "close it, or escape it (`\\(`) if it is part of a tag",
            ));
            break;
        }
    }
    let controls: Vec<(usize, char)> = text
        .chars()
        .enumerate()
        .filter(|&(_, c)| crate::safe_text::is_control(c) && c != '\n' && c != '\t')
        .collect();
    if let Some(&(at, c)) = controls.first() {
        let name = match c {
            '\0' => "NUL".to_string(),
            '\u{1b}' => "ESC".to_string(),
            '\u{7}' => "BEL".to_string(),
            '\r' => "carriage return".to_string(),
            c => format!("U+{:04X}", u32::from(c)),
        };
        push(Finding::new(
            Kind::ControlCharacter,
            Severity::Warning,
            cap_path,
            format!(
                "{} control character{} ({name} at character {at}): the tokenizer drops them, \
                 and they garble a terminal",
                controls.len(),
                if controls.len() > 1 { "s" } else { "" }
            ),
            "`lorabench lint --fix control-character` removes them",
        ));
    }
    if let Some(trigger) = &options.trigger {
        let first = lines[0];
        let has = crate::dataset::caption::split_tags(first)
            .iter()
            .any(|t| same_tag(t, trigger))
            || first.to_lowercase().contains(&trigger.to_lowercase());
        if !has {
            let (severity, effect) = if trainer == Trainer::AiToolkit {
                (Severity::Info, "ai-toolkit prepends it at training time")
            } else {
                (
                    Severity::Warning,
                    "the LoRA will not bind the concept to it",
                )
            };
            push(Finding::new(
                Kind::MissingTrigger,
                severity,
                cap_path,
                format!("caption lacks the trigger word \"{trigger}\"; {effect}"),
                "`lorabench lint --fix missing-trigger --trigger WORD` puts it first",
            ));
        }
    }
    for line in &read {
        let count = tokenizer.count(line, CLIP_TOKEN_LIMIT);
        if let Some(cut) = count.cut {
            let at = cut
                .char_offset
                .map(|o| format!(" (character {o})"))
                .unwrap_or_default();
            let (severity, effect) = if options.model == Model::Flux {
                (
                    Severity::Info,
                    "CLIP drops the rest (Flux's T5 still reads it)",
                )
            } else {
                (Severity::Warning, "the trainer silently drops the rest")
            };
            let split = if cut.splits_word {
                ", in the middle of it"
            } else {
                ""
            };
            push(Finding::new(
                Kind::TokenLimit,
                severity,
                cap_path,
                format!(
                    "{} CLIP tokens, over the {CLIP_TOKEN_LIMIT}-token limit: {effect}; the cut falls at \"{}\"{at}{split}",
                    count.count, cut.word
                ),
                "shorten the caption or move the important tags first",
            ));
            break;
        }
    }
}

fn image_checks(
    item: &Item,
    facts: &ImageFacts,
    options: &LintOptions,
    push: &mut impl FnMut(Finding),
) {
    let trainer = options.trainer;
    if facts.orientation != Orientation::NoTransforms {
        let stored = facts.size;
        let (severity, message) = if trainer.applies_exif() {
            (
                Severity::Info,
                format!(
                    "EXIF orientation {:?}: stored {stored}, shown rotated; {} applies it",
                    facts.orientation,
                    trainer.name()
                ),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "EXIF orientation {:?}: viewers show it rotated but {} ignores EXIF and trains the stored {stored} pixels, sideways",
                    facts.orientation,
                    trainer.name()
                ),
            )
        };
        push(Finding::new(
            Kind::ExifOrientation,
            severity,
            &item.path,
            message,
            "re-save the image with the rotation applied to its pixels",
        ));
    }
    if facts.transparent {
        push(Finding::new(
            Kind::Transparency,
            Severity::Warning,
            &item.path,
            "transparent pixels: the trainer flattens the alpha channel, so the colours hidden under them show",
            "flatten it onto the background you want (e.g. white) before training",
        ));
    }
    let mode = if facts.cmyk {
        Some("CMYK")
    } else {
        match facts.color {
            ColorType::L8 | ColorType::La8 => Some("grayscale"),
            ColorType::L16 | ColorType::La16 => Some("16-bit grayscale"),
            ColorType::Rgb16 | ColorType::Rgba16 => Some("16-bit"),
            ColorType::Rgb32F | ColorType::Rgba32F => Some("floating-point"),
            _ => None,
        }
    };
    if let Some(mode) = mode {
        let severity = if facts.cmyk {
            Severity::Warning
        } else {
            Severity::Info
        };
        push(Finding::new(
            Kind::ColorMode,
            severity,
            &item.path,
            format!("{mode} image: the trainer converts it to 8-bit RGB"),
            "convert it to 8-bit sRGB yourself to see what is trained",
        ));
    }
}

fn duplicates(
    dataset: &Dataset,
    images: &[Option<ImageFacts>],
    options: &LintOptions,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // A byte-identical copy has the same length, so only files whose length another file
    // shares are hashed (read again: rare, and it keeps SHA-256 off the per-image path).
    let mut by_len: HashMap<u64, usize> = HashMap::new();
    for f in images.iter().flatten() {
        *by_len.entry(f.file_len).or_default() += 1;
    }
    let shas: Vec<Option<[u8; 32]>> = images
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.as_ref().filter(|f| by_len[&f.file_len] > 1)?;
            similarity::sha256_file(&dataset.abs_path(&dataset.items[i])).ok()
        })
        .collect();
    let groups = similarity::exact_groups(&shas);
    let mut exact_of: HashMap<usize, usize> = HashMap::new();
    for group in &groups {
        for &i in group {
            exact_of.insert(i, group[0]);
            let others: Vec<String> = group
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| dataset.items[j].path.display().to_string())
                .collect();
            out.push(
                Finding::new(
                    Kind::Duplicate,
                    Severity::Warning,
                    &dataset.items[i].path,
                    format!("byte-identical to {}", others.join(", ")),
                    "exclude all copies but one: duplicates weigh that image double",
                )
                .for_item(i),
            );
        }
    }
    let same_group = |a: usize, b: usize| {
        exact_of.get(&a).copied().unwrap_or(a) == exact_of.get(&b).copied().unwrap_or(b)
    };
    let hashes: Vec<Option<PerceptualHash>> =
        images.iter().map(|f| f.as_ref().map(|f| f.phash)).collect();
    for pair in similarity::near_pairs(&hashes, options.near_duplicate_distance, same_group) {
        for (this, other) in [(pair.a, pair.b), (pair.b, pair.a)] {
            out.push(
                Finding::new(
                    Kind::NearDuplicate,
                    Severity::Warning,
                    &dataset.items[this].path,
                    format!(
                        "looks like {} (perceptual distance {} of 64, threshold {})",
                        dataset.items[other].path.display(),
                        pair.distance,
                        options.near_duplicate_distance
                    ),
                    "keep the better one unless the difference matters",
                )
                .for_item(this),
            );
        }
    }
    out
}

/// Assign each item of known size to its bucket as the trainer would, and gather the buckets
/// (counts include folder repeats). `sizes` are the sizes the trainer sees, per item.
pub fn assign_buckets(
    dataset: &Dataset,
    sizes: &[Option<Size>],
    options: &LintOptions,
) -> Result<(Vec<Option<Assignment>>, Vec<BucketUse>), BucketError> {
    let kohya = KohyaBuckets::new(options.kohya_config())?;
    let res = options.resolution();
    let mut assignments = vec![None; dataset.items.len()];
    let mut by_bucket: BTreeMap<Size, BucketUse> = BTreeMap::new();
    for (i, size) in sizes.iter().enumerate() {
        let (Some(size), Some(item)) = (size, dataset.items.get(i)) else {
            continue;
        };
        if item.excluded {
            continue;
        }
        let a = if options.trainer == Trainer::AiToolkit {
            ai_toolkit_bucket(*size, res, options.model.ai_toolkit_divisibility())
        } else {
            kohya.assign(*size)
        };
        assignments[i] = Some(a);
        let repeats = u64::from(item.folder.as_ref().map_or(1, |f| f.repeats.max(1)));
        let entry = by_bucket.entry(a.bucket).or_insert_with(|| BucketUse {
            bucket: a.bucket,
            count: 0,
            items: Vec::new(),
            images: Vec::new(),
        });
        entry.count += repeats;
        entry.items.push(i);
        entry.images.push(item.path.to_string_lossy().into_owned());
    }
    Ok((assignments, by_bucket.into_values().collect()))
}

/// The size a trainer buckets an image by (EXIF rotation applied or not).
pub fn trainer_size(facts: &ImageFacts, trainer: Trainer) -> Size {
    if trainer.applies_exif() {
        facts.oriented_size()
    } else {
        facts.size
    }
}

fn bucket_checks(
    dataset: &Dataset,
    assignments: &[Option<Assignment>],
    buckets: &[BucketUse],
    sizes: &[Option<Size>],
    options: &LintOptions,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let res = options.resolution();
    let target = u64::from(res) * u64::from(res);
    let upscaling = options.trainer != Trainer::AiToolkit && !options.bucket_no_upscale;
    for (i, a) in assignments.iter().enumerate() {
        let (Some(a), Some(size)) = (a, sizes[i]) else {
            continue;
        };
        let item = &dataset.items[i];
        if upscaling && a.scale > 1.0 + 1e-9 {
            push_item(
                &mut findings,
                i,
                Finding::new(
                    Kind::LowResolution,
                    Severity::Warning,
                    &item.path,
                    format!(
                        "{size} is upscaled ×{:.2} to fit bucket {} at resolution {res}: the model learns the blur",
                        a.scale, a.bucket
                    ),
                    "use a larger original, or train at a lower resolution",
                ),
            );
        } else if !upscaling && a.bucket.area() * 2 < target {
            push_item(
                &mut findings,
                i,
                Finding::new(
                    Kind::LowResolution,
                    Severity::Warning,
                    &item.path,
                    format!(
                        "{size} trains in bucket {} at {:.0}% of the {res}×{res} target pixels",
                        a.bucket,
                        100.0 * a.bucket.area() as f64 / target as f64
                    ),
                    "use a larger original, or train at a lower resolution",
                ),
            );
        }
        let ar = size.aspect();
        let cropped = if a.resized.area() > 0 {
            1.0 - a.bucket.area() as f64 / a.resized.area() as f64
        } else {
            1.0
        };
        if !(1.0 / 3.0..=3.0).contains(&ar) || cropped > 0.2 || a.bucket.area() == 0 {
            push_item(
                &mut findings,
                i,
                Finding::new(
                    Kind::AspectRatio,
                    Severity::Warning,
                    &item.path,
                    format!(
                        "aspect {ar:.2} ({size}) lands in bucket {} and loses {:.0}% of the picture to cropping",
                        a.bucket,
                        100.0 * cropped.clamp(0.0, 1.0)
                    ),
                    "crop it to a less extreme aspect yourself, keeping what matters",
                ),
            );
        }
    }
    let batch = u64::from(options.batch_size.max(1));
    if batch > 1 {
        for b in buckets {
            if b.count < batch {
                let effect = if options.trainer == Trainer::Onetrainer {
                    "OneTrainer drops incomplete batches, so these images never train"
                } else {
                    "it trains in smaller batches"
                };
                let first = b.items[0];
                push_item(
                    &mut findings,
                    first,
                    Finding::new(
                        Kind::SmallBucket,
                        Severity::Warning,
                        &dataset.items[first].path,
                        format!(
                            "bucket {} holds {} image{} (with repeats) for batch size {batch}: {effect}: {}",
                            b.bucket,
                            b.count,
                            if b.count == 1 { "" } else { "s" },
                            b.images.join(", ")
                        ),
                        "add images of that shape, crop these to a common aspect, or lower the batch size",
                    ),
                );
            }
        }
    }
    findings
}

fn push_item(findings: &mut Vec<Finding>, index: usize, finding: Finding) {
    findings.push(finding.for_item(index));
}

/// Few images for a LoRA (datasets of 10–30 are the sweet spot).
const TOO_FEW: usize = 5;
/// Past this a set is a style or regularisation set rather than a LoRA subject.
const TOO_MANY: usize = 3000;
/// Largest ratio between concept folders' images × repeats before training is lopsided.
const IMBALANCE: f64 = 3.0;

/// Dataset-level: image count, balance between `N_name` folders.
fn shape_checks(dataset: &Dataset, included: &[usize]) -> Vec<Finding> {
    let mut out = Vec::new();
    let n = included.len();
    if n < TOO_FEW {
        let severity = if n == 0 {
            Severity::Error
        } else {
            Severity::Warning
        };
        out.push(Finding::new(
            Kind::TooFewImages,
            severity,
            ".",
            format!(
                "{n} image{} : a LoRA wants about 10 to 30",
                if n == 1 { "" } else { "s" }
            ),
            "add varied images of the subject",
        ));
    } else if n > TOO_MANY {
        out.push(Finding::new(
            Kind::TooManyImages,
            Severity::Info,
            ".",
            format!("{n} images: more than a LoRA needs; training takes long per epoch"),
            "curate a smaller, varied subset, or lower the repeats",
        ));
    }
    let mut folders: BTreeMap<PathBuf, (u32, usize)> = BTreeMap::new();
    for &i in included {
        if let Some(f) = &dataset.items[i].folder {
            folders.entry(f.path.clone()).or_insert((f.repeats, 0)).1 += 1;
        }
    }
    if folders.len() > 1 {
        let weight = |(r, c): &(u32, usize)| u64::from(*r) * *c as u64;
        let heaviest = folders.iter().max_by_key(|(_, v)| weight(v));
        let lightest = folders.iter().min_by_key(|(_, v)| weight(v));
        if let (Some((max_path, max)), Some((min_path, min))) = (heaviest, lightest)
            && weight(max) as f64 > IMBALANCE * weight(min).max(1) as f64
        {
            out.push(Finding::new(
                Kind::FolderImbalance,
                Severity::Warning,
                min_path,
                format!(
                    "{} images × {} repeats = {} per epoch, against {} in {}",
                    min.1,
                    min.0,
                    weight(min),
                    weight(max),
                    max_path.display()
                ),
                "raise this folder's repeats (the number before _ in its name) or lower the other's",
            ));
        }
    }
    out
}
