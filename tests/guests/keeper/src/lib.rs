//! Runs kv operations named in its input and reports the outcome.

const AGENCY: &str = "keeper";

include!("keeper.rs");
