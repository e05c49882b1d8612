//! Utility and dues bills (قبض): the bill ID (شناسه قبض) and payment ID (شناسه پرداخت)
//! printed on every bill, their check digits, and the 26-digit barcode that joins them.
//!
//! Bill ID = file ID + company code (3 digits) + service type (1) + check digit.
//! Payment ID = amount in thousands of rials + year digit + period (2) + check 1 (over the
//! payment digits before it) + check 2 (over the bill ID followed by the payment ID without
//! its last digit). Both are 6 to 13 digits; leading zeros carry nothing and are dropped.

use crate::Invalid;
use crate::text::compact_digits;
use std::fmt;

/// What a bill is for: the digit before the bill ID's check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    /// 1: water.
    Water,
    /// 2: electricity.
    Electricity,
    /// 3: gas.
    Gas,
    /// 4: landline phone.
    Landline,
    /// 5: mobile phone.
    Mobile,
    /// 6: municipal dues (renewal dues, business dues).
    Municipal,
    /// 9: traffic fines.
    TrafficFines,
    /// Any other digit; sources disagree on what 7 and 8 mean.
    Other(u8),
}

impl ServiceType {
    /// The service type of a digit.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Water,
            2 => Self::Electricity,
            3 => Self::Gas,
            4 => Self::Landline,
            5 => Self::Mobile,
            6 => Self::Municipal,
            9 => Self::TrafficFines,
            other => Self::Other(other),
        }
    }

    /// The digit in the bill ID.
    pub fn code(self) -> u8 {
        match self {
            Self::Water => 1,
            Self::Electricity => 2,
            Self::Gas => 3,
            Self::Landline => 4,
            Self::Mobile => 5,
            Self::Municipal => 6,
            Self::TrafficFines => 9,
            Self::Other(code) => code,
        }
    }

    /// Persian name, for citizens.
    pub fn fa(self) -> &'static str {
        match self {
            Self::Water => "آب",
            Self::Electricity => "برق",
            Self::Gas => "گاز",
            Self::Landline => "تلفن ثابت",
            Self::Mobile => "تلفن همراه",
            Self::Municipal => "عوارض شهرداری",
            Self::TrafficFines => "جریمه رانندگی",
            Self::Other(_) => "سایر",
        }
    }

    /// English name.
    pub fn en(self) -> &'static str {
        match self {
            Self::Water => "water",
            Self::Electricity => "electricity",
            Self::Gas => "gas",
            Self::Landline => "landline",
            Self::Mobile => "mobile",
            Self::Municipal => "municipal dues",
            Self::TrafficFines => "traffic fines",
            Self::Other(_) => "other",
        }
    }
}

/// A bill decoded from a valid bill ID and payment ID pair: what the IDs say (amount,
/// service, company, period). Not the payable bill an adapter hands the host, which is the
/// contract's `bill` record (`panjereh_plugin_sdk::types::Bill`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBill {
    /// The bill ID, without leading zeros.
    pub bill_id: String,
    /// The payment ID, without leading zeros.
    pub payment_id: String,
    /// Amount to pay, in rials (always a multiple of 1000).
    pub amount_rial: u64,
    /// What the bill is for.
    pub service_type: ServiceType,
    /// The three-digit company code.
    pub company_code: String,
    /// The file (subscription) ID: the bill ID's leading digits.
    pub file_id: String,
    /// Last digit of the Jalali year the bill was issued in.
    pub year_digit: u8,
    /// The billing period within that year, 0..=99.
    pub period: u8,
}

/// Which field a bill problem belongs to, so a form can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillError {
    /// The bill ID (or, for a barcode, its shape) is wrong.
    BillId(Invalid),
    /// The payment ID is wrong on its own.
    PaymentId(Invalid),
    /// Each ID is fine but they do not belong together (check 2 fails).
    Mismatch(Invalid),
}

impl BillError {
    /// The reason, whichever field it belongs to.
    pub fn invalid(&self) -> &Invalid {
        match self {
            Self::BillId(e) | Self::PaymentId(e) | Self::Mismatch(e) => e,
        }
    }
}

