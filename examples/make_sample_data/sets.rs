//! What goes into each generated folder: the curated lighthouse set, the messy lint set and the
//! bad-input corpus for readers. Every byte comes from fixed scene parameters, fixed seeds and
//! the `image` crate encoders, so two runs write identical files.

use std::error::Error;
use std::fs;
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, ImageEncoder, RgbImage};

use crate::scene::{Rng, Scene, Time, Weather, render};

pub type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The trigger word that starts every good caption.
pub const TRIGGER: &str = "lbhouse";

/// Folder of the curated set, kohya style: `<repeats>_<name>` so sd-scripts can train on
/// `sample-data/lighthouse` as it is.
pub const LIGHTHOUSE_DIR: &str = "lighthouse/10_lbhouse";

#[derive(Clone, Copy)]
enum Encoding {
    Png,
    Jpeg(u8),
}

/// One picture of the curated set: file stem, encoding, and the scene to render.
struct Shot {
    stem: &'static str,
    encoding: Encoding,
    scene: Scene,
}

#[allow(clippy::too_many_arguments)]
const fn scene(
    (width, height): (u32, u32),
    time: Time,
    weather: Weather,
    tower_x: f32,
    zoom: f32,
    horizon: f32,
    cliff_left: bool,
    beam_angle: f32,
    sky_light: (f32, f32),
    seed: u32,
) -> Scene {
    Scene {
        width,
        height,
        time,
        weather,
        tower_x,
        zoom,
        horizon,
        cliff_left,
        beam_angle,
        sky_light,
        seed,
    }
}

use Encoding::{Jpeg, Png};
use Time::{Dawn, Day, Dusk, Golden, Night, Sunset};
use Weather::{Clear, Cloudy, Fog, Rain, Storm};

#[rustfmt::skip]
const SHOTS: [Shot; 20] = [
    Shot { stem: "01-day-clear", encoding: Jpeg(86), scene: scene((1024, 1024), Day, Clear, 0.34, 0.55, 0.52, true, 0.1, (0.78, 0.16), 1) },
    Shot { stem: "02-sunset", encoding: Png, scene: scene((768, 512), Sunset, Clear, 0.70, 0.6, 0.6, false, 3.0, (0.3, 0.5), 2) },
    Shot { stem: "03-night-stars", encoding: Jpeg(88), scene: scene((1024, 576), Night, Clear, 0.3, 0.62, 0.58, true, 0.25, (0.8, 0.2), 3) },
    Shot { stem: "04-dawn-fog", encoding: Jpeg(86), scene: scene((640, 960), Dawn, Fog, 0.5, 0.42, 0.56, true, 2.9, (0.3, 0.48), 4) },
    Shot { stem: "05-storm", encoding: Jpeg(86), scene: scene((1024, 768), Day, Storm, 0.62, 0.58, 0.55, false, 2.7, (0.2, 0.1), 5) },
    Shot { stem: "06-golden-hour", encoding: Jpeg(86), scene: scene((960, 640), Golden, Clear, 0.28, 0.6, 0.55, true, 0.2, (0.72, 0.36), 6) },
    Shot { stem: "07-dusk", encoding: Png, scene: scene((512, 768), Dusk, Clear, 0.56, 0.4, 0.6, true, 0.3, (0.2, 0.5), 7) },
    Shot { stem: "08-rain", encoding: Jpeg(84), scene: scene((768, 1024), Day, Rain, 0.45, 0.45, 0.52, false, 2.8, (0.6, 0.1), 8) },
    Shot { stem: "09-cloudy", encoding: Jpeg(86), scene: scene((1024, 680), Day, Cloudy, 0.7, 0.55, 0.5, false, 2.9, (0.3, 0.2), 9) },
    Shot { stem: "10-night-rain", encoding: Jpeg(86), scene: scene((832, 1024), Night, Rain, 0.4, 0.45, 0.55, true, 0.15, (0.7, 0.15), 10) },
    Shot { stem: "11-dawn-wide", encoding: Jpeg(86), scene: scene((1024, 576), Dawn, Clear, 0.24, 0.38, 0.6, true, 0.1, (0.66, 0.5), 11) },
    Shot { stem: "12-day-close-up", encoding: Jpeg(86), scene: scene((768, 768), Day, Clear, 0.5, 0.9, 0.7, true, 0.0, (0.85, 0.12), 12) },
    Shot { stem: "13-night-moon", encoding: Png, scene: scene((576, 1024), Night, Clear, 0.62, 0.34, 0.62, false, 2.6, (0.25, 0.16), 13) },
    Shot { stem: "14-sunset-clouds", encoding: Jpeg(86), scene: scene((1024, 640), Sunset, Cloudy, 0.3, 0.55, 0.58, true, 0.3, (0.7, 0.5), 14) },
    Shot { stem: "15-night-fog", encoding: Jpeg(86), scene: scene((768, 768), Night, Fog, 0.5, 0.5, 0.58, true, 0.35, (0.2, 0.2), 15) },
    Shot { stem: "16-golden-distant", encoding: Jpeg(86), scene: scene((1024, 512), Golden, Clear, 0.68, 0.3, 0.6, false, 2.9, (0.25, 0.4), 16) },
    Shot { stem: "17-day-portrait", encoding: Jpeg(86), scene: scene((640, 896), Day, Clear, 0.6, 0.48, 0.55, false, 2.9, (0.2, 0.12), 17) },
    Shot { stem: "18-dusk-clouds", encoding: Jpeg(86), scene: scene((896, 640), Dusk, Cloudy, 0.36, 0.55, 0.56, true, 0.0, (0.75, 0.45), 18) },
    Shot { stem: "19-night-storm", encoding: Jpeg(86), scene: scene((1024, 1024), Night, Storm, 0.56, 0.5, 0.55, false, 2.75, (0.3, 0.15), 19) },
    Shot { stem: "20-dawn-close-up", encoding: Png, scene: scene((512, 640), Dawn, Clear, 0.42, 0.8, 0.68, true, 0.2, (0.8, 0.55), 20) },
];

