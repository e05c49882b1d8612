//! Iranian identifiers, Persian text and Jalali dates: the validation and normalization
//! shared by the host (which checks every form value before an adapter sees it) and by
//! adapters (which read, display and issue these values).
//!
//! Everything here is pure: no I/O, no global state, and no input makes it panic, so it
//! builds and behaves the same natively and on `wasm32-wasip2`. Refusals are an
//! [`Invalid`] carrying a short message in Persian and in English for the citizen.
//!
//! # Layout
//!
//! - [`text`]: digit and letter normalization, display form and search keys.
//! - One module per identifier, each with a `parse` that takes what a citizen typed
//!   (Persian digits, spaces, dashes) and returns the canonical form: [`national_id`],
//!   [`legal_id`], [`mobile`], [`postal_code`], [`sheba`], [`plate`] and [`bill`] (bill
//!   and payment IDs, barcodes, issuing payable bills).
//! - [`jalali`]: Solar Hijri dates, converted with ICU4X's Persian calendar.
//! - This file: [`Invalid`], and [`Kind`] with [`normalize`], the single entry point the host
//!   uses for a form field of a given type.

pub mod bill;
pub mod jalali;
pub mod legal_id;
pub mod mobile;
pub mod national_id;
pub mod plate;
pub mod postal_code;
pub mod sheba;
pub mod text;

pub use text::{group_thousands, persian_digits};

use std::fmt;

/// Why an input was refused, in both languages. Display shows English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The reason in Persian, shown to citizens.
    pub fa: String,
    /// The reason in English, for logs and English-language clients.
    pub en: String,
}

impl Invalid {
    /// A refusal with its Persian and English reasons.
    pub fn new(fa: impl Into<String>, en: impl Into<String>) -> Self {
        Self { fa: fa.into(), en: en.into() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en)
    }
}

impl std::error::Error for Invalid {}

/// Kinds of form fields the host validates, matching the WIT field-type.
///
/// `choice` is not here: checking a value against a list of options needs no formatting
/// knowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of free text, at most [`TEXT_MAX_CHARS`] characters.
    Text,
    /// Several lines of free text, at most [`LONG_TEXT_MAX_CHARS`] characters.
    LongText,
    /// An integer of at most [`NUMBER_MAX_DIGITS`] digits.
    Number,
    /// A national ID, see [`national_id`].
    NationalId,
    /// A legal-entity ID, see [`legal_id`].
    LegalId,
    /// A mobile number, see [`mobile`].
    Mobile,
    /// A postal code, see [`postal_code`].
    PostalCode,
    /// A bill ID, see [`bill::parse_bill_id`].
    BillId,
    /// A payment ID, see [`bill::parse_payment_id`].
    PaymentId,
    /// An IBAN, see [`sheba`].
    Sheba,
    /// A car plate, see [`plate`].
    Plate,
    /// A Solar Hijri date, see [`jalali`].
    JalaliDate,
}

/// Longest [`Kind::Text`] value, in characters.
pub const TEXT_MAX_CHARS: usize = 200;
/// Longest [`Kind::LongText`] value, in characters.
pub const LONG_TEXT_MAX_CHARS: usize = 4000;
/// Most significant digits in a [`Kind::Number`], so every accepted value fits an `i64`.
pub const NUMBER_MAX_DIGITS: usize = 18;

/// Normalize and validate one value of a kind; returns the canonical string the adapter
/// receives.
///
/// - Text and LongText: [`text::canonical`], then trimmed; line breaks become `\n`. Text
///   refuses control characters including line breaks, LongText allows `\n` and `\t`.
///   Emptiness is not refused here: whether a field is required is the caller's business.
/// - Number: Persian or Arabic-Indic digits, an optional leading `-`, thousands separators
///   `,` and `٬`; delivered as plain ASCII without leading zeros (`-1234`).
/// - Identifiers: the `parse` of their module; plates as [`plate::Plate::canonical`], dates
///   as `1404/09/07`.
pub fn normalize(kind: Kind, input: &str) -> Result<String, Invalid> {
    match kind {
        Kind::Text => free_text(input, false),
        Kind::LongText => free_text(input, true),
        Kind::Number => number(input),
        Kind::NationalId => national_id::parse(input),
        Kind::LegalId => legal_id::parse(input),
        Kind::Mobile => mobile::parse(input),
        Kind::PostalCode => postal_code::parse(input),
        Kind::BillId => bill::parse_bill_id(input),
        Kind::PaymentId => bill::parse_payment_id(input),
        Kind::Sheba => sheba::parse(input),
        Kind::Plate => plate::parse(input).map(|p| p.canonical()),
        Kind::JalaliDate => jalali::parse(input).map(|d| d.to_string()),
    }
}

