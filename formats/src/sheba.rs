//! Sheba (شبا), Iran's IBAN: `IR`, two check digits, then 22 digits of which the first
//! three after the check digits name the bank.

use crate::Invalid;
use crate::text::compact_digits;

/// Validates a Sheba number as typed and returns `IR` followed by 24 digits.
///
/// Accepts spaces, dashes, lowercase `ir`, Persian digits, and the 24 digits without `IR`
/// (forms often print the prefix outside the input). The ISO 13616 check (mod 97 == 1)
/// must hold.
pub fn parse(input: &str) -> Result<String, Invalid> {
    let compact = compact_digits(input).to_ascii_uppercase();
    let digits = compact.strip_prefix("IR").unwrap_or(&compact);
    if digits.len() != 24 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new(
            "شماره شبا باید IR و پس از آن ۲۴ رقم باشد",
            "Sheba number must be IR followed by 24 digits",
        ));
    }
    let iban = format!("IR{digits}");
    if mod97(&iban) != 1 {
        return Err(Invalid::new("رقم‌های کنترل شماره شبا درست نیستند", "Sheba number check digits are wrong"));
    }
    Ok(iban)
}

/// The three-digit bank code of a parsed Sheba number (characters 5 to 7, e.g. `"017"` for
/// Bank Melli); empty if `iban` is too short to have one.
pub fn bank_code(iban: &str) -> &str {
    iban.get(4..7).unwrap_or("")
}

/// ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97.
fn mod97(iban: &str) -> u32 {
    let (head, tail) = if iban.is_char_boundary(4) { iban.split_at(4) } else { ("", iban) };
    tail.chars().chain(head.chars()).fold(0, |acc, c| match c.to_digit(36) {
        Some(v) if v >= 10 => (acc * 100 + v) % 97,
        Some(v) => (acc * 10 + v) % 97,
        None => acc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::Rng;

    #[test]
    fn accepts_typed_forms() {
        let canonical = "IR820540102680020817909002";
        for input in [
            canonical,
            "IR82 0540 1026 8002 0817 9090 02",
            "ir820540102680020817909002",
            "IR۸۲۰۵۴۰۱۰۲۶۸۰۰۲۰۸۱۷۹۰۹۰۰۲",
            "820540102680020817909002",
        ] {
            assert_eq!(parse(input).unwrap(), canonical, "{input}");
        }
    }

    #[test]
    fn refusals() {
        let shape = "Sheba number must be IR followed by 24 digits";
        assert_eq!(parse("IR01234567890123456789").unwrap_err().en, shape);
        assert_eq!(parse("IR012345678A01234567890123").unwrap_err().en, shape);
        assert_eq!(parse("DE820540102680020817909002").unwrap_err().en, shape);
        assert_eq!(parse("").unwrap_err().en, shape);
        assert_eq!(parse("IR820540102680020817909003").unwrap_err().en, "Sheba number check digits are wrong");
    }

    #[test]
    fn bank_code_is_characters_five_to_seven() {
        assert_eq!(bank_code("IR820540102680020817909002"), "054");
        assert_eq!(bank_code("IR79061"), "061");
        assert_eq!(bank_code("IR7"), "");
        assert_eq!(bank_code("IR۷۹۰"), "");
    }

    #[test]
    fn generated_numbers_pass_and_any_single_changed_digit_fails() {
        let mut rng = Rng::new(3);
        for _ in 0..2_000 {
            let bban = rng.digits(22);
            let check = 98 - mod97(&format!("IR00{bban}"));
            let iban = format!("IR{check:02}{bban}");
            assert_eq!(parse(&iban).unwrap(), iban);

            let at = 2 + rng.below(24) as usize;
            let mut bytes = iban.clone().into_bytes();
            bytes[at] = b'0' + (bytes[at] - b'0' + 1 + rng.below(9) as u8) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            assert!(parse(&changed).is_err(), "{changed}");
        }
    }
}
