//! The per-image decode check: read the file once, hash its bytes, decode it under limits,
//! note orientation, alpha and colour mode, compute the perceptual hash, drop the pixels.
//!
//! JPEGs go through the preview core's scaled decode at 1/8: every entropy-coded block is
//! still decoded (so corrupt and truncated scans are caught), but only the DC term of each
//! 8x8 block is transformed, which is exactly the block mean the perceptual hash averages
//! anyway. That skips most of the work of a full decode and never holds a full-size image.

use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::dataset::buckets::Size;
use crate::dataset::preview::{self, PreviewError, ScaledJpeg};
use crate::dataset::similarity::{PerceptualHash, perceptual_hash};

/// The preview core's limits: a hostile header cannot make lint allocate either.
pub use crate::dataset::preview::{MAX_ALLOC, MAX_DIMENSION};
/// Largest file read whole for hashing and decoding.
pub const MAX_FILE: u64 = 256 * 1024 * 1024;

/// What the decode check learned about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    /// Stored pixel size (EXIF orientation not applied).
    pub size: Size,
    pub format: ImageFormat,
    pub orientation: Orientation,
    pub color: ColorType,
    /// JPEG with four components (CMYK / YCCK).
    pub cmyk: bool,
    /// Some pixel is not fully opaque.
    pub transparent: bool,
    /// File length in bytes: only files sharing a length can be byte-identical, so only
    /// those are hashed (see `lint::duplicates`).
    pub file_len: u64,
    pub phash: PerceptualHash,
}

impl ImageFacts {
    /// The size as displayed, with the EXIF rotation applied.
    pub fn oriented_size(&self) -> Size {
        match self.orientation {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => Size::new(self.size.h, self.size.w),
            _ => self.size,
        }
    }
}

/// Why an image cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    Io(String),
    Empty,
    NotAnImage,
    TooLarge(String),
    Corrupt(String),
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreadable::Io(e) => write!(f, "cannot be read: {e}"),
            Unreadable::Empty => f.write_str("zero-byte file"),
            Unreadable::NotAnImage => {
                f.write_str("not an image: the content is no known image format")
            }
            Unreadable::TooLarge(e) => write!(f, "over the decode limits: {e}"),
            Unreadable::Corrupt(e) => write!(f, "truncated or corrupt: {e}"),
        }
    }
}

/// Read, hash and decode one image; the decoded pixels are dropped before returning.
pub fn inspect(path: &Path) -> Result<ImageFacts, Unreadable> {
    let len = std::fs::metadata(path)
        .map_err(|e| Unreadable::Io(e.to_string()))?
        .len();
    if len == 0 {
        return Err(Unreadable::Empty);
    }
    if len > MAX_FILE {
        return Err(Unreadable::TooLarge(format!(
            "{} MiB file (limit {} MiB)",
            len >> 20,
            MAX_FILE >> 20
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Unreadable::Io(e.to_string()))?;
    let format = image::guess_format(&bytes).map_err(|_| Unreadable::NotAnImage)?;
    if format == ImageFormat::Jpeg && !jpeg_has_end(&bytes) {
        return Err(Unreadable::Corrupt(
            "JPEG has no end-of-image marker".into(),
        ));
    }
    if format == ImageFormat::Jpeg
        && let Some(facts) = inspect_jpeg(path, &bytes)?
    {
        return Ok(facts);
    }
    let mut reader = ImageReader::with_format(Cursor::new(&bytes[..]), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let classify = |e: image::ImageError| match e {
        image::ImageError::Limits(l) => Unreadable::TooLarge(l.to_string()),
        other => Unreadable::Corrupt(other.to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(classify)?;
    Ok(ImageFacts {
        size: Size::new(w, h),
        format,
        orientation,
        color: image.color(),
        cmyk: format == ImageFormat::Jpeg && jpeg_components(&bytes) == Some(4),
        transparent: has_transparency(&image),
        file_len: len,
        phash: perceptual_hash(&image),
    })
}

/// The scaled JPEG decode; `None` for JPEGs it does not take (the general decoder does).
fn inspect_jpeg(path: &Path, bytes: &[u8]) -> Result<Option<ImageFacts>, Unreadable> {
    let scaled = match preview::decode_jpeg_scaled(path, bytes, (1, 1)) {
        Ok(Some(s)) => s,
        Ok(None) | Err(PreviewError::Unsupported { .. }) => return Ok(None),
        Err(PreviewError::TooLarge { width, height, .. }) => {
            return Err(Unreadable::TooLarge(format!(
                "{width}x{height} pixels (limit {MAX_DIMENSION} per side, {} MiB decoded)",
                MAX_ALLOC >> 20
            )));
        }
        Err(PreviewError::Corrupt { reason, .. }) => return Err(Unreadable::Corrupt(reason)),
        Err(e) => return Err(Unreadable::Io(e.to_string())),
    };
    let ScaledJpeg { info, image } = scaled;
    let (w, h) = info.stored_size();
    Ok(Some(ImageFacts {
        size: Size::new(w, h),
        format: ImageFormat::Jpeg,
        orientation: info.orientation,
        color: image.color(),
        cmyk: false,
        transparent: false,
        file_len: bytes.len() as u64,
        phash: perceptual_hash(&image),
    }))
}

fn has_transparency(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLumaA8(i) => i.pixels().any(|p| p.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(i) => i.pixels().any(|p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(i) => i.pixels().any(|p| p.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(i) => i.pixels().any(|p| p.0[3] < u16::MAX),
        DynamicImage::ImageRgba32F(i) => i.pixels().any(|p| p.0[3] < 1.0),
        _ => false,
    }
}

/// A complete JPEG ends with FF D9 (cameras may pad after it, so look near the end).
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(1 << 16)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Number of components in the JPEG frame header (SOFn), walking the marker segments.
fn jpeg_components(bytes: &[u8]) -> Option<u8> {
    let mut i = 2;
    while i + 4 <= bytes.len() {
        if bytes[i] != 0xFF {
            return None;
        }
        let marker = bytes[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            return bytes.get(i + 9).copied();
        }
        if marker == 0xDA {
            return None;
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_header_walk_finds_components() {
        // SOI, APP0 (len 4), SOF0 with 3 components.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00,
            0x10, 0x00, 0x10, 0x03,
        ];
        assert_eq!(jpeg_components(&jpeg), Some(3));
        assert_eq!(jpeg_components(&jpeg[..12]), None);
    }
}
