//! Every vector in `tests/data/identifiers.json` (a copy of the project's shared data file),
//! checked through the public API.

use panjereh_formats::bill::{self, BillError, ServiceType};
use panjereh_formats::jalali::{self, JalaliDate};
use panjereh_formats::{Kind, legal_id, mobile, national_id, normalize, postal_code, sheba, text};
use serde_json::Value;

fn data() -> Value {
    serde_json::from_str(include_str!("data/identifiers.json")).expect("identifiers.json parses")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().expect("an array").iter().map(|s| s.as_str().expect("a string")).collect()
}

fn pairs(v: &Value) -> Vec<(&str, &str)> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|p| {
            let p = strings(p);
            assert_eq!(p.len(), 2, "a pair");
            (p[0], p[1])
        })
        .collect()
}

/// Parses `YYYY-MM-DD` from the data file (not the crate's parser, so the vectors check it).
fn ymd(s: &str) -> (i32, u8, u8) {
    let parts: Vec<&str> = s.split('-').collect();
    assert_eq!(parts.len(), 3, "{s}");
    (parts[0].parse().unwrap(), parts[1].parse().unwrap(), parts[2].parse().unwrap())
}

#[test]
fn national_id() {
    let d = data();
    let v = &d["national_id"];
    for id in strings(&v["valid"]) {
        assert_eq!(national_id::parse(id).as_deref(), Ok(id));
        assert_eq!(normalize(Kind::NationalId, id).as_deref(), Ok(id));
    }
    for id in strings(&v["invalid"]) {
        assert!(national_id::parse(id).is_err(), "{id:?}");
    }
    for id in strings(&v["valid_after_digit_normalization"]) {
        let ascii = text::normalize_digits(id);
        assert_eq!(national_id::parse(id), Ok(ascii));
    }
}

#[test]
fn legal_id() {
    let d = data();
    let v = &d["legal_id"];
    for id in strings(&v["valid"]) {
        assert_eq!(legal_id::parse(id).as_deref(), Ok(id));
    }
    for id in strings(&v["invalid"]) {
        assert!(legal_id::parse(id).is_err(), "{id:?}");
    }
}

fn service_type_of(code: u64) -> ServiceType {
    ServiceType::from_code(u8::try_from(code).unwrap())
}

#[test]
fn bill_pairs() {
    let d = data();
    let v = &d["bill"];
    let pairs_checked = v["valid_pairs"].as_array().unwrap();
    assert!(!pairs_checked.is_empty());
    for pair in pairs_checked {
        let bill_id = pair["bill_id"].as_str().unwrap();
        let payment_id = pair["payment_id"].as_str().unwrap();
        let decoded = bill::decode(bill_id, payment_id).unwrap_or_else(|e| panic!("{bill_id} {payment_id}: {e}"));
        assert_eq!(decoded.bill_id, bill_id);
        assert_eq!(decoded.payment_id, payment_id);
        assert_eq!(decoded.amount_rial, pair["amount_rial"].as_u64().unwrap(), "{bill_id}");
        let service = service_type_of(pair["service_type"].as_u64().unwrap());
        assert_eq!(decoded.service_type, service, "{bill_id}");
        assert_eq!(decoded.service_type.code(), service.code());

        assert_eq!(bill::parse_bill_id(bill_id).as_deref(), Ok(bill_id));
        assert_eq!(bill::parse_payment_id(payment_id).as_deref(), Ok(payment_id));

        // Issuing the same bill reproduces the printed pair.
        let file_and_company = &bill_id[..bill_id.len() - 2];
        let issued =
            bill::make(file_and_company, service.code(), decoded.amount_rial, decoded.year_digit, decoded.period);
        assert_eq!(issued, decoded);
    }
    for id in strings(&v["invalid_bill_ids"]) {
        assert!(bill::parse_bill_id(id).is_err(), "{id}");
    }
    for (bill_id, payment_id) in pairs(&v["invalid_pairs"]) {
        let err = bill::decode(bill_id, payment_id).expect_err(payment_id);
        // The bill IDs of these pairs are valid: the fault is in the payment ID or the tie.
        assert!(matches!(err, BillError::PaymentId(_) | BillError::Mismatch(_)), "{bill_id} {payment_id}: {err:?}");
    }
}