/// Tag-style caption for a scene, trigger word first.
pub fn caption(s: &Scene) -> String {
    let mut tags = vec![TRIGGER, "lighthouse"];
    tags.extend_from_slice(match s.time {
        Dawn => &["dawn", "pink sky"][..],
        Day => &["daytime", "blue sky"][..],
        Golden => &["golden hour", "warm light"][..],
        Sunset => &["sunset", "orange sky"][..],
        Dusk => &["dusk", "blue hour"][..],
        Night => &["night", "dark sky"][..],
    });
    let night_like = matches!(s.time, Night | Dusk);
    tags.extend_from_slice(match s.weather {
        Clear if night_like => &["clear sky", "stars"][..],
        Clear => &["clear sky"][..],
        Cloudy => &["cloudy", "clouds"][..],
        Rain => &["rain", "overcast"][..],
        Fog => &["fog", "mist"][..],
        Storm => &["storm", "dark clouds", "rain", "rough sea"][..],
    });
    if s.weather == Clear || s.weather == Cloudy {
        tags.push(if night_like { "moon" } else { "sun" });
    }
    if !matches!(s.time, Day | Golden) {
        tags.extend_from_slice(&["lamp lit", "light beam"]);
    }
    tags.extend_from_slice(&[
        "red and white stripes",
        "sea",
        "cliff",
        "rocks",
        "keeper's house",
    ]);
    tags.push(if s.zoom >= 0.75 {
        "close-up"
    } else if s.zoom < 0.4 {
        "distant view"
    } else {
        "wide shot"
    });
    let mut text = tags.join(", ");
    text.push('\n');
    text
}

fn encode(img: &RgbImage, encoding: Encoding) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match encoding {
        Png => PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::Adaptive)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )?,
        Jpeg(q) => JpegEncoder::new_with_quality(&mut out, q).encode_image(img)?,
    }
    Ok(out)
}

fn encode_dynamic(img: &DynamicImage, encoding: Encoding) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match encoding {
        Png => PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::Adaptive)
            .write_image(
                img.as_bytes(),
                img.width(),
                img.height(),
                img.color().into(),
            )?,
        Jpeg(q) => JpegEncoder::new_with_quality(&mut out, q).encode_image(&img.to_rgb8())?,
    }
    Ok(out)
}

