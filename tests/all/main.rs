//! Integration tests: one binary, a shared harness that starts a real host on
//! 127.0.0.1:0 with adapters built from source.

mod harness;

mod adapters;
mod applications;
mod capabilities;
mod catalogue;
mod clients;
mod contract;
mod crash;
mod foundation;
mod notifications;
mod oidc;
mod openapi;
mod operators;
mod payments;
mod portal;
mod representation;
mod sandbox;
mod signin;