impl fmt::Display for BillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.invalid().fmt(f)
    }
}

impl std::error::Error for BillError {}

impl From<BillError> for Invalid {
    fn from(e: BillError) -> Self {
        match e {
            BillError::BillId(e) | BillError::PaymentId(e) | BillError::Mismatch(e) => e,
        }
    }
}

const MIN_LEN: usize = 6;
const MAX_LEN: usize = 13;
/// A barcode is both IDs left-padded with zeros to [`MAX_LEN`].
const BARCODE_LEN: usize = 2 * MAX_LEN;

/// The check digit of a string of ASCII digits: weights 2..7 repeating from the rightmost
/// digit, `r = sum % 11`, digit = 0 if `r < 2` else `11 - r`. Other characters are skipped.
pub fn check_digit(digits: &str) -> u8 {
    let sum: u64 = digits
        .bytes()
        .rev()
        .filter(u8::is_ascii_digit)
        .zip((2..=7).cycle())
        .map(|(b, w)| u64::from(b - b'0') * w)
        .sum();
    match (sum % 11) as u8 {
        r if r < 2 => 0,
        r => 11 - r,
    }
}

/// Validates a bill ID as typed and returns its digits without leading zeros.
pub fn parse_bill_id(input: &str) -> Result<String, Invalid> {
    let id = digits_of("شناسه قبض", "bill ID", input)?;
    if last_digit(&id) != check_digit(&id[..id.len() - 1]) {
        return Err(Invalid::new("رقم کنترل شناسه قبض درست نیست", "bill ID check digit is wrong"));
    }
    Ok(id)
}

/// Validates a payment ID as typed, with its own first check digit only, and returns its
/// digits without leading zeros. Whether it belongs to a bill ID is [`decode`]'s question.
pub fn parse_payment_id(input: &str) -> Result<String, Invalid> {
    let id = digits_of("شناسه پرداخت", "payment ID", input)?;
    let check1_at = id.len() - 2;
    if id.as_bytes()[check1_at] - b'0' != check_digit(&id[..check1_at]) {
        return Err(Invalid::new("رقم کنترل شناسه پرداخت درست نیست", "payment ID check digit is wrong"));
    }
    Ok(id)
}

/// Checks a bill ID and payment ID together, including the payment ID's second check digit
/// that ties it to the bill, and reads what they encode.
pub fn decode(bill_id: &str, payment_id: &str) -> Result<DecodedBill, BillError> {
    let bill_id = parse_bill_id(bill_id).map_err(BillError::BillId)?;
    let payment_id = parse_payment_id(payment_id).map_err(BillError::PaymentId)?;
    let joined = format!("{bill_id}{}", &payment_id[..payment_id.len() - 1]);
    if last_digit(&payment_id) != check_digit(&joined) {
        return Err(BillError::Mismatch(Invalid::new(
            "شناسه پرداخت با شناسه قبض جور نیست",
            "payment ID does not belong to this bill ID",
        )));
    }
    Ok(read(bill_id, payment_id))
}

/// Decodes the 26-digit barcode printed on bills: the bill ID then the payment ID, each
/// left-padded with zeros to 13 digits. A barcode of the wrong shape is a
/// [`BillError::BillId`].
pub fn from_barcode(barcode: &str) -> Result<DecodedBill, BillError> {
    let code = compact_digits(barcode);
    if code.len() != BARCODE_LEN || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BillError::BillId(Invalid::new("بارکد قبض باید ۲۶ رقم باشد", "bill barcode must have 26 digits")));
    }
    let (bill_id, payment_id) = code.split_at(MAX_LEN);
    decode(bill_id, payment_id)
}

