//! TensorBoard event files (`events.out.tfevents.*`), read incrementally: TFRecord framing
//! (`u64 length`, masked CRC32C of the length, the record, masked CRC32C of the record) around
//! `Event` protobufs, of which only scalar summaries are decoded: `simple_value` (torch's
//! `SummaryWriter.add_scalar`, what kohya, diffusers and SimpleTuner write through accelerate)
//! and the tensor form (`new_style=True`, TF2: `float_val`, `double_val` or `tensor_content`).
//! The file is being written while it is read: a record not yet complete is left for the next
//! read; a record whose checksum fails is skipped and reported.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::MetricsError;

/// One scalar value of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub step: u64,
    pub wall_time: f64,
    pub tag: String,
    pub value: f64,
}

/// A record longer than this is taken for corruption (scalar events are ~100 bytes; graphs and
/// images can be megabytes).
const MAX_RECORD: u64 = 256 * 1024 * 1024;

/// Reads one event file from where the last read stopped.
#[derive(Debug)]
pub struct EventFile {
    path: PathBuf,
    offset: u64,
    /// Tags whose metadata named a plugin other than scalars (their tensors are not scalars).
    other_plugins: HashSet<String>,
    /// A length checksum failed: the framing is lost and the rest of the file is not read.
    lost: bool,
}

impl EventFile {
    pub fn new(path: PathBuf) -> Self {
        EventFile {
            path,
            offset: 0,
            other_plugins: HashSet::new(),
            lost: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the scalars of every record completed since the last call; problems with single
    /// records are appended to `problems` (the rest is still read).
    pub fn read_new(
        &mut self,
        out: &mut Vec<Scalar>,
        problems: &mut Vec<MetricsError>,
    ) -> Result<(), MetricsError> {
        if self.lost {
            return Ok(());
        }
        let io = |source| MetricsError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < self.offset {
            // Replaced by a shorter file: read it again from the start.
            self.offset = 0;
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut r = BufReader::with_capacity(64 * 1024, file);
        let mut record = Vec::new();
        loop {
            let mut header = [0u8; 12];
            if !read_full(&mut r, &mut header).map_err(io)? {
                return Ok(());
            }
            let (len_bytes, len_crc) = header.split_at(8);
            let size = u64::from_le_bytes(len_bytes.try_into().unwrap_or_default());
            if masked_crc32c(len_bytes)
                != u32::from_le_bytes(len_crc.try_into().unwrap_or_default())
                || size > MAX_RECORD
            {
                self.lost = true;
                problems.push(MetricsError::Corrupt {
                    path: self.path.clone(),
                    offset: self.offset,
                    what: "record length checksum mismatch; the rest of the file is skipped".into(),
                });
                return Ok(());
            }
            record.resize(size as usize + 4, 0);
            if !read_full(&mut r, &mut record).map_err(io)? {
                return Ok(());
            }
            let (data, crc) = record.split_at(size as usize);
            if masked_crc32c(data) == u32::from_le_bytes(crc.try_into().unwrap_or_default()) {
                if let Err(what) = decode_event(data, &mut self.other_plugins, out) {
                    problems.push(MetricsError::Corrupt {
                        path: self.path.clone(),
                        offset: self.offset,
                        what: what.into(),
                    });
                }
            } else {
                problems.push(MetricsError::Corrupt {
                    path: self.path.clone(),
                    offset: self.offset,
                    what: "record checksum mismatch; record skipped".into(),
                });
            }
            self.offset += 12 + size + 4;
        }
    }
}

/// Fills `buf` entirely; `false` when the file ends first (a record still being written).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// CRC-32C (Castagnoli), masked as TFRecord stores it.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0x82f6_3b78 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc32c(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &b| {
        CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// A protobuf field: its number and value.
enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

/// Iterates the fields of one protobuf message.
struct Fields<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Field<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        Some(self.field())
    }
}

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.data.split_first().ok_or("truncated varint")?;
            self.data = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.data.len() < n {
            return Err("truncated field");
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u64, Field<'a>), &'static str> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => Field::Fixed64(self.take(8)?.try_into().map_err(|_| "fixed64")?),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length")?;
                Field::Bytes(self.take(n)?)
            }
            5 => Field::Fixed32(self.take(4)?.try_into().map_err(|_| "fixed32")?),
            _ => return Err("unsupported wire type"),
        };
        Ok((key >> 3, value))
    }
}

