//! The safetensors container: a header parser that trusts nothing, positioned reads of one
//! tensor at a time, and an atomic streaming writer.
//!
//! Layout: `[u64 LE n][n bytes of JSON header][data]`. The header maps tensor names to
//! `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section) plus an
//! optional `__metadata__` object of string values. Every size in the header is checked
//! against the real file size before anything is allocated from it.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use candle_core::{DType as CDType, Device, Tensor};
use half::{bf16, f16};

/// Headers larger than this are refused (the same limit as the reference implementation).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Something wrong with a safetensors file, always naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SafetensorsError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `path` is the file the user asked for, never the hidden temporary file it is built in.
    #[error(
        "cannot write {path}: {source} (check that its folder exists and is writable, and that the disk has room)"
    )]
    WriteIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a safetensors file ({len} bytes, too short for one); give a .safetensors LoRA or checkpoint"
    )]
    TooShort { path: PathBuf, len: u64 },
    #[error(
        "{path}: the header runs past the end of the {file_len}-byte file; the file is truncated (download or copy it again)"
    )]
    HeaderPastEnd {
        path: PathBuf,
        header_len: u64,
        file_len: u64,
    },
    #[error(
        "{path} is not a safetensors file (it does not start with a header length and a JSON header); give a .safetensors LoRA or checkpoint"
    )]
    NotSafetensors { path: PathBuf },
    #[error("{path}: header is not valid UTF-8 (byte {at}); the file is corrupt")]
    HeaderUtf8 { path: PathBuf, at: usize },
    #[error("{path}: header is not valid JSON ({source}); the file is corrupt")]
    HeaderJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: header entry `{name}`: {problem}; the file is corrupt")]
    BadEntry {
        path: PathBuf,
        name: String,
        problem: String,
    },
    #[error("{path}: tensor `{name}` has unknown dtype `{dtype}`")]
    UnknownDtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error(
        "{path}: tensor `{name}` has shape {shape:?}, whose size overflows; the file is corrupt or hostile"
    )]
    AbsurdShape {
        path: PathBuf,
        name: String,
        shape: Vec<u64>,
    },
    #[error(
        "{path}: tensor `{name}` is {dtype} {shape:?} ({expected} bytes) but its offsets span {actual} bytes; the file is corrupt"
    )]
    SizeMismatch {
        path: PathBuf,
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        expected: u64,
        actual: u64,
    },
    #[error(
        "{path}: tensor `{name}` data [{begin}, {end}) lies outside the {data_len}-byte data section; the file is truncated or corrupt"
    )]
    OutOfBounds {
        path: PathBuf,
        name: String,
        begin: u64,
        end: u64,
        data_len: u64,
    },
    #[error(
        "{path}: tensors `{first}` and `{second}` overlap in the data section; the file is corrupt"
    )]
    Overlap {
        path: PathBuf,
        first: String,
        second: String,
    },
    #[error("{path}: `__metadata__` must be an object of strings; {problem}")]
    BadMetadata { path: PathBuf, problem: String },
    #[error("{path}: no tensor named `{name}`")]
    NoTensor { path: PathBuf, name: String },
    #[error(
        "{path}: tensor `{name}` has dtype {dtype}, which lorabench cannot compute with (use F16, BF16, F32 or F64)"
    )]
    UnsupportedDtype {
        path: PathBuf,
        name: String,
        dtype: Dtype,
    },
    #[error("{path}: writing tensor `{name}`: {problem}")]
    Write {
        path: PathBuf,
        name: String,
        problem: String,
    },
    #[error("{path}: tensor maths failed on `{name}`: {source}")]
    Candle {
        path: PathBuf,
        name: String,
        source: Box<candle_core::Error>,
    },
}

type Result<T> = std::result::Result<T, SafetensorsError>;

/// Element types of the safetensors format. The declaration order is the format's own order,
/// which decides where tensors go in a written file (see [`Writer`]).
/// Variant names are the format's own spellings.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Dtype {
    BOOL,
    F4,
    F6_E2M3,
    F6_E3M2,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    F8_E8M0,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
}

