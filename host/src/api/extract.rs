//! The extractors every router uses: JSON bodies, paths, query strings and raw bodies whose
//! rejections are problem documents, the client's address, and the signed-in [`Citizen`].

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use super::errors::sign_in_required;
use super::problem::{Bilingual, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::session::{COOKIE, cookie_value, over_https};
pub use crate::auth::throttle::ClientAddr;

/// JSON bodies whose rejections are problem documents.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

/// Path parameters whose rejections are problem documents.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct ApiPath<T>(pub T);

/// Query strings whose rejections are problem documents.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct ApiQuery<T>(pub T);

/// Raw bodies whose rejections are problem documents.
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiBytes(Bytes::from_request(request, state).await?))
    }
}

impl From<BytesRejection> for Problem {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                Bilingual::new("حجم درخواست بیش از حد مجاز است", "The request body is too large"),
            )
        } else {
            Problem::bad_request(Bilingual::new("بدنه درخواست خوانده نشد", "the request body could not be read"))
        }
    }
}

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let peer = peer.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        Ok(ClientAddr(crate::auth::throttle::client_of(peer, &parts.headers, &app.config.trusted_proxies)))
    }
}

/// A credential found on a request.
pub(crate) enum Credential<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

pub(crate) fn credential(headers: &HeaderMap) -> Option<Credential<'_>> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or("").trim();
        return Some(Credential::Bearer(token));
    }
    cookie_value(headers, COOKIE.get(over_https(headers))).map(Credential::Cookie)
}

impl OptionalFromRequestParts<Arc<App>> for Citizen {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Option<Self>, Self::Rejection> {
        match credential(&parts.headers) {
            None => Ok(None),
            Some(Credential::Cookie(token)) => crate::window::acting::resolve(app, token).await.map_err(Problem::from),
            Some(Credential::Bearer(token)) => {
                match crate::window::acting::resolve(app, token).await.map_err(Problem::from)? {
                    Some(citizen) => Ok(Some(citizen)),
                    None => Err(sign_in_required(Bilingual::new(
                        "نشست شما معتبر نیست یا پایان یافته است؛ دوباره وارد شوید.",
                        "the bearer token is invalid, expired or revoked; sign in again",
                    ))),
                }
            }
        }
    }
}

impl FromRequestParts<Arc<App>> for Citizen {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        <Citizen as OptionalFromRequestParts<Arc<App>>>::from_request_parts(parts, app).await?.ok_or_else(|| {
            sign_in_required(Bilingual::new(
                "برای این کار باید وارد شوید.",
                "sign in first: send `Authorization: Bearer <token>` or the session cookie",
            ))
        })
    }
}
