//! Direct inquiries. A real desk reads these from the municipality's property and revenue
//! systems; this sample derives every answer from the input alone (a hash of the postal
//! code, plate or company ID), so the same question always gets the same answer and tests
//! can assert it.

use panjereh_plugin_sdk::clock;
use panjereh_plugin_sdk::formats::bill;
use panjereh_plugin_sdk::formats::group_thousands;
use panjereh_plugin_sdk::formats::plate;
use panjereh_plugin_sdk::types::*;

use crate::catalogue::SITES;

fn t(fa: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(fa, en)
}

/// FNV-1a: a stable stand-in for "look the record up in the municipality's database".
fn digest(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Company codes of the municipality's bills (the three digits before the service type).
const RENEWAL_COMPANY: &str = "061";
const TRAFFIC_ZONE_COMPANY: &str = "062";
const BUSINESS_COMPANY: &str = "063";
/// Bill service type of municipal dues.
const MUNICIPAL: u8 = 6;

/// A property's planning file, as kept by the district's urban-planning office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Eight digits: district (2), block (3), parcel (3).
    pub file_number: String,
    /// One of the city's 15 districts.
    pub district: u8,
    pub registration_plate: String,
    pub land_area_m2: u64,
    pub built_area_m2: u64,
    pub usage: (&'static str, &'static str),
    pub permit_year: i32,
    pub completion_certificate: bool,
    /// Article 100 commission rulings: date, violation (fa, en), fine in rials.
    pub rulings: Vec<(String, (&'static str, &'static str), u64)>,
}

impl Property {
    /// The file number as printed: `05-123-067`.
    pub fn display_number(&self) -> String {
        let n = &self.file_number;
        format!("{}-{}-{}", &n[..2], &n[2..5], &n[5..])
    }
}

const USAGES: [(&str, &str); 4] =
    [("مسکونی", "residential"), ("تجاری", "commercial"), ("مسکونی-تجاری", "mixed"), ("اداری", "office")];

const VIOLATIONS: [(&str, &str); 4] = [
    ("اضافه بنا مازاد بر پروانه", "floor area beyond the permit"),
    ("کسری پارکینگ", "parking shortfall"),
    ("تبدیل پارکینگ به انباری", "parking converted to storage"),
    ("تغییر کاربری بدون مجوز", "change of use without a permit"),
];

/// The planning file of the property at `postal_code`. Postal codes of the city of Isfahan
/// start with 81; others belong to another municipality.
pub fn property(postal_code: &str) -> Result<Property, AdapterError> {
    if !postal_code.starts_with("81") {
        return Err(AdapterError::field(
            "postal-code",
            t(
                "این کد پستی در محدوده شهر اصفهان نیست؛ کد پستی‌های شهر اصفهان با ۸۱ شروع می‌شوند",
                "this postal code is not in the city of Isfahan, whose postal codes start with 81",
            ),
        ));
    }
    let h = digest(postal_code);
    let district = 1 + (h % 15) as u8;
    let block = (h >> 8) % 1000;
    let parcel = (h >> 20) % 1000;
    let land_area_m2 = 90 + (h >> 30) % 410;
    let floors = 1 + (h >> 40) % 4;
    let rulings = (0..(h >> 44) % 3)
        .map(|i| {
            let r = h >> (48 + 4 * i);
            let date = format!("{}/{:02}/{:02}", 1396 + r % 8, 1 + (r >> 3) % 12, 1 + (r >> 5) % 28);
            let area = 6 + r % 30;
            (date, VIOLATIONS[(r % 4) as usize], area * 3_500_000)
        })
        .collect();
    Ok(Property {
        file_number: format!("{district:02}{block:03}{parcel:03}"),
        district,
        registration_plate: format!("{}/{}", 100 + (h >> 12) % 9000, 1 + (h >> 24) % 400),
        land_area_m2,
        built_area_m2: land_area_m2 * floors * 7 / 10,
        usage: USAGES[((h >> 36) % 4) as usize],
        permit_year: 1370 + ((h >> 50) % 33) as i32,
        completion_certificate: !(h >> 56).is_multiple_of(4),
        rulings,
    })
}

