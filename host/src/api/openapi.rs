//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.
//!
//! Nothing here lists routes: each module registers its handlers with `routes!`, which
//! takes the path, parameters and answers from the handler's `#[utoipa::path]` and the
//! types it answers with, so a route cannot be served without being described. This module
//! adds what every operation shares: the security schemes, the problem document of every
//! 4xx and 5xx answer, and the answers to a request body the host cannot read.

use utoipa::openapi::content::Content;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::problem::{FieldError, ProblemDocument};

/// Media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Security scheme of a citizen's bearer token (`POST /auth/otp/verify`, `/auth/callback`).
pub const CITIZEN_BEARER: &str = "citizen";
/// Security scheme of the portal's session cookie (same sessions as the bearer tokens).
pub const CITIZEN_COOKIE: &str = "citizen_cookie";
/// Security scheme of an operator's bearer token (`panjereh operator create`).
pub const OPERATOR_BEARER: &str = "operator";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Panjereh",
        description = "The national single window for government services: a catalogue of agencies' services, \
            inquiries, applications with tracking codes, single sign-on, and the operators' adapter lifecycle. \
            Text is answered in Persian or English by `Accept-Language` (Persian by default); every error is an \
            RFC 9457 problem document in that language.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ProblemDocument, FieldError)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "catalogue", description = "Agencies and their services: browse, search, read a service's form"),
        (name = "inquiries", description = "Direct inquiries answered by an agency's adapter"),
        (name = "applications", description = "Applications with tracking codes and their status history"),
        (name = "citizen", description = "The signed-in citizen and who used their data"),
        (name = "sign-in", description = "One-time codes by SMS, single sign-on with OpenID Connect, sign-out"),
        (name = "agencies", description = "What agencies' back-ends call: signed status callbacks"),
        (name = "operators", description = "The adapter lifecycle and the audit log, for operators only"),
        (name = "operations", description = "Health, readiness, metrics and this description"),
    ),
)]
pub struct ApiDoc;

/// The bearer tokens and the portal's cookie.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        components.add_security_scheme(
            CITIZEN_BEARER,
            bearer("A citizen's session token, from `POST /auth/otp/verify` or the single sign-on callback"),
        );
        components.add_security_scheme(
            CITIZEN_COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::session::COOKIE.get(true),
                "The same session as an HttpOnly, SameSite cookie, for the web portal; over plain HTTP \
                 (development on loopback) it is named without the `__Host-` prefix",
            ))),
        );
        components.add_security_scheme(OPERATOR_BEARER, bearer("An operator's token, from `panjereh operator create`"));
    }
}

/// Gives every error answer the problem document, and every operation with a request body
/// the answers to a body the host cannot read.
struct ProblemAnswers;

impl Modify for ProblemAnswers {
    fn modify(&self, openapi: &mut Document) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.request_body.is_some() {
                    add_unreadable_body_answers(operation);
                }
                for (status, response) in &mut operation.responses.responses {
                    if let RefOr::T(response) = response
                        && status.as_str() >= "400"
                        && response.content.is_empty()
                    {
                        response.content.insert(PROBLEM_JSON.to_owned(), problem_content());
                    }
                }
            }
        }
    }
}

fn problem_content() -> Content {
    Content::new(Some(Ref::from_schema_name("Problem")))
}

/// 400, 413 and 415: what any endpoint with a body answers to one it cannot read.
fn add_unreadable_body_answers(operation: &mut Operation) {
    let answers = [
        ("400", "The body is not valid JSON for this endpoint (syntax, types, unknown members, nesting)"),
        ("413", "The body is larger than the endpoint accepts"),
        ("415", "The body's `Content-Type` is not the one the endpoint reads"),
    ];
    for (status, description) in answers {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            let mut response = Response::new(description);
            response.content.insert(PROBLEM_JSON.to_owned(), problem_content());
            RefOr::T(response)
        });
    }
}

/// Finishes the description the router collected: problem documents on every error answer.
pub fn complete(mut api: Document) -> Document {
    ProblemAnswers.modify(&mut api);
    api
}
