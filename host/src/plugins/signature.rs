//! Package signatures: Ed25519 over the component's SHA-256, by a key the operator trusts
//! for the package's agency. Keys and signatures travel as base64 text.

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
        "the signature does not match the component with any key trusted for agency `{0}` (tampered component or wrong key)"
    )]
    Invalid(String),
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

/// Signs a component: base64 of Ed25519 over its SHA-256.
pub fn sign(key: &SigningKey, wasm: &[u8]) -> String {
    sign_message(key, &Sha256::digest(wasm))
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
    pub fn check(&self, agency: &str, wasm: &[u8], signature: Option<&str>) -> Result<Option<String>, SignatureError> {
        let Some(signature) = signature.map(str::trim).filter(|s| !s.is_empty()) else {
            return if self.required { Err(SignatureError::Missing) } else { Ok(None) };
        };
        let bytes = B64.decode(signature).map_err(|_| SignatureError::Malformed)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| SignatureError::Malformed)?;
        let signature = Signature::from_bytes(&bytes);
        let keys = self
            .keys
            .get(agency)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| SignatureError::UntrustedAgency(agency.to_owned()))?;
        let digest = Sha256::digest(wasm);
        keys.iter()
            .find(|key| key.verify_strict(&digest, &signature).is_ok())
            .map(|key| Some(fingerprint(key)))
            .ok_or_else(|| SignatureError::Invalid(agency.to_owned()))
    }
}

/// Short identifier of a public key (first 16 hex digits of its SHA-256).
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_component_agency_and_key() {
        let (secret, public) = generate();
        let key = parse_secret_key(&secret).unwrap();
        let wasm = b"\0asm component bytes";
        let sig = sign(&key, wasm);
        let mut trust = Trust { required: true, keys: BTreeMap::new() };
        trust.keys.insert("police".into(), vec![parse_public_key(&public).unwrap()]);

        assert!(trust.check("police", wasm, Some(&sig)).unwrap().is_some());
        assert_eq!(trust.check("police", b"\0asm tampered", Some(&sig)), Err(SignatureError::Invalid("police".into())));
        assert_eq!(trust.check("tax", wasm, Some(&sig)), Err(SignatureError::UntrustedAgency("tax".into())));
        assert_eq!(trust.check("police", wasm, None), Err(SignatureError::Missing));
        assert_eq!(trust.check("police", wasm, Some("!!")), Err(SignatureError::Malformed));
        let (other, _) = generate();
        let forged = sign(&parse_secret_key(&other).unwrap(), wasm);
        assert_eq!(trust.check("police", wasm, Some(&forged)), Err(SignatureError::Invalid("police".into())));
    }
}
