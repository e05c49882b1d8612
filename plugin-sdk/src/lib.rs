//! Write a Panjereh agency adapter in Rust: implement [`Adapter`], call [`export!`] once.
//! Adapters built with this SDK target the contract `panjereh:adapter@0.2.0` ([`WIT_VERSION`]).
//!
//! An adapter is a WebAssembly component that the Panjereh host loads in a sandbox. It
//! describes its agency's services and answers inquiries and applications, usually by
//! calling the agency's own back-end through [`http`]. Build it for `wasm32-wasip2`
//! (`cargo build --release --target wasm32-wasip2`, or `panjereh plugin build`).
//!
//! You never touch generated bindings: the types in [`types`] and the host imports in
//! [`log`], [`config`], [`kv`], [`http`], [`clock`] and [`notify`] are all you need.
//!
//! # Layout
//!
//! - [`Adapter`]: the trait you implement; `submit`, `status`, `on_callback` and
//!   `on_payment` have defaults for inquiry-only agencies.
//! - [`types`]: services, fields, documents, receipts and errors, with small builders.
//! - [`log`], [`config`], [`kv`], [`http`], [`clock`], [`notify`]: the host's capabilities, each
//!   deny-by-default: ask for them in your manifest and have an operator grant them.
//! - `testing` (native builds only): in-memory fakes of those capabilities, so
//!   `cargo test` on your machine runs the adapter's logic without a host. On
//!   `wasm32` the capabilities call the host; everywhere else they call the fakes.
//!
//! The step-by-step guide from `panjereh plugin new` to a running service is
//! `plugin-sdk/GUIDE.md`.
//!
//! # Example
//!
//! A complete adapter with one inquiry:
//!
//! ```no_run
//! use panjereh_plugin_sdk::types::*;
//! use panjereh_plugin_sdk::{export, Adapter};
//!
//! struct Library;
//!
//! impl Adapter for Library {
//!     fn describe() -> Agency {
//!         Agency {
//!             id: "national-library".into(),
//!             name: Text::new("کتابخانه ملی", "National Library"),
//!             services: vec![Service::inquiry(
//!                 "membership",
//!                 Text::new("استعلام عضویت", "Membership inquiry"),
//!                 Text::new("وضعیت عضویت شما در کتابخانه", "Your membership status"),
//!                 Category::new("culture", Text::new("فرهنگی", "Culture")),
//!             )
//!             .field(Field::new("card", Text::new("شماره کارت", "Card number"), FieldType::Number))],
//!         }
//!     }
//!
//!     fn inquire(_ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
//!         let card = input.get_value("card").unwrap_or_default();
//!         Ok(Document::new(Text::new("عضویت", "Membership"))
//!             .item(Text::new("شماره کارت", "Card"), card)
//!             .item(Text::new("وضعیت", "Status"), "active"))
//!     }
//! }
//!
//! export!(Library);
//! ```

#![allow(unsafe_code)] // generated export glue

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "agency-adapter",
        // `wit` links to the repository's `wit/`, so that the published crate carries it.
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_generated",
        default_bindings_module: "panjereh_plugin_sdk::bindings",
        generate_all,
        // Tests compare answers and errors directly.
        additional_derives: [PartialEq, Eq],
    });
}

mod convert;
pub mod types;

mod host;
pub use host::{clock, config, http, kv, log, notify};

#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use panjereh_formats as formats;

use types::{AdapterError, Agency, CallContext, Document, Payment, Receipt, StatusUpdate, Text, Value};

/// The contract version adapters built with this SDK speak: the `wit` of their manifest.
pub const WIT_VERSION: &str = "0.2.0";

/// An agency adapter. Every call runs in a fresh instance: keep state in [`kv`].
pub trait Adapter {
    /// The agency and its services. Called once when the host loads the adapter.
    fn describe() -> Agency;

    /// Answers a direct inquiry. The input was normalized and validated by the host
    /// according to the service's field types.
    fn inquire(ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError>;

    /// Files an application. The default refuses: the agency offers none.
    fn submit(ctx: CallContext, input: Vec<Value>) -> Result<Receipt, AdapterError> {
        let _ = (ctx, input);
        Err(not_offered())
    }

    /// Reads an application's current state from the agency.
    fn status(ctx: CallContext, agency_reference: String) -> Result<StatusUpdate, AdapterError> {
        let _ = (ctx, agency_reference);
        Err(not_offered())
    }

    /// Interprets a status change pushed by the agency (signature already verified).
    fn on_callback(body: Vec<u8>) -> Result<StatusUpdate, AdapterError> {
        let _ = body;
        Err(not_offered())
    }

    /// Told that a citizen paid one of this adapter's bills (from a document, receipt or
    /// status update) or an application's fee; the host calls it after the payment was
    /// settled. Answers the status change the payment caused, if any. The default has
    /// nothing to do.
    fn on_payment(ctx: CallContext, payment: Payment) -> Result<Option<StatusUpdate>, AdapterError> {
        let _ = (ctx, payment);
        Ok(None)
    }
}

fn not_offered() -> AdapterError {
    AdapterError::NotFound(Text::new("این دستگاه چنین خدمتی ارائه نمی‌کند", "this agency does not offer that operation"))
}

/// Exports a type implementing [`Adapter`] as the component's `adapter` interface.
/// Call it exactly once, at the crate root of the adapter.
#[macro_export]
macro_rules! export {
    ($adapter:ty) => {
        const _: () = {
            struct PanjerehExport;
            impl $crate::bindings::exports::panjereh::adapter::adapter::Guest for PanjerehExport {
                fn describe() -> $crate::types::Agency {
                    <$adapter as $crate::Adapter>::describe()
                }
                fn inquire(
                    ctx: $crate::types::CallContext,
                    input: ::std::vec::Vec<$crate::types::Value>,
                ) -> ::std::result::Result<$crate::types::Document, $crate::types::AdapterError> {
                    <$adapter as $crate::Adapter>::inquire(ctx, input)
                }
                fn submit(
                    ctx: $crate::types::CallContext,
                    input: ::std::vec::Vec<$crate::types::Value>,
                ) -> ::std::result::Result<$crate::types::Receipt, $crate::types::AdapterError> {
                    <$adapter as $crate::Adapter>::submit(ctx, input)
                }
                fn status(
                    ctx: $crate::types::CallContext,
                    agency_reference: ::std::string::String,
                ) -> ::std::result::Result<$crate::types::StatusUpdate, $crate::types::AdapterError> {
                    <$adapter as $crate::Adapter>::status(ctx, agency_reference)
                }
                fn on_callback(
                    body: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<$crate::types::StatusUpdate, $crate::types::AdapterError> {
                    <$adapter as $crate::Adapter>::on_callback(body)
                }
                fn on_payment(
                    ctx: $crate::types::CallContext,
                    payment: $crate::types::Payment,
                ) -> ::std::result::Result<
                    ::std::option::Option<$crate::types::StatusUpdate>,
                    $crate::types::AdapterError,
                > {
                    <$adapter as $crate::Adapter>::on_payment(ctx, payment)
                }
            }
    $crate::bindings::__export_generated!(PanjerehExport with_types_in $crate::bindings);
        };
    };
}
