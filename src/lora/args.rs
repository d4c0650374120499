//! What a person types to name LoRA inputs, parsed once for the CLI and the TUI:
//! `FILE[:weight]`, strengths and weights (finite numbers only), ranks, and rank rules
//! (`N`, `sv_ratio=X`, `sv_fro=X`, `sv_cumulative=X`).

use std::path::PathBuf;

use super::lowrank::{RankRule, RankRuleParseError};

#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    #[error("{what}: `{text}` is not a number")]
    NotANumber { what: String, text: String },
    #[error(
        "{what}: {value} is not a finite number (NaN or infinity would make every weight it touches NaN); give a number such as 0.8"
    )]
    NotFinite { what: String, value: f32 },
    #[error("{what}: `{text}`: a whole number, 1 or more")]
    Rank { what: String, text: String },
    #[error("`{text}`: bad weight `{weight}`; give FILE:NUMBER, such as style.safetensors:0.8")]
    BadWeight { text: String, weight: String },
    #[error(transparent)]
    RankRule(#[from] RankRuleParseError),
}

/// A strength or weight typed as text: a finite number.
pub fn strength(text: &str, what: &str) -> Result<f32, ArgError> {
    let value: f32 = text.trim().parse().map_err(|_| ArgError::NotANumber {
        what: what.to_string(),
        text: text.to_string(),
    })?;
    finite(value, what)
}

/// `value` if it is finite. The merge and mix cores call this on every strength whatever
/// called them, so a NaN can never reach a written file.
pub fn finite(value: f32, what: &str) -> Result<f32, ArgError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ArgError::NotFinite {
            what: what.to_string(),
            value,
        })
    }
}

/// `file.safetensors[:weight]` (default 1). A suffix that is a number must be finite; one
/// that is not belongs to the path when it looks like one (`dir:with/colon.safetensors`, or
/// the whole names an existing file); otherwise (`x:abc`, `x.safetensors:heavy`) it is a bad
/// weight, said as such rather than as a file that cannot be read.
pub fn weighted_path(arg: &str) -> Result<(PathBuf, f32), ArgError> {
    let Some((path, w)) = arg.rsplit_once(':') else {
        return Ok((PathBuf::from(arg), 1.0));
    };
    if let Ok(weight) = w.trim().parse::<f32>() {
        return Ok((PathBuf::from(path), finite(weight, arg)?));
    }
    let looks_like_path = w.contains('/') || w.contains('.');
    let before_is_file =
        path.to_lowercase().ends_with(".safetensors") || std::path::Path::new(path).is_file();
    if !std::path::Path::new(arg).exists() && (before_is_file || !looks_like_path) {
        return Err(ArgError::BadWeight {
            text: arg.to_string(),
            weight: w.to_string(),
        });
    }
    Ok((PathBuf::from(arg), 1.0))
}

/// A rank: a whole number, 1 or more.
pub fn rank(text: &str, what: &str) -> Result<usize, ArgError> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|&r| r >= 1)
        .ok_or_else(|| ArgError::Rank {
            what: what.to_string(),
            text: text.to_string(),
        })
}

/// A fixed rank `N` or one of kohya's dynamic rules.
pub fn rank_rule(text: &str) -> Result<RankRule, ArgError> {
    match text.trim().parse::<usize>() {
        Ok(_) => rank(text, "rank").map(RankRule::Fixed),
        Err(_) => Ok(text.parse::<RankRule>()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_paths_take_only_finite_weights() {
        let (p, w) = weighted_path("style.safetensors:0.7").unwrap();
        assert_eq!((p, w), (PathBuf::from("style.safetensors"), 0.7));
        let (p, w) = weighted_path("dir:with/colon.safetensors").unwrap();
        assert_eq!((p, w), (PathBuf::from("dir:with/colon.safetensors"), 1.0));
        assert_eq!(weighted_path("x.safetensors:-1").unwrap().1, -1.0);
        for bad in [
            "x:abc",
            "x.safetensors:abc",
            "X.SAFETENSORS:0.5x",
            "Cargo.toml:heavy",
        ] {
            let e = weighted_path(bad).unwrap_err().to_string();
            assert!(e.contains("bad weight"), "{bad}: {e}");
        }
        for bad in [
            "x.safetensors:inf",
            "x.safetensors:NaN",
            "x.safetensors:-inf",
        ] {
            let e = weighted_path(bad).unwrap_err().to_string();
            assert!(e.contains("not a finite number"), "{e}");
        }
    }

    #[test]
    fn strengths_ranks_and_rules() {
        assert_eq!(strength(" 0.5 ", "strength").unwrap(), 0.5);
        assert!(strength("nan", "strength").is_err());
        assert!(
            strength("much", "strength")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert_eq!(rank("16", "rank").unwrap(), 16);
        assert!(rank("0", "rank").is_err());
        assert!(matches!(rank_rule("8").unwrap(), RankRule::Fixed(8)));
        assert!(matches!(
            rank_rule("sv_fro=0.9").unwrap(),
            RankRule::SvFro(_)
        ));
        assert!(rank_rule("0").is_err());
        assert!(rank_rule("sv_fro=nan").is_err());
    }
}
