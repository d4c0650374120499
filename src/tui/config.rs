//! YAML configuration files (themes, keys): one parser call that keeps where a bad file went
//! wrong, so every file's error names its line and column the same way.

use serde::de::DeserializeOwned;

/// A file that did not parse: 1-based line and column (0 when unknown) and the first line of
/// the parser's message.
pub struct Located {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

pub fn parse<T: DeserializeOwned>(source: &str) -> Result<T, Located> {
    serde_saphyr::from_str::<T>(source).map_err(|err| {
        let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
        Located {
            line,
            column,
            message: err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    })
}
