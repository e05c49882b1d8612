//! Conversions from the capabilities' errors into [`AdapterError`], so an adapter can use
//! `?` on host calls: `let answer = http::send(&request)?;`; and from a [`formats`] refusal
//! into the [`Text`] of a field error:
//! `formats::postal_code::parse(&code).map_err(|e| AdapterError::field("postal-code", e.into()))?`.
//!
//! [`formats`]: crate::formats
//!
//! A back-end that is slow or unreachable is `unavailable` to the citizen (503, try again
//! later); everything else is a fault for the operator (`other`, logged by the host and
//! never shown to citizens). Messages name what failed, never a configuration value.

use crate::config::ConfigError;
use crate::http::HttpError;
use crate::kv::KvError;
use crate::types::{AdapterError, Text};

/// A format's refusal, in both languages, as the message of a field error.
impl From<panjereh_formats::Invalid> for Text {
    fn from(invalid: panjereh_formats::Invalid) -> Self {
        Text::new(invalid.fa, invalid.en)
    }
}

impl From<HttpError> for AdapterError {
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Timeout | HttpError::ConnectionFailed(_) => AdapterError::Unavailable(Text::new(
                "سامانه دستگاه پاسخ نمی‌دهد؛ کمی بعد دوباره تلاش کنید",
                "the agency's system is not answering; please try again later",
            )),
            HttpError::NotGranted(m) | HttpError::InvalidRequest(m) | HttpError::Other(m) => {
                AdapterError::Other(format!("outbound HTTP: {m}"))
            }
            HttpError::TooLarge(cap) => {
                AdapterError::Other(format!("outbound HTTP: the response is larger than {cap} bytes"))
            }
        }
    }
}

impl From<KvError> for AdapterError {
    fn from(error: KvError) -> Self {
        match error {
            KvError::NotGranted(m) | KvError::QuotaExceeded(m) | KvError::InvalidKey(m) | KvError::Other(m) => {
                AdapterError::Other(format!("storage: {m}"))
            }
        }
    }
}

impl From<ConfigError> for AdapterError {
    fn from(error: ConfigError) -> Self {
        match error {
            ConfigError::NotGranted(m) | ConfigError::Other(m) => AdapterError::Other(format!("config: {m}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_refusal_is_a_field_error_in_both_languages() {
        let refused = crate::formats::postal_code::parse("123").unwrap_err();
        let error = AdapterError::field("postal-code", refused.clone().into());
        let AdapterError::InvalidInput(fields) = error else { panic!("a field error") };
        assert_eq!(fields[0].field, "postal-code");
        assert_eq!(
            (fields[0].message.fa.as_str(), fields[0].message.en.as_str()),
            (refused.fa.as_str(), refused.en.as_str())
        );
        assert!(!fields[0].message.en.is_empty());
    }
}