/// «استعلام پرونده ملک»: the file, its permit, and the Article 100 commission's rulings.
pub fn property_file(postal_code: &str) -> Result<Document, AdapterError> {
    let p = property(postal_code)?;
    let (usage_fa, usage_en) = p.usage;
    let yes_no = |b: bool| if b { t("صادر شده", "issued") } else { t("صادر نشده", "not issued") };
    let completion = yes_no(p.completion_certificate);
    Ok(Document::new(t("پرونده ملک", "Property file"))
        .item(t("شماره پرونده", "File number"), p.display_number())
        .item(t("منطقه شهرداری", "Municipal district"), p.district.to_string())
        .item(t("پلاک ثبتی", "Land registry plate"), p.registration_plate.clone())
        .item(t("مساحت عرصه (متر مربع)", "Land area (m²)"), p.land_area_m2.to_string())
        .item(t("زیربنا (متر مربع)", "Built area (m²)"), p.built_area_m2.to_string())
        .item(t("کاربری", "Use"), format!("{usage_fa} / {usage_en}"))
        .item(t("سال صدور پروانه", "Permit year"), p.permit_year.to_string())
        .item(t("گواهی پایان‌کار", "Completion certificate"), format!("{} / {}", completion.fa, completion.en))
        .table(Table {
            title: t("آرای کمیسیون ماده ۱۰۰", "Article 100 commission rulings"),
            columns: vec![
                t("تاریخ رأی", "Date"),
                t("تخلف", "Violation"),
                t("رأی", "Ruling"),
                t("جریمه (ریال)", "Fine (rials)"),
            ],
            rows: p
                .rulings
                .iter()
                .map(|(date, (fa, en), fine)| {
                    vec![date.clone(), format!("{fa} / {en}"), "جریمه / fine".into(), group_thousands(*fine)]
                })
                .collect(),
        }))
}

/// The renewal dues of a property for the current year, in rials: a rate per square metre
/// of land that rises towards the historic centre, plus a smaller one per built square metre.
pub fn renewal_dues_amount(p: &Property) -> u64 {
    let land_rate = 14_000 - 600 * u64::from(p.district);
    (p.land_area_m2 * land_rate + p.built_area_m2 * 2_500) / 1000 * 1000
}

/// «عوارض نوسازی»: this year's dues as a payable bill (service type 6).
pub fn renewal_dues(postal_code: &str) -> Result<Document, AdapterError> {
    let p = property(postal_code)?;
    let year = clock::today().year;
    let amount = renewal_dues_amount(&p);
    let issued = bill::make(&format!("{}{RENEWAL_COMPANY}", p.file_number), MUNICIPAL, amount, (year % 10) as u8, 1);
    Ok(Document::new(t(format!("عوارض نوسازی سال {year}"), format!("Renewal dues for {year}")))
        .item(t("شماره پرونده", "File number"), p.display_number())
        .item(t("منطقه شهرداری", "Municipal district"), p.district.to_string())
        .item(t("مبلغ (ریال)", "Amount (rials)"), group_thousands(issued.amount_rial))
        .item(t("مهلت پرداخت", "Due by"), format!("{year}/12/29"))
        .bill(Bill {
            bill_id: issued.bill_id,
            payment_id: issued.payment_id,
            amount_rial: issued.amount_rial,
            title: t(format!("عوارض نوسازی {year}"), format!("Renewal dues {year}")),
        }))
}

/// Rials per day of driving into the traffic zone.
const TRAFFIC_ZONE_DAY_RIAL: u64 = 160_000;

/// «عوارض طرح ترافیک»: unpaid days in the central traffic zone, with a bill when any.
pub fn traffic_zone_dues(plate_value: &str) -> Result<Document, AdapterError> {
    let plate = plate::parse(plate_value).map_err(|e| AdapterError::field("plate", t(e.fa, e.en)))?;
    let h = digest(&plate.canonical());
    let days = h % 12;
    let year = clock::today().year;
    let document = Document::new(t("عوارض طرح ترافیک", "Traffic zone charges"))
        .item(t("پلاک", "Plate"), plate.canonical())
        .item(t("روزهای پرداخت‌نشده", "Unpaid days"), days.to_string())
        .item(t("عوارض هر روز (ریال)", "Charge per day (rials)"), group_thousands(TRAFFIC_ZONE_DAY_RIAL));
    if days == 0 {
        return Ok(document.item(t("بدهی", "Debt"), "0"));
    }
    let file = format!("{}{}{}{TRAFFIC_ZONE_COMPANY}", plate.left, plate.middle, plate.province);
    let issued = bill::make(&file, MUNICIPAL, days * TRAFFIC_ZONE_DAY_RIAL, (year % 10) as u8, 1);
    Ok(document.item(t("بدهی (ریال)", "Debt (rials)"), group_thousands(issued.amount_rial)).bill(Bill {
        bill_id: issued.bill_id,
        payment_id: issued.payment_id,
        amount_rial: issued.amount_rial,
        title: t("عوارض طرح ترافیک", "Traffic zone charges"),
    }))
}

