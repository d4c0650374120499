//! One file per subcommand group: clap arguments, a call into the library, printing.

pub mod captions;
pub mod exclude;
pub mod lint;
pub mod lora;
pub mod lora_rank;
pub mod open;
pub mod stats;
pub mod train;
