//! Car plates (پلاک خودرو): two digits, a Persian letter, three digits, and the two-digit
//! province code printed after «ایران».

use crate::Invalid;
use crate::text::{canonical, compact_digits};

/// A parsed car plate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plate {
    /// The two digits left of the letter.
    pub left: String,
    /// The letter; alef (written «الف» on plates) is stored as `'ا'`.
    pub letter: char,
    /// The three digits right of the letter.
    pub middle: String,
    /// The two-digit province code.
    pub province: String,
}

/// Letters of the Persian alphabet; the plate series use a subset that changes over time,
/// so any of them is accepted.
const LETTERS: &str = "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی";

impl Plate {
    /// The plate as one string, e.g. `12ب345-67` (alef as «الف»: `12الف345-67`).
    pub fn canonical(&self) -> String {
        let letter = if self.letter == 'ا' { "الف".to_owned() } else { self.letter.to_string() };
        format!("{}{}{}-{}", self.left, letter, self.middle, self.province)
    }
}

/// Parses a plate as typed: `12ب345-67`, `12 ب 345 ایران 67`, `۱۲ب۳۴۵ | ۶۷`, Persian or
/// Arabic digits and letters.
pub fn parse(input: &str) -> Result<Plate, Invalid> {
    let shape = || {
        Invalid::new(
            "پلاک باید به شکل ۱۲ب۳۴۵-۶۷ باشد",
            "plate must look like 12ب345-67: two digits, a letter, three digits, province code",
        )
    };
    let text = canonical(&compact_digits(input));
    // "ایران" and the separator bar are printed on the plate but carry nothing.
    let text = text.replace("ایران", "").replace('|', "").replace("الف", "ا");
    let chars: Vec<char> = text.chars().collect();
    let [l1, l2, letter, m1, m2, m3, p1, p2] = chars[..] else {
        return Err(shape());
    };
    let left: String = [l1, l2].iter().collect();
    let middle: String = [m1, m2, m3].iter().collect();
    let province: String = [p1, p2].iter().collect();
    if ![&left, &middle, &province].iter().all(|s| s.bytes().all(|b| b.is_ascii_digit())) {
        return Err(shape());
    }
    if !LETTERS.contains(letter) {
        return Err(Invalid::new("حرف پلاک باید یکی از حروف فارسی باشد", "plate letter must be a Persian letter"));
    }
    Ok(Plate { left, letter, middle, province })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(left: &str, letter: char, middle: &str, province: &str) -> Plate {
        Plate { left: left.to_owned(), letter, middle: middle.to_owned(), province: province.to_owned() }
    }

    #[test]
    fn accepts_the_usual_ways_of_writing_a_plate() {
        let expected = plate("12", 'ب', "345", "67");
        for input in
            ["12ب345-67", "12 ب 345 ایران 67", "۱۲ب۳۴۵-۶۷", "۱۲ ب ۳۴۵ | ایران ۶۷", "12ب34567", "\u{200F}12 ب 345 - 67"]
        {
            assert_eq!(parse(input).unwrap(), expected, "{input}");
        }
        assert_eq!(expected.canonical(), "12ب345-67");
    }

    #[test]
    fn arabic_letters_become_persian() {
        assert_eq!(parse("22ي333-44").unwrap().letter, 'ی');
        assert_eq!(parse("22ك333-44").unwrap().canonical(), "22ک333-44");
    }

    #[test]
    fn alef_is_written_out() {
        let p = parse("12 الف 345 ايران 67").unwrap();
        assert_eq!(p.letter, 'ا');
        assert_eq!(p.canonical(), "12الف345-67");
        assert_eq!(parse(&p.canonical()).unwrap(), p);
    }

    #[test]
    fn refusals() {
        let shape = parse("12ب34-67").unwrap_err();
        assert!(shape.en.starts_with("plate must look like"));
        assert!(parse("").is_err());
        assert!(parse("1xب345-67").unwrap_err().en.starts_with("plate must look like"));
        assert_eq!(parse("12B345-67").unwrap_err().en, "plate letter must be a Persian letter");
        assert_eq!(parse("12ب345-678").unwrap_err().en, shape.en);
    }
}
