//! The same as `keeper` under another adapter id, to show that adapters cannot read each
//! other's keys.

const AGENCY: &str = "keeper-two";

include!("../../keeper/src/keeper.rs");
