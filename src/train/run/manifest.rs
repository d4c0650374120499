//! `run.yaml`: what was launched, exactly: the config snapshot, the backend, the dataset and
//! its content hash, the argument vector, the variables set on top of the inherited
//! environment (never the whole environment: it holds tokens), the devices. The supervisor
//! starts the trainer from this file, so arguments that are not UTF-8 are kept as bytes.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunError;
use super::proc::ProcRef;
use crate::train::TrainerId;
use crate::train::progress::LogFormat;

pub const FILE: &str = "run.yaml";

/// The run-folder format this build writes and reads. A folder from a newer lorabench is named
/// as such instead of failing on whichever field changed; files without the key are format 1.
pub const SCHEMA: u32 = 1;

fn schema_one() -> u32 {
    1
}

/// One argument or environment value: text where it is UTF-8, bytes otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Arg {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

impl Arg {
    pub fn from_os(s: &std::ffi::OsStr) -> Arg {
        match s.to_str() {
            Some(t) => Arg::Text(t.to_string()),
            None => Arg::Bytes {
                bytes: s.as_bytes().to_vec(),
            },
        }
    }

    pub fn to_os(&self) -> OsString {
        match self {
            Arg::Text(t) => OsString::from(t),
            Arg::Bytes { bytes } => OsString::from_vec(bytes.clone()),
        }
    }

    /// For display: lossy, never for launching.
    pub fn display(&self) -> String {
        self.to_os().to_string_lossy().into_owned()
    }
}

pub fn args(v: &[OsString]) -> Vec<Arg> {
    v.iter().map(|a| Arg::from_os(a)).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: Arg,
    pub value: Arg,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetRef {
    pub name: String,
    /// Content hash of the snapshot the trainer reads.
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// A run started elsewhere and only watched (`runs attach`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attached {
    pub log: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(default = "schema_one")]
    pub schema: u32,
    pub id: String,
    pub name: String,
    pub trainer: TrainerId,
    pub created_at: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetRef>,
    pub program: Arg,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    pub cwd: PathBuf,
    pub output_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
    /// How the command backend's progress is read (`tqdm` or `jsonl`); the others ignore it.
    #[serde(default)]
    pub log_format: LogFormat,
    /// GPU ids the run asked for (empty: the default device).
    #[serde(default)]
    pub gpus: Vec<u32>,
    /// The devices locked for it (`gpu-0`, or `cpu` on a box with no GPU).
    #[serde(default)]
    pub devices: Vec<String>,
    /// Wait for busy devices instead of refusing.
    #[serde(default)]
    pub queue: bool,
    /// Run when the run ends (argv, never a shell string).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_finish: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<Attached>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The training config as resolved at launch (YAML text).
    #[serde(default)]
    pub config: String,
}

impl Manifest {
    pub fn read(run_dir: &Path) -> Result<Manifest, RunError> {
        let path = run_dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| RunError::io(&path, e))?;
        let parsed = serde_saphyr::from_str::<Manifest>(&text);
        // A newer format is named as such whether or not this build can parse it: only its
        // `schema` key is looked at again when the whole file did not parse.
        let schema = match &parsed {
            Ok(m) => m.schema,
            Err(_) => {
                #[derive(Deserialize)]
                struct Format {
                    schema: Option<u32>,
                }
                serde_saphyr::from_str::<Format>(&text)
                    .ok()
                    .and_then(|f| f.schema)
                    .unwrap_or(SCHEMA)
            }
        };
        if schema > SCHEMA {
            return Err(RunError::Corrupt {
                path,
                message: format!(
                    "made by a newer lorabench (run format {schema}; this one reads {SCHEMA}): \
                     upgrade lorabench to open it"
                ),
            });
        }
        parsed.map_err(|e| RunError::Corrupt {
            path,
            // The parser's first line says what and where; the rest is a source excerpt that
            // reads as noise on one table row.
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })
    }

    pub fn write(&self, run_dir: &Path) -> Result<(), RunError> {
        let path = run_dir.join(FILE);
        let text = serde_saphyr::to_string(self).map_err(|e| RunError::Write {
            path: path.clone(),
            message: e.to_string(),
        })?;
        crate::dataset::fsio::write_atomic(&path, text.as_bytes(), true).map_err(|e| {
            RunError::Write {
                path,
                message: e.to_string(),
            }
        })
    }

    pub fn argv(&self) -> Vec<OsString> {
        self.args.iter().map(Arg::to_os).collect()
    }

    /// The command line for people: each argument quoted the way a POSIX shell would need.
    pub fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_quote(&a.display()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awkward_arguments_survive_the_file_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let awkward: Vec<OsString> = [
            "--flag",
            "-",
            "a b",
            "it's \"quoted\"",
            "line1\nline2\n",
            "  padded  ",
            "key: value # not a comment",
            "- not a list",
            "null",
            "1e3",
            "",
            "tab\there\r",
        ]
        .iter()
        .map(OsString::from)
        .chain([OsString::from_vec(vec![0x66, 0xff, 0x6f])])
        .collect();
        let m = Manifest {
            schema: SCHEMA,
            id: "x".into(),
            name: "n: y".into(),
            trainer: TrainerId::Command,
            created_at: 1.5,
            dataset: None,
            program: Arg::Text("/usr/bin/python3".into()),
            args: args(&awkward),
            env: vec![EnvVar {
                name: Arg::Text("A".into()),
                value: Arg::Text("x\ny".into()),
            }],
            cwd: PathBuf::from("/tmp/with space"),
            output_dir: PathBuf::from("/tmp/out"),
            metrics_dir: None,
            total_steps: Some(6),
            log_format: LogFormat::Jsonl,
            gpus: vec![0, 1],
            devices: vec!["gpu-0".into()],
            queue: true,
            on_finish: vec![],
            attached: None,
            resumed_from: None,
            config: "name: x\nnetwork:\n  rank: 4\n".into(),
        };
        m.write(dir.path()).unwrap();
        let back = Manifest::read(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.argv(), awkward);
    }

    #[test]
    fn a_newer_format_is_named_and_damage_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "schema: 9\nid: x\nsteps: {}\n").unwrap();
        let e = Manifest::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("newer lorabench (run format 9; this one reads 1)"),
            "{e}"
        );

        std::fs::write(dir.path().join(FILE), "id: x\nname: [\n").unwrap();
        let e = Manifest::read(dir.path()).unwrap_err().to_string();
        assert!(!e.contains('\n') && e.contains(FILE), "{e}");
    }
}
