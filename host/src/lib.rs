//! Panjereh, a national single window for government services.
//!
//! The host provides no service itself: agencies plug in sandboxed WebAssembly adapters
//! that follow the `panjereh:adapter` WIT contract, and the host serves their services to
//! citizens over HTTP.
//!
//! # Layout
//!
//! - [`config`]: file, flags and environment resolved into a validated [`config::Config`].
//! - [`runtime`]: the wasmtime engine, linker, per-call store, limits and CPU budget, and
//!   the bindings of every contract release served (0.1.0, 0.2.0).
//! - [`capabilities`]: host imports offered to adapters (log, config, kv, http, clock).
//! - [`plugins`]: manifests, component checks, loading, the hot-swappable registry, and
//!   the calls of an adapter (`on_payment` for the payments code).
//! - [`forms`]: host-side validation of service forms.
//! - [`api`]: the HTTP router, problem details and JSON views.
//! - [`store`]: sqlx on SQLite or PostgreSQL, migrations, one file per aggregate.
//! - [`audit`]: the hash-chained evidence log and its verifier.
//! - [`metrics`]: Prometheus metrics.
//! - [`auth`]: sign-in (built-in OTP provider), sessions, assurance checks, data-usage.
//! - [`portal`]: the citizens' web portal at `/`, server-rendered, Persian first.
//! - [`tracking`]: tracking codes of applications.
//! - [`app`]: what is built once at start and shared by requests.
//! - [`cli`]: the `panjereh` command.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod background;
pub mod capabilities;
pub mod cli;
pub mod config;
pub mod forms;
pub mod metrics;
pub mod names;
pub mod payments;
pub mod plugins;
pub mod portal;
pub mod runtime;
pub mod store;
pub mod text;
pub mod tracking;
pub mod watch;
pub mod window;
