//! The host's `bindgen!`s, one per contract release it serves: the current release
//! (`wit/`), whose types are the host's own, and [`v0_1`] from its frozen snapshot. Only
//! [`super::contract`] touches the older release's generated code.

wasmtime::component::bindgen!({
    world: "agency-adapter",
    path: "../wit",
    imports: {
        "panjereh:adapter/kv": async,
        "panjereh:adapter/http": async,
        "panjereh:adapter/notify": async,
        default: trappable,
    },
    exports: { default: async },
});

pub use exports::panjereh::adapter::adapter::{
    AdapterError, Agency, CallContext, Document, Payment, Receipt, StatusUpdate, Value,
};
pub use panjereh::adapter::types::{
    Actor, Assurance, Audience, Bill, BillRef, Category, Choice, Citizen, FeeRef, Field, FieldError, FieldType,
    IdentityAttribute, Item, PaidItem, Representation, Scope, Service, ServiceKind, Status, SubjectKind, Table, Text,
};
pub use panjereh::adapter::{clock, config, http, kv, log, notify};

/// `panjereh:adapter@0.1.0`, generated from `wit/snapshots/0.1.0`.
///
/// Only its `adapter` export is generated here. 0.2.0 changed none of the 0.1.0 capability
/// interfaces (it added `notify`) and, in `types`, only the records below: `receipt` and
/// `status-update` gained `bills`, `service` its `audience`, `citizen` its `kind` and
/// `actor` (and so `agency` and `call-context`, which hold them). Everything else is mapped
/// to the current release's Rust types: component types are checked by structure, not by
/// name, and a change that broke this would refuse every 0.1.0 adapter at load (the tests
/// load some). The capability imports are linked under their 0.1.0 names with the current
/// implementations (see [`super::contract`]).
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "agency-adapter",
        path: "../wit/snapshots/0.1.0",
        // Every import is mapped below, so no import flags apply.
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "panjereh:adapter/types@0.1.0": crate::runtime::bindings::v0_1::types,
            "panjereh:adapter/log@0.1.0": crate::runtime::bindings::log,
            "panjereh:adapter/config@0.1.0": crate::runtime::bindings::config,
            "panjereh:adapter/kv@0.1.0": crate::runtime::bindings::kv,
            "panjereh:adapter/http@0.1.0": crate::runtime::bindings::http,
            "panjereh:adapter/clock@0.1.0": crate::runtime::bindings::clock,
        },
    });

    /// `panjereh:adapter/types@0.1.0`: the current types, except the records 0.2.0
    /// changed.
    pub mod types {
        pub use crate::runtime::bindings::panjereh::adapter::types::*;
        use wasmtime::component::{ComponentType, Lift, Lower};

        /// `receipt` of 0.1.0: no bills.
        #[derive(ComponentType, Lift, Lower, Clone, Debug)]
        #[component(record)]
        pub struct Receipt {
            #[component(name = "agency-reference")]
            pub agency_reference: String,
            pub status: Status,
            pub message: Text,
        }

        /// `service` of 0.1.0: no audience.
        #[derive(ComponentType, Lift, Lower, Clone, Debug)]
        #[component(record)]
        pub struct Service {
            pub id: String,
            pub title: Text,
            pub description: Text,
            pub category: Category,
            pub kind: ServiceKind,
            pub scope: Scope,
            pub fields: Vec<Field>,
            #[component(name = "min-assurance")]
            pub min_assurance: Assurance,
            pub identity: Vec<IdentityAttribute>,
            #[component(name = "fee-rial")]
            pub fee_rial: Option<u64>,
            #[component(name = "expected-days")]
            pub expected_days: Option<u32>,
        }

        /// `agency` of 0.1.0: its services have no audience.
        #[derive(ComponentType, Lift, Lower, Clone, Debug)]
        #[component(record)]
        pub struct Agency {
            pub id: String,
            pub name: Text,
            pub services: Vec<Service>,
        }

        /// `citizen` of 0.1.0: no kind, no actor.
        #[derive(ComponentType, Lift, Lower, Clone, Debug)]
        #[component(record)]
        pub struct Citizen {
            pub subject: String,
            #[component(name = "national-id")]
            pub national_id: Option<String>,
            pub mobile: Option<String>,
            pub assurance: Assurance,
        }

        /// `call-context` of 0.1.0: its citizen is the 0.1.0 record.
        #[derive(ComponentType, Lift, Lower, Clone, Debug)]
        #[component(record)]
        pub struct CallContext {
            #[component(name = "request-id")]
            pub request_id: String,
            pub service: String,
            pub citizen: Option<Citizen>,
            pub locale: String,
        }

        /// `status-update` of 0.1.0: no bills.
        #[derive(ComponentType, Lift, Lower, Clone, Debug)]
        #[component(record)]
        pub struct StatusUpdate {
            #[component(name = "agency-reference")]
            pub agency_reference: String,
            pub status: Status,
            pub message: Text,
        }
    }
}
