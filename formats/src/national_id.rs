//! National ID (کد ملی): ten digits, the last a mod-11 check digit over the first nine.

use crate::Invalid;
use crate::text::compact_digits;

/// Validates a national ID as typed (Persian digits, spaces and dashes allowed) and returns
/// its 10 ASCII digits.
///
/// Check digit: the first nine digits times weights 10..2, `r = sum % 11`; the check digit is
/// `r` if `r < 2`, else `11 - r`. Repeated digits (`1111111111`) pass that sum and are refused
/// explicitly, as are IDs whose middle six digits are all zero.
pub fn parse(input: &str) -> Result<String, Invalid> {
    let id = compact_digits(input);
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("کد ملی فقط باید رقم داشته باشد", "national ID must contain only digits"));
    }
    if id.len() != 10 {
        return Err(Invalid::new("کد ملی باید ۱۰ رقم باشد", "national ID must have 10 digits"));
    }
    let d = id.as_bytes();
    if d.iter().all(|&b| b == d[0]) {
        return Err(Invalid::new("کد ملی نمی‌تواند از یک رقم تکراری باشد", "national ID cannot be one digit repeated"));
    }
    if d[3..9].iter().all(|&b| b == b'0') {
        return Err(Invalid::new(
            "کد ملی نامعتبر است: شش رقم میانی آن صفر است",
            "national ID is not valid: its middle six digits are zero",
        ));
    }
    if check_digit(&d[..9]) != d[9] - b'0' {
        return Err(Invalid::new("رقم کنترل کد ملی درست نیست", "national ID check digit is wrong"));
    }
    Ok(id)
}

/// The check digit for the first nine digits (ASCII).
fn check_digit(first_nine: &[u8]) -> u8 {
    let sum: u32 = first_nine.iter().zip((2..=10).rev()).map(|(&b, w)| u32::from(b - b'0') * w).sum();
    let r = (sum % 11) as u8;
    if r < 2 { r } else { 11 - r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::Rng;

    #[test]
    fn accepts_valid_and_typed_forms() {
        assert_eq!(parse("0499370899").unwrap(), "0499370899");
        assert_eq!(parse("۰۴۹۹۳۷۰۸۹۹").unwrap(), "0499370899");
        assert_eq!(parse(" 049-937089-9 ").unwrap(), "0499370899");
        assert_eq!(parse("٠٤٩٩٣٧٠٨٩٩").unwrap(), "0499370899");
    }

    #[test]
    fn each_failure_has_its_own_reason() {
        assert_eq!(parse("12345").unwrap_err().en, "national ID must have 10 digits");
        assert_eq!(parse("").unwrap_err().en, "national ID must have 10 digits");
        assert_eq!(parse("079041a904").unwrap_err().en, "national ID must contain only digits");
        assert_eq!(parse("3333333333").unwrap_err().en, "national ID cannot be one digit repeated");
        assert_eq!(parse("1230000000").unwrap_err().en, "national ID is not valid: its middle six digits are zero");
        let wrong = parse("0684159415").unwrap_err();
        assert_eq!(wrong.en, "national ID check digit is wrong");
        assert_eq!(wrong.fa, "رقم کنترل کد ملی درست نیست");
    }

    #[test]
    fn every_repdigit_passes_the_sum_but_is_refused() {
        for d in 0..10u8 {
            let id = char::from(b'0' + d).to_string().repeat(10);
            let bytes = id.as_bytes();
            assert_eq!(check_digit(&bytes[..9]), d, "the rule this test guards against");
            assert!(parse(&id).is_err(), "{id}");
        }
    }

    #[test]
    fn generated_ids_are_accepted_and_a_changed_check_digit_is_not() {
        let mut rng = Rng::new(1);
        for _ in 0..5_000 {
            let body = rng.digits(9);
            let check = check_digit(body.as_bytes());
            let id = format!("{body}{check}");
            let degenerate = body.bytes().skip(3).all(|b| b == b'0') || id.bytes().all(|b| b == id.as_bytes()[0]);
            assert_eq!(parse(&id).is_ok(), !degenerate, "{id}");
            let other = (check + 1 + rng.below(9) as u8) % 10;
            assert!(parse(&format!("{body}{other}")).is_err());
        }
    }
}