fn extension(encoding: Encoding) -> &'static str {
    match encoding {
        Png => "png",
        Jpeg(_) => "jpg",
    }
}

/// Writes `dir/lighthouse/10_lbhouse/` (20 images + captions) and `dir/messy/`.
pub fn write_samples(dir: &Path) -> Result<()> {
    let set = dir.join(LIGHTHOUSE_DIR);
    fs::create_dir_all(&set)?;
    for shot in &SHOTS {
        let bytes = encode(&render(&shot.scene), shot.encoding)?;
        fs::write(
            set.join(format!("{}.{}", shot.stem, extension(shot.encoding))),
            bytes,
        )?;
        fs::write(set.join(format!("{}.txt", shot.stem)), caption(&shot.scene))?;
    }
    write_flaws(&dir.join("messy"), &messy(Size::Full)?, MESSY_README)
}

/// Writes the bad-input corpus: the messy flaws at a small size plus files aimed at decoders.
pub fn write_corpus(dir: &Path) -> Result<()> {
    let mut flaws = messy(Size::Small)?;
    flaws.extend(decoder_traps()?);
    write_flaws(dir, &flaws, CORPUS_README)
}

/// One deliberate flaw and the files that show it.
pub struct Flaw {
    pub files: Vec<(String, Vec<u8>)>,
    pub what: &'static str,
}

fn flaw(what: &'static str, files: Vec<(&str, Vec<u8>)>) -> Flaw {
    Flaw {
        files: files.into_iter().map(|(n, b)| (n.to_owned(), b)).collect(),
        what,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// `sample-data/messy`: pictures a person looks at.
    Full,
    /// `tests/corpus`: the same flaws in a few kilobytes.
    Small,
}

impl Size {
    fn px(self, full: u32) -> u32 {
        match self {
            Size::Full => full,
            Size::Small => (full / 6).max(16),
        }
    }

    fn scene(self, (w, h): (u32, u32), time: Time, weather: Weather, seed: u32) -> Scene {
        let left = seed.is_multiple_of(2);
        scene(
            (self.px(w), self.px(h)),
            time,
            weather,
            if left { 0.35 } else { 0.65 },
            0.55,
            0.56,
            left,
            if left { 0.2 } else { 2.9 },
            (if left { 0.75 } else { 0.25 }, 0.2),
            100 + seed,
        )
    }
}

/// A scene of its own for the `n`th messy picture: time, weather and layout all follow `n`,
/// so no two pictures look alike; only the deliberate duplicates do (the README promises one
/// exact pair and one near copy, and `tests/dataset/lint_messy.rs` counts them).
fn own(size: Size, (w, h): (u32, u32), n: u32) -> Scene {
    const TIMES: [Time; 6] = [Day, Sunset, Night, Dusk, Golden, Dawn];
    const WEATHERS: [Weather; 5] = [Clear, Cloudy, Fog, Rain, Storm];
    // Spread along 0..1 by n (coprime strides, so neighbours land far apart).
    let f = |k: u32| ((n * k + 7) % 97) as f32 / 97.0;
    scene(
        (size.px(w), size.px(h)),
        TIMES[(n % 6) as usize],
        WEATHERS[((n * 2 + n / 6) % 5) as usize],
        0.2 + 0.6 * f(37),
        0.32 + 0.55 * f(53),
        0.48 + 0.2 * f(29),
        n.is_multiple_of(2),
        3.0 * f(11),
        (0.2 + 0.6 * f(17), 0.1 + 0.4 * f(23)),
        200 + n,
    )
}

/// The upright picture that the EXIF-rotated file stores sideways (tests compare with it).
pub fn exif_upright(size: Size) -> RgbImage {
    render(&size.scene((480, 640), Day, Clear, 7))
}

/// Inserts an APP1 Exif segment holding only IFD0 Orientation (tag 0x0112) after the JFIF
/// APP0 segment of a baseline JPEG written by the `image` encoder.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Result<Vec<u8>> {
    // SOI (2 bytes) then APP0: FF E0 + big-endian length that counts itself.
    if jpeg.len() < 6 || jpeg[..4] != [0xFF, 0xD8, 0xFF, 0xE0] {
        return Err("expected a JPEG starting with SOI + APP0".into());
    }
    let app0_end = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian TIFF, IFD0 at offset 8
    payload.extend_from_slice(&1u16.to_be_bytes()); // one entry
    payload.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    payload.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    payload.extend_from_slice(&1u32.to_be_bytes()); // count
    payload.extend_from_slice(&orientation.to_be_bytes());
    payload.extend_from_slice(&[0, 0]); // value padded to 4 bytes
    payload.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let len = u16::try_from(payload.len() + 2)?;
    let mut out = jpeg[..app0_end].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[app0_end..]);
    Ok(out)
}

