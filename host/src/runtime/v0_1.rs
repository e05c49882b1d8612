//! Serving adapters built for `panjereh:adapter@0.1.0`: its host imports under their 0.1.0
//! names, and its answers in the current types.
//!
//! 0.2.0 changed no capability interface, so the 0.1.0 imports are linked with the
//! current implementations (`capabilities/`); `receipt` and `status-update` gained
//! `bills`, which a 0.1.0 adapter never has.

use wasmtime::component::{HasSelf, Linker};

use super::CallState;
use super::bindings::v0_1::types as old;
use super::bindings::{Receipt, StatusUpdate, clock, config, http, kv, log};

/// Links the capability imports under their 0.1.0 names.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    let name = |interface: &str| format!("panjereh:adapter/{interface}@0.1.0");
    log::add_to_linker_instance::<CallState, HasSelf<CallState>>(&mut linker.instance(&name("log"))?, |s| s)?;
    config::add_to_linker_instance::<CallState, HasSelf<CallState>>(&mut linker.instance(&name("config"))?, |s| s)?;
    kv::add_to_linker_instance::<CallState, HasSelf<CallState>>(&mut linker.instance(&name("kv"))?, |s| s)?;
    http::add_to_linker_instance::<CallState, HasSelf<CallState>>(&mut linker.instance(&name("http"))?, |s| s)?;
    clock::add_to_linker_instance::<CallState, HasSelf<CallState>>(&mut linker.instance(&name("clock"))?, |s| s)?;
    Ok(())
}

impl From<old::Receipt> for Receipt {
    fn from(r: old::Receipt) -> Self {
        Receipt { agency_reference: r.agency_reference, status: r.status, message: r.message, bills: Vec::new() }
    }
}

impl From<old::StatusUpdate> for StatusUpdate {
    fn from(u: old::StatusUpdate) -> Self {
        StatusUpdate { agency_reference: u.agency_reference, status: u.status, message: u.message, bills: Vec::new() }
    }
}
