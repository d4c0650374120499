//! The real kohya sd-scripts environment for tests that drive the real trainer or its own code
//! (BucketManager, CLIPTokenizer): `../shared/trainers/kohya-cpu.sh prepare` builds it once
//! (cached outside the checkout) and prints `KEY=VALUE` lines. Where it cannot be made, the test
//! fails loudly with the reason; it never passes silently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The paths `kohya-cpu.sh prepare` prints: PYTHON, SD_SCRIPTS, SD_SCRIPTS_TINY, MODEL,
/// TOKENIZER_CACHE, TINY_LAUNCHER, DATASET_TOML, DATASET_DIR.
pub struct KohyaEnv {
    vars: HashMap<String, String>,
}

impl KohyaEnv {
    pub fn path(&self, key: &str) -> PathBuf {
        match self.vars.get(key) {
            Some(v) => PathBuf::from(v),
            None => panic!("kohya-cpu.sh prepare printed no {key}= line"),
        }
    }
}

/// The script: `LORABENCH_SHARED` if set, else `../shared` beside the checkout.
fn script() -> PathBuf {
    let shared = std::env::var_os("LORABENCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    shared.join("trainers/kohya-cpu.sh")
}

/// Prepares the environment once per test binary.
pub fn kohya() -> &'static KohyaEnv {
    static ENV: OnceLock<KohyaEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let script = script();
        assert!(
            script.is_file(),
            "{} is missing: the real-trainer tests need the shared trainers folder beside the checkout \
             (or LORABENCH_SHARED pointing at it)",
            script.display()
        );
        let out = Command::new("bash")
            .arg(&script)
            .arg("prepare")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} prepare failed ({}):\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let vars = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        KohyaEnv { vars }
    })
}