fn txt(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn messy(size: Size) -> Result<Vec<Flaw>> {
    let jpeg = |s: &Scene| encode(&render(s), Jpeg(82));
    let png = |s: &Scene| encode(&render(s), Png);
    let good = |s: &Scene| caption(s).into_bytes();
    let a = size.scene((640, 480), Day, Clear, 1);
    let b = size.scene((640, 480), Sunset, Clear, 2);
    let c = size.scene((480, 640), Night, Clear, 3);
    let d = size.scene((640, 480), Dusk, Cloudy, 4);
    // Every other picture is its own scene.
    let pictures: Vec<Scene> = (1..=15)
        .map(|n| own(size, if n % 3 == 0 { (480, 640) } else { (640, 480) }, n))
        .collect();
    let p = |n: usize| &pictures[n - 1];

    let mut rng = Rng::new(42);
    let garbage: Vec<u8> = (0..size.px(3000)).map(|_| rng.next_u64() as u8).collect();
    let full_jpeg = jpeg(&b)?;
    let truncated = full_jpeg[..full_jpeg.len() * 2 / 5].to_vec();

    let original = render(&d);
    let near = {
        let (w, h) = (original.width() * 19 / 20, original.height() * 19 / 20);
        let resized =
            image::imageops::resize(&original, w, h, image::imageops::FilterType::Triangle);
        DynamicImage::ImageRgb8(resized).brighten(6)
    };
    let original_jpeg = encode(&original, Jpeg(82))?;

    let sideways = image::imageops::rotate270(&exif_upright(size));
    let exif = with_exif_orientation(&encode(&sideways, Jpeg(82))?, 6)?;

    let rgba = {
        let base = render(&size.scene((384, 288), Day, Clear, 8));
        let (w, h) = base.dimensions();
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            let p = base.get_pixel(x, y).0;
            // An oval cut-out: opaque centre fading to fully transparent corners.
            let (dx, dy) = (x as f32 / w as f32 - 0.5, y as f32 / h as f32 - 0.5);
            let r = (dx * dx + dy * dy).sqrt() / 0.5;
            let alpha = ((1.0 - r) * 4.0).clamp(0.0, 1.0);
            image::Rgba([p[0], p[1], p[2], (alpha * 255.0) as u8])
        });
        encode_dynamic(&DynamicImage::ImageRgba8(img), Png)?
    };
    let gray = encode_dynamic(
        &DynamicImage::ImageRgb8(render(&size.scene((384, 288), Golden, Cloudy, 9))).grayscale(),
        Png,
    )?;
    let deep = encode_dynamic(
        &DynamicImage::ImageRgb16(
            DynamicImage::ImageRgb8(render(&size.scene((256, 192), Dawn, Clear, 10))).to_rgb16(),
        ),
        Png,
    )?;

    let long_caption = {
        let mut t = String::from("lbhouse, lighthouse");
        for tag in [
            "a tall red and white striped lighthouse standing on a rocky cliff above a wide blue sea",
            "seen on a bright clear summer afternoon with a few white clouds drifting across the sky",
            "the keeper's house with a red roof beside it",
            "waves breaking into white foam on the dark rocks at the foot of the cliff",
            "green grass on the headland",
            "gulls",
            "a calm horizon line",
            "sunlight glittering on the water",
            "highly detailed",
            "sharp focus",
            "photograph",
            "wide angle",
            "natural colours",
            "masterpiece",
            "best quality",
        ] {
            t.push_str(", ");
            t.push_str(tag);
        }
        t.push('\n');
        t
    };

    let png_named_jpg = png(p(1))?;
    Ok(vec![
        flaw(
            "Garbage bytes with a `.png` name: not an image at all.",
            vec![("corrupt.png", garbage), ("corrupt.txt", good(&a))],
        ),
        flaw(
            "JPEG cut off after 40 % of its bytes.",
            vec![("truncated.jpg", truncated), ("truncated.txt", good(&b))],
        ),
        flaw(
            "Zero-byte image file.",
            vec![("zero-byte.png", Vec::new()), ("zero-byte.txt", good(&a))],
        ),
        flaw(
            "A PNG named `.jpg`: the extension lies about the content.",
            vec![
                ("png-named-jpg.jpg", png_named_jpg),
                ("png-named-jpg.txt", good(p(1))),
            ],
        ),
        flaw(
            "Image with no caption file.",
            vec![("missing-caption.jpg", jpeg(p(2))?)],
        ),
        flaw(
            "Caption file of 0 bytes (sd-scripts aborts on it).",
            vec![
                ("empty-caption.jpg", jpeg(p(3))?),
                ("empty-caption.txt", Vec::new()),
            ],
        ),
        flaw(
            "Caption holding only spaces and a newline.",
            vec![
                ("whitespace-caption.jpg", jpeg(p(4))?),
                ("whitespace-caption.txt", txt("   \n")),
            ],
        ),
        flaw(
            "Caption with no image beside it.",
            vec![("orphan-caption.txt", good(&c))],
        ),
        flaw(
            "Caption that is not UTF-8 (Latin-1 `caf\\xe9`).",
            vec![
                ("latin1-caption.jpg", jpeg(p(5))?),
                (
                    "latin1-caption.txt",
                    b"lbhouse, lighthouse, caf\xe9 terrace, sea\n".to_vec(),
                ),
            ],
        ),
        flaw(
            "Caption on two lines (sd-scripts reads the first line only).",
            vec![
                ("multi-line-caption.jpg", jpeg(p(6))?),
                (
                    "multi-line-caption.txt",
                    txt("lbhouse, lighthouse, golden hour\nsea, cliff, rocks\n"),
                ),
            ],
        ),
        flaw(
            "Caption repeating tags.",
            vec![
                ("duplicate-tags.jpg", jpeg(p(7))?),
                (
                    "duplicate-tags.txt",
                    txt("lbhouse, lighthouse, sea, lighthouse, rocks, sea, lbhouse, sea\n"),
                ),
            ],
        ),
        flaw(
            "Caption with stray whitespace, tabs and empty tags (`,,`).",
            vec![
                ("stray-whitespace.jpg", jpeg(p(8))?),
                (
                    "stray-whitespace.txt",
                    txt("  lbhouse ,lighthouse,,  sunset ,  , sea,\t rocks  ,\n"),
                ),
            ],
        ),
        flaw(
            "Caption without the trigger word `lbhouse`.",
            vec![
                ("no-trigger-word.jpg", jpeg(p(9))?),
                (
                    "no-trigger-word.txt",
                    txt("lighthouse, fog, mist, sea, cliff, rocks\n"),
                ),
            ],
        ),
        flaw(
            "Caption longer than 75 CLIP tokens (silently truncated in training).",
            vec![
                ("long-caption.jpg", jpeg(p(10))?),
                ("long-caption.txt", txt(&long_caption)),
            ],
        ),
        flaw(
            "Exact duplicate: two byte-identical files.",
            vec![
                ("duplicate-original.jpg", original_jpeg.clone()),
                ("duplicate-original.txt", good(&d)),
                ("duplicate-exact-copy.jpg", original_jpeg),
                ("duplicate-exact-copy.txt", good(&d)),
            ],
        ),
        flaw(
            "Near duplicate of `duplicate-original.jpg`: resized to 95 %, brightened, re-encoded.",
            vec![
                (
                    "duplicate-near-copy.jpg",
                    encode(&near.to_rgb8(), Jpeg(75))?,
                ),
                ("duplicate-near-copy.txt", good(&d)),
            ],
        ),
        flaw(
            "Tiny image (64x64), far below any training resolution.",
            vec![
                (
                    "tiny-64x64.png",
                    encode(
                        &render(&scene(
                            (64, 64),
                            Day,
                            Clear,
                            0.4,
                            0.6,
                            0.56,
                            true,
                            0.0,
                            (0.7, 0.2),
                            120,
                        )),
                        Png,
                    )?,
                ),
                ("tiny-64x64.txt", good(&a)),
            ],
        ),
        flaw(
            "Extreme aspect ratio (6:1).",
            vec![
                (
                    if size == Size::Full {
                        "extreme-aspect-1536x256.jpg"
                    } else {
                        "extreme-aspect-6to1.jpg"
                    },
                    jpeg(&size.scene((1536, 256), Sunset, Clear, 12))?,
                ),
                (
                    if size == Size::Full {
                        "extreme-aspect-1536x256.txt"
                    } else {
                        "extreme-aspect-6to1.txt"
                    },
                    good(&b),
                ),
            ],
        ),
        flaw(
            "Portrait photo stored sideways with EXIF Orientation = 6 (rotate 90° clockwise to view); sd-scripts trains it sideways.",
            vec![
                ("exif-rotated-orientation-6.jpg", exif),
                ("exif-rotated-orientation-6.txt", good(&a)),
            ],
        ),
        flaw(
            "RGBA PNG with transparent corners (trainers drop or composite the alpha).",
            vec![
                ("transparent-rgba.png", rgba),
                ("transparent-rgba.txt", good(&a)),
            ],
        ),
        flaw(
            "Grayscale image in a colour dataset.",
            vec![
                ("grayscale.png", gray),
                (
                    "grayscale.txt",
                    txt("lbhouse, lighthouse, monochrome, grayscale, sea, cliff\n"),
                ),
            ],
        ),
        flaw(
            "16-bit-per-channel PNG.",
            vec![("16-bit.png", deep), ("16-bit.txt", good(&a))],
        ),
        flaw(
            "Mixed-case extension `.Jpg` (sd-scripts skips it on Linux).",
            vec![
                ("Shore.Jpg", jpeg(p(11))?),
                ("Shore.txt", txt("lbhouse, lighthouse, fog, sea, shore\n")),
            ],
        ),
        flaw(
            "File name with spaces.",
            vec![
                ("with spaces.jpg", jpeg(p(12))?),
                ("with spaces.txt", good(p(12))),
            ],
        ),
        flaw(
            "Non-ASCII file name (`é`).",
            vec![
                (
                    "phare é.png",
                    png(&size.scene((384, 288), Sunset, Cloudy, 13))?,
                ),
                (
                    "phare é.txt",
                    txt("lbhouse, lighthouse, phare, sunset, cloudy, sea\n"),
                ),
            ],
        ),
        flaw(
            "File name starting with a dash (looks like an option to naive shell scripts).",
            vec![
                ("-dash.png", png(&size.scene((384, 288), Dusk, Clear, 14))?),
                ("-dash.txt", good(&c)),
            ],
        ),
        flaw(
            "Caption with Windows CRLF line ending.",
            vec![
                ("crlf-caption.jpg", jpeg(p(13))?),
                (
                    "crlf-caption.txt",
                    txt("lbhouse, lighthouse, night, stars, sea\r\n"),
                ),
            ],
        ),
        flaw(
            "Two images with the same stem share one caption (`same-stem.txt`).",
            vec![
                ("same-stem.jpg", jpeg(p(14))?),
                ("same-stem.png", png(p(15))?),
                ("same-stem.txt", good(p(14))),
            ],
        ),
    ])
}