impl Dtype {
    const ALL: [Dtype; 20] = [
        Dtype::BOOL,
        Dtype::F4,
        Dtype::F6_E2M3,
        Dtype::F6_E3M2,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8_E5M2,
        Dtype::F8_E4M3,
        Dtype::F8_E8M0,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The spelling used in headers.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::BOOL => "BOOL",
            Dtype::F4 => "F4",
            Dtype::F6_E2M3 => "F6_E2M3",
            Dtype::F6_E3M2 => "F6_E3M2",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8_E5M2 => "F8_E5M2",
            Dtype::F8_E4M3 => "F8_E4M3",
            Dtype::F8_E8M0 => "F8_E8M0",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::C64 => "C64",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Bits per element (sub-byte types pack several elements per byte).
    pub fn bits(self) -> u64 {
        match self {
            Dtype::F4 => 4,
            Dtype::F6_E2M3 | Dtype::F6_E3M2 => 6,
            Dtype::BOOL | Dtype::U8 | Dtype::I8 => 8,
            Dtype::F8_E5M2 | Dtype::F8_E4M3 | Dtype::F8_E8M0 => 8,
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 16,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 32,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 64,
        }
    }

    /// True for the float types the maths here reads and writes.
    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }

    fn to_candle(self) -> Option<CDType> {
        Some(match self {
            Dtype::U8 => CDType::U8,
            Dtype::U32 => CDType::U32,
            Dtype::I16 => CDType::I16,
            Dtype::I32 => CDType::I32,
            Dtype::I64 => CDType::I64,
            Dtype::F16 => CDType::F16,
            Dtype::BF16 => CDType::BF16,
            Dtype::F32 => CDType::F32,
            Dtype::F64 => CDType::F64,
            _ => return None,
        })
    }

    fn from_candle(d: CDType) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|x| x.to_candle() == Some(d))
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One tensor as the header describes it (offsets are absolute file offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub begin: u64,
    pub end: u64,
}

impl TensorInfo {
    pub fn byte_len(&self) -> u64 {
        self.end - self.begin
    }
    pub fn numel(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }
}

/// A parsed, validated header.
#[derive(Debug, Clone)]
pub struct Header {
    /// Tensors in data-section order.
    pub tensors: Vec<TensorInfo>,
    pub metadata: BTreeMap<String, String>,
    /// Length of the JSON header (the `n` of the layout).
    pub header_len: u64,
}

impl Header {
    /// Absolute offset where the data section begins.
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }
}

/// Reads the 8-byte length prefix, checking it against the file length before any allocation.
pub fn header_len(path: &Path, prefix: &[u8], file_len: u64) -> Result<u64> {
    let bytes: [u8; 8] = prefix
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| SafetensorsError::TooShort {
            path: path.to_path_buf(),
            len: file_len,
        })?;
    let n = u64::from_le_bytes(bytes);
    // A length past the limit is text or another binary format read as a number (a PNG, a
    // pickle), not a safetensors header: say so rather than quote the number.
    if !(2..=MAX_HEADER_LEN).contains(&n) {
        return Err(SafetensorsError::NotSafetensors {
            path: path.to_path_buf(),
        });
    }
    if n > file_len.saturating_sub(8) {
        return Err(SafetensorsError::HeaderPastEnd {
            path: path.to_path_buf(),
            header_len: n,
            file_len,
        });
    }
    Ok(n)
}