fn free_text(input: &str, multiline: bool) -> Result<String, Invalid> {
    let unified = input.replace("\r\n", "\n").replace('\r', "\n");
    let value = text::canonical(&unified).trim().to_owned();
    let allowed = |c: char| multiline && (c == '\n' || c == '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(if multiline {
            Invalid::new("متن نویسه‌های کنترلی نامجاز دارد", "text contains control characters")
        } else {
            Invalid::new(
                "این متن باید یک خط باشد و نویسه‌های کنترلی نداشته باشد",
                "text must be a single line without control characters",
            )
        });
    }
    let max = if multiline { LONG_TEXT_MAX_CHARS } else { TEXT_MAX_CHARS };
    if value.chars().count() > max {
        return Err(Invalid::new(
            format!("متن نباید بیش از {} نویسه باشد", persian_digits(&max.to_string())),
            format!("text must be at most {max} characters"),
        ));
    }
    Ok(value)
}

fn number(input: &str) -> Result<String, Invalid> {
    let digits = text::normalize_digits(input);
    let trimmed = digits.trim_matches(|c: char| c.is_whitespace() || text::is_direction_mark(c));
    let (negative, body) = match trimmed.strip_prefix(['-', '\u{2212}']) {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut value = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => value.push(c),
            ',' | '\u{066C}' => {}
            c if text::is_direction_mark(c) => {}
            _ => {
                return Err(Invalid::new("عدد باید فقط رقم داشته باشد", "number must contain only digits"));
            }
        }
    }
    if value.is_empty() {
        return Err(Invalid::new("عدد وارد نشده است", "number has no digits"));
    }
    let significant = value.trim_start_matches('0');
    if significant.len() > NUMBER_MAX_DIGITS {
        return Err(Invalid::new(
            format!("عدد نباید بیش از {} رقم داشته باشد", persian_digits(&NUMBER_MAX_DIGITS.to_string())),
            format!("number must have at most {NUMBER_MAX_DIGITS} digits"),
        ));
    }
    Ok(match (negative, significant) {
        (_, "") => "0".to_owned(),
        (true, s) => format!("-{s}"),
        (false, s) => s.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_KINDS: [Kind; 12] = [
        Kind::Text,
        Kind::LongText,
        Kind::Number,
        Kind::NationalId,
        Kind::LegalId,
        Kind::Mobile,
        Kind::PostalCode,
        Kind::BillId,
        Kind::PaymentId,
        Kind::Sheba,
        Kind::Plate,
        Kind::JalaliDate,
    ];

    #[test]
    fn invalid_displays_english() {
        let e = Invalid::new("نادرست", "wrong");
        assert_eq!(e.to_string(), "wrong");
    }

    #[test]
    fn text_is_canonical_and_trimmed() {
        assert_eq!(normalize(Kind::Text, "  علي  ").unwrap(), "علی");
        assert_eq!(normalize(Kind::Text, "").unwrap(), "");
        assert_eq!(normalize(Kind::Text, "می‌خواهم").unwrap(), "می‌خواهم");
    }

    #[test]
    fn text_is_one_line() {
        let e = normalize(Kind::Text, "a\nb").unwrap_err();
        assert!(e.en.contains("single line"));
        assert_eq!(normalize(Kind::LongText, "a\r\nb\rc").unwrap(), "a\nb\nc");
        assert!(normalize(Kind::LongText, "a\u{0}b").is_err());
    }

    #[test]
    fn text_caps_length_in_characters() {
        let fits = "ب".repeat(TEXT_MAX_CHARS);
        assert_eq!(normalize(Kind::Text, &fits).unwrap(), fits);
        let long = "ب".repeat(TEXT_MAX_CHARS + 1);
        let e = normalize(Kind::Text, &long).unwrap_err();
        assert_eq!(e.en, "text must be at most 200 characters");
        assert!(normalize(Kind::LongText, &long).is_ok());
        let too_long = "x".repeat(LONG_TEXT_MAX_CHARS + 1);
        assert_eq!(normalize(Kind::LongText, &too_long).unwrap_err().en, "text must be at most 4000 characters");
    }

    #[test]
    fn numbers() {
        assert_eq!(normalize(Kind::Number, "۱٬۲۳۴").unwrap(), "1234");
        assert_eq!(normalize(Kind::Number, " 1,234,567 ").unwrap(), "1234567");
        assert_eq!(normalize(Kind::Number, "-٠٠٤٢").unwrap(), "-42");
        assert_eq!(normalize(Kind::Number, "-0").unwrap(), "0");
        assert_eq!(normalize(Kind::Number, "000").unwrap(), "0");
        assert_eq!(normalize(Kind::Number, "\u{200F}۱۲").unwrap(), "12");
        let max = "9".repeat(18);
        assert_eq!(normalize(Kind::Number, &max).unwrap(), max);
        assert!(normalize(Kind::Number, &"9".repeat(19)).is_err());
        assert_eq!(normalize(Kind::Number, "1.5").unwrap_err().en, "number must contain only digits");
        assert_eq!(normalize(Kind::Number, "--1").unwrap_err().en, "number must contain only digits");
        assert_eq!(normalize(Kind::Number, "-").unwrap_err().en, "number has no digits");
        assert_eq!(normalize(Kind::Number, "").unwrap_err().en, "number has no digits");
    }

    #[test]
    fn identifiers_go_through_their_modules() {
        assert_eq!(normalize(Kind::NationalId, "۰۴۹۹۳۷۰۸۹۹").unwrap(), "0499370899");
        assert_eq!(normalize(Kind::Mobile, "+98 912 123 4567").unwrap(), "09121234567");
        assert_eq!(normalize(Kind::Plate, "۱۲ ب ۳۴۵ ایران ۶۷").unwrap(), "12ب345-67");
        assert_eq!(normalize(Kind::JalaliDate, "۱۴۰۴-۹-۷").unwrap(), "1404/09/07");
        assert_eq!(normalize(Kind::Sheba, "ir82 0540 1026 8002 0817 9090 02").unwrap(), "IR820540102680020817909002");
        assert_eq!(normalize(Kind::BillId, "7748317800142").unwrap(), "7748317800142");
        assert_eq!(normalize(Kind::PaymentId, "1770160").unwrap(), "1770160");
        assert_eq!(normalize(Kind::LegalId, "10380284790").unwrap(), "10380284790");
        assert_eq!(normalize(Kind::PostalCode, "11936-53471").unwrap(), "1193653471");
    }

    /// A small deterministic generator: the tests need variety, not quality.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Self(seed)
        }

        pub(crate) fn next(&mut self) -> u64 {
            // splitmix64
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        pub(crate) fn digits(&mut self, n: usize) -> String {
            (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
        }

        /// A string mixing the characters these parsers care about with arbitrary ones.
        pub(crate) fn messy_string(&mut self) -> String {
            const PALETTE: &[char] = &[
                '0', '1', '5', '9', '۰', '۴', '۹', '٠', '٣', '٩', '-', '/', '.', ',', '٬', '+', ' ', '\t', '\n', '\r',
                '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{061C}', 'I', 'R', 'i', 'r', 'a', 'İ', 'Σ', 'ب',
                'ا', 'ل', 'ف', 'ي', 'ك', 'ی', 'ک', 'ة', 'ـ', '\u{064B}', '\u{0670}', 'ر', 'ن', '\u{0}', '\u{FEFF}',
                '\u{2212}',
            ];
            let len = self.below(40) as usize;
            (0..len)
                .map(|_| {
                    if self.below(8) == 0 {
                        char::from_u32(self.below(0x11_0000) as u32).unwrap_or('?')
                    } else {
                        PALETTE[self.below(PALETTE.len() as u64) as usize]
                    }
                })
                .collect()
        }
    }

    #[test]
    fn messy_input_never_panics_and_output_is_stable() {
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            let input = rng.messy_string();
            for kind in ALL_KINDS {
                if let Ok(value) = normalize(kind, &input) {
                    assert_eq!(normalize(kind, &value), Ok(value.clone()), "{kind:?} {input:?}");
                }
            }
            let _ = bill::decode(&input, &input);
            let _ = bill::from_barcode(&input);
            let _ = sheba::bank_code(&input);
            let _ = bill::check_digit(&input);
            let key = text::search_key(&input);
            assert_eq!(text::search_key(&key), key, "{input:?}");
            assert_eq!(text::search_key(&text::canonical(&input)), key, "{input:?}");
        }
    }

    #[test]
    fn plausible_values_round_trip() {
        // Random digit strings hit the checksums often enough to exercise the accepting paths.
        let mut rng = Rng::new(11);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let len = 6 + rng.below(8) as usize;
            let input = rng.digits(len);
            for kind in ALL_KINDS {
                if let Ok(value) = normalize(kind, &input) {
                    accepted += 1;
                    assert_eq!(normalize(kind, &value), Ok(value.clone()), "{kind:?} {input:?}");
                }
            }
        }
        assert!(accepted > 1000, "only {accepted} accepted");
    }
}
