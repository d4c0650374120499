//! The reference interpreter every bench compares against: `LORABENCH_PYTHON`, else `python3`
//! from PATH, with the libraries pinned in benches/requirements.txt.

/// The interpreter to run the reference scripts with.
pub fn python() -> String {
    std::env::var("LORABENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}
