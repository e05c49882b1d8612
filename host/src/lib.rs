//! Panjereh, a national single window for government services.
//!
//! The host provides no service itself: agencies plug in sandboxed WebAssembly adapters
//! that follow the `panjereh:adapter` WIT contract, and the host serves their services to
//! citizens over HTTP.
//!
//! # Layout
//!
//! Layers, top first (`ARCHITECTURE.md` explains them; `cargo xtask test` checks them):
//!
//! - Edges: [`api`] (the HTTP router, extractors, problem documents, the OpenAPI
//!   document), [`portal`] (the citizens' web portal at `/`, Persian first), [`cli`] (the
//!   `panjereh` command), [`watch`] (installing packages dropped into the plugins folder).
//! - Use cases: [`window`] (inquiries, applications, callbacks, status, the catalogue,
//!   acting for others), [`payments`], [`background`] (the durable job queue), and [`app`]
//!   (what they share, built once at start).
//! - Services: [`auth`] (sign-in, sessions, identity hand-over, registries, per-client
//!   limits), [`plugins`] (manifests, loading, the hot-swappable registry, the calls of an
//!   adapter), [`audit`] (the hash-chained evidence log), [`config`], [`forms`] (host-side
//!   validation of service forms), [`metrics`] (Prometheus).
//! - Sandbox: [`runtime`] (the wasmtime engine, per-call store, limits, every contract
//!   release served) and [`capabilities`] (the host imports, deny-by-default).
//! - Storage: [`store`] (sqlx on SQLite or PostgreSQL, one file per aggregate).
//! - Leaves: [`names`] (wire names), [`text`] (languages, times, Persian display),
//!   [`tracking`] (tracking codes).

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