/// Parses and validates a header. `json` is the n header bytes; `data_len` the size of the data
/// section that follows it in the file. Pure: used by [`SafetensorsFile::open`] and the fuzzer.
pub fn parse_header(path: &Path, json: &[u8], data_len: u64) -> Result<Header> {
    let p = || path.to_path_buf();
    if json.first() != Some(&b'{') {
        return Err(SafetensorsError::NotSafetensors { path: p() });
    }
    let text = std::str::from_utf8(json).map_err(|e| SafetensorsError::HeaderUtf8 {
        path: p(),
        at: e.valid_up_to(),
    })?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|source| SafetensorsError::HeaderJson { path: p(), source })?;
    let serde_json::Value::Object(map) = value else {
        return Err(SafetensorsError::BadEntry {
            path: p(),
            name: String::new(),
            problem: "the header is not a JSON object".into(),
        });
    };
    let data_start = 8 + json.len() as u64;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(map.len());
    for (name, entry) in map {
        if name == "__metadata__" {
            metadata = parse_metadata(path, entry)?;
            continue;
        }
        let info = parse_entry(path, &name, &entry, data_len)?;
        tensors.push(TensorInfo {
            begin: info.begin + data_start,
            end: info.end + data_start,
            ..info
        });
    }
    tensors.sort_by_key(|t| (t.begin, t.end));
    for pair in tensors.windows(2) {
        // Zero-length tensors may share an offset with anything.
        if pair[1].begin < pair[0].end && pair[1].begin < pair[1].end {
            return Err(SafetensorsError::Overlap {
                path: p(),
                first: pair[0].name.clone(),
                second: pair[1].name.clone(),
            });
        }
    }
    Ok(Header {
        tensors,
        metadata,
        header_len: json.len() as u64,
    })
}

fn parse_metadata(path: &Path, entry: serde_json::Value) -> Result<BTreeMap<String, String>> {
    let serde_json::Value::Object(map) = entry else {
        return Err(SafetensorsError::BadMetadata {
            path: path.to_path_buf(),
            problem: "it is not an object".into(),
        });
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(SafetensorsError::BadMetadata {
                path: path.to_path_buf(),
                problem: format!("`{k}` is {other}, not a string"),
            }),
        })
        .collect()
}

fn parse_entry(
    path: &Path,
    name: &str,
    entry: &serde_json::Value,
    data_len: u64,
) -> Result<TensorInfo> {
    let bad = |problem: &str| SafetensorsError::BadEntry {
        path: path.to_path_buf(),
        name: name.to_string(),
        problem: problem.to_string(),
    };
    let dtype_name = entry
        .get("dtype")
        .and_then(|d| d.as_str())
        .ok_or_else(|| bad("missing or non-string `dtype`"))?;
    let dtype = Dtype::parse(dtype_name).ok_or_else(|| SafetensorsError::UnknownDtype {
        path: path.to_path_buf(),
        name: name.to_string(),
        dtype: dtype_name.chars().take(64).collect(),
    })?;
    let shape_raw: Vec<u64> = entry
        .get("shape")
        .and_then(|s| s.as_array())
        .ok_or_else(|| bad("missing or non-array `shape`"))?
        .iter()
        .map(|d| d.as_u64().ok_or_else(|| bad("shape holds a non-integer")))
        .collect::<Result<_>>()?;
    let offsets = entry
        .get("data_offsets")
        .and_then(|o| o.as_array())
        .ok_or_else(|| bad("missing or non-array `data_offsets`"))?;
    let [begin, end] = offsets.as_slice() else {
        return Err(bad("`data_offsets` must hold exactly two integers"));
    };
    let (Some(begin), Some(end)) = (begin.as_u64(), end.as_u64()) else {
        return Err(bad("`data_offsets` must hold exactly two integers"));
    };
    let absurd = || SafetensorsError::AbsurdShape {
        path: path.to_path_buf(),
        name: name.to_string(),
        shape: shape_raw.clone(),
    };
    let numel = shape_raw
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(absurd)?;
    let bits = numel.checked_mul(dtype.bits()).ok_or_else(absurd)?;
    let expected = bits.div_ceil(8);
    let shape: Vec<usize> = shape_raw
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| absurd()))
        .collect::<Result<_>>()?;
    if end < begin || end > data_len {
        return Err(SafetensorsError::OutOfBounds {
            path: path.to_path_buf(),
            name: name.to_string(),
            begin,
            end,
            data_len,
        });
    }
    if end - begin != expected {
        return Err(SafetensorsError::SizeMismatch {
            path: path.to_path_buf(),
            name: name.to_string(),
            dtype,
            shape,
            expected,
            actual: end - begin,
        });
    }
    Ok(TensorInfo {
        name: name.to_string(),
        dtype,
        shape,
        begin,
        end,
    })
}

/// An open safetensors file: the validated header, tensors read one at a time on demand.
#[derive(Debug)]
pub struct SafetensorsFile {
    path: PathBuf,
    file: File,
    file_len: u64,
    header: Header,
    index: HashMap<String, usize>,
}

