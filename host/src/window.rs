//! The window's use cases, with no HTTP in them: what a citizen, an agency or the host's
//! own background work asks of an adapter.
//!
//! Every use case is a short function on top of [`call::AdapterCall`], the one path of an
//! adapter call: find the adapter → admit the caller → validate the form → disclose the
//! identity attributes (with their data-usage entries) → call → settle the outcome →
//! record the evidence. Each returns its typed answer or a [`ServiceError`]; `api/` and
//! `portal/` turn that error into a problem document or a page with one table
//! (`api/errors.rs`).
//!
//! - [`acting`]: who a session acts as, and whether the right to act for someone holds.
//! - [`catalogue`]: searching the services, one service's description.
//! - [`inquiry`]: asking an agency (`inquire`).
//! - [`filing`]: filing an application (`submit`) with idempotency, and reading them back.
//! - [`callback`]: an agency's signed status callback (`on-callback`).
//! - [`views`]: the answers' JSON shapes, in the caller's language.
//! - [`follow`]: asking an agency where an application stands (`status`), for the
//!   background worker.

pub mod acting;
pub mod call;
pub mod callback;
pub mod catalogue;
pub mod error;
pub mod filing;
pub mod follow;
pub mod inquiry;
pub mod views;

pub use error::{AdapterFailure, ServiceError};
