//! Serving adapters built for `panjereh:adapter@0.1.0`: its host imports under their 0.1.0
//! names, and its answers in the current types.
//!
//! 0.2.0 changed no 0.1.0 capability interface, so the 0.1.0 imports are linked with the
//! current implementations (`capabilities/`). Of the records 0.2.0 changed, a 0.1.0 adapter
//! answers `receipt` and `status-update` without `bills`, describes services without an
//! `audience` (read as persons when they need `national-id`, everyone otherwise: what the
//! host did before 0.2.0), and is called with a `citizen` without `kind` and `actor`.

use wasmtime::component::{HasSelf, Linker};

use super::CallState;
use super::bindings::v0_1::types as old;
use super::bindings::{
    Agency, Audience, CallContext, Citizen, IdentityAttribute, Receipt, Service, StatusUpdate, clock, config, http, kv,
    log,
};

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

impl From<old::Agency> for Agency {
    fn from(a: old::Agency) -> Self {
        Agency { id: a.id, name: a.name, services: a.services.into_iter().map(Service::from).collect() }
    }
}

impl From<old::Service> for Service {
    fn from(s: old::Service) -> Self {
        let audience =
            if s.identity.contains(&IdentityAttribute::NationalId) { Audience::Persons } else { Audience::Everyone };
        Service {
            id: s.id,
            title: s.title,
            description: s.description,
            category: s.category,
            kind: s.kind,
            scope: s.scope,
            fields: s.fields,
            min_assurance: s.min_assurance,
            identity: s.identity,
            fee_rial: s.fee_rial,
            expected_days: s.expected_days,
            audience,
        }
    }
}

impl From<&CallContext> for old::CallContext {
    fn from(ctx: &CallContext) -> Self {
        old::CallContext {
            request_id: ctx.request_id.clone(),
            service: ctx.service.clone(),
            citizen: ctx.citizen.as_ref().map(old::Citizen::from),
            locale: ctx.locale.clone(),
        }
    }
}

impl From<&Citizen> for old::Citizen {
    fn from(c: &Citizen) -> Self {
        old::Citizen {
            subject: c.subject.clone(),
            national_id: c.national_id.clone(),
            mobile: c.mobile.clone(),
            assurance: c.assurance,
        }
    }
}
