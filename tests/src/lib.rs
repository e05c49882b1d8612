//! Integration tests of the Panjereh host live in `all/`; this crate has no library code.
