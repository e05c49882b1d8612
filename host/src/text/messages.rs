//! The templates of what the window tells citizens (`host/templates/messages/messages.toml`):
//! bilingual, with `{name}` placeholders; numbers are written in each language's own digits.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::Lang;
use super::display::digits;

/// One template in both languages.
#[derive(Debug, serde::Deserialize)]
struct Template {
    fa: String,
    en: String,
}

/// The file, read once: `kind.part` → template.
static TEMPLATES: LazyLock<BTreeMap<String, Template>> = LazyLock::new(|| {
    let file: BTreeMap<String, BTreeMap<String, Template>> =
        toml::from_str(include_str!("../../templates/messages/messages.toml")).expect("messages.toml is valid TOML");
    file.into_iter()
        .flat_map(|(kind, parts)| parts.into_iter().map(move |(part, template)| (format!("{kind}.{part}"), template)))
        .collect()
});

/// Fills `template` with `values`. A number (digits and thousands separators) comes out in
/// Persian digits in Persian; a code with letters (a tracking code) stays as it is quoted.
fn fill(template: &str, lang: Lang, values: &[(&str, &str)]) -> String {
    let number = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == ',');
    let mut text = template.to_owned();
    for (name, value) in values {
        let value = if lang == Lang::Fa && number(value) { digits(true, value) } else { (*value).to_owned() };
        text = text.replace(&format!("{{{name}}}"), &value);
    }
    text
}

/// The template `key` (`application-status.title`) in both languages, filled with
/// `values`. A key the file lacks is a bug caught by the tests; it renders as the key.
pub fn render(key: &str, values: &[(&str, &str)]) -> (String, String) {
    match TEMPLATES.get(key) {
        Some(t) => (fill(&t.fa, Lang::Fa, values), fill(&t.en, Lang::En, values)),
        None => {
            tracing::error!(key, "no such message template");
            (key.to_owned(), key.to_owned())
        }
    }
}

/// The template `key` in one language, filled with `values` as they are (texts that are
/// already in that language, such as a title and body).
pub fn render_in(key: &str, lang: Lang, values: &[(&str, &str)]) -> String {
    let Some(t) = TEMPLATES.get(key) else {
        tracing::error!(key, "no such message template");
        return key.to_owned();
    };
    let mut text = lang.pick(&t.fa, &t.en).to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The placeholders each template may use.
    const NAMES: &[(&str, &[&str])] = &[
        ("application-status.title", &["tracking_code", "status"]),
        ("payment-receipt.title", &[]),
        ("payment-receipt.body", &["amount", "rrn"]),
        ("sms.with-body", &["title", "body"]),
        ("sms.title-only", &["title"]),
        ("email.footer", &["link"]),
        ("counter-consent.sms", &["office", "count"]),
    ];

    #[test]
    fn every_template_has_both_languages_and_only_its_own_names() {
        assert_eq!(TEMPLATES.len(), NAMES.len(), "{:?}", TEMPLATES.keys().collect::<Vec<_>>());
        for (key, names) in NAMES {
            let t = TEMPLATES.get(*key).unwrap_or_else(|| panic!("no template {key}"));
            for text in [&t.fa, &t.en] {
                assert!(!text.trim().is_empty(), "{key}");
                let mut rest = text.as_str();
                while let Some(open) = rest.find('{') {
                    let close = rest[open..].find('}').map(|c| open + c).unwrap_or_else(|| panic!("{key}: {text}"));
                    let name = &rest[open + 1..close];
                    assert!(names.contains(&name), "{key} uses {{{name}}}");
                    rest = &rest[close + 1..];
                }
            }
        }
    }

    #[test]
    fn values_are_written_in_each_languages_digits() {
        let (fa, en) = render("payment-receipt.body", &[("amount", "2,500,000"), ("rrn", "123456789012")]);
        assert_eq!(fa, "۲٬۵۰۰٬۰۰۰ ریال پرداخت شد؛ شماره مرجع ۱۲۳۴۵۶۷۸۹۰۱۲");
        assert_eq!(en, "2,500,000 rials paid; reference number 123456789012");
        assert_eq!(render_in("sms.title-only", Lang::En, &[("title", "Receipt")]), "Panjereh: Receipt");
        let (fa, _) =
            render("application-status.title", &[("tracking_code", "PJ-9DF5-VBJP-BBXE-T"), ("status", "تأیید شده")]);
        assert_eq!(fa, "درخواست PJ-9DF5-VBJP-BBXE-T: تأیید شده", "a tracking code is quoted as issued");
    }
}
