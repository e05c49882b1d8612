//! The OpenID Connect relying party: citizens sign in with a standard provider such as
//! the national SSO (authorization code flow with PKCE S256).
//!
//! `/auth/login` calls [`RelyingParty::begin`]: a random `state`, `nonce` and PKCE
//! verifier are made, the verifier and nonce stay in the database (`oidc_logins`, keyed by
//! the state's hash) and the browser gets a random binding value in an HttpOnly cookie, so
//! a callback only completes in the browser that started it (no login CSRF).
//! `/auth/callback` calls [`RelyingParty::finish`]: the pending sign-in is taken (a state
//! works once), the code is exchanged at the token endpoint with the client secret and
//! the verifier, and the ID token is checked: signature against the provider's JWKS (only
//! asymmetric algorithms: RS*, PS*, ES256/384, EdDSA), issuer, audience, expiry, nonce and,
//! when present, `at_hash`. The national ID is read from the configured claim of the ID
//! token, or of the UserInfo answer when the ID token lacks it, and validated.
//!
//! Provider metadata and keys come from discovery (`/.well-known/openid-configuration`)
//! and are kept for `metadata-ttl-secs`; a token signed with a key we do not know makes
//! us read them again once (key rotation). When the provider cannot be reached, metadata
//! read earlier is used.

use std::time::{Duration, Instant};

use base64::Engine as _;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdToken, CoreIdTokenVerifier, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AuthType, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    SubjectIdentifier, TokenResponse as _, UserInfoClaims,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::config::OidcSettings;
use crate::store::oidc_logins::{self, PendingLogin};
use crate::store::{Db, now_ms};

/// Why a sign-in with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Discovery, the token endpoint or UserInfo could not be reached or answered nonsense.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// No sign-in was started with this state, or it was already finished.
    #[error("unknown or already used sign-in state")]
    UnknownState,
    /// The sign-in was started in another browser (the binding cookie does not match).
    #[error("the sign-in was started in another browser")]
    OtherBrowser,
    /// The sign-in took longer than `login-ttl-secs`.
    #[error("the sign-in took too long")]
    Expired,
    /// The provider answered the callback with an error (`?error=...`).
    #[error("the identity provider refused the sign-in: {0}")]
    Denied(String),
    /// The callback's `iss` is not our provider (mix-up attack or misconfiguration).
    #[error("the callback came from another issuer: {0}")]
    WrongIssuer(String),
    /// The token endpoint refused the code (used, expired, wrong PKCE verifier...).
    #[error("the identity provider refused the code: {0}")]
    CodeRejected(String),
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce, at_hash).
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
    /// Neither the ID token nor UserInfo carries the national-ID claim.
    #[error("the identity provider sent no `{0}` claim")]
    MissingNationalId(String),
    /// The national-ID claim is not a valid national ID.
    #[error("the `{0}` claim is not a valid national ID")]
    InvalidNationalId(String),
    #[error("storage failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// A sign-in just started.
#[derive(Debug, Clone)]
pub struct Started {
    /// Where to send the browser.
    pub authorization_url: String,
    /// The value for the browser-binding cookie.
    pub browser: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's subject (`sub`).
    pub subject: String,
    /// Canonical national ID.
    pub national_id: String,
    /// Canonical mobile number, when the configured claim is present and valid.
    pub mobile: Option<String>,
    /// Where the citizen was going.
    pub return_to: String,
}

/// Every claim of an answer, whatever its name.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct AnyClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, Value>,
}

impl AdditionalClaims for AnyClaims {}

/// Signature algorithms accepted on ID tokens: asymmetric only, so a client secret can
/// never be used to forge one.
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

struct Cached {
    metadata: CoreProviderMetadata,
    at: Instant,
}

