//! What lint reports: findings with a stable kind id, a severity, a path and a hint.

use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The kinds of finding. The kebab-case ids (`Kind::id`) are part of the JSON schema and
/// stay stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Unreadable,
    ExtensionMismatch,
    UnsupportedByTrainer,
    MissingCaption,
    EmptyCaption,
    OrphanCaption,
    SharedCaption,
    CaptionEncoding,
    MultiLineCaption,
    DuplicateTag,
    Whitespace,
    EmptyTag,
    UnbalancedBracket,
    ControlCharacter,
    MissingTrigger,
    TokenLimit,
    Duplicate,
    NearDuplicate,
    LowResolution,
    AspectRatio,
    ExifOrientation,
    Transparency,
    ColorMode,
    SmallBucket,
    TooFewImages,
    TooManyImages,
    FolderImbalance,
}

impl Kind {
    pub const ALL: [Kind; 27] = [
        Kind::Unreadable,
        Kind::ExtensionMismatch,
        Kind::UnsupportedByTrainer,
        Kind::MissingCaption,
        Kind::EmptyCaption,
        Kind::OrphanCaption,
        Kind::SharedCaption,
        Kind::CaptionEncoding,
        Kind::MultiLineCaption,
        Kind::DuplicateTag,
        Kind::Whitespace,
        Kind::EmptyTag,
        Kind::UnbalancedBracket,
        Kind::ControlCharacter,
        Kind::MissingTrigger,
        Kind::TokenLimit,
        Kind::Duplicate,
        Kind::NearDuplicate,
        Kind::LowResolution,
        Kind::AspectRatio,
        Kind::ExifOrientation,
        Kind::Transparency,
        Kind::ColorMode,
        Kind::SmallBucket,
        Kind::TooFewImages,
        Kind::TooManyImages,
        Kind::FolderImbalance,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Kind::Unreadable => "unreadable",
            Kind::ExtensionMismatch => "extension-mismatch",
            Kind::UnsupportedByTrainer => "unsupported-by-trainer",
            Kind::MissingCaption => "missing-caption",
            Kind::EmptyCaption => "empty-caption",
            Kind::OrphanCaption => "orphan-caption",
            Kind::SharedCaption => "shared-caption",
            Kind::CaptionEncoding => "caption-encoding",
            Kind::MultiLineCaption => "multi-line-caption",
            Kind::DuplicateTag => "duplicate-tag",
            Kind::Whitespace => "whitespace",
            Kind::EmptyTag => "empty-tag",
            Kind::UnbalancedBracket => "unbalanced-bracket",
            Kind::ControlCharacter => "control-character",
            Kind::MissingTrigger => "missing-trigger",
            Kind::TokenLimit => "token-limit",
            Kind::Duplicate => "duplicate",
            Kind::NearDuplicate => "near-duplicate",
            Kind::LowResolution => "low-resolution",
            Kind::AspectRatio => "aspect-ratio",
            Kind::ExifOrientation => "exif-orientation",
            Kind::Transparency => "transparency",
            Kind::ColorMode => "color-mode",
            Kind::SmallBucket => "small-bucket",
            Kind::TooFewImages => "too-few-images",
            Kind::TooManyImages => "too-many-images",
            Kind::FolderImbalance => "folder-imbalance",
        }
    }

    pub fn from_id(id: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.id() == id)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// One problem found. `path` is relative to the dataset folder (`.` for the whole dataset).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub severity: Severity,
    #[serde(serialize_with = "path_string")]
    pub path: PathBuf,
    pub message: String,
    pub hint: String,
    /// Index of the image in `Dataset::items`, when the finding is about one (for "jump to").
    #[serde(skip)]
    pub item: Option<usize>,
}

fn path_string<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

impl Finding {
    pub fn new(
        kind: Kind,
        severity: Severity,
        path: impl Into<PathBuf>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Finding {
        Finding {
            kind,
            severity,
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
            item: None,
        }
    }

    pub fn for_item(mut self, index: usize) -> Finding {
        self.item = Some(index);
        self
    }
}