/// Files aimed at image decoders rather than at dataset lint.
fn decoder_traps() -> Result<Vec<Flaw>> {
    let small = render(&Size::Small.scene((640, 480), Day, Cloudy, 30));
    let dynamic = DynamicImage::ImageRgb8(small.clone());
    let mut gif = Vec::new();
    image::codecs::gif::GifEncoder::new(&mut gif).encode(
        small.as_raw(),
        small.width(),
        small.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    let mut tiff = std::io::Cursor::new(Vec::new());
    dynamic.write_to(&mut tiff, image::ImageFormat::Tiff)?;
    let mut bmp = std::io::Cursor::new(Vec::new());
    dynamic.write_to(&mut bmp, image::ImageFormat::Bmp)?;
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp).encode(
        small.as_raw(),
        small.width(),
        small.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    let mut rng = Rng::new(7);
    // A gzip member of random bytes: a real binary format that is not an image.
    let mut binary = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];
    binary.extend((0..400).map(|_| rng.next_u64() as u8));
    Ok(vec![
        flaw(
            "Decompression bomb: a 2 KB PNG whose header claims 100000x100000 RGB (30 GB decoded).",
            vec![("bomb-100000x100000.png", png_bomb(100_000, 100_000)?)],
        ),
        flaw(
            "JPEG whose frame header claims 65000x65000.",
            vec![(
                "huge-dimension-65000x65000.jpg",
                jpeg_with_size(&encode(&small, Jpeg(80))?, 65_000, 65_000)?,
            )],
        ),
        flaw("GIF image.", vec![("sample.gif", gif)]),
        flaw("TIFF image.", vec![("sample.tiff", tiff.into_inner())]),
        flaw("BMP image.", vec![("sample.bmp", bmp.into_inner())]),
        flaw("WebP image (lossless).", vec![("sample.webp", webp)]),
        flaw(
            "A binary file that is no image (gzip header + random bytes).",
            vec![("not-an-image.bin", binary)],
        ),
    ])
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<()> {
    out.extend_from_slice(&u32::try_from(data.len())?.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    Ok(())
}

/// A valid PNG header for a huge RGB image followed by the first rows of zeros: what a
/// decompression bomb looks like before a decoder allocates its output.
fn png_bomb(width: u32, height: u32) -> Result<Vec<u8>> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr)?;
    let rows = vec![0u8; (width as usize * 3 + 1) * 4];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut z, &rows)?;
    png_chunk(&mut out, b"IDAT", &z.finish()?)?;
    png_chunk(&mut out, b"IEND", &[])?;
    Ok(out)
}

