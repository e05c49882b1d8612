//! Mobile numbers: stored as `09XXXXXXXXX`, accepted with any of the usual prefixes.

use crate::Invalid;
use crate::text::compact_digits;

/// Validates a mobile number as typed and returns it as `09XXXXXXXXX`.
///
/// Accepts `+98`, `0098`, `98` and `0` prefixes or none (`9121234567`), Persian digits,
/// spaces and dashes. The number itself must be ten digits starting with 9.
pub fn parse(input: &str) -> Result<String, Invalid> {
    let compact = compact_digits(input);
    let (plus, digits) = match compact.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, compact.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("شماره موبایل فقط باید رقم داشته باشد", "mobile number must contain only digits"));
    }
    let national = match (plus, digits.len()) {
        (true, 12) => digits.strip_prefix("98"),
        (false, 14) => digits.strip_prefix("0098"),
        (false, 12) => digits.strip_prefix("98"),
        (false, 11) => digits.strip_prefix('0'),
        (false, 10) => Some(digits),
        _ => None,
    };
    match national {
        Some(n) if n.starts_with('9') => Ok(format!("0{n}")),
        _ => Err(Invalid::new(
            "شماره موبایل باید ۱۱ رقمی باشد و با ۰۹ شروع شود",
            "mobile number must have 11 digits and start with 09",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_prefixes_give_the_same_number() {
        for input in [
            "09121234567",
            "+989121234567",
            "+98 912 123 4567",
            "00989121234567",
            "989121234567",
            "9121234567",
            "۰۹۱۲ ۱۲۳ ۴۵۶۷",
            "٠٩١٢-١٢٣-٤٥٦٧",
        ] {
            assert_eq!(parse(input).unwrap(), "09121234567", "{input}");
        }
    }

    #[test]
    fn refusals() {
        let shape = "mobile number must have 11 digits and start with 09";
        assert_eq!(parse("0912123456").unwrap_err().en, shape);
        assert_eq!(parse("08121234567").unwrap_err().en, shape);
        assert_eq!(parse("+09121234567").unwrap_err().en, shape);
        assert_eq!(parse("+9809121234567").unwrap_err().en, shape);
        assert_eq!(parse("0098 0912 123 4567").unwrap_err().en, shape);
        assert_eq!(parse("0912-ABC-4567").unwrap_err().fa, "شماره موبایل فقط باید رقم داشته باشد");
        assert_eq!(parse("").unwrap_err().en, "mobile number must contain only digits");
        assert_eq!(parse("+").unwrap_err().en, "mobile number must contain only digits");
    }
}
