//! `http`: outbound requests to granted destinations only.

use super::Denials;
use crate::runtime::CallState;
use crate::runtime::bindings::http::{Host, HttpError, Request, Response};

impl Host for CallState {
    async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        Denials::count(&self.caps.denials.http);
        Err(HttpError::NotGranted(format!("outbound HTTP to `{}` is not granted to this adapter", request.url)))
    }
}
