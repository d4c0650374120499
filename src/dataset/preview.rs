//! Image preview core (no UI): identify an image file, read its facts cheaply, and decode it
//! into a small RGBA picture that fits a box, safely and fast.
//!
//! * The format is sniffed from the content, never from the extension (`photo.jpg` holding a
//!   PNG previews as the PNG it is).
//! * [`probe`] reads only headers: dimensions, format, colour type, EXIF orientation and file
//!   size. It does not refuse huge images, so the info panel can say how big a bomb claims to be.
//! * [`load`] refuses images over [`MAX_DIMENSION`] per side or [`MAX_ALLOC`] bytes decoded with
//!   [`PreviewError::TooLarge`] before anything is allocated, applies the EXIF orientation, and
//!   downsizes to fit the box, never enlarging.
//!
//! # How JPEGs are decoded
//!
//! Previews of camera JPEGs dominate, and most of a 12-megapixel JPEG's pixels are thrown away
//! right after decoding by the resize. libjpeg (and so Pillow's `Image.draft`) avoids the
//! waste by running a reduced inverse DCT that outputs 1/2, 1/4 or 1/8 of each 8x8 block.
//! `image` decodes JPEG with zune-jpeg, which has no scaled decode (its `DecoderOptions` offer
//! limits, colour space and SIMD switches only), so it must produce the full-size image.
//!
//! So a JPEG is decoded at the smallest of 1/8, 2/8 and 4/8 scale that still covers the box,
//! then finished with a triangle filter (fast_image_resize):
//!
//! 1. by our own baseline decoder (`dataset::jpeg`), which reads the entropy-coded data
//!    eight bytes at a time where `jpeg-decoder` reads one, and is what makes the preview
//!    faster than Pillow (BENCHMARKS.md). It takes one-scan 8-bit greyscale and YCbCr files,
//!    which is what cameras and most editors write;
//! 2. whatever it declines or finds broken goes to image-rs's `jpeg-decoder` (progressive
//!    files, RGB and Adobe JPEGs, and the final word on corrupt ones), which has the same
//!    scaled decode, also pure Rust;
//! 3. what that cannot take either (CMYK, 16-bit lossless, arithmetic coding) goes to `image`.
//!
//! Other formats are decoded by `image` with [`image::Limits`], then reduced with the same
//! triangle filter.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader,
    Limits, RgbImage, RgbaImage,
};

use super::jpeg;

/// Largest width or height [`load`] decodes.
pub const MAX_DIMENSION: u32 = 16_384;

/// Largest decoded size, in bytes, [`load`] allows a decoder to allocate.
pub const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// Facts about an image file for the info panel.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// Format found from the content, whatever the extension says.
    pub format: ImageFormat,
    /// Width as displayed, after the EXIF orientation.
    pub width: u32,
    /// Height as displayed, after the EXIF orientation.
    pub height: u32,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// EXIF orientation; `NoTransforms` when there is none.
    pub orientation: Orientation,
    /// Colour type as stored (e.g. `Rgb16` for a 16-bit PNG, `Cmyk8` for a CMYK JPEG).
    pub color: ExtendedColorType,
}

