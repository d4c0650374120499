//! A reduced-size decoder for baseline JPEG: the fast path of the preview and of lint.
//!
//! Why our own: previews of camera JPEGs are bound by the serial Huffman decoding of every
//! block (the reduced inverse DCT is cheap), and `jpeg-decoder` reads the entropy-coded data
//! a byte at a time. This decoder takes the bits eight bytes at a time and decodes most
//! coefficients with one table read (see [`huffman`]), which makes the preview of a 12 MP
//! photo faster than Pillow's libjpeg-turbo (BENCHMARKS.md).
//!
//! It takes only what cameras and editors write most: one interleaved Huffman scan of 8-bit
//! greyscale or YCbCr, any of the usual subsamplings, restart intervals, at 1/8, 1/4 or 1/2
//! scale. For anything else it says [`Error::Unsupported`]; for data it cannot make sense of,
//! [`Error::Corrupt`]. The caller then hands the file to `jpeg-decoder`, which has the last
//! word, so this decoder never has to be lenient with broken files.

mod huffman;
mod idct;

use huffman::{BitReader, Table, decode_block};
use idct::{Basis, BlockIdct};

/// Why the fast path declined a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Error {
    /// A valid JPEG this decoder does not handle (progressive, CMYK, 12-bit, full scale...).
    Unsupported(&'static str),
    /// The data breaks the standard or ends early.
    Corrupt(&'static str),
}

/// Pixels of a decoded JPEG: 1 (grey) or 3 (RGB) interleaved channels, rows packed.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub pixels: Vec<u8>,
}

/// Block size of the inverse DCT (1, 2, 4 or 8 of 8): the smallest whose output reaches the
/// requested width or height. The same choice as `jpeg-decoder`'s `Decoder::scale`, so both
/// decoders give the same size.
pub(crate) fn idct_size((width, height): (u32, u32), (want_w, want_h): (u32, u32)) -> usize {
    let scaled = |len: u32, n: u32| (len * n).div_ceil(8);
    [1, 2, 4]
        .into_iter()
        .find(|&n| scaled(width, n) >= want_w || scaled(height, n) >= want_h)
        .unwrap_or(8) as usize
}

/// Decodes `bytes` at `n`/8 of its size (`n` from [`idct_size`]; 1, 2 or 4).
pub(crate) fn decode_scaled(bytes: &[u8], n: usize) -> Result<Decoded, Error> {
    if !matches!(n, 1 | 2 | 4) {
        return Err(Error::Unsupported("only reduced sizes"));
    }
    let mut parser = Parser::new(bytes)?;
    let mut decoded = None;
    loop {
        match parser.next_marker()? {
            // SOF0 (baseline) and SOF1 (extended Huffman, 8-bit) read the same way.
            0xC0 | 0xC1 => parser.frame()?,
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(Error::Unsupported("not a baseline Huffman JPEG"));
            }
            0xC4 => parser.huffman_tables()?,
            0xDB => parser.quantization_tables()?,
            0xDD => parser.restart_interval()?,
            0xDA => {
                if decoded.is_some() {
                    return Err(Error::Unsupported("more than one scan"));
                }
                decoded = Some(parser.scan(n)?);
            }
            0xD9 => break,
            0xEE => parser.adobe()?,
            0xDC => return Err(Error::Unsupported("height given after the scan (DNL)")),
            0xD0..=0xD7 => return Err(Error::Corrupt("restart marker outside a scan")),
            _ => parser.skip_segment()?,
        }
    }
    decoded.ok_or(Error::Corrupt("no image data"))
}

/// One component of the frame, with the tables its scan names.
#[derive(Clone, Copy)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    quant: usize,
    dc: usize,
    ac: usize,
}

