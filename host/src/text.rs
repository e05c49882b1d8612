//! Text in the window's two languages: [`Lang`], a string in both ([`Bilingual`]), and why
//! one field of a form was refused ([`FieldProblem`]), and the one format of times
//! ([`rfc3339`]). Every layer speaks these; none of
//! them knows HTTP beyond reading `Accept-Language`.

use std::borrow::Cow;

pub mod display;
pub mod i18n;
pub mod messages;

use axum::http::{HeaderMap, header};

/// The language of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Fa,
    En,
}

impl Lang {
    /// Picks `fa` or `en` from `Accept-Language` by quality; Persian when neither is asked.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(value) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Lang::Fa;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in value.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag == "fa" || tag.starts_with("fa-") {
                Lang::Fa
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Fa, |(_, lang)| lang)
    }

    /// The language of a code, `fa` or `en`.
    pub fn from_code(code: &str) -> Option<Lang> {
        match code {
            "fa" => Some(Lang::Fa),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// `fa` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fa => "fa",
            Lang::En => "en",
        }
    }

    /// Picks one of two strings.
    pub fn pick<'a>(self, fa: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Fa => fa,
            Lang::En => en,
        }
    }
}

/// A string in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bilingual {
    pub fa: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Bilingual {
    pub fn new(fa: impl Into<Cow<'static, str>>, en: impl Into<Cow<'static, str>>) -> Self {
        Bilingual { fa: fa.into(), en: en.into() }
    }

    /// The string in one language.
    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.fa, &self.en)
    }
}

/// Why one field was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: Bilingual,
}

/// RFC 3339 in UTC with exactly three fractional digits (`2026-11-28T10:15:30.042Z`), so
/// times also sort correctly as strings.
pub fn rfc3339(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn times_have_a_fixed_width() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_324_930_042), "2025-11-28T10:15:30.042Z");
        assert!(rfc3339(1_000) > rfc3339(999));
    }

    #[test]
    fn accept_language_prefers_the_highest_quality() {
        let lang = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
            Lang::from_headers(&h)
        };
        assert_eq!(lang("en"), Lang::En);
        assert_eq!(lang("en-US,en;q=0.9"), Lang::En);
        assert_eq!(lang("fa-IR,en;q=0.5"), Lang::Fa);
        assert_eq!(lang("de, en;q=0.3"), Lang::En);
        assert_eq!(lang("de"), Lang::Fa);
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::Fa);
    }
}
