//! The latest bill of a water, electricity or gas subscription (by its bill ID) or of a
//! landline (by its number).

use panjereh_plugin_sdk::clock;
use panjereh_plugin_sdk::formats::bill::{self, ServiceType};
use panjereh_plugin_sdk::formats::group_thousands;
use panjereh_plugin_sdk::types::*;

fn t(fa: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(fa, en)
}

/// One kind of utility: service id, bill service type, rial range, months per billing
/// period.
struct Utility {
    service: &'static str,
    kind: ServiceType,
    min_rial: u64,
    max_rial: u64,
    months_per_period: u8,
}

const KINDS: [Utility; 4] = [
    Utility {
        service: "water-bill",
        kind: ServiceType::Water,
        min_rial: 80_000,
        max_rial: 900_000,
        months_per_period: 2,
    },
    Utility {
        service: "electricity-bill",
        kind: ServiceType::Electricity,
        min_rial: 150_000,
        max_rial: 3_000_000,
        months_per_period: 2,
    },
    Utility {
        service: "gas-bill",
        kind: ServiceType::Gas,
        min_rial: 100_000,
        max_rial: 5_000_000,
        months_per_period: 2,
    },
    Utility {
        service: "phone-bill",
        kind: ServiceType::Landline,
        min_rial: 50_000,
        max_rial: 600_000,
        months_per_period: 1,
    },
];

fn company(kind: ServiceType) -> Text {
    match kind {
        ServiceType::Water => t("شرکت آب و فاضلاب", "Water and wastewater company"),
        ServiceType::Electricity => t("شرکت توزیع نیروی برق", "Electricity distribution company"),
        ServiceType::Gas => t("شرکت گاز استان", "Provincial gas company"),
        _ => t("شرکت مخابرات ایران", "Telecommunication Company of Iran"),
    }
}

/// The four services.
pub fn services(category: Category) -> Vec<Service> {
    KINDS
        .iter()
        .map(|u| {
            let (fa, en) = (u.kind.fa(), u.kind.en());
            let service = Service::inquiry(
                u.service,
                t(format!("استعلام قبض {fa}"), format!("Latest {en} bill")),
                t(
                    format!("مبلغ و مهلت پرداخت آخرین قبض {fa} را ببینید و آن را بپردازید."),
                    format!("See the amount and due date of your latest {en} bill, and pay it."),
                ),
                category.clone(),
            )
            // Companies have utility bills too.
            .for_everyone();
            if u.kind == ServiceType::Landline {
                service.field(
                    Field::new(
                        "phone",
                        t("شماره تلفن ثابت با پیش‌شماره", "Landline number with area code"),
                        FieldType::Text,
                    )
                    .help(t("مثل ۰۳۱۳۲۲۲۱۲۳۴", "like 03132221234")),
                )
            } else {
                service.field(
                    Field::new("bill-id", t(format!("شناسه قبض {fa}"), format!("{en} bill ID")), FieldType::BillId)
                        .help(t("شناسه قبض روی قبض‌های قبلی ثابت است", "the bill ID is the same on every bill")),
                )
            }
        })
        .collect()
}

/// FNV-1a: a stable stand-in for the utility company's billing database.
fn digest(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Answers one of the four services.
pub fn inquire(ctx: &CallContext, input: &[Value]) -> Result<Document, AdapterError> {
    let Some(utility) = KINDS.iter().find(|u| u.service == ctx.service) else {
        return Err(AdapterError::NotFound(t("خدمت یافت نشد", "no such service")));
    };
    // The subscription: the bill ID without its service type and check digit, or the
    // phone number with a company code for the area.
    let (subscription, shown) = if utility.kind == ServiceType::Landline {
        let phone = input.get_value("phone").unwrap_or_default();
        let digits: String = phone.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 11
            || !digits.starts_with('0')
            || digits.starts_with("09")
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AdapterError::field(
                "phone",
                t(
                    "شماره تلفن ثابت باید ۱۱ رقم با پیش‌شماره باشد، مثل ۰۳۱۳۲۲۲۱۲۳۴",
                    "a landline number has 11 digits with its area code, like 03132221234",
                ),
            ));
        }
        (digits[1..].to_owned(), digits)
    } else {
        let bill_id = input.get_value("bill-id").unwrap_or_default();
        let kind = bill::parse_bill_id(&bill_id)
            .ok()
            .and_then(|id| id.as_bytes().get(id.len().wrapping_sub(2)).map(|d| ServiceType::from_code(d - b'0')));
        if kind != Some(utility.kind) {
            return Err(AdapterError::field(
                "bill-id",
                t(
                    format!("این شناسه، شناسه قبض {} نیست", utility.kind.fa()),
                    format!("this is not a {} bill ID", utility.kind.en()),
                ),
            ));
        }
        (bill_id[..bill_id.len() - 2].to_owned(), bill_id)
    };

    let today = clock::today();
    let period = (today.month - 1) / utility.months_per_period + 1;
    let h = digest(&format!("{subscription}/{}/{period}", today.year));
    let span = (utility.max_rial - utility.min_rial) / 1000;
    let amount = utility.min_rial + (h % span) * 1000;
    let issued = bill::make(&subscription, utility.kind.code(), amount, (today.year % 10) as u8, period);
    let (fa, en) = (utility.kind.fa(), utility.kind.en());
    let company = company(utility.kind);
    Ok(Document::new(t(format!("قبض {fa}"), format!("Latest {en} bill")))
        .item(t("اشتراک", "Subscription"), shown)
        .item(t("شرکت", "Company"), if ctx.locale == "en" { company.en } else { company.fa })
        .item(t("دوره", "Period"), format!("{}/{period:02}", today.year))
        .item(t("مبلغ (ریال)", "Amount (rials)"), group_thousands(issued.amount_rial))
        .bill(Bill {
            bill_id: issued.bill_id,
            payment_id: issued.payment_id,
            amount_rial: issued.amount_rial,
            title: t(format!("قبض {fa} دوره {period}"), format!("{en} bill, period {period}")),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_plugin_sdk::testing::{context, input};

    #[test]
    fn each_kind_issues_a_valid_bill_of_its_type_for_the_same_subscription() {
        for (service, field, value, kind) in [
            ("water-bill", "bill-id", "2050327604613", ServiceType::Water),
            ("electricity-bill", "bill-id", "9174639504124", ServiceType::Electricity),
            ("gas-bill", "bill-id", "445566730130", ServiceType::Gas),
            ("phone-bill", "phone", "03132221234", ServiceType::Landline),
        ] {
            let doc = inquire(&context(service), &input(&[(field, value)])).unwrap();
            let b = &doc.bills[0];
            let decoded = bill::decode(&b.bill_id, &b.payment_id).unwrap();
            assert_eq!(decoded.service_type, kind, "{service}");
            if field == "bill-id" {
                assert_eq!(b.bill_id, value, "the subscription keeps its bill ID");
            }
            assert_eq!(doc, inquire(&context(service), &input(&[(field, value)])).unwrap(), "stable");
        }
    }

    #[test]
    fn a_bill_id_of_another_kind_is_refused() {
        let err = inquire(&context("gas-bill"), &input(&[("bill-id", "2050327604613")])).unwrap_err();
        assert!(matches!(err, AdapterError::InvalidInput(e) if e[0].field == "bill-id"));
        let err = inquire(&context("phone-bill"), &input(&[("phone", "09121234567")])).unwrap_err();
        assert!(matches!(err, AdapterError::InvalidInput(e) if e[0].field == "phone"));
    }
}
