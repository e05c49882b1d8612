//! CSRF protection for the portal's forms.
//!
//! Each browser gets a random secret in an HttpOnly, SameSite=Lax cookie. Every form
//! carries a token derived from that secret **and** the session cookie (HMAC-SHA256), so a
//! token is useless to another browser, and one issued before sign-in or sign-out stops
//! working after it. Another site can neither read the cookie nor compute the token.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::session::{CookieName, secure_attribute};

/// The cookie holding the browser's secret.
pub const COOKIE: CookieName = CookieName::new("__Host-panjereh_csrf");
/// The hidden form field carrying the token.
pub const FIELD: &str = "_csrf";

/// A new random secret (256 bits, base64url).
pub fn new_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Whether a cookie value looks like a secret this module issued.
pub fn is_secret(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `Set-Cookie` value for a new secret.
pub fn cookie(secret: &str, secure: bool) -> String {
    format!("{}={secret}; Path=/; HttpOnly; SameSite=Lax{}", COOKIE.get(secure), secure_attribute(secure))
}

/// The token forms carry, for a browser secret and its session cookie (if any).
pub fn token(secret: &str, session: Option<&str>) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"panjereh-portal-csrf:");
    mac.update(session.unwrap_or("").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time comparison of the token sent with the expected one.
pub fn matches(sent: &str, expected: &str) -> bool {
    sent.len() == expected.len() && sent.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_the_secret_and_the_session() {
        let secret = new_secret();
        assert!(is_secret(&secret));
        let anonymous = token(&secret, None);
        assert!(matches(&anonymous, &token(&secret, None)));
        assert!(!matches(&anonymous, &token(&secret, Some("pjs_x"))));
        assert!(!matches(&anonymous, &token(&new_secret(), None)));
        assert!(!matches("", &anonymous));
    }
}