impl SafetensorsFile {
    /// Opens and validates the header; reads no tensor data.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| SafetensorsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let file_len = file.metadata().map_err(io)?.len();
        let mut prefix = [0u8; 8];
        if file_len >= 8 {
            file.read_exact_at(&mut prefix, 0).map_err(io)?;
        }
        let n = header_len(path, &prefix[..file_len.min(8) as usize], file_len)?;
        // n <= file_len - 8 and n <= MAX_HEADER_LEN: this allocation is bounded by real bytes.
        let mut json = vec![0u8; n as usize];
        file.read_exact_at(&mut json, 8).map_err(io)?;
        let header = parse_header(path, &json, file_len - 8 - n)?;
        let index = header
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            file_len,
            header,
            index,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn file_len(&self) -> u64 {
        self.file_len
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Tensors in data-section order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.header.metadata
    }
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.header.tensors[i])
    }

    fn require(&self, name: &str) -> Result<&TensorInfo> {
        self.info(name).ok_or_else(|| SafetensorsError::NoTensor {
            path: self.path.clone(),
            name: name.to_string(),
        })
    }

    /// The raw little-endian bytes of one tensor.
    pub fn read_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let info = self.require(name)?;
        let mut buf = vec![0u8; info.byte_len() as usize];
        self.file
            .read_exact_at(&mut buf, info.begin)
            .map_err(|source| SafetensorsError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(buf)
    }

    /// One tensor as a CPU candle tensor in its stored dtype.
    pub fn read_tensor(&self, name: &str) -> Result<Tensor> {
        let info = self.require(name)?;
        let dtype = info
            .dtype
            .to_candle()
            .ok_or_else(|| SafetensorsError::UnsupportedDtype {
                path: self.path.clone(),
                name: name.to_string(),
                dtype: info.dtype,
            })?;
        let shape = info.shape.clone();
        let bytes = self.read_bytes(name)?;
        Tensor::from_raw_buffer(&bytes, dtype, &shape, &Device::Cpu).map_err(|source| {
            SafetensorsError::Candle {
                path: self.path.clone(),
                name: name.to_string(),
                source: Box::new(source),
            }
        })
    }

    /// One float tensor converted to F32 for maths.
    pub fn read_f32(&self, name: &str) -> Result<Tensor> {
        let info = self.require(name)?;
        if !info.dtype.is_float() {
            return Err(SafetensorsError::UnsupportedDtype {
                path: self.path.clone(),
                name: name.to_string(),
                dtype: info.dtype,
            });
        }
        self.read_tensor(name)?
            .to_dtype(CDType::F32)
            .map_err(|source| SafetensorsError::Candle {
                path: self.path.clone(),
                name: name.to_string(),
                source: Box::new(source),
            })
    }

    /// A scalar (any numeric dtype, any shape with one element) as f32: LoRA alphas.
    pub fn read_scalar(&self, name: &str) -> Result<f32> {
        let info = self.require(name)?;
        let bad = |problem: String| SafetensorsError::BadEntry {
            path: self.path.clone(),
            name: name.to_string(),
            problem,
        };
        if info.numel() != 1 {
            return Err(bad(format!(
                "expected a scalar, found shape {:?}",
                info.shape
            )));
        }
        let bytes = self.read_bytes(name)?;
        let v = match info.dtype {
            Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64 => decode_f32(info.dtype, &bytes)[0],
            Dtype::I64 => i64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()) as f32,
            Dtype::I32 => i32::from_le_bytes(bytes[..4].try_into().unwrap_or_default()) as f32,
            Dtype::I16 => i16::from_le_bytes(bytes[..2].try_into().unwrap_or_default()) as f32,
            Dtype::U8 => bytes[0] as f32,
            other => return Err(bad(format!("a scalar of dtype {other} cannot be read"))),
        };
        Ok(v)
    }
}