impl ImageInfo {
    /// Width and height as stored in the file, before the EXIF orientation.
    pub fn stored_size(&self) -> (u32, u32) {
        if swaps_axes(self.orientation) {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// A decoded preview: the facts and a picture that fits the requested box.
#[derive(Debug, Clone)]
pub struct Preview {
    pub info: ImageInfo,
    pub image: RgbaImage,
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is empty (0 bytes): restore it from the original or exclude it", path.display())]
    Empty { path: PathBuf },
    #[error(
        "{} is not an image lorabench can read (its content matches no known image format, \
         whatever the extension says): check the file or exclude it",
        path.display()
    )]
    NotAnImage { path: PathBuf },
    #[error("{} is a {format:?} image, which this build cannot decode: convert it to PNG or JPEG", path.display())]
    Unsupported { path: PathBuf, format: ImageFormat },
    #[error(
        "{} claims {width}x{height} pixels, over the preview limit of {MAX_DIMENSION} px per side \
         or {} MiB decoded: refused (possible decompression bomb); downscale it with another tool",
        path.display(),
        MAX_ALLOC >> 20
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("{} is corrupt or truncated ({reason}): re-export it or exclude it", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// Reads the facts of an image from its headers, without decoding the pixels.
pub fn probe(path: &Path) -> Result<ImageInfo, PreviewError> {
    let (mut reader, file_size) = open(path)?;
    let format = sniff(path, &mut reader)?;
    if format == ImageFormat::Jpeg {
        let mut decoder = jpeg_decoder::Decoder::new(reader);
        let header = jpeg_header(path, &mut decoder, file_size)?;
        return Ok(header.info);
    }
    let decoder = generic_decoder(path, reader, format)?;
    let (info, _) = generic_info(path, decoder, format, file_size)?;
    Ok(info)
}

/// Decodes the image at `path` upright (EXIF orientation applied) and downsized to fit within
/// `max_width` x `max_height` (at least 1x1), keeping its aspect ratio and never enlarging it.
///
/// A truncated or corrupt file is an error ([`PreviewError::Corrupt`]), not a partial picture.
pub fn load(path: &Path, max_width: u32, max_height: u32) -> Result<Preview, PreviewError> {
    let bounds = (max_width.max(1), max_height.max(1));
    let (mut reader, file_size) = open(path)?;
    let format = sniff(path, &mut reader)?;
    if format == ImageFormat::Jpeg {
        // No JPEG within the pixel limits needs a file this big: refuse before reading it.
        if file_size > MAX_ALLOC {
            let info = probe(path)?;
            return Err(PreviewError::TooLarge {
                path: path.to_owned(),
                width: info.width,
                height: info.height,
            });
        }
        // jpeg-decoder reads byte by byte: decoding from memory is much faster than from a
        // buffered file.
        let mut bytes = Vec::with_capacity(usize::try_from(file_size).unwrap_or(0));
        reader
            .read_to_end(&mut bytes)
            .map_err(|source| io_error(path, source))?;
        if let Some(preview) = load_jpeg(path, &bytes, bounds)? {
            return Ok(preview);
        }
        let reader = BufReader::new(io::Cursor::new(bytes));
        return load_generic(
            path,
            generic_decoder(path, reader, format)?,
            format,
            file_size,
            bounds,
        );
    }
    load_generic(
        path,
        generic_decoder(path, reader, format)?,
        format,
        file_size,
        bounds,
    )
}

/// The largest size with the aspect ratio of `width` x `height` that fits the bounds, never
/// larger than the image itself and never below 1x1.
pub fn fit_within(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    if width <= max_width && height <= max_height {
        return (width, height);
    }
    let scale = f64::min(
        f64::from(max_width) / f64::from(width),
        f64::from(max_height) / f64::from(height),
    );
    let w = (f64::from(width) * scale)
        .round()
        .clamp(1.0, f64::from(max_width.max(1)));
    let h = (f64::from(height) * scale)
        .round()
        .clamp(1.0, f64::from(max_height.max(1)));
    (w as u32, h as u32)
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn io_error(path: &Path, source: io::Error) -> PreviewError {
    if source.kind() == io::ErrorKind::UnexpectedEof {
        PreviewError::Corrupt {
            path: path.to_owned(),
            reason: "the file ends too early".into(),
        }
    } else {
        PreviewError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

fn open(path: &Path) -> Result<(BufReader<File>, u64), PreviewError> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let size = file
        .metadata()
        .map_err(|source| io_error(path, source))?
        .len();
    if size == 0 {
        return Err(PreviewError::Empty {
            path: path.to_owned(),
        });
    }
    Ok((BufReader::new(file), size))
}

fn sniff(path: &Path, reader: &mut BufReader<File>) -> Result<ImageFormat, PreviewError> {
    let head = reader.fill_buf().map_err(|source| io_error(path, source))?;
    let format = image::guess_format(head).map_err(|_| PreviewError::NotAnImage {
        path: path.to_owned(),
    })?;
    if !format.reading_enabled() {
        return Err(PreviewError::Unsupported {
            path: path.to_owned(),
            format,
        });
    }
    Ok(format)
}

fn check_size(
    path: &Path,
    width: u32,
    height: u32,
    bytes_per_pixel: u64,
) -> Result<(), PreviewError> {
    let decoded = u64::from(width) * u64::from(height) * bytes_per_pixel;
    if width > MAX_DIMENSION || height > MAX_DIMENSION || decoded > MAX_ALLOC {
        return Err(PreviewError::TooLarge {
            path: path.to_owned(),
            width,
            height,
        });
    }
    Ok(())
}

fn image_error(path: &Path, format: ImageFormat, error: ImageError) -> PreviewError {
    match error {
        ImageError::IoError(source) => io_error(path, source),
        ImageError::Unsupported(_) => PreviewError::Unsupported {
            path: path.to_owned(),
            format,
        },
        other => PreviewError::Corrupt {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// `image`'s decoder with the allocation limit but no dimension limit: dimensions are checked
/// by [`check_size`] so that the error can say what the header claims.
fn generic_decoder<R: BufRead + io::Seek + 'static>(
    path: &Path,
    reader: R,
    format: ImageFormat,
) -> Result<impl ImageDecoder + use<R>, PreviewError> {
    let mut reader = ImageReader::with_format(reader, format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader
        .into_decoder()
        .map_err(|e| image_error(path, format, e))
}

fn generic_info<D: ImageDecoder>(
    path: &Path,
    mut decoder: D,
    format: ImageFormat,
    file_size: u64,
) -> Result<(ImageInfo, D), PreviewError> {
    let (w, h) = decoder.dimensions();
    let orientation = decoder
        .orientation()
        .map_err(|e| image_error(path, format, e))?;
    let color = decoder.original_color_type();
    let (width, height) = if swaps_axes(orientation) {
        (h, w)
    } else {
        (w, h)
    };
    let info = ImageInfo {
        format,
        width,
        height,
        file_size,
        orientation,
        color,
    };
    Ok((info, decoder))
}

fn load_generic<D: ImageDecoder>(
    path: &Path,
    decoder: D,
    format: ImageFormat,
    file_size: u64,
    bounds: (u32, u32),
) -> Result<Preview, PreviewError> {
    let (info, decoder) = generic_info(path, decoder, format, file_size)?;
    let (w, h) = info.stored_size();
    check_size(
        path,
        w,
        h,
        u64::from(decoder.color_type().bytes_per_pixel()),
    )?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, format, e))?;
    let image = finish(image, info.orientation, stored_target(&info, bounds));
    Ok(Preview { info, image })
}

struct JpegHeader {
    info: ImageInfo,
    /// `jpeg-decoder` can decode the pixels (8-bit grey or YCbCr/RGB).
    fast_path: bool,
}

fn jpeg_error(path: &Path, error: jpeg_decoder::Error) -> PreviewError {
    match error {
        jpeg_decoder::Error::Io(source) => io_error(path, source),
        jpeg_decoder::Error::Unsupported(_) => PreviewError::Unsupported {
            path: path.to_owned(),
            format: ImageFormat::Jpeg,
        },
        other => PreviewError::Corrupt {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

fn jpeg_header<R: Read>(
    path: &Path,
    decoder: &mut jpeg_decoder::Decoder<R>,
    file_size: u64,
) -> Result<JpegHeader, PreviewError> {
    decoder.read_info().map_err(|e| jpeg_error(path, e))?;
    let header = decoder.info().ok_or_else(|| PreviewError::Corrupt {
        path: path.to_owned(),
        reason: "no frame header".into(),
    })?;
    let orientation = decoder
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (color, fast_path) = match header.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (ExtendedColorType::L8, true),
        jpeg_decoder::PixelFormat::RGB24 => (ExtendedColorType::Rgb8, true),
        jpeg_decoder::PixelFormat::L16 => (ExtendedColorType::L16, false),
        jpeg_decoder::PixelFormat::CMYK32 => (ExtendedColorType::Cmyk8, false),
    };
    let (w, h) = (u32::from(header.width), u32::from(header.height));
    let (width, height) = if swaps_axes(orientation) {
        (h, w)
    } else {
        (w, h)
    };
    let info = ImageInfo {
        format: ImageFormat::Jpeg,
        width,
        height,
        file_size,
        orientation,
        color,
    };
    Ok(JpegHeader { info, fast_path })
}

/// Scaled-IDCT decode into the box; `None` when the JPEG needs the general decoder.
fn load_jpeg(
    path: &Path,
    bytes: &[u8],
    bounds: (u32, u32),
) -> Result<Option<Preview>, PreviewError> {
    let Some(ScaledJpeg { info, image }) = decode_jpeg_scaled(path, bytes, bounds)? else {
        return Ok(None);
    };
    let image = finish(image, info.orientation, stored_target(&info, bounds));
    Ok(Some(Preview { info, image }))
}

/// A JPEG decoded at a reduced DCT scale, pixels as stored (EXIF orientation not applied).
pub struct ScaledJpeg {
    pub info: ImageInfo,
    pub image: DynamicImage,
}

/// Decodes a JPEG held in memory at the smallest DCT scale (1/8, 2/8, 4/8 or 1) whose result
/// still covers what fits in `bounds` (as displayed), under the decode limits: by our own
/// baseline decoder, else by `jpeg-decoder` (the module documentation says why). Every
/// entropy-coded block is decoded at any scale, so a corrupt scan is an error here too: lint
/// uses this at 1/8 as its decode check. `None` when the JPEG needs the general
/// decoder (CMYK, 12/16-bit, arithmetic coding).
pub fn decode_jpeg_scaled(
    path: &Path,
    bytes: &[u8],
    bounds: (u32, u32),
) -> Result<Option<ScaledJpeg>, PreviewError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let header = match jpeg_header(path, &mut decoder, bytes.len() as u64) {
        Ok(header) => header,
        Err(PreviewError::Unsupported { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !header.fast_path {
        return Ok(None);
    }
    let info = header.info;
    let (w, h) = info.stored_size();
    check_size(path, w, h, 4)?;
    let (target_w, target_h) = stored_target(&info, bounds);
    // Both fit in u16: they are at most the JPEG's own u16 dimensions.
    let (target_w, target_h) = (target_w.min(w) as u16, target_h.min(h) as u16);
    let n = jpeg::idct_size((w, h), (u32::from(target_w), u32::from(target_h)));
    // Our baseline decoder first; whatever it declines or finds broken, jpeg-decoder decides.
    if let Some(image) = jpeg::decode_scaled(bytes, n).ok().and_then(fast_image)
        && ExtendedColorType::from(image.color()) == info.color
    {
        return Ok(Some(ScaledJpeg { info, image }));
    }
    let (sw, sh) = decoder
        .scale(target_w, target_h)
        .map_err(|e| jpeg_error(path, e))?;
    decoder.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    let pixels = match decoder.decode() {
        Ok(pixels) => pixels,
        Err(jpeg_decoder::Error::Unsupported(_)) => return Ok(None),
        Err(e) => return Err(jpeg_error(path, e)),
    };
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let size_mismatch = || PreviewError::Corrupt {
        path: path.to_owned(),
        reason: "decoded pixels do not match the frame size".into(),
    };
    let image = if info.color == ExtendedColorType::L8 {
        DynamicImage::ImageLuma8(GrayImage::from_raw(sw, sh, pixels).ok_or_else(size_mismatch)?)
    } else {
        DynamicImage::ImageRgb8(RgbImage::from_raw(sw, sh, pixels).ok_or_else(size_mismatch)?)
    };
    Ok(Some(ScaledJpeg { info, image }))
}

/// The fast path's pixels as an image; `None` if they do not fill their size.
fn fast_image(decoded: jpeg::Decoded) -> Option<DynamicImage> {
    let jpeg::Decoded {
        width,
        height,
        channels,
        pixels,
    } = decoded;
    match channels {
        1 => GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8),
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    }
}

/// The size to shrink the stored (not yet oriented) pixels to.
fn stored_target(info: &ImageInfo, (max_w, max_h): (u32, u32)) -> (u32, u32) {
    let (w, h) = info.stored_size();
    if swaps_axes(info.orientation) {
        fit_within(w, h, max_h, max_w)
    } else {
        fit_within(w, h, max_w, max_h)
    }
}

/// Downsizes the stored pixels to `(tw, th)`, then orients them (rotating the small picture
/// is cheaper).
fn finish(image: DynamicImage, orientation: Orientation, (tw, th): (u32, u32)) -> RgbaImage {
    let mut image = if (tw, th) == (image.width(), image.height()) {
        image
    } else {
        resize(&image, tw, th)
    };
    image.apply_orientation(orientation);
    image.into_rgba8()
}

/// A triangle (bilinear) filter whose support widens with the reduction, so it anti-aliases
/// like Pillow's resampling; fast_image_resize runs it with SIMD on the worker pool, 3-4x
/// faster than `image`'s resize here. Pixel types it lacks go through `image`'s own.
fn resize(image: &DynamicImage, tw: u32, th: u32) -> DynamicImage {
    let mut out = DynamicImage::new(tw, th, image.color());
    let options = fast_image_resize::ResizeOptions::new().resize_alg(
        fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Bilinear),
    );
    match fast_image_resize::Resizer::new().resize(image, &mut out, &options) {
        Ok(()) => out,
        Err(_) => image.resize_exact(tw, th, FilterType::Triangle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_within_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit_within(4000, 3000, 800, 600), (800, 600));
        assert_eq!(fit_within(3000, 4000, 800, 600), (450, 600));
        assert_eq!(fit_within(64, 64, 800, 600), (64, 64));
        // An extreme strip still gets at least one row.
        assert_eq!(fit_within(10_000, 3, 100, 100), (100, 1));
        assert_eq!(fit_within(5, 5, 0, 0), (1, 1));
    }

    #[test]
    fn errors_name_the_file_and_the_remedy() {
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("blank image.png");
        std::fs::write(&empty, b"").expect("write");
        let message = load(&empty, 10, 10).expect_err("empty").to_string();
        assert!(
            message.contains("blank image.png") && message.contains("exclude"),
            "{message}"
        );
        let missing = dir.path().join("gone.jpg");
        assert!(matches!(probe(&missing), Err(PreviewError::Io { .. })));
    }
}