/// The relying party for the configured provider.
pub struct RelyingParty {
    settings: OidcSettings,
    http: reqwest::Client,
    metadata: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// SHA-256 in hex: states and browser bindings are stored only this way.
fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The stored form of a `state`.
pub fn state_hash(state: &str) -> String {
    digest(state)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random value for cookies: 256 bits, URL-safe.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

impl RelyingParty {
    /// A relying party for `settings`; `extra_roots` are trusted besides the Mozilla roots.
    pub fn new(
        settings: OidcSettings,
        extra_roots: &[tokio_rustls::rustls::pki_types::CertificateDer<'static>],
    ) -> anyhow::Result<RelyingParty> {
        let mut builder = reqwest::Client::builder()
            // Following redirects from the provider's endpoints would let them point us anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("panjereh/", env!("CARGO_PKG_VERSION")));
        for root in extra_roots {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(root.as_ref())?);
        }
        Ok(RelyingParty { settings, http: builder.build()?, metadata: Mutex::new(None) })
    }

    /// The settings this relying party runs with.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The provider's metadata and keys, read again when older than the TTL or `refresh`.
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some(c) = cached.as_ref()
            && !refresh
            && c.at.elapsed() < self.settings.metadata_ttl
        {
            return Ok(c.metadata.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| OidcError::Unavailable(e.to_string()))?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                *cached = Some(Cached { metadata: metadata.clone(), at: Instant::now() });
                Ok(metadata)
            }
            Err(error) => {
                let error = format!("discovery of {} failed: {error}", self.settings.issuer);
                match cached.as_ref() {
                    Some(c) => {
                        tracing::warn!(%error, "using identity provider metadata read earlier");
                        Ok(c.metadata.clone())
                    }
                    None => Err(OidcError::Unavailable(error)),
                }
            }
        }
    }

    fn client(&self, metadata: CoreProviderMetadata) -> Result<Client, OidcError> {
        let redirect =
            RedirectUrl::new(self.settings.redirect_url.clone()).map_err(|e| OidcError::Unavailable(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(redirect)
        .set_auth_type(if self.settings.client_secret_post {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        }))
    }

    /// The ID-token verifier for the current keys.
    fn verifier(&self, metadata: &CoreProviderMetadata) -> CoreIdTokenVerifier<'static> {
        verifier(&self.settings.client_id, metadata.issuer().clone(), metadata.jwks().clone())
    }

    /// Starts a sign-in that will come back to `return_to` (already checked to be a
    /// same-site path). `browser` is the binding value the browser already holds, if any.
    pub async fn begin(&self, db: &Db, return_to: &str, browser: Option<&str>) -> Result<Started, OidcError> {
        let client = self.client(self.metadata(false).await?)?;
        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request =
            client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let browser = browser.map_or_else(random_token, str::to_owned);
        let now = now_ms();
        oidc_logins::create(
            db,
            &PendingLogin {
                state_hash: digest(state.secret()),
                browser_hash: digest(&browser),
                nonce: nonce.secret().clone(),
                pkce_verifier: pkce_verifier.secret().clone(),
                return_to: return_to.to_owned(),
                created_ms: now,
                expires_ms: now + self.settings.login_ttl.as_millis() as i64,
            },
        )
        .await?;
        Ok(Started { authorization_url: url.to_string(), browser })
    }

    /// Finishes the sign-in of `state` with the provider's `code`; `browser` is the value
    /// of the browser's binding cookie and `iss` the callback's issuer parameter (RFC 9207).
    pub async fn finish(
        &self,
        db: &Db,
        state: &str,
        code: &str,
        browser: Option<&str>,
        iss: Option<&str>,
    ) -> Result<Identity, OidcError> {
        // Taken before anything else can fail, so a state never works twice.
        let pending = oidc_logins::take(db, &digest(state)).await?.ok_or(OidcError::UnknownState)?;
        let bound = browser.is_some_and(|b| constant_time_eq(digest(b).as_bytes(), pending.browser_hash.as_bytes()));
        if !bound {
            return Err(OidcError::OtherBrowser);
        }
        if now_ms() > pending.expires_ms {
            return Err(OidcError::Expired);
        }
        if let Some(iss) = iss
            && iss != self.settings.issuer
        {
            return Err(OidcError::WrongIssuer(iss.to_owned()));
        }
        let metadata = self.metadata(false).await?;
        let client = self.client(metadata.clone())?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(answer) => OidcError::CodeRejected(answer.to_string()),
                other => OidcError::Unavailable(format!("token endpoint: {other}")),
            })?;
        let id_token =
            token.id_token().ok_or_else(|| OidcError::Unavailable("the token answer has no id_token".into()))?;

        let checked = match validate_id_token(id_token, &self.verifier(&metadata), &pending.nonce, token.access_token())
        {
            Err(ValidateError::Rotated) => {
                // A key we have not seen: the provider may have rotated its keys.
                let metadata = self.metadata(true).await?;
                validate_id_token(id_token, &self.verifier(&metadata), &pending.nonce, token.access_token())?
            }
            other => other?,
        };

        let mut national_id = claim_text(&checked.claims, &self.settings.national_id_claim);
        let mut mobile = self.settings.mobile_claim.as_deref().and_then(|c| claim_text(&checked.claims, c));
        let needs_user_info = national_id.is_none() || (mobile.is_none() && self.settings.mobile_claim.is_some());
        if needs_user_info
            && let Ok(request) =
                client.user_info(token.access_token().clone(), Some(SubjectIdentifier::new(checked.subject.clone())))
        {
            let claims: UserInfoClaims<AnyClaims, CoreGenderClaim> = request
                .request_async(&self.http)
                .await
                .map_err(|e| OidcError::Unavailable(format!("userinfo endpoint: {e}")))?;
            let claims = serde_json::to_value(&claims).unwrap_or_default();
            national_id = national_id.or_else(|| claim_text(&claims, &self.settings.national_id_claim));
            mobile = mobile.or_else(|| self.settings.mobile_claim.as_deref().and_then(|c| claim_text(&claims, c)));
        }
        let claim = &self.settings.national_id_claim;
        let national_id = national_id.ok_or_else(|| OidcError::MissingNationalId(claim.clone()))?;
        let national_id = panjereh_formats::national_id::parse(&national_id)
            .map_err(|_| OidcError::InvalidNationalId(claim.clone()))?;
        // A mobile the provider vouches for is kept only when valid; it is not required.
        let mobile = mobile.and_then(|m| panjereh_formats::mobile::parse(&m).ok());
        Ok(Identity { subject: checked.subject, national_id, mobile, return_to: pending.return_to })
    }
}