struct Frame {
    width: usize,
    height: usize,
    components: Vec<Component>,
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    frame: Option<Frame>,
    quant: [Option<[u16; 64]>; 4],
    /// DC tables then AC tables, by id.
    huffman: [Option<Table>; 8],
    restart_interval: usize,
}

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, Error> {
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            return Err(Error::Corrupt("no start-of-image marker"));
        }
        Ok(Parser {
            bytes,
            pos: 2,
            frame: None,
            quant: [None; 4],
            huffman: Default::default(),
            restart_interval: 0,
        })
    }

    /// The next marker code, skipping fill bytes and (as libjpeg does) stray bytes between
    /// segments.
    fn next_marker(&mut self) -> Result<u8, Error> {
        loop {
            let rest = self.bytes.get(self.pos..).unwrap_or_default();
            let Some(start) = rest.iter().position(|&b| b == 0xFF) else {
                return Err(Error::Corrupt(
                    "the file ends before its end-of-image marker",
                ));
            };
            self.pos += start + 1;
            while self.bytes.get(self.pos) == Some(&0xFF) {
                self.pos += 1;
            }
            match self.bytes.get(self.pos) {
                None => return Err(Error::Corrupt("the file ends inside a marker")),
                Some(0) => continue,
                Some(&code) => {
                    self.pos += 1;
                    return Ok(code);
                }
            }
        }
    }

    /// The payload of the segment at the current position (after its length), moving past it.
    fn segment(&mut self) -> Result<&'a [u8], Error> {
        let length = self
            .bytes
            .get(self.pos..self.pos + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .ok_or(Error::Corrupt("the file ends inside a segment"))?;
        let payload = length
            .checked_sub(2)
            .and_then(|len| self.bytes.get(self.pos + 2..self.pos + 2 + len))
            .ok_or(Error::Corrupt("segment length past the end of the file"))?;
        self.pos += length;
        Ok(payload)
    }

    fn skip_segment(&mut self) -> Result<(), Error> {
        self.segment().map(|_| ())
    }

    fn frame(&mut self) -> Result<(), Error> {
        if self.frame.is_some() {
            return Err(Error::Corrupt("two frame headers"));
        }
        let s = self.segment()?;
        let short = Error::Corrupt("short frame header");
        let &[precision, h0, h1, w0, w1, count, ref rest @ ..] = s else {
            return Err(short);
        };
        if precision != 8 {
            return Err(Error::Unsupported("not 8-bit"));
        }
        let (height, width) = (
            usize::from(u16::from_be_bytes([h0, h1])),
            usize::from(u16::from_be_bytes([w0, w1])),
        );
        if height == 0 || width == 0 {
            return Err(Error::Unsupported("size given after the scan"));
        }
        if !matches!(count, 1 | 3) {
            return Err(Error::Unsupported("not greyscale or three components"));
        }
        let mut components = Vec::new();
        for c in rest.chunks_exact(3).take(usize::from(count)) {
            let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
                return Err(Error::Corrupt("bad component in frame header"));
            }
            components.push(Component {
                id: c[0],
                h,
                v,
                quant: usize::from(c[2]),
                dc: 0,
                ac: 0,
            });
        }
        if components.len() != usize::from(count) {
            return Err(short);
        }
        if let [only] = components.as_mut_slice() {
            // A lone component is coded block by block whatever its sampling factors say.
            (only.h, only.v) = (1, 1);
        }
        if count == 3 && components.iter().map(|c| c.id).eq(*b"RGB") {
            return Err(Error::Unsupported("RGB components"));
        }
        self.frame = Some(Frame {
            width,
            height,
            components,
        });
        Ok(())
    }

    fn huffman_tables(&mut self) -> Result<(), Error> {
        let mut s = self.segment()?;
        while let [class_id, rest @ ..] = s {
            let (class, id) = (usize::from(class_id >> 4), usize::from(class_id & 15));
            if class > 1 || id > 3 || rest.len() < 16 {
                return Err(Error::Corrupt("bad Huffman table header"));
            }
            let mut counts = [0u8; 16];
            counts.copy_from_slice(&rest[..16]);
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let symbols = rest
                .get(16..16 + total)
                .ok_or(Error::Corrupt("short Huffman table"))?;
            self.huffman[class * 4 + id] = Some(Table::new(&counts, symbols)?);
            s = &rest[16 + total..];
        }
        Ok(())
    }

    fn quantization_tables(&mut self) -> Result<(), Error> {
        let mut s = self.segment()?;
        while let [precision_id, rest @ ..] = s {
            let (wide, id) = (precision_id >> 4, usize::from(precision_id & 15));
            let size = if wide == 0 { 64 } else { 128 };
            if wide > 1 || id > 3 || rest.len() < size {
                return Err(Error::Corrupt("bad quantization table"));
            }
            let mut table = [0u16; 64];
            for (k, value) in table.iter_mut().enumerate() {
                *value = if wide == 0 {
                    u16::from(rest[k])
                } else {
                    u16::from_be_bytes([rest[2 * k], rest[2 * k + 1]])
                };
            }
            self.quant[id] = Some(table);
            s = &rest[size..];
        }
        Ok(())
    }

    fn restart_interval(&mut self) -> Result<(), Error> {
        match *self.segment()? {
            [a, b] => {
                self.restart_interval = usize::from(u16::from_be_bytes([a, b]));
                Ok(())
            }
            _ => Err(Error::Corrupt("bad restart interval")),
        }
    }

    /// APP14 "Adobe": a colour transform of 0 means RGB (or CMYK), not YCbCr.
    fn adobe(&mut self) -> Result<(), Error> {
        let s = self.segment()?;
        if s.starts_with(b"Adobe") && s.get(11) == Some(&0) {
            return Err(Error::Unsupported("Adobe colour transform 0 (RGB)"));
        }
        Ok(())
    }

    /// Reads the scan header, then decodes the scan.
    fn scan(&mut self, n: usize) -> Result<Decoded, Error> {
        let s = self.segment()?;
        let frame = self
            .frame
            .as_mut()
            .ok_or(Error::Corrupt("scan before the frame header"))?;
        let count = usize::from(*s.first().ok_or(Error::Corrupt("empty scan header"))?);
        if count != frame.components.len() {
            return Err(Error::Unsupported("a scan that is not all components"));
        }
        let selectors = s
            .get(1..1 + 2 * count)
            .ok_or(Error::Corrupt("short scan header"))?;
        for (component, pair) in frame.components.iter_mut().zip(selectors.chunks_exact(2)) {
            if pair[0] != component.id {
                return Err(Error::Unsupported("scan components out of frame order"));
            }
            (component.dc, component.ac) =
                (usize::from(pair[1] >> 4), 4 + usize::from(pair[1] & 15));
            if component.dc > 3 || component.ac > 7 {
                return Err(Error::Corrupt("bad table in scan header"));
            }
        }
        if s.get(1 + 2 * count..) != Some(&[0, 63, 0][..]) {
            return Err(Error::Unsupported("not a sequential scan"));
        }
        let frame = &*frame;
        let mut scan = Scan::new(frame, &self.quant, &self.huffman, n)?;
        self.pos = scan.decode(self.bytes, self.pos, self.restart_interval)?;
        Ok(scan.into_decoded(frame))
    }
}

