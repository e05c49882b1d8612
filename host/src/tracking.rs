//! Tracking codes (کد پیگیری) for applications.
//!
//! A code is 12 symbols of Crockford's base32 (60 bits from the OS CSPRNG) and one Luhn
//! mod 32 check symbol, shown as `PJ-7K3M-Q9XD-2HVA-R`. The alphabet has no `I`, `L`, `O`
//! or `U`, so nothing in it can be mistaken for anything else; on input `O` reads as `0`
//! and `I`/`L` as `1`, lower case, Persian digits, spaces and dashes are accepted. The
//! check symbol catches every single mistyped symbol and most swapped neighbours, so a
//! typo is told apart from a code that does not exist.
//!
//! A tracking code is a name, not a credential: lookups are always scoped to the citizen.

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols of random data.
const DATA_SYMBOLS: usize = 12;
/// The prefix naming the window as the issuer.
const PREFIX: &str = "PJ";

/// Why a typed tracking code is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingCodeError {
    #[error("a tracking code has 13 letters and digits after `PJ-`")]
    Length,
    #[error("`{0}` cannot appear in a tracking code")]
    Symbol(char),
    #[error("the check character does not match: a character is probably mistyped")]
    Check,
}

/// A new tracking code in display form.
pub fn generate() -> String {
    let bits: u64 = rand::random::<u64>() >> (64 - 5 * DATA_SYMBOLS);
    let values: Vec<u8> = (0..DATA_SYMBOLS).rev().map(|i| ((bits >> (5 * i)) & 31) as u8).collect();
    format_code(&values, check_value(&values))
}

/// Reads a code as a citizen may type it; returns the display form.
pub fn parse(input: &str) -> Result<String, TrackingCodeError> {
    let compact: String = panjereh_formats::text::compact_digits(input).to_ascii_uppercase();
    let body = match compact.strip_prefix(PREFIX) {
        Some(rest) if rest.chars().count() == DATA_SYMBOLS + 1 => rest,
        _ => compact.as_str(),
    };
    if body.chars().count() != DATA_SYMBOLS + 1 {
        return Err(TrackingCodeError::Length);
    }
    let mut values = Vec::with_capacity(DATA_SYMBOLS + 1);
    for c in body.chars() {
        values.push(value_of(c).ok_or(TrackingCodeError::Symbol(c))?);
    }
    let (data, check) = values.split_at(DATA_SYMBOLS);
    if check_value(data) != check[0] {
        return Err(TrackingCodeError::Check);
    }
    Ok(format_code(data, check[0]))
}

fn value_of(c: char) -> Option<u8> {
    let c = match c {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET.iter().position(|&a| a as char == c).map(|p| p as u8)
}

/// Luhn mod 32 over the data symbols.
fn check_value(data: &[u8]) -> u8 {
    let n = ALPHABET.len() as u32;
    let mut factor = 2;
    let mut sum = 0u32;
    for &v in data.iter().rev() {
        let addend = factor * u32::from(v);
        sum += addend / n + addend % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    ((n - sum % n) % n) as u8
}

fn format_code(data: &[u8], check: u8) -> String {
    let symbol = |v: &u8| ALPHABET[*v as usize] as char;
    let groups: Vec<String> = data.chunks(4).map(|g| g.iter().map(symbol).collect()).collect();
    format!("{PREFIX}-{}-{}", groups.join("-"), symbol(&check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_read_back_and_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let code = generate();
            assert_eq!(code.len(), "PJ-XXXX-XXXX-XXXX-C".len(), "{code}");
            assert!(!code[3..].contains(['I', 'L', 'O', 'U']), "{code}");
            assert_eq!(parse(&code).as_deref(), Ok(code.as_str()));
            assert!(seen.insert(code));
        }
    }

    #[test]
    fn accepts_how_people_type_and_catches_typos() {
        let code = generate();
        let sloppy = code.to_lowercase().replace('-', " ");
        assert_eq!(parse(&sloppy).as_deref(), Ok(code.as_str()));
        assert_eq!(parse(&code[3..]).as_deref(), Ok(code.as_str()), "the prefix is optional");
        let persian: String =
            code.chars().map(|c| c.to_digit(10).map_or(c, |d| char::from_u32(0x06F0 + d).unwrap())).collect();
        assert_eq!(parse(&persian).as_deref(), Ok(code.as_str()));

        // Every single substitution is caught.
        let body: Vec<char> = code.chars().filter(|c| *c != '-').skip(2).collect();
        for i in 0..body.len() {
            for &a in ALPHABET {
                if a as char == body[i] {
                    continue;
                }
                let mut typo = body.clone();
                typo[i] = a as char;
                let typo: String = typo.into_iter().collect();
                assert_eq!(parse(&typo), Err(TrackingCodeError::Check), "{typo} vs {code}");
            }
        }
        assert_eq!(parse("PJ-1234"), Err(TrackingCodeError::Length));
        assert_eq!(parse("PJ-UUUU-UUUU-UUUU-U"), Err(TrackingCodeError::Symbol('U')));
    }
}