#[test]
fn bill_barcodes() {
    let d = data();
    for barcode in strings(&d["bill"]["valid_barcodes"]) {
        let decoded = bill::from_barcode(barcode).unwrap_or_else(|e| panic!("{barcode}: {e}"));
        let (bill_part, payment_part) = barcode.split_at(13);
        assert_eq!(decoded.bill_id, bill_part.trim_start_matches('0'));
        assert_eq!(decoded.payment_id, payment_part.trim_start_matches('0'));
        assert_eq!(bill::decode(bill_part, payment_part), Ok(decoded));
    }
}

#[test]
fn bill_service_types() {
    let d = data();
    let names = d["bill"]["service_types"].as_object().unwrap();
    for (code, name) in names {
        let service = ServiceType::from_code(code.parse().unwrap());
        let name = name.as_str().unwrap();
        if matches!(code.as_str(), "7" | "8") {
            assert_eq!(service, ServiceType::Other(code.parse().unwrap()));
        } else {
            assert_eq!(service.en(), name, "{code}");
        }
    }
}

#[test]
fn sheba() {
    let d = data();
    let v = &d["sheba"];
    for iban in strings(&v["valid"]) {
        assert_eq!(sheba::parse(iban).as_deref(), Ok(iban));
        assert_eq!(sheba::bank_code(iban), &iban[4..7]);
    }
    for iban in strings(&v["invalid"]) {
        assert!(sheba::parse(iban).is_err(), "{iban}");
    }
    for typed in strings(&v["valid_after_normalization"]) {
        let expected: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        assert_eq!(sheba::parse(typed), Ok(expected));
    }
    assert_eq!(sheba::bank_code("IR820540102680020817909002"), "054");
    assert_eq!(sheba::bank_code("IR550570022080013447370101"), "057");
}

#[test]
fn postal_code() {
    let d = data();
    let v = &d["postal_code"];
    for code in strings(&v["valid"]) {
        assert_eq!(postal_code::parse(code).as_deref(), Ok(code));
    }
    for code in strings(&v["invalid"]) {
        assert!(postal_code::parse(code).is_err(), "{code}");
    }
}

#[test]
fn mobile() {
    let d = data();
    let v = &d["mobile"];
    for (typed, stored) in pairs(&v["normalizes_to"]) {
        assert_eq!(mobile::parse(typed).as_deref(), Ok(stored), "{typed}");
    }
    for typed in strings(&v["invalid"]) {
        assert!(mobile::parse(typed).is_err(), "{typed}");
    }
}

#[test]
fn text_digits_and_letters() {
    let d = data();
    let v = &d["text"];
    for (typed, ascii) in pairs(&v["digits"]) {
        assert_eq!(text::normalize_digits(typed), ascii);
        assert_eq!(text::compact_digits(typed), ascii);
    }
    for (typed, canonical) in pairs(&v["letters"]) {
        assert_eq!(text::canonical(typed), canonical);
        assert_eq!(text::search_key(typed), text::search_key(canonical));
    }
}

#[test]
fn jalali_to_gregorian_both_ways() {
    let d = data();
    for (jalali, gregorian) in pairs(&d["jalali"]["to_gregorian"]) {
        let j = jalali::parse(jalali).unwrap_or_else(|e| panic!("{jalali}: {e}"));
        assert_eq!((j.year, j.month, j.day), ymd(jalali));
        let (y, m, day) = ymd(gregorian);
        assert_eq!(j.to_gregorian(), (y, m, day), "{jalali}");
        assert_eq!(JalaliDate::from_gregorian(y, m, day), Some(j), "{gregorian}");
    }
}

#[test]
fn jalali_invalid_dates() {
    let d = data();
    for date in strings(&d["jalali"]["invalid"]) {
        assert!(jalali::parse(date).is_err(), "{date}");
        let (y, m, day) = ymd(date);
        assert_eq!(JalaliDate::new(y, m, day), None, "{date}");
    }
}

#[test]
fn jalali_leap_years_1370_to_1419_exactly() {
    let d = data();
    let expected: Vec<i32> = d["jalali"]["leap_years_1370_1419"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| i32::try_from(y.as_i64().unwrap()).unwrap())
        .collect();
    let actual: Vec<i32> = (1370..=1419).filter(|&y| JalaliDate::is_leap_year(y)).collect();
    assert_eq!(actual, expected);
    for year in 1370..=1419 {
        let esfand = JalaliDate::days_in_month(year, 12);
        assert_eq!(esfand == 30, expected.contains(&year), "{year}");
    }
}