/// What one component needs while its blocks are decoded.
struct Plan<'t> {
    quant: &'t [u16; 64],
    dc: &'t Table,
    ac: &'t Table,
    h: usize,
    v: usize,
    /// Output block size of this component's inverse DCT.
    block_w: usize,
    block_h: usize,
    idct: BlockIdct,
    basis_w: Basis,
    basis_h: Basis,
    predictor: i32,
    /// The component at the output scale; every plane has the same size.
    plane: Vec<u8>,
}

struct Scan<'t> {
    plans: Vec<Plan<'t>>,
    mcus_x: usize,
    mcus_y: usize,
    /// Width of every plane (whole MCUs).
    stride: usize,
    n: usize,
}

impl<'t> Scan<'t> {
    fn new(
        frame: &Frame,
        quant: &'t [Option<[u16; 64]>; 4],
        huffman: &'t [Option<Table>; 8],
        n: usize,
    ) -> Result<Self, Error> {
        let h_max = frame.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = frame.components.iter().map(|c| c.v).max().unwrap_or(1);
        let mcus_x = frame.width.div_ceil(8 * h_max);
        let mcus_y = frame.height.div_ceil(8 * v_max);
        let (stride, rows) = (mcus_x * h_max * n, mcus_y * v_max * n);
        let mut plans = Vec::new();
        for c in &frame.components {
            if h_max % c.h != 0 || v_max % c.v != 0 {
                return Err(Error::Unsupported("fractional subsampling"));
            }
            // A subsampled component's blocks cover more pixels: a larger output block keeps
            // every plane at the same scale.
            let (block_w, block_h) = (n * h_max / c.h, n * v_max / c.v);
            let idct = idct::for_size(block_w, block_h)
                .ok_or(Error::Unsupported("subsampling too coarse for this scale"))?;
            let missing = Error::Corrupt("scan uses a table that was never defined");
            plans.push(Plan {
                quant: quant[c.quant].as_ref().ok_or(missing)?,
                dc: huffman[c.dc].as_ref().ok_or(missing)?,
                ac: huffman[c.ac].as_ref().ok_or(missing)?,
                h: c.h,
                v: c.v,
                block_w,
                block_h,
                idct,
                basis_w: idct::basis(block_w),
                basis_h: idct::basis(block_h),
                predictor: 0,
                plane: vec![0; stride * rows],
            });
        }
        Ok(Scan {
            plans,
            mcus_x,
            mcus_y,
            stride,
            n,
        })
    }

