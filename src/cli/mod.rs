//! One file per subcommand group: clap arguments, a call into the library, printing.

pub mod captions;
pub mod doctor;
pub mod exclude;
pub mod keys;
pub mod lint;
pub mod log;
pub mod lora;
pub mod lora_rank;
pub mod open;
pub mod runs;
pub mod say;
pub mod stats;
pub mod train;

/// An error and its causes, each said once: a cause whose text the message already holds
/// (a typed error that prints its source, wrapped by anyhow context) is not repeated.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if said.is_empty() || text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Typed {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let said = io.to_string();
        let err = anyhow::Error::new(Typed {
            path: "a.txt".into(),
            source: io,
        })
        .context("cannot open the dataset");
        let text = error_text(&err);
        assert_eq!(text, format!("cannot open the dataset: a.txt: {said}"));
        assert_eq!(text.matches(&said).count(), 1);
    }
}