/// Issues a payable bill: builds a bill ID and payment ID pair that [`decode`] accepts.
///
/// - `file_and_company`: the file ID followed by the three-digit company code. Non-digits
///   and leading zeros are dropped; at most the last 11 digits are used, and a missing file
///   ID becomes `1` (so `"57"` is file 1, company 057).
/// - `service_type`: the last decimal digit is used.
/// - `amount_rial`: encoded in thousands of rials, so it must be a multiple of 1000; the
///   remainder is dropped, amounts under 1000 rials become 1000 and amounts above
///   99,999,999,000 rials are capped there. [`DecodedBill::amount_rial`] is what was encoded.
/// - `year_digit`: the last decimal digit is used; `period`: the last two.
pub fn make(file_and_company: &str, service_type: u8, amount_rial: u64, year_digit: u8, period: u8) -> DecodedBill {
    let digits: String = compact_digits(file_and_company).chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    let keep_from = digits.len().saturating_sub(MAX_LEN - 2);
    let digits = &digits[keep_from..];
    let file_and_company = if digits.len() < 4 { format!("1{digits:0>3}") } else { digits.to_owned() };

    let mut bill_id = format!("{file_and_company}{}", service_type % 10);
    bill_id.push(char::from(b'0' + check_digit(&bill_id)));

    let thousands = (amount_rial / 1000).clamp(1, 99_999_999);
    let mut payment_id = format!("{thousands}{}{:02}", year_digit % 10, period % 100);
    payment_id.push(char::from(b'0' + check_digit(&payment_id)));
    let check2 = check_digit(&format!("{bill_id}{payment_id}"));
    payment_id.push(char::from(b'0' + check2));

    read(bill_id, payment_id)
}

/// Cuts a valid pair into its fields. Both IDs are at least [`MIN_LEN`] ASCII digits.
fn read(bill_id: String, payment_id: String) -> DecodedBill {
    let b = bill_id.len();
    let p = payment_id.len();
    let digit = |s: &str, i: usize| s.as_bytes().get(i).map_or(0, |d| d - b'0');
    let thousands: u64 = payment_id[..p - 5].parse().unwrap_or(0);
    DecodedBill {
        amount_rial: thousands * 1000,
        service_type: ServiceType::from_code(digit(&bill_id, b - 2)),
        company_code: bill_id[b - 5..b - 2].to_owned(),
        file_id: bill_id[..b - 5].to_owned(),
        year_digit: digit(&payment_id, p - 5),
        period: digit(&payment_id, p - 4) * 10 + digit(&payment_id, p - 3),
        bill_id,
        payment_id,
    }
}

/// The ASCII digits of an ID as typed, leading zeros dropped, with the length checked.
fn digits_of(fa: &str, en: &str, input: &str) -> Result<String, Invalid> {
    let compact = compact_digits(input);
    if !compact.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new(format!("{fa} فقط باید رقم داشته باشد"), format!("{en} must contain only digits")));
    }
    let id = compact.trim_start_matches('0');
    if !(MIN_LEN..=MAX_LEN).contains(&id.len()) {
        return Err(Invalid::new(format!("{fa} باید بین ۶ تا ۱۳ رقم باشد"), format!("{en} must have 6 to 13 digits")));
    }
    Ok(id.to_owned())
}

