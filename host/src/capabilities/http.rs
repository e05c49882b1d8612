//! `http`: outbound requests to granted destinations only.
//!
//! - `http/policy.rs`: which destinations and resolved addresses are allowed.
//! - `http/resolve.rs`: name resolution, injectable for tests.
//! - `http/client.rs`: the client (timeouts, size cap, redirects, concurrency, logging).
//!
//! The grant checks themselves live with the other capabilities' in `grant.rs`.

pub mod client;
pub mod policy;
pub mod resolve;

use crate::runtime::CallState;
use crate::runtime::bindings::http::{Host, HttpError, Request, Response};

impl Host for CallState {
    async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        // What the adapter stored before the request is durable before it goes out.
        self.commit_staged()
            .await
            .map_err(|_| HttpError::Other("the adapter's storage could not be written".into()))?;
        let caps = self.caps.clone();
        client::send(&caps, &self.request_id, request).await
    }
}
