//! The machine's NVIDIA GPUs: NVML loaded at run time (nvml-wrapper opens the library with
//! libloading, so nothing links against the driver and a box without one builds and runs),
//! then `nvidia-smi --query-gpu ... --format=csv`, then none.

use std::process::Command;

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Nvml,
    NvidiaSmi,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    pub index: u32,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_used: Option<u64>,
    /// Percent of time a kernel ran over the last sample period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_w: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The CUDA version the driver supports, e.g. `12.4`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
    pub gpus: Vec<Gpu>,
    /// Why a source was not used (NVML not loadable, nvidia-smi missing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Keeps NVML open between samples (loading it costs milliseconds; the Monitor screen samples
/// every second).
pub struct Sampler {
    nvml: Option<Nvml>,
    nvml_error: Option<String>,
}

impl Sampler {
    pub fn open() -> Sampler {
        // The versioned name is what the driver package installs; the bare one needs -dev files.
        let opened = Nvml::builder()
            .lib_path(std::ffi::OsStr::new("libnvidia-ml.so.1"))
            .init()
            .or_else(|_| Nvml::init());
        match opened {
            Ok(nvml) => Sampler {
                nvml: Some(nvml),
                nvml_error: None,
            },
            Err(e) => Sampler {
                nvml: None,
                nvml_error: Some(format!("NVML not available: {e}")),
            },
        }
    }

    /// Whether NVML loaded (then nvidia-smi is asked only when an NVML query fails).
    pub fn has_nvml(&self) -> bool {
        self.nvml.is_some()
    }

    pub fn sample(&self) -> Report {
        let mut notes = Vec::new();
        if let Some(nvml) = &self.nvml {
            match from_nvml(nvml) {
                Ok(report) => return report,
                Err(e) => notes.push(format!("NVML query failed: {e}")),
            }
        }
        notes.extend(self.nvml_error.clone());
        match from_nvidia_smi() {
            Ok(mut report) => {
                report.notes = notes;
                report
            }
            Err(e) => {
                notes.push(e);
                Report {
                    source: Source::None,
                    driver: None,
                    cuda: None,
                    gpus: Vec::new(),
                    notes,
                }
            }
        }
    }
}

/// One look at the GPUs.
pub fn probe() -> Report {
    Sampler::open().sample()
}

fn from_nvml(nvml: &Nvml) -> Result<Report, nvml_wrapper::error::NvmlError> {
    let count = nvml.device_count()?;
    let mut gpus = Vec::with_capacity(count as usize);
    for index in 0..count {
        let d = nvml.device_by_index(index)?;
        let memory = d.memory_info().ok();
        gpus.push(Gpu {
            index,
            name: d.name().unwrap_or_else(|_| "unknown NVIDIA GPU".into()),
            uuid: d.uuid().ok(),
            memory_total: memory.as_ref().map(|m| m.total),
            memory_used: memory.as_ref().map(|m| m.used),
            utilization: d.utilization_rates().ok().map(|u| u.gpu),
            temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
            power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
        });
    }
    let cuda = nvml.sys_cuda_driver_version().ok().map(|v| {
        format!(
            "{}.{}",
            nvml_wrapper::cuda_driver_version_major(v),
            nvml_wrapper::cuda_driver_version_minor(v)
        )
    });
    Ok(Report {
        source: Source::Nvml,
        driver: nvml.sys_driver_version().ok(),
        cuda,
        gpus,
        notes: Vec::new(),
    })
}

const QUERY: &str = "index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,driver_version";

fn from_nvidia_smi() -> Result<Report, String> {
    let out = Command::new("nvidia-smi")
        .arg(format!("--query-gpu={QUERY}"))
        .arg("--format=csv,noheader,nounits")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "nvidia-smi not found on PATH".to_string(),
            _ => format!("nvidia-smi not runnable: {e}"),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = String::from_utf8_lossy(&out.stdout);
        return Err(format!(
            "nvidia-smi failed ({}): {}",
            out.status,
            format!("{} {}", msg.trim(), err.trim()).trim()
        ));
    }
    let (gpus, driver) = parse_smi_csv(&String::from_utf8_lossy(&out.stdout));
    Ok(Report {
        source: Source::NvidiaSmi,
        driver,
        cuda: None,
        gpus,
        notes: Vec::new(),
    })
}

/// `nvidia-smi --format=csv,noheader,nounits` rows in [`QUERY`] order; `[N/A]`,
/// `[Not Supported]` and the bare `N/A` older drivers print are unknown.
fn parse_smi_csv(text: &str) -> (Vec<Gpu>, Option<String>) {
    let mut driver = None;
    let mut gpus = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let known = |i: usize| {
            f.get(i)
                .copied()
                .filter(|v| !v.starts_with('[') && *v != "N/A" && !v.is_empty())
        };
        let mib = |i: usize| {
            known(i)
                .and_then(|v| v.parse::<u64>().ok())
                .map(|m| m << 20)
        };
        let Some(index) = known(0).and_then(|v| v.parse().ok()) else {
            continue;
        };
        if driver.is_none() {
            driver = known(8).map(str::to_string);
        }
        gpus.push(Gpu {
            index,
            name: known(1).unwrap_or("unknown NVIDIA GPU").to_string(),
            uuid: known(2).map(str::to_string),
            memory_total: mib(3),
            memory_used: mib(4),
            utilization: known(5).and_then(|v| v.parse().ok()),
            temperature_c: known(6).and_then(|v| v.parse().ok()),
            power_w: known(7).and_then(|v| v.parse().ok()),
        });
    }
    (gpus, driver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smi_rows_with_unsupported_fields() {
        let text = "0, NVIDIA H200, GPU-1234, 143771, 0, 0, 31, 75.50, 570.86.15\n\
                    1, NVIDIA GeForce GTX 1080, GPU-abcd, 8192, 1024, [N/A], 40, [Not Supported], 570.86.15\n";
        let (gpus, driver) = parse_smi_csv(text);
        assert_eq!(driver.as_deref(), Some("570.86.15"));
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].memory_total, Some(143_771 << 20));
        assert_eq!(gpus[0].power_w, Some(75.5));
        assert_eq!(gpus[1].utilization, None);
        assert_eq!(gpus[1].power_w, None);
    }

    #[test]
    fn smi_row_with_a_bare_n_a() {
        // Driver 440.64 prints unknown fields as a bare N/A (tests/fixtures/nvidia_smi).
        let (gpus, driver) = parse_smi_csv("0, N/A, N/A, 7979, N/A, 86, 45, 176.98, 440.64\n");
        assert_eq!(driver.as_deref(), Some("440.64"));
        assert_eq!(gpus[0].name, "unknown NVIDIA GPU");
        assert_eq!(gpus[0].uuid, None);
        assert_eq!(gpus[0].memory_used, None);
        assert_eq!(gpus[0].utilization, Some(86));
    }

    #[test]
    fn a_box_without_a_gpu_still_answers() {
        // On any machine: the probe never panics and says where the answer came from.
        let r = probe();
        if r.source == Source::None {
            assert!(r.gpus.is_empty());
            assert!(!r.notes.is_empty(), "no source and no reason");
        }
    }
}