/// The ID-token verifier for `client_id` at `issuer` with `keys`.
pub fn verifier(
    client_id: &str,
    issuer: IssuerUrl,
    keys: openidconnect::core::CoreJsonWebKeySet,
) -> CoreIdTokenVerifier<'static> {
    CoreIdTokenVerifier::new_public_client(ClientId::new(client_id.to_owned()), issuer, keys)
        .set_allowed_algs(ALGORITHMS)
}

/// An ID token that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedIdToken {
    pub subject: String,
    /// Every claim of the token (its verified payload).
    pub claims: Value,
}

/// Checks signature, issuer, audience, expiry, nonce and `at_hash` of `id_token`.
pub fn validate_id_token(
    id_token: &CoreIdToken,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: &str,
    access_token: &AccessToken,
) -> Result<CheckedIdToken, ValidateError> {
    let claims = id_token.claims(verifier, &Nonce::new(nonce.to_owned())).map_err(|error| match error {
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            ValidateError::Rotated
        }
        other => ValidateError::Invalid(other.to_string()),
    })?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|e| ValidateError::Invalid(e.to_string()))?;
        let key = id_token.signing_key(verifier).map_err(|e| ValidateError::Invalid(e.to_string()))?;
        let actual =
            AccessTokenHash::from_token(access_token, alg, key).map_err(|e| ValidateError::Invalid(e.to_string()))?;
        if actual != *expected {
            return Err(ValidateError::Invalid("at_hash does not match the access token".into()));
        }
    }
    let subject = claims.subject().as_str().to_owned();
    // The signature covers exactly these bytes, so every claim in them is vouched for.
    let compact = id_token.to_string();
    let payload = compact.split('.').nth(1).unwrap_or("");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .ok_or_else(|| ValidateError::Invalid("the payload is not JSON".into()))?;
    Ok(CheckedIdToken { subject, claims })
}

/// Why [`validate_id_token`] refused a token.
#[derive(Debug)]
pub enum ValidateError {
    /// Signed with a key not in the set we hold.
    Rotated,
    Invalid(String),
}

impl From<ValidateError> for OidcError {
    fn from(error: ValidateError) -> Self {
        match error {
            ValidateError::Rotated => {
                OidcError::InvalidIdToken("signed with a key the provider does not publish".into())
            }
            ValidateError::Invalid(reason) => OidcError::InvalidIdToken(reason),
        }
    }
}