    /// Decodes every MCU of the entropy-coded data starting at `start`; returns where the
    /// data ends.
    fn decode(
        &mut self,
        bytes: &[u8],
        start: usize,
        restart_interval: usize,
    ) -> Result<usize, Error> {
        let mut reader = BitReader::new(bytes, start);
        let mut coefficients = [0i32; 64];
        let total = self.mcus_x * self.mcus_y;
        let mut next_restart = 0u8;
        for mcu in 0..total {
            if restart_interval > 0 && mcu > 0 && mcu % restart_interval == 0 {
                expect_restart(&mut reader, bytes, next_restart)?;
                next_restart = (next_restart + 1) % 8;
                for plan in &mut self.plans {
                    plan.predictor = 0;
                }
            }
            let (mx, my) = (mcu % self.mcus_x, mcu / self.mcus_x);
            for plan in &mut self.plans {
                for by in 0..plan.v {
                    for bx in 0..plan.h {
                        decode_block(
                            &mut reader,
                            plan.dc,
                            plan.ac,
                            plan.quant,
                            &mut plan.predictor,
                            &mut coefficients,
                        )?;
                        let x = (mx * plan.h + bx) * plan.block_w;
                        let y = (my * plan.v + by) * plan.block_h;
                        let offset = y * self.stride + x;
                        (plan.idct)(
                            &coefficients,
                            &plan.basis_w,
                            &plan.basis_h,
                            &mut plan.plane[offset..],
                            self.stride,
                        );
                    }
                }
            }
            if reader.overran() {
                return Err(Error::Corrupt("the scan ends early (truncated file?)"));
            }
        }
        Ok(reader.align())
    }

