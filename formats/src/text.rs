//! Persian text: digits, letter variants, the display form and the search key.
//!
//! Persian keyboards and Arabic ones produce different code points for the same letters
//! (ي and ی, ك and ک), and digits come in three scripts. `char::is_numeric` is true for
//! Persian digits but `to_digit(10)` and `str::parse` reject them, so every identifier goes
//! through [`compact_digits`] before it is checked. NFKC folds none of these.

/// Persian `۰`..`۹` (U+06F0..U+06F9) and Arabic-Indic `٠`..`٩` (U+0660..U+0669) to ASCII;
/// everything else unchanged.
pub fn normalize_digits(s: &str) -> String {
    s.chars().map(ascii_digit).collect()
}

/// The display form: Arabic yeh (ي, ى) becomes Persian ی and Arabic kaf (ك) becomes ک.
/// Digits and ZWNJ are kept, since both are part of how the text should look.
pub fn canonical(s: &str) -> String {
    s.chars().map(persian_letter).collect()
}

/// A key for matching text regardless of how it was typed: `"كتاب"` and `"کتاب"`, or
/// `"می‌خواهم"` and `"میخواهم"`, give the same key.
///
/// Folds digits to ASCII, ي/ى to ی, ك to ک, ة and ۀ to ه, أ/إ/آ/ٱ to ا, ؤ to و; removes
/// ZWNJ, ZWJ, direction marks, tatweel and Arabic diacritics (U+064B..U+065F, U+0670);
/// lowercases; collapses runs of whitespace to one space and trims.
pub fn search_key(s: &str) -> String {
    let folded: String = s
        .chars()
        .filter(|&c| !is_ignorable_in_search(c))
        .map(|c| match persian_letter(ascii_digit(c)) {
            'ة' | 'ۀ' => 'ه',
            'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
            'ؤ' => 'و',
            other => other,
        })
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The form identifiers are checked in: [`normalize_digits`], then spaces, dashes, ZWNJ,
/// ZWJ and direction marks removed. Other characters stay, so a parser can still refuse them.
pub fn compact_digits(s: &str) -> String {
    s.chars().filter(|&c| !(c.is_whitespace() || is_dash(c) || is_invisible(c))).map(ascii_digit).collect()
}

/// ASCII digits to Persian digits, for display; everything else unchanged.
pub fn persian_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(0x06F0 + (c as u32 - '0' as u32)).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// `1234567` as `"1,234,567"`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bidirectional formatting characters: text pasted from right-to-left pages carries them
/// around numbers, invisibly.
pub(crate) fn is_direction_mark(c: char) -> bool {
    matches!(
        c,
        '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Zero-width characters that change nothing in an identifier: ZWNJ, ZWJ, the byte order
/// mark, and direction marks.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}' | '\u{FEFF}') || is_direction_mark(c)
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{00AD}' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}')
}

fn is_ignorable_in_search(c: char) -> bool {
    is_invisible(c) || matches!(c, '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}')
}

fn ascii_digit(c: char) -> char {
    let offset = match c {
        '\u{06F0}'..='\u{06F9}' => c as u32 - 0x06F0,
        '\u{0660}'..='\u{0669}' => c as u32 - 0x0660,
        _ => return c,
    };
    char::from_digit(offset, 10).unwrap_or(c)
}

fn persian_letter(c: char) -> char {
    match c {
        'ي' | 'ى' => 'ی',
        'ك' => 'ک',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_both_scripts_become_ascii() {
        assert_eq!(normalize_digits("۰۱۲۳۴۵۶۷۸۹"), "0123456789");
        assert_eq!(normalize_digits("٠١٢٣٤٥٦٧٨٩"), "0123456789");
        assert_eq!(normalize_digits("کد ۱۲a"), "کد 12a");
    }

    #[test]
    fn canonical_fixes_letters_and_keeps_the_rest() {
        assert_eq!(canonical("علي"), "علی");
        assert_eq!(canonical("مصطفى"), "مصطفی");
        assert_eq!(canonical("كتاب"), "کتاب");
        assert_eq!(canonical("می‌خواهم ۱۲"), "می‌خواهم ۱۲");
    }

    #[test]
    fn search_key_folds_what_users_type_differently() {
        assert_eq!(search_key("كتاب"), search_key("کتاب"));
        assert_eq!(search_key("می‌خواهم"), "میخواهم");
        assert_eq!(search_key("  پروانه\u{00A0}\u{00A0}ساختمانی "), "پروانه ساختمانی");
        assert_eq!(search_key("کتـــاب"), "کتاب");
        assert_eq!(search_key("مُحَمَّد"), "محمد");
        assert_eq!(search_key("آب"), "اب");
        assert_eq!(search_key("مسئول"), "مسئول");
        assert_eq!(search_key("مؤسسه"), "موسسه");
        assert_eq!(search_key("مدرسة"), "مدرسه");
        assert_eq!(search_key("إيران ۱۴۰۳"), "ایران 1403");
        assert_eq!(search_key("Permit\u{200F}"), "permit");
    }

    #[test]
    fn compact_digits_strips_separators_only() {
        assert_eq!(compact_digits("۰۹۱۲ ۱۲۳-۴۵۶۷"), "09121234567");
        assert_eq!(compact_digits("\u{200F}12\u{200C}34\u{2013}5"), "12345");
        assert_eq!(compact_digits("12a/3"), "12a/3");
    }

    #[test]
    fn display_helpers() {
        assert_eq!(persian_digits("1404/09/07"), "۱۴۰۴/۰۹/۰۷");
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