fn fields(data: &[u8]) -> Fields<'_> {
    Fields { data }
}

/// `Event { double wall_time = 1; int64 step = 2; Summary summary = 5; … }`.
fn decode_event(
    data: &[u8],
    other_plugins: &mut HashSet<String>,
    out: &mut Vec<Scalar>,
) -> Result<(), &'static str> {
    let (mut wall_time, mut step, mut summary) = (0.0, 0u64, None);
    for f in fields(data) {
        match f? {
            (1, Field::Fixed64(b)) => wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(v)) => step = v,
            (5, Field::Bytes(b)) => summary = Some(b),
            _ => {}
        }
    }
    let Some(summary) = summary else {
        return Ok(());
    };
    // `Summary { repeated Value value = 1; }`
    for f in fields(summary) {
        if let (1, Field::Bytes(value)) = f?
            && let Some((tag, v)) = decode_value(value, other_plugins)?
        {
            out.push(Scalar {
                step,
                wall_time,
                tag,
                value: v,
            });
        }
    }
    Ok(())
}

/// `Value { string tag = 1; float simple_value = 2; TensorProto tensor = 8;
/// SummaryMetadata metadata = 9; … }`.
fn decode_value(
    data: &[u8],
    other_plugins: &mut HashSet<String>,
) -> Result<Option<(String, f64)>, &'static str> {
    let (mut tag, mut simple, mut tensor, mut plugin) = (None, None, None, None);
    for f in fields(data) {
        match f? {
            (1, Field::Bytes(b)) => tag = Some(String::from_utf8_lossy(b).into_owned()),
            (2, Field::Fixed32(b)) => simple = Some(f64::from(f32::from_le_bytes(b))),
            (8, Field::Bytes(b)) => tensor = Some(b),
            (9, Field::Bytes(b)) => plugin = plugin_name(b)?,
            _ => {}
        }
    }
    let Some(tag) = tag else {
        return Ok(None);
    };
    if let Some(v) = simple {
        return Ok(Some((tag, v)));
    }
    match plugin {
        Some(name) if name != "scalars" => {
            other_plugins.insert(tag);
            return Ok(None);
        }
        _ if other_plugins.contains(&tag) => return Ok(None),
        _ => {}
    }
    Ok(tensor
        .map(tensor_scalar)
        .transpose()?
        .flatten()
        .map(|v| (tag, v)))
}

/// `SummaryMetadata { PluginData plugin_data = 1; }`, `PluginData { string plugin_name = 1; }`.
fn plugin_name(data: &[u8]) -> Result<Option<String>, &'static str> {
    for f in fields(data) {
        if let (1, Field::Bytes(pd)) = f? {
            for g in fields(pd) {
                if let (1, Field::Bytes(name)) = g? {
                    return Ok(Some(String::from_utf8_lossy(name).into_owned()));
                }
            }
        }
    }
    Ok(None)
}

const DT_FLOAT: u64 = 1;
const DT_DOUBLE: u64 = 2;

/// The value of a one-element float tensor: `TensorProto { DataType dtype = 1;
/// bytes tensor_content = 4; repeated float float_val = 5; repeated double double_val = 6; … }`.
fn tensor_scalar(data: &[u8]) -> Result<Option<f64>, &'static str> {
    let mut dtype = 0;
    let mut values = Vec::new();
    let mut content = None;
    for f in fields(data) {
        match f? {
            (1, Field::Varint(v)) => dtype = v,
            (4, Field::Bytes(b)) => content = Some(b),
            (5, Field::Fixed32(b)) => values.push(f64::from(f32::from_le_bytes(b))),
            (6, Field::Fixed64(b)) => values.push(f64::from_le_bytes(b)),
            (5, Field::Bytes(packed)) => values.extend(
                packed
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            ),
            (6, Field::Bytes(packed)) => values.extend(
                packed
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
            ),
            _ => {}
        }
    }
    if let Some(c) = content {
        match (dtype, c.len()) {
            (DT_FLOAT, 4) => values.push(f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            (DT_DOUBLE, 8) => values.push(f64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ])),
            _ => return Ok(None),
        }
    }
    Ok(match values.as_slice() {
        [v] if dtype == DT_FLOAT || dtype == DT_DOUBLE => Some(*v),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        // The standard check value of CRC-32C.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }
}