fn last_digit(id: &str) -> u8 {
    id.as_bytes().last().map_or(0, |d| d - b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::Rng;

    #[test]
    fn check_digit_follows_the_standard() {
        // 774831780014 | 2
        assert_eq!(check_digit("774831780014"), 2);
        assert_eq!(check_digit("17701"), 6);
        assert_eq!(check_digit(""), 0);
        assert_eq!(check_digit("۱x"), 0);
    }

    #[test]
    fn decodes_a_municipal_dues_bill() {
        let bill = decode("3100254100663", "420040142").unwrap();
        assert_eq!(bill.amount_rial, 4_200_000);
        assert_eq!(bill.service_type, ServiceType::Municipal);
        assert_eq!(bill.service_type.fa(), "عوارض شهرداری");
        assert_eq!(bill.file_id, "31002541");
        assert_eq!(bill.company_code, "006");
        assert_eq!(bill.year_digit, 4);
        assert_eq!(bill.period, 1);
    }

    #[test]
    fn accepts_typed_forms_and_drops_leading_zeros() {
        assert_eq!(parse_bill_id("۷۷۴۸ ۳۱۷۸ ۰۰۱۴۲").unwrap(), "7748317800142");
        assert_eq!(parse_payment_id("0000001770160").unwrap(), "1770160");
        assert_eq!(parse_bill_id("0123456711817").unwrap(), "123456711817");
    }

    #[test]
    fn each_field_gets_its_own_error() {
        assert_eq!(parse_bill_id("12345").unwrap_err().en, "bill ID must have 6 to 13 digits");
        assert_eq!(parse_bill_id("12a45678").unwrap_err().en, "bill ID must contain only digits");
        assert_eq!(parse_bill_id("7748317800143").unwrap_err().en, "bill ID check digit is wrong");
        assert_eq!(parse_payment_id("1770150").unwrap_err().en, "payment ID check digit is wrong");
        assert!(matches!(decode("7748317800143", "1770160"), Err(BillError::BillId(_))));
        assert!(matches!(decode("7748317800142", "1770150"), Err(BillError::PaymentId(_))));
        let mismatch = decode("7748317800142", "1770161").unwrap_err();
        assert!(matches!(mismatch, BillError::Mismatch(_)));
        assert_eq!(mismatch.to_string(), "payment ID does not belong to this bill ID");
        assert!(matches!(from_barcode("1234"), Err(BillError::BillId(_))));
    }

    #[test]
    fn service_type_codes_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(ServiceType::from_code(code).code(), code);
        }
        assert_eq!(ServiceType::from_code(9), ServiceType::TrafficFines);
        assert_eq!(ServiceType::Other(7).en(), "other");
    }

    #[test]
    fn make_handles_odd_arguments() {
        let b = make("57", 16, 999, 12, 123);
        assert_eq!(b.file_id, "1");
        assert_eq!(b.company_code, "057");
        assert_eq!(b.service_type, ServiceType::Municipal);
        assert_eq!(b.amount_rial, 1000);
        assert_eq!(b.year_digit, 2);
        assert_eq!(b.period, 23);
        assert_eq!(decode(&b.bill_id, &b.payment_id), Ok(b));

        let huge = make("123456789012345", 1, u64::MAX, 0, 0);
        assert_eq!(huge.bill_id.len(), 13);
        assert_eq!(huge.payment_id.len(), 13);
        assert_eq!(huge.amount_rial, 99_999_999_000);
        assert_eq!(decode(&huge.bill_id, &huge.payment_id), Ok(huge));

        let empty = make("", 0, 0, 0, 0);
        assert_eq!(decode(&empty.bill_id, &empty.payment_id), Ok(empty));
    }

    #[test]
    fn made_bills_always_decode_to_what_was_asked() {
        let mut rng = Rng::new(5);
        for _ in 0..10_000 {
            let file_len = 1 + rng.below(8) as usize;
            let file = format!("{}{}", 1 + rng.below(9), rng.digits(file_len - 1));
            let company = rng.digits(3);
            let service = rng.below(10) as u8;
            let amount = (1 + rng.below(99_999_999)) * 1000;
            let year = rng.below(10) as u8;
            let period = rng.below(100) as u8;

            let bill = make(&format!("{file}{company}"), service, amount, year, period);
            assert_eq!(bill.file_id, file);
            assert_eq!(bill.company_code, company);
            assert_eq!(bill.service_type.code(), service);
            assert_eq!(bill.amount_rial, amount);
            assert_eq!((bill.year_digit, bill.period), (year, period));
            assert_eq!(decode(&bill.bill_id, &bill.payment_id).as_ref(), Ok(&bill));

            let barcode = format!("{:0>13}{:0>13}", bill.bill_id, bill.payment_id);
            assert_eq!(from_barcode(&barcode).as_ref(), Ok(&bill));

            // Any other last digit of the payment ID breaks the tie to the bill.
            let (head, last) = bill.payment_id.split_at(bill.payment_id.len() - 1);
            let other = (last.as_bytes()[0] - b'0' + 1 + rng.below(9) as u8) % 10;
            let forged = format!("{head}{other}");
            assert!(matches!(decode(&bill.bill_id, &forged), Err(BillError::Mismatch(_))));
        }
    }
}