/// Decodes float bytes (F16/BF16/F32/F64, little-endian) to f32. Other dtypes give an empty vec.
pub fn decode_f32(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_le_bytes(a) as f32
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Encodes f32 values into `dtype` bytes (F16/BF16/F32/F64), rounding to nearest.
pub fn encode_f32(dtype: Dtype, values: &[f32], out: &mut Vec<u8>) {
    out.clear();
    match dtype {
        Dtype::F16 => out.extend(values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes())),
        Dtype::BF16 => out.extend(values.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes())),
        Dtype::F32 => out.extend(values.iter().flat_map(|v| v.to_le_bytes())),
        Dtype::F64 => out.extend(values.iter().flat_map(|&v| (v as f64).to_le_bytes())),
        _ => {}
    }
}

/// A candle tensor's dtype and little-endian bytes, for writing.
pub fn tensor_bytes(t: &Tensor) -> candle_core::Result<(Dtype, Vec<u8>)> {
    let dtype = Dtype::from_candle(t.dtype())
        .ok_or_else(|| candle_core::Error::Msg(format!("cannot store {:?}", t.dtype())))?;
    let flat = t.flatten_all()?;
    let bytes = match t.dtype() {
        CDType::U8 => flat.to_vec1::<u8>()?,
        CDType::U32 => le(flat.to_vec1::<u32>()?, u32::to_le_bytes),
        CDType::I16 => le(flat.to_vec1::<i16>()?, i16::to_le_bytes),
        CDType::I32 => le(flat.to_vec1::<i32>()?, i32::to_le_bytes),
        CDType::I64 => le(flat.to_vec1::<i64>()?, i64::to_le_bytes),
        CDType::F16 => le(flat.to_vec1::<f16>()?, f16::to_le_bytes),
        CDType::BF16 => le(flat.to_vec1::<bf16>()?, bf16::to_le_bytes),
        CDType::F32 => le(flat.to_vec1::<f32>()?, f32::to_le_bytes),
        CDType::F64 => le(flat.to_vec1::<f64>()?, f64::to_le_bytes),
        other => return Err(candle_core::Error::Msg(format!("cannot store {other:?}"))),
    };
    Ok((dtype, bytes))
}

fn le<T: Copy, const N: usize>(v: Vec<T>, f: fn(T) -> [u8; N]) -> Vec<u8> {
    v.into_iter().flat_map(f).collect()
}

/// What a tensor will be, declared before the writer starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn byte_len(&self) -> u64 {
        let numel: u64 = self.shape.iter().map(|&d| d as u64).product();
        (numel * self.dtype.bits()).div_ceil(8)
    }
}

/// Sorts specs into the order the reference implementation writes: dtype descending, then
/// name ascending. Files written in this order hash like files written by Python.
pub fn canonical_order(specs: &mut [TensorSpec]) {
    specs.sort_by(|a, b| b.dtype.cmp(&a.dtype).then_with(|| a.name.cmp(&b.name)));
}

/// Streams a safetensors file tensor by tensor into a temporary file beside the target, and
/// renames it into place only in [`Writer::finish`]. Dropped unfinished (error, cancel), it
/// deletes the temporary file: the final name never holds a half-written file.
pub struct Writer {
    target: PathBuf,
    temp: PathBuf,
    out: Option<BufWriter<File>>,
    specs: Vec<TensorSpec>,
    next: usize,
}

