//! Package signatures: Ed25519, by a key the operator trusts for the package's agency, over
//! the whole package: its agency, id and version, and the SHA-256 of the component and of
//! the manifest text ([`PackageClaim`]). Editing any of them (a new version number, a
//! manifest asking for more) breaks the signature. Keys and signatures travel as base64.
//!
//! Signatures of the first format covered the component alone; they are refused with a
//! message that says so.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Which agency keys the operator trusts, and whether signatures are required.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Refuse unsigned uploads.
    pub required: bool,
    /// Trusted public keys by agency id.
    pub keys: BTreeMap<String, Vec<VerifyingKey>>,
}

/// Why a signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the host requires signed packages and this one has no signature")]
    Missing,
    #[error("the signature is not valid base64 of 64 bytes")]
    Malformed,
    #[error("no key is trusted for agency `{0}`: ask the operator to add the agency's public key")]
    UntrustedAgency(String),
    #[error(
        "the signature does not match this package (component, manifest, agency, id and version) with any key trusted for agency `{0}`: the package changed after it was signed (rebuilt, or its manifest edited: sign it again with `panjereh plugin sign`), or it was signed with a key the operator does not trust"
    )]
    Invalid(String),
    #[error(
        "the signature covers only the component, not the manifest (the format of older `panjereh plugin sign`): sign the package again with `panjereh plugin sign`"
    )]
    ComponentOnly,
}

/// What a package signature covers.
#[derive(Debug, Clone, Copy)]
pub struct PackageClaim<'a> {
    pub agency: &'a str,
    pub id: &'a str,
    pub version: &'a str,
    /// The manifest, byte for byte as installed.
    pub manifest: &'a str,
    pub wasm: &'a [u8],
}

impl PackageClaim<'_> {
    /// The signed message: one line per field, so no field can run into the next.
    fn message(&self) -> Vec<u8> {
        format!(
            "panjereh-package-v1\nagency={}\nid={}\nversion={}\ncomponent-sha256={}\nmanifest-sha256={}\n",
            self.agency,
            self.id,
            self.version,
            hex::encode(Sha256::digest(self.wasm)),
            hex::encode(Sha256::digest(self.manifest.as_bytes())),
        )
        .into_bytes()
    }
}

/// Parses a base64 public key.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = B64.decode(text.trim()).map_err(|e| format!("not base64: {e}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "an Ed25519 public key has 32 bytes".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// Parses a base64 secret key.
pub fn parse_secret_key(text: &str) -> Result<SigningKey, String> {
    let bytes = B64.decode(text.trim()).map_err(|e| format!("not base64: {e}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "an Ed25519 secret key has 32 bytes".to_owned())?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A new key pair as (secret, public), base64.
pub fn generate() -> (String, String) {
    let secret: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&secret);
    (B64.encode(key.to_bytes()), B64.encode(key.verifying_key().to_bytes()))
}

/// Signs a package: base64 of Ed25519 over its [`PackageClaim`].
pub fn sign_package(key: &SigningKey, claim: &PackageClaim<'_>) -> String {
    sign_message(key, &claim.message())
}

/// Signs the package of `manifest` (its text) and `wasm`; fails if the manifest does not
/// parse, since its agency, id and version are part of what is signed.
pub fn sign(key: &SigningKey, manifest: &str, wasm: &[u8]) -> Result<String, super::manifest::ManifestError> {
    let parsed = super::Manifest::parse(manifest)?;
    let version = parsed.version.to_string();
    let claim = PackageClaim { agency: &parsed.agency, id: &parsed.id, version: &version, manifest, wasm };
    Ok(sign_package(key, &claim))
}

/// Base64 of Ed25519 over `message` (the audit log's checkpoints use it too).
pub fn sign_message(key: &SigningKey, message: &[u8]) -> String {
    B64.encode(key.sign(message).to_bytes())
}

/// Whether `signature` (base64) is `key`'s Ed25519 signature of `message`.
pub fn verify_message(key: &VerifyingKey, message: &[u8], signature: &str) -> bool {
    let Ok(bytes) = B64.decode(signature.trim()) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&bytes)).is_ok()
}