/// «ساعات بازدید بناهای تاریخی»: published opening hours and ticket prices.
pub fn historic_site(site: &str) -> Result<Document, AdapterError> {
    let Some((_, fa, en)) = SITES.iter().find(|(id, _, _)| *id == site) else {
        return Err(AdapterError::field("site", t("این بنا در فهرست نیست", "no such site")));
    };
    // (hours fa, hours en, Iranian visitors, foreign visitors) in rials.
    let (hours_fa, hours_en, iranian, foreign) = match site {
        "naqsh-e-jahan" => ("همه ساعات شبانه‌روز", "open day and night", 0, 0),
        "chehel-sotoun" | "hasht-behesht" => ("۹ تا ۱۸، هر روز", "9:00-18:00 daily", 300_000, 5_000_000),
        "ali-qapu" => ("۹ تا ۱۷، هر روز", "9:00-17:00 daily", 300_000, 5_000_000),
        _ => ("۸ تا ۱۷، جمعه‌ها پس از نماز جمعه", "8:00-17:00, Fridays after noon prayer", 200_000, 3_000_000),
    };
    let price = |rial: u64| if rial == 0 { "رایگان / free".to_owned() } else { group_thousands(rial) };
    Ok(Document::new(t(*fa, *en))
        .item(t("ساعات بازدید", "Opening hours"), format!("{hours_fa} / {hours_en}"))
        .item(t("بلیت بازدیدکنندگان ایرانی (ریال)", "Ticket, Iranian visitors (rials)"), price(iranian))
        .item(t("بلیت بازدیدکنندگان خارجی (ریال)", "Ticket, foreign visitors (rials)"), price(foreign))
        .item(t("تعطیلی", "Closed"), "۱ فروردین، ۲۸ صفر / 1 Farvardin, 28 Safar"))
}

const CONTRACTOR_FIELDS: [(&str, &str); 4] = [
    ("ابنیه", "Buildings"),
    ("راه و ترابری", "Roads and transport"),
    ("تأسیسات و تجهیزات", "Mechanical and electrical"),
    ("آب", "Water"),
];

/// «استعلام صلاحیت پیمانکاران»: field, grade (1 is the highest) and validity.
pub fn contractor_rank(legal_id: &str) -> Result<Document, AdapterError> {
    let h = digest(legal_id);
    let (field_fa, field_en) = CONTRACTOR_FIELDS[(h % 4) as usize];
    let grade = 1 + (h >> 4) % 5;
    let valid_until = format!("{}/{:02}/{:02}", 1403 + (h >> 8) % 4, 1 + (h >> 12) % 12, 1 + (h >> 16) % 28);
    let valid = valid_until > clock::today().to_string();
    let state = if valid { t("معتبر", "valid") } else { t("منقضی", "expired") };
    Ok(Document::new(t("صلاحیت پیمانکار", "Contractor qualification"))
        .item(t("شناسه ملی", "National ID"), legal_id)
        .item(t("رشته", "Field"), format!("{field_fa} / {field_en}"))
        .item(t("پایه", "Grade"), grade.to_string())
        .item(t("اعتبار تا", "Valid until"), valid_until)
        .item(t("وضعیت", "Status"), format!("{} / {}", state.fa, state.en)))
}