    fn into_decoded(self, frame: &Frame) -> Decoded {
        let width = (frame.width * self.n).div_ceil(8);
        let height = (frame.height * self.n).div_ceil(8);
        let stride = self.stride;
        let pixels = match self.plans.as_slice() {
            [y, cb, cr] => {
                let mut out = vec![0; width * height * 3];
                for (row, line) in out.chunks_exact_mut(width * 3).enumerate() {
                    let at = row * stride..row * stride + width;
                    let samples = y.plane[at.clone()]
                        .iter()
                        .zip(&cb.plane[at.clone()])
                        .zip(&cr.plane[at]);
                    for (pixel, ((&y, &cb), &cr)) in line.chunks_exact_mut(3).zip(samples) {
                        pixel.copy_from_slice(&ycbcr_to_rgb(y, cb, cr));
                    }
                }
                out
            }
            planes => {
                let grey = planes
                    .first()
                    .map(|p| p.plane.as_slice())
                    .unwrap_or_default();
                grey.chunks_exact(stride.max(1))
                    .take(height)
                    .flat_map(|line| &line[..width])
                    .copied()
                    .collect()
            }
        };
        Decoded {
            width: width as u32,
            height: height as u32,
            channels: if self.plans.len() == 3 { 3 } else { 1 },
            pixels,
        }
    }
}

/// Byte-aligns at the end of a restart interval and reads its RSTn marker.
fn expect_restart(reader: &mut BitReader, bytes: &[u8], expected: u8) -> Result<(), Error> {
    let mut pos = reader.align();
    if bytes.get(pos) != Some(&0xFF) {
        return Err(Error::Corrupt("restart marker missing"));
    }
    while bytes.get(pos) == Some(&0xFF) {
        pos += 1;
    }
    if bytes.get(pos) != Some(&(0xD0 + expected)) {
        return Err(Error::Corrupt("restart marker missing or out of order"));
    }
    reader.seek(pos + 1);
    Ok(())
}