/// Base64 of a public key, as `panjereh keygen` prints it.
pub fn public_key_text(key: &VerifyingKey) -> String {
    B64.encode(key.to_bytes())
}

impl Trust {
    /// Checks a package's signature; returns the fingerprint of the key that signed it, or
    /// `None` for an accepted unsigned package.
    pub fn check(&self, claim: &PackageClaim<'_>, signature: Option<&str>) -> Result<Option<String>, SignatureError> {
        let Some(signature) = signature.map(str::trim).filter(|s| !s.is_empty()) else {
            return if self.required { Err(SignatureError::Missing) } else { Ok(None) };
        };
        let bytes = B64.decode(signature).map_err(|_| SignatureError::Malformed)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_bytes(&bytes);
        let keys = self
            .keys
            .get(claim.agency)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| SignatureError::UntrustedAgency(claim.agency.to_owned()))?;
        let message = claim.message();
        if let Some(key) = keys.iter().find(|key| key.verify_strict(&message, &signature).is_ok()) {
            return Ok(Some(fingerprint(key)));
        }
        let component_only = Sha256::digest(claim.wasm);
        if keys.iter().any(|key| key.verify_strict(&component_only, &signature).is_ok()) {
            return Err(SignatureError::ComponentOnly);
        }
        Err(SignatureError::Invalid(claim.agency.to_owned()))
    }
}

/// Short identifier of a public key (first 16 hex digits of its SHA-256).
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "id = \"fines\"\nversion = \"1.0.0\"\nagency = \"police\"\nwit = \"0.1.0\"\n";

    fn claim<'a>(manifest: &'a str, wasm: &'a [u8], version: &'a str) -> PackageClaim<'a> {
        PackageClaim { agency: "police", id: "fines", version, manifest, wasm }
    }

    #[test]
    fn signatures_bind_the_whole_package_agency_and_key() {
        let (secret, public) = generate();
        let key = parse_secret_key(&secret).unwrap();
        let wasm = b"\0asm component bytes";
        let sig = sign(&key, MANIFEST, wasm).unwrap();
        let mut trust = Trust { required: true, keys: BTreeMap::new() };
        trust.keys.insert("police".into(), vec![parse_public_key(&public).unwrap()]);
        let invalid = Err(SignatureError::Invalid("police".into()));

        assert!(trust.check(&claim(MANIFEST, wasm, "1.0.0"), Some(&sig)).unwrap().is_some());
        assert_eq!(trust.check(&claim(MANIFEST, b"\0asm tampered", "1.0.0"), Some(&sig)), invalid, "the component");
        let edited = MANIFEST.replace("wit", "[requests]\nhttp = [\"evil.example:443\"]\nwit");
        assert_eq!(trust.check(&claim(&edited, wasm, "1.0.0"), Some(&sig)), invalid, "the manifest");
        assert_eq!(trust.check(&claim(MANIFEST, wasm, "9.0.0"), Some(&sig)), invalid, "the version");
        let other_id = PackageClaim { id: "other", ..claim(MANIFEST, wasm, "1.0.0") };
        assert_eq!(trust.check(&other_id, Some(&sig)), invalid, "the id");
        let tax = PackageClaim { agency: "tax", ..claim(MANIFEST, wasm, "1.0.0") };
        assert_eq!(trust.check(&tax, Some(&sig)), Err(SignatureError::UntrustedAgency("tax".into())));
        assert_eq!(trust.check(&claim(MANIFEST, wasm, "1.0.0"), None), Err(SignatureError::Missing));
        assert_eq!(trust.check(&claim(MANIFEST, wasm, "1.0.0"), Some("!!")), Err(SignatureError::Malformed));
        let (other, _) = generate();
        let forged = sign(&parse_secret_key(&other).unwrap(), MANIFEST, wasm).unwrap();
        assert_eq!(trust.check(&claim(MANIFEST, wasm, "1.0.0"), Some(&forged)), invalid);
        // The old format, over the component alone, is named for what it is.
        let old = sign_message(&key, &Sha256::digest(wasm));
        assert_eq!(trust.check(&claim(MANIFEST, wasm, "1.0.0"), Some(&old)), Err(SignatureError::ComponentOnly));
    }
}
