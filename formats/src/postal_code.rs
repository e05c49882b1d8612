//! Postal codes: ten digits with no checksum, so the common plausibility rules stand in.

use crate::Invalid;
use crate::text::compact_digits;

/// Validates a postal code as typed and returns its 10 ASCII digits.
///
/// There is no official checksum. The rules applied are the usual ones: the first five
/// digits contain no 0 or 2, the fifth is not 5, the sixth is not 0, the last four are not
/// `0000`, and not all digits are the same.
pub fn parse(input: &str) -> Result<String, Invalid> {
    let code = compact_digits(input);
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("کد پستی فقط باید رقم داشته باشد", "postal code must contain only digits"));
    }
    if code.len() != 10 {
        return Err(Invalid::new("کد پستی باید ۱۰ رقم باشد", "postal code must have 10 digits"));
    }
    let d = code.as_bytes();
    let plausible = !d[..5].iter().any(|&b| b == b'0' || b == b'2')
        && d[4] != b'5'
        && d[5] != b'0'
        && &d[6..] != b"0000"
        && !d.iter().all(|&b| b == d[0]);
    if !plausible {
        return Err(Invalid::new("کد پستی نادرست است", "postal code is not valid"));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_typed_forms() {
        assert_eq!(parse("1193653471").unwrap(), "1193653471");
        assert_eq!(parse("۸۱۳۴۷-۸۳۱۱۱").unwrap(), "8134783111");
    }

    #[test]
    fn shape_and_plausibility_are_different_reasons() {
        assert_eq!(parse("142386473").unwrap_err().en, "postal code must have 10 digits");
        assert_eq!(parse("11936x3471").unwrap_err().en, "postal code must contain only digits");
        for implausible in [
            "0193653471", // 0 in the first five
            "1293653471", // 2 in the first five
            "1193553471", // fifth is 5
            "1193603471", // sixth is 0
            "1193650000", // last four are 0000
            "1111111111", // one digit repeated
        ] {
            let e = parse(implausible).unwrap_err();
            assert_eq!(e.fa, "کد پستی نادرست است", "{implausible}");
        }
    }
}
