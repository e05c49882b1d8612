//! Legal-entity ID (شناسه ملی اشخاص حقوقی): eleven digits, the last a check digit.

use crate::Invalid;
use crate::text::compact_digits;

const WEIGHTS: [u32; 5] = [29, 27, 23, 19, 17];

/// Validates a legal-entity ID as typed and returns its 11 ASCII digits.
///
/// Check digit: `d` = tenth digit + 2; the sum of `(d + digit)` times weights 29, 27, 23,
/// 19, 17 (cycling) over the first ten digits, mod 11, with 10 becoming 0. IDs whose middle
/// six digits are zero, and repeated digits (`33333333333` passes the sum), are refused.
pub fn parse(input: &str) -> Result<String, Invalid> {
    let id = compact_digits(input);
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("شناسه ملی فقط باید رقم داشته باشد", "legal-entity ID must contain only digits"));
    }
    if id.len() != 11 {
        return Err(Invalid::new("شناسه ملی باید ۱۱ رقم باشد", "legal-entity ID must have 11 digits"));
    }
    let d: Vec<u32> = id.bytes().map(|b| u32::from(b - b'0')).collect();
    if d.iter().all(|&x| x == d[0]) {
        return Err(Invalid::new(
            "شناسه ملی نمی‌تواند از یک رقم تکراری باشد",
            "legal-entity ID cannot be one digit repeated",
        ));
    }
    if d[3..9].iter().all(|&x| x == 0) {
        return Err(Invalid::new(
            "شناسه ملی نامعتبر است: شش رقم میانی آن صفر است",
            "legal-entity ID is not valid: its middle six digits are zero",
        ));
    }
    if check_digit(&d[..10]) != d[10] {
        return Err(Invalid::new("رقم کنترل شناسه ملی درست نیست", "legal-entity ID check digit is wrong"));
    }
    Ok(id)
}

fn check_digit(first_ten: &[u32]) -> u32 {
    let Some(&tenth) = first_ten.get(9) else {
        return 0;
    };
    let base = tenth + 2;
    let sum: u32 = first_ten.iter().zip(WEIGHTS.iter().cycle()).map(|(&digit, &w)| (base + digit) * w).sum();
    match sum % 11 {
        10 => 0,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_ids_as_typed() {
        assert_eq!(parse("10380284790").unwrap(), "10380284790");
        assert_eq!(parse("۱۰۳۸۰۲۸۴۷۹۰").unwrap(), "10380284790");
        assert_eq!(parse("1038 0284 790").unwrap(), "10380284790");
    }

    #[test]
    fn each_failure_has_its_own_reason() {
        assert_eq!(parse("123000000").unwrap_err().en, "legal-entity ID must have 11 digits");
        assert_eq!(parse("1038028479x").unwrap_err().en, "legal-entity ID must contain only digits");
        assert_eq!(parse("10380284792").unwrap_err().en, "legal-entity ID check digit is wrong");
        assert_eq!(parse("33333333333").unwrap_err().en, "legal-entity ID cannot be one digit repeated");
        assert_eq!(
            parse("10100000006").unwrap_err().en,
            "legal-entity ID is not valid: its middle six digits are zero"
        );
    }

    #[test]
    fn the_refused_repdigit_does_pass_the_sum() {
        let d = [3; 10];
        assert_eq!(check_digit(&d), 3);
    }
}
