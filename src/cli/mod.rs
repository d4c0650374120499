//! One file per subcommand group: clap arguments, a call into the library, printing.

pub mod captions;
pub mod doctor;
pub mod exclude;
pub mod lint;
pub mod log;
pub mod lora;
pub mod lora_rank;
pub mod open;
pub mod runs;
pub mod stats;