/// «عوارض کسب و پیشه»: yearly dues by trade and district, as a payable bill.
pub fn business_dues(postal_code: &str, guild: &str) -> Result<Document, AdapterError> {
    let p = property(postal_code)?;
    let (base, guild_fa, guild_en) = match guild {
        "retail" => (18_000_000, "فروشگاه و خرده‌فروشی", "shop and retail"),
        "food" => (24_000_000, "اغذیه و رستوران", "food and restaurants"),
        "services" => (15_000_000, "خدمات", "services"),
        "workshop" => (30_000_000, "کارگاه تولیدی", "workshop"),
        _ => return Err(AdapterError::field("guild", t("رسته صنفی نامعتبر است", "unknown trade"))),
    };
    // Central districts (lower numbers) pay more.
    let amount = base + base * u64::from(16 - p.district) / 30;
    let year = clock::today().year;
    let file = format!("{}{BUSINESS_COMPANY}", p.file_number);
    let issued = bill::make(&file, MUNICIPAL, amount, (year % 10) as u8, 1);
    Ok(Document::new(t(format!("عوارض کسب و پیشه سال {year}"), format!("Business dues for {year}")))
        .item(t("رسته", "Trade"), format!("{guild_fa} / {guild_en}"))
        .item(t("منطقه شهرداری", "Municipal district"), p.district.to_string())
        .item(t("مبلغ (ریال)", "Amount (rials)"), group_thousands(issued.amount_rial))
        .bill(Bill {
            bill_id: issued.bill_id,
            payment_id: issued.payment_id,
            amount_rial: issued.amount_rial,
            title: t(format!("عوارض کسب و پیشه {year}"), format!("Business dues {year}")),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_plugin_sdk::formats::bill::{ServiceType, decode};

    const ISFAHAN: &str = "8134783111";

    #[test]
    fn property_files_are_stable_and_only_in_isfahan() {
        let a = property(ISFAHAN).unwrap();
        assert_eq!(a, property(ISFAHAN).unwrap());
        assert!((1..=15).contains(&a.district));
        assert_eq!(a.file_number.len(), 8);
        assert!(a.file_number.starts_with(&format!("{:02}", a.district)));
        assert_ne!(a, property("8174635981").unwrap());
        let AdapterError::InvalidInput(errors) = property("1193653471").unwrap_err() else { panic!() };
        assert_eq!(errors[0].field, "postal-code");
    }

    #[test]
    fn renewal_dues_are_a_valid_municipal_bill_for_this_year() {
        let document = renewal_dues(ISFAHAN).unwrap();
        let b = &document.bills[0];
        let decoded = decode(&b.bill_id, &b.payment_id).unwrap();
        assert_eq!(decoded.service_type, ServiceType::Municipal);
        assert_eq!(decoded.amount_rial, b.amount_rial);
        assert_eq!(decoded.amount_rial, renewal_dues_amount(&property(ISFAHAN).unwrap()));
        assert_eq!(decoded.year_digit, 4, "the fake clock is in 1404");
        assert_eq!(decoded.company_code, RENEWAL_COMPANY);
        assert_eq!(document.title.en, "Renewal dues for 1404");
    }

    #[test]
    fn traffic_zone_bills_decode_and_bad_plates_are_refused() {
        for plate in ["12ب345-13", "55ج111-23", "10د999-67", "77الف123-11"] {
            let d = traffic_zone_dues(plate).unwrap();
            for b in &d.bills {
                let decoded = decode(&b.bill_id, &b.payment_id).unwrap();
                assert_eq!(decoded.amount_rial % TRAFFIC_ZONE_DAY_RIAL, 0);
            }
        }
        assert!(matches!(traffic_zone_dues("12345"), Err(AdapterError::InvalidInput(_))));
    }

    #[test]
    fn business_dues_depend_on_the_trade() {
        let retail = business_dues(ISFAHAN, "retail").unwrap();
        let workshop = business_dues(ISFAHAN, "workshop").unwrap();
        assert!(workshop.bills[0].amount_rial > retail.bills[0].amount_rial);
        decode(&retail.bills[0].bill_id, &retail.bills[0].payment_id).unwrap();
        assert!(matches!(business_dues(ISFAHAN, "casino"), Err(AdapterError::InvalidInput(_))));
    }

    #[test]
    fn sites_and_contractors() {
        let d = historic_site("chehel-sotoun").unwrap();
        assert_eq!(d.title.en, "Chehel Sotoun Palace");
        assert!(historic_site("eiffel-tower").is_err());
        let c = contractor_rank("10380284790").unwrap();
        assert_eq!(c, contractor_rank("10380284790").unwrap());
        assert_eq!(c.items.len(), 5);
    }
}