/// JFIF's full-range YCbCr to RGB, in 16.16 fixed point.
#[inline]
fn ycbcr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const HALF: i32 = 1 << 15;
    let (y, cb, cr) = (i32::from(y) << 16, i32::from(cb) - 128, i32::from(cr) - 128);
    let clamp = |v: i32| ((v + HALF) >> 16).clamp(0, 255) as u8;
    [
        clamp(y + 91_881 * cr),
        clamp(y - 22_554 * cb - 46_802 * cr),
        clamp(y + 116_130 * cb),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/jpeg")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Mean and largest absolute difference between two pictures of the same size.
    fn difference(ours: &Decoded, reference: &[u8]) -> (f64, u8) {
        assert_eq!(ours.pixels.len(), reference.len());
        let diffs = ours
            .pixels
            .iter()
            .zip(reference)
            .map(|(&a, &b)| a.abs_diff(b));
        let max = diffs.clone().max().unwrap_or(0);
        let mean = diffs.map(f64::from).sum::<f64>() / reference.len() as f64;
        (mean, max)
    }

    /// The exact answer a reduced decode approximates: a full decode (by the `image` crate,
    /// that is zune-jpeg) averaged over each `8/n` square.
    fn box_average(bytes: &[u8], n: usize, channels: usize) -> Vec<u8> {
        let full = image::load_from_memory(bytes).expect("fixture decodes");
        let (w, h) = (full.width() as usize, full.height() as usize);
        let pixels = if channels == 3 {
            full.to_rgb8().into_raw()
        } else {
            full.to_luma8().into_raw()
        };
        let f = 8 / n;
        let (ow, oh) = (w.div_ceil(f), h.div_ceil(f));
        let mut out = Vec::with_capacity(ow * oh * channels);
        for y in 0..oh {
            for x in 0..ow {
                for c in 0..channels {
                    let (mut sum, mut count) = (0usize, 0usize);
                    for yy in y * f..((y + 1) * f).min(h) {
                        for xx in x * f..((x + 1) * f).min(w) {
                            sum += usize::from(pixels[(yy * w + xx) * channels + c]);
                            count += 1;
                        }
                    }
                    out.push(((sum + count / 2) / count) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn reduced_decodes_approximate_the_full_picture() {
        for stem in ["yuv420", "yuv422", "yuv444", "grey", "restart"] {
            let bytes = fixture(&format!("{stem}.jpg"));
            for n in [1, 2, 4] {
                let ours =
                    decode_scaled(&bytes, n).unwrap_or_else(|e| panic!("{stem} at {n}/8: {e:?}"));
                assert_eq!(
                    (ours.width, ours.height),
                    (203u32.div_ceil(8 / n as u32), 157u32.div_ceil(8 / n as u32))
                );
                let truth = box_average(&bytes, n, usize::from(ours.channels));
                let (mean, max) = difference(&ours, &truth);
                // Measured: mean 0.08-1.43, max 2-61 (the largest at the hard edges of the
                // saturated block, where chroma subsampling smears); libjpeg-turbo is 0.08-5.3
                // and 2-87 on the same files.
                assert!(mean < 1.6, "{stem} at {n}/8: mean difference {mean:.2}");
                assert!(max <= 64, "{stem} at {n}/8: largest difference {max}");
            }
        }
    }

    #[test]
    fn one_eighth_scale_is_exactly_libjpeg_turbos() {
        // At 1/8 without subsampling both decoders output each block's mean: they must agree.
        for stem in ["yuv444", "grey"] {
            let ours = decode_scaled(&fixture(&format!("{stem}.jpg")), 1).expect("decodes");
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/fixtures/jpeg/{stem}.scale1.png"));
            let turbo = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let turbo = if ours.channels == 3 {
                turbo.to_rgb8().into_raw()
            } else {
                turbo.to_luma8().into_raw()
            };
            assert_eq!(difference(&ours, &turbo), (0.0, 0), "{stem}");
        }
    }

    #[test]
    fn the_restart_fixture_has_restart_markers() {
        let bytes = fixture("restart.jpg");
        assert!(bytes.windows(2).any(|w| w == [0xFF, 0xDD]), "a DRI segment");
        assert!(
            bytes.windows(2).any(|w| w == [0xFF, 0xD3]),
            "at least four intervals"
        );
    }

    #[test]
    fn declines_what_it_does_not_take() {
        for name in ["progressive.jpg", "adobe-rgb.jpg", "cmyk.jpg"] {
            let got = decode_scaled(&fixture(name), 2).map(|d| d.width);
            assert!(matches!(got, Err(Error::Unsupported(_))), "{name}: {got:?}");
        }
        let full = decode_scaled(&fixture("yuv420.jpg"), 8).map(|d| d.width);
        assert!(
            matches!(full, Err(Error::Unsupported(_))),
            "full scale: {full:?}"
        );
    }

    #[test]
    fn a_cut_file_is_an_error_at_every_length() {
        let bytes = fixture("restart.jpg");
        for len in (0..bytes.len() - 2).step_by(5) {
            let got = decode_scaled(&bytes[..len], 2).map(|d| d.width);
            assert!(got.is_err(), "cut at {len} of {}: {got:?}", bytes.len());
        }
    }

    #[test]
    fn damaged_bytes_never_panic() {
        // xorshift: the same damage every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut decoded, mut refused) = (0, 0);
        for name in ["yuv420.jpg", "restart.jpg", "grey.jpg", "yuv422.jpg"] {
            let original = fixture(name);
            for _ in 0..400 {
                let mut bytes = original.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = next() as u8;
                }
                match decode_scaled(&bytes, [1, 2, 4][(next() % 3) as usize]) {
                    Ok(d) => {
                        assert_eq!(
                            d.pixels.len(),
                            (d.width * d.height) as usize * usize::from(d.channels)
                        );
                        decoded += 1;
                    }
                    Err(_) => refused += 1,
                }
            }
        }
        // Most damage lands in entropy-coded data, which still decodes (to wrong pixels).
        assert!(
            decoded > 0 && refused > 0,
            "decoded {decoded}, refused {refused}"
        );
    }

    #[test]
    fn idct_size_is_the_smallest_that_covers() {
        assert_eq!(idct_size((4000, 3000), (800, 600)), 2);
        assert_eq!(idct_size((4000, 3000), (500, 375)), 1);
        assert_eq!(idct_size((4000, 3000), (1001, 751)), 4);
        assert_eq!(idct_size((4000, 3000), (4000, 3000)), 8);
    }
}
