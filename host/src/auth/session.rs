//! Sessions and the [`Citizen`] a request acts as (its extractor is in `api/extract.rs`).
//!
//! Apps send `Authorization: Bearer <token>`; the web portal gets the same token in an
//! HttpOnly, SameSite=Lax cookie named [`COOKIE`]. A bad bearer token is refused (401);
//! a stale cookie is ignored, so a portal visitor whose session ended browses anonymously.
//!
//! Over HTTPS the host's cookies are `Secure` and carry the `__Host-` prefix (see
//! [`CookieName`]), and only the prefixed name is read: a cookie planted by a plain-HTTP
//! page or a sibling domain cannot stand in for one the host set.

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::runtime::bindings::Assurance;
use crate::store::citizens::CitizenRow;
use crate::store::sessions::{self, NewSession, SessionRow};
use crate::store::{Db, now_ms};

/// Name of the session cookie.
pub const COOKIE: CookieName = CookieName::new("__Host-panjereh_session");
/// Prefix of session tokens, so leaked tokens are easy to recognise in scanners.
pub const TOKEN_PREFIX: &str = "pjs_";

pub use crate::names::Source;

/// A session just created; `token` is shown once and never stored.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub session: SessionRow,
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Opens a session for `citizen`.
pub async fn issue(
    db: &Db,
    settings: &AuthSettings,
    citizen: &CitizenRow,
    assurance: Assurance,
    source: Source,
) -> sqlx::Result<Issued> {
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let now = now_ms();
    let session = sessions::create(
        db,
        &NewSession {
            token_hash: &hash_token(&token),
            citizen_id: &citizen.id,
            assurance: assurance.as_str(),
            source: source.as_str(),
            created_ms: now,
            expires_ms: now + settings.session_ttl.as_millis() as i64,
        },
    )
    .await?;
    Ok(Issued { token, session })
}

/// Whether the request reached the site over HTTPS, as the TLS-terminating proxy in front
/// of the host says (`X-Forwarded-Proto: https` or `Forwarded: proto=https`). Cookies set
/// in answer to it are then `Secure`. A client that forges the header only makes its own
/// cookies stricter.
pub fn over_https(headers: &HeaderMap) -> bool {
    let says_https = |name: header::HeaderName, parse: fn(&str) -> bool| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).any(parse)
    };
    says_https(header::HeaderName::from_static("x-forwarded-proto"), |v| {
        v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }) || says_https(header::FORWARDED, |v| {
        v.split([';', ',']).any(|pair| pair.trim().eq_ignore_ascii_case("proto=https"))
    })
}

/// `; Secure` when cookies must only travel over HTTPS.
pub fn secure_attribute(secure: bool) -> &'static str {
    if secure { "; Secure" } else { "" }
}

/// The name of a cookie the host sets with `Path=/` and no `Domain`.
///
/// Set `Secure` (over HTTPS), it is `__Host-` prefixed: browsers then accept it only from
/// a secure page of this very host, so neither a plain-HTTP page (an attacker on the
/// network) nor a sibling subdomain can plant or overwrite it. Over plain HTTP (the
/// development host on loopback) the prefix is dropped, since browsers refuse a
/// `__Host-` cookie that is not `Secure`. Requests are read with the name their own
/// scheme gives, never the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieName(&'static str);

impl CookieName {
    const PREFIX: &'static str = "__Host-";

    /// `prefixed` is the full `__Host-...` name.
    pub const fn new(prefixed: &'static str) -> Self {
        CookieName(prefixed)
    }

    /// The name for a cookie that is (`secure`) or is not `Secure`.
    pub fn get(self, secure: bool) -> &'static str {
        if secure { self.0 } else { self.0.strip_prefix(Self::PREFIX).unwrap_or(self.0) }
    }
}

/// The value of cookie `name` on a request, if any.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// The `Set-Cookie` value carrying a new session to the portal.
pub fn cookie(token: &str, settings: &AuthSettings, secure: bool) -> HeaderValue {
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        COOKIE.get(secure),
        settings.session_ttl.as_secs(),
        secure_attribute(secure)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("__Host-panjereh_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("panjereh_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// The signed-in citizen making a request: the subject it acts for, and who acts.
///
/// When the session acts for someone else (a legal entity, a minor), `subject`,
/// `national_id` and `mobile` are the represented subject's, so every read and write is
/// theirs; `actor` is the person who signed in, recorded next to the subject. As an
/// extractor, `Citizen` refuses anonymous requests with a 401 problem; `Option<Citizen>`
/// lets them through as `None`.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub session_id: String,
    /// The pseudonymous subject (the citizen's id in the window).
    pub subject: String,
    /// The subject's national ID, or national legal ID for a legal entity.
    pub national_id: String,
    pub mobile: String,
    pub assurance: Assurance,
    /// Which identity source vouched for the session.
    pub source: Source,
    pub expires_ms: i64,
    /// Who acts, when the session acts for someone else.
    pub actor: Option<Actor>,
}

/// The person who signed in, acting for the subject of a [`Citizen`].
#[derive(Debug, Clone)]
pub struct Actor {
    /// Their pseudonym.
    pub subject: String,
    pub national_id: String,
    pub basis: crate::auth::representation::Basis,
    /// The services the actor may use for the subject (`agency` or `agency/service`, as a
    /// mandate names them); `None` is every service.
    pub scope: Option<Vec<String>>,
}

impl Citizen {
    /// The pseudonym of whoever acts: the actor's, or the subject's own.
    pub fn acting_person(&self) -> &str {
        self.actor.as_ref().map_or(&self.subject, |a| &a.subject)
    }

    /// The person who signed in: their pseudonym and national ID, whoever the session acts
    /// for.
    pub fn person(&self) -> (String, String) {
        match &self.actor {
            Some(a) => (a.subject.clone(), a.national_id.clone()),
            None => (self.subject.clone(), self.national_id.clone()),
        }
    }

    /// The actor's pseudonym when someone acts for the subject.
    pub fn actor_id(&self) -> Option<String> {
        self.actor.as_ref().map(|a| a.subject.clone())
    }

    /// Whether the subject is a legal entity (its id is an 11-digit national legal ID).
    pub fn is_legal_entity(&self) -> bool {
        self.actor.as_ref().is_some_and(|a| a.basis == crate::auth::representation::Basis::Signatory)
    }
}