/// Rewrites the SOF0 frame size of a baseline JPEG.
fn jpeg_with_size(jpeg: &[u8], width: u16, height: u16) -> Result<Vec<u8>> {
    let mut out = jpeg.to_vec();
    let mut i = 2;
    while i + 9 < out.len() {
        if out[i] != 0xFF {
            return Err("malformed JPEG marker".into());
        }
        let len = usize::from(u16::from_be_bytes([out[i + 2], out[i + 3]]));
        if out[i + 1] == 0xC0 {
            out[i + 5..i + 7].copy_from_slice(&height.to_be_bytes());
            out[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
            return Ok(out);
        }
        i += 2 + len;
    }
    Err("no SOF0 segment".into())
}

const MESSY_README: &str = "# sample-data/messy: a dataset with one deliberate flaw per file\n\n\
Made by `cargo run --release --example make_sample_data -- sample-data` (do not edit by hand).\n\
Open it with `lorabench sample-data/messy` or lint it with `lorabench lint sample-data/messy`.\n\n";

const CORPUS_README: &str = "# tests/corpus: bad input that every reader must survive\n\n\
Made by `cargo run --release --example make_sample_data -- --corpus tests/corpus` (do not edit\n\
by hand): the flaws of `sample-data/messy` at a tiny size, plus files aimed at decoders.\n\n";

fn write_flaws(dir: &Path, flaws: &[Flaw], intro: &str) -> Result<()> {
    fs::create_dir_all(dir)?;
    let mut readme = format!("{intro}| file(s) | flaw |\n|---|---|\n");
    for f in flaws {
        let names: Vec<String> = f.files.iter().map(|(n, _)| format!("`{n}`")).collect();
        readme.push_str(&format!("| {} | {} |\n", names.join(" "), f.what));
        for (name, bytes) in &f.files {
            fs::write(dir.join(name), bytes)?;
        }
    }
    fs::write(dir.join("README.md"), readme)?;
    Ok(())
}