impl Writer {
    /// Creates the temporary file and writes the header. Tensors must then be written in the
    /// order of [`Writer::order`] (the canonical order).
    pub fn create(
        target: &Path,
        mut specs: Vec<TensorSpec>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self> {
        canonical_order(&mut specs);
        let mut header = serde_json::Map::new();
        if !metadata.is_empty() {
            header.insert(
                "__metadata__".into(),
                serde_json::to_value(metadata).unwrap_or_default(),
            );
        }
        let mut offset = 0u64;
        for s in &specs {
            let len = s.byte_len();
            header.insert(
                s.name.clone(),
                serde_json::json!({"dtype": s.dtype.name(), "shape": s.shape, "data_offsets": [offset, offset + len]}),
            );
            offset += len;
        }
        let mut json = serde_json::to_vec(&header).unwrap_or_default();
        // Pad with spaces to a multiple of 8 so the data section is aligned.
        json.resize(json.len().next_multiple_of(8), b' ');

        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temp = dir.join(format!(".{file_name}.{}-{seq}.partial", std::process::id()));
        let io = |source| SafetensorsError::WriteIo {
            path: target.to_path_buf(),
            source,
        };
        let file = File::create(&temp).map_err(io)?;
        let mut w = Writer {
            target: target.to_path_buf(),
            temp: temp.clone(),
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            specs,
            next: 0,
        };
        if let Some(out) = w.out.as_mut() {
            out.write_all(&(json.len() as u64).to_le_bytes())
                .map_err(io)?;
            out.write_all(&json).map_err(io)?;
        }
        Ok(w)
    }

    /// Tensor specs in the order they must be written.
    pub fn order(&self) -> &[TensorSpec] {
        &self.specs
    }

    /// Writes the next tensor's bytes; the name and length must match the declared spec.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let err = |problem: String| SafetensorsError::Write {
            path: self.target.clone(),
            name: name.to_string(),
            problem,
        };
        let Some(spec) = self.specs.get(self.next) else {
            return Err(err("more tensors written than declared".into()));
        };
        if spec.name != name {
            return Err(err(format!("expected `{}` next", spec.name)));
        }
        if spec.byte_len() != bytes.len() as u64 {
            return Err(err(format!(
                "{} bytes given, {} declared",
                bytes.len(),
                spec.byte_len()
            )));
        }
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| err("writer closed".into()))?;
        out.write_all(bytes)
            .map_err(|source| SafetensorsError::WriteIo {
                path: self.target.clone(),
                source,
            })?;
        self.next += 1;
        Ok(())
    }

    /// Flushes, syncs and renames the file into place.
    pub fn finish(mut self) -> Result<()> {
        if self.next != self.specs.len() {
            return Err(SafetensorsError::Write {
                path: self.target.clone(),
                name: self.specs[self.next].name.clone(),
                problem: "not written before finishing".into(),
            });
        }
        let io = |source| SafetensorsError::WriteIo {
            path: self.target.clone(),
            source,
        };
        if let Some(out) = self.out.take() {
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&self.temp, &self.target).map_err(io)?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename durable; failure here is not worth losing the result over.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Writes in-memory tensors with metadata atomically (canonical order). With `model_hash`,
/// the data-section SHA-256 is stored as `sshs_model_hash` (kohya's convention, reference §7)
/// and a stale `sshs_legacy_hash` is dropped.
pub fn write_tensors(
    target: &Path,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
    model_hash: bool,
) -> Result<()> {
    let mut encoded: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    let mut specs = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let (dtype, bytes) = tensor_bytes(t).map_err(|source| SafetensorsError::Candle {
            path: target.to_path_buf(),
            name: name.clone(),
            source: Box::new(source),
        })?;
        specs.push(TensorSpec {
            name: name.clone(),
            dtype,
            shape: t.dims().to_vec(),
        });
        encoded.insert(name, bytes);
    }
    canonical_order(&mut specs);
    let mut metadata = metadata.clone();
    if model_hash {
        let parts = specs.iter().filter_map(|s| encoded.get(s.name.as_str()));
        metadata.insert(
            "sshs_model_hash".into(),
            bytes_sha256(parts.map(Vec::as_slice)),
        );
        metadata.remove("sshs_legacy_hash");
    }
    let mut w = Writer::create(target, specs, &metadata)?;
    let order: Vec<String> = w.order().iter().map(|s| s.name.clone()).collect();
    for name in order {
        let bytes = encoded
            .get(name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        w.write(&name, bytes)?;
    }
    w.finish()
}

/// Hex SHA-256 of the data section: kohya's `sshs_model_hash` (reference §7).
pub fn data_section_sha256(file: &SafetensorsFile) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = file.header.data_start();
    while pos < file.file_len {
        let n = ((file.file_len - pos) as usize).min(buf.len());
        file.file
            .read_exact_at(&mut buf[..n], pos)
            .map_err(|source| SafetensorsError::Io {
                path: file.path.clone(),
                source,
            })?;
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// SHA-256 over tensor bytes in write order, as [`data_section_sha256`] will find it.
pub fn bytes_sha256<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p);
    }
    format!("{:x}", hasher.finalize())
}
