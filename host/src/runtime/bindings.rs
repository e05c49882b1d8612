//! The host's only `bindgen!`: Rust types for the `agency-adapter` world.

wasmtime::component::bindgen!({
    world: "agency-adapter",
    path: "../wit",
    imports: {
        "panjereh:adapter/kv": async,
        "panjereh:adapter/http": async,
        default: trappable,
    },
    exports: { default: async },
});

pub use exports::panjereh::adapter::adapter::{
    AdapterError, Agency, CallContext, Document, Receipt, StatusUpdate, Value,
};
pub use panjereh::adapter::types::{
    Assurance, Bill, Category, Choice, Citizen, Field, FieldError, FieldType, IdentityAttribute, Item, Scope, Service,
    ServiceKind, Status, Table, Text,
};
pub use panjereh::adapter::{clock, config, http, kv, log};