/// A claim as text (national IDs may come as numbers from careless providers).
fn claim_text(claims: &Value, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use hmac::{Hmac, Mac as _};
    use openidconnect::core::{CoreJsonWebKeySet, CoreRsaPrivateSigningKey};
    use openidconnect::{JsonWebKeyId, PrivateSigningKey as _};
    use serde_json::json;

    use super::*;

    /// A test-only key (never used outside these tests).
    const RSA_PEM: &str = include_str!("testdata/oidc-rsa.pem");
    const ISSUER: &str = "https://sso.example.ir";
    const CLIENT: &str = "panjereh";
    const NONCE: &str = "nonce-123";

    fn key(kid: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(RSA_PEM, Some(JsonWebKeyId::new(kid.to_owned()))).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn now() -> i64 {
        now_ms() / 1000
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "user-1", "nonce": NONCE,
            "iat": now(), "exp": now() + 300, "national_id": "0499370899",
        })
    }

    /// A compact JWS of `payload` signed RS256 with the test key under `kid`.
    fn signed(payload: &Value, kid: &str) -> CoreIdToken {
        let header = b64(json!({"alg": "RS256", "kid": kid, "typ": "JWT"}).to_string().as_bytes());
        let body = b64(payload.to_string().as_bytes());
        let input = format!("{header}.{body}");
        let signature = key(kid).sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, input.as_bytes()).unwrap();
        CoreIdToken::from_str(&format!("{input}.{}", b64(&signature))).unwrap()
    }

    fn check(token: &CoreIdToken) -> Result<CheckedIdToken, ValidateError> {
        let keys = CoreJsonWebKeySet::new(vec![key("k1").as_verification_key()]);
        let verifier = verifier(CLIENT, IssuerUrl::new(ISSUER.into()).unwrap(), keys);
        validate_id_token(token, &verifier, NONCE, &AccessToken::new("access".into()))
    }

    fn refused(token: &CoreIdToken, expected: &str) {
        match check(token) {
            Err(ValidateError::Invalid(reason)) => {
                assert!(reason.to_lowercase().contains(expected), "{reason} should mention {expected}")
            }
            other => panic!("expected a refusal mentioning {expected}, got {other:?}"),
        }
    }

    #[test]
    fn a_good_token_passes_and_its_claims_are_read() {
        let checked = check(&signed(&claims(), "k1")).unwrap();
        assert_eq!(checked.subject, "user-1");
        assert_eq!(claim_text(&checked.claims, "national_id").as_deref(), Some("0499370899"));
    }

    #[test]
    fn nonce_audience_issuer_and_expiry_are_checked() {
        let with = |key: &str, value: Value| {
            let mut c = claims();
            c[key] = value;
            signed(&c, "k1")
        };
        refused(&with("nonce", json!("another-nonce")), "nonce");
        refused(&with("aud", json!("another-client")), "audience");
        refused(&with("aud", json!(["another-client", "third"])), "audience");
        refused(&with("iss", json!("https://evil.example")), "issuer");
        refused(&with("exp", json!(now() - 600)), "expired");
        let mut no_nonce = claims();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        refused(&signed(&no_nonce, "k1"), "nonce");
    }

    #[test]
    fn a_tampered_payload_fails_the_signature() {
        let token = signed(&claims(), "k1").to_string();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut changed = claims();
        changed["national_id"] = json!("0012345679");
        parts[1] = b64(changed.to_string().as_bytes());
        let tampered = CoreIdToken::from_str(&parts.join(".")).unwrap();
        refused(&tampered, "signature");
    }

    #[test]
    fn an_unknown_key_asks_for_fresh_keys() {
        assert!(matches!(check(&signed(&claims(), "k2")), Err(ValidateError::Rotated)));
    }

    #[test]
    fn symmetric_and_unsigned_tokens_are_refused() {
        // HS256 keyed with the client secret: a client secret must never mint ID tokens.
        let header = b64(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes());
        let input = format!("{header}.{}", b64(claims().to_string().as_bytes()));
        let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(b"client-secret").unwrap();
        mac.update(input.as_bytes());
        let hs = CoreIdToken::from_str(&format!("{input}.{}", b64(&mac.finalize().into_bytes()))).unwrap();
        assert!(matches!(check(&hs), Err(ValidateError::Invalid(_))));

        let header = b64(json!({"alg": "none"}).to_string().as_bytes());
        let input = format!("{header}.{}.", b64(claims().to_string().as_bytes()));
        if let Ok(none) = CoreIdToken::from_str(&input) {
            assert!(matches!(check(&none), Err(ValidateError::Invalid(_))));
        }
    }

    #[test]
    fn at_hash_must_match_the_access_token() {
        let mut c = claims();
        c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
        refused(&signed(&c, "k1"), "at_hash");
    }

    #[test]
    fn numeric_and_missing_claims() {
        let claims = json!({"a": 499370899, "b": "", "c": null});
        assert_eq!(claim_text(&claims, "a").as_deref(), Some("499370899"));
        assert_eq!(claim_text(&claims, "b"), None);
        assert_eq!(claim_text(&claims, "c"), None);
        assert_eq!(claim_text(&claims, "d"), None);
    }
}
