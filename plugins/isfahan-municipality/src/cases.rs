//! Applications: checked, stored as cases in the adapter's kv storage, and moved through
//! their statuses when the municipality's case system calls back.
//!
//! A case lives under `case/<reference>` as JSON with its whole history. The reference is
//! the municipality's own case number (`ISF-BP-1404-3FA2C1`); the host maps it to the
//! citizen's tracking code.
//!
//! A service with a fee (the building permit: 2,500,000 rials) puts it on the receipt as a
//! bill (municipal dues, company [`FEE_COMPANY`]), and `fee/<bill ID>-<payment ID>` names
//! the case it belongs to. Once the host reports the fee paid ([`on_payment`], by the bill or
//! by the case's reference), the case goes to review with a message saying so.
//!
//! The callback body the municipality sends (the host verified its signature already):
//!
//! ```json
//! {"reference": "ISF-BP-1404-3FA2C1", "status": "approved",
//!  "message_fa": "پروانه صادر شد", "message_en": "the permit was issued"}
//! ```

use std::collections::BTreeMap;

use panjereh_plugin_sdk::clock;
use panjereh_plugin_sdk::formats::{bill, group_thousands, jalali};
use panjereh_plugin_sdk::kv::{self, KvError};
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{log, notify};
use serde::{Deserialize, Serialize};

use crate::catalogue::{self, VENUES};

fn t(fa: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(fa, en)
}

/// One application as the municipality keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub reference: String,
    pub service: String,
    /// The applicant's pseudonym, so only they can read the case.
    pub subject: Option<String>,
    /// The applicant's national ID (a company's national legal ID), kept only for services
    /// that need it.
    pub national_id: Option<String>,
    /// Who filed it for the applicant, when someone did (a company's signatory, a parent):
    /// their pseudonym and on what ground.
    #[serde(default)]
    pub filed_by: Option<String>,
    pub fields: BTreeMap<String, String>,
    /// Oldest first; the last event is the current status.
    pub history: Vec<Event>,
    /// The service's fee, when it has one (cases filed before fees were billed have none).
    #[serde(default)]
    pub fee: Option<Fee>,
}

/// An application's fee, billed on its receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    pub bill_id: String,
    pub payment_id: String,
    pub amount_rial: u64,
    /// Whether the host reported it paid.
    pub paid: bool,
}

/// Company code of application fees in the municipality's bill IDs.
pub const FEE_COMPANY: &str = "064";

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// WIT spelling, `in-review`.
    pub status: String,
    pub at_ms: u64,
    pub message_fa: String,
    pub message_en: String,
}

impl Case {
    /// The current status.
    pub fn status(&self) -> Status {
        self.history.last().and_then(|e| Status::parse(&e.status)).unwrap_or(Status::Submitted)
    }

    fn update(&self) -> StatusUpdate {
        let last = self.history.last();
        StatusUpdate::new(
            self.reference.clone(),
            self.status(),
            last.map_or_else(|| t("", ""), |e| t(&e.message_fa, &e.message_en)),
        )
    }

    /// The fee as a bill, while it is unpaid.
    fn unpaid_fee(&self) -> Option<Bill> {
        let fee = self.fee.as_ref().filter(|fee| !fee.paid)?;
        Some(Bill {
            bill_id: fee.bill_id.clone(),
            payment_id: fee.payment_id.clone(),
            amount_rial: fee.amount_rial,
            title: t(format!("هزینه پرونده {}", self.reference), format!("Fee of application {}", self.reference)),
        })
    }
}

/// What a callback says.
#[derive(Debug, Deserialize)]
struct Callback {
    reference: String,
    status: String,
    #[serde(default)]
    message_fa: Option<String>,
    #[serde(default)]
    message_en: Option<String>,
    /// Something to tell the applicant besides the status (a date to come to the office),
    /// sent to their inbox through the host's `notify`.
    #[serde(default)]
    notice_fa: Option<String>,
    #[serde(default)]
    notice_en: Option<String>,
}

/// Whether the municipality may move a case from `from` to `to`. Repeating the current
/// status is allowed, to send a new message.
pub fn can_move(from: Status, to: Status) -> bool {
    use Status::*;
    from == to && !from.is_final()
        || matches!(
            (from, to),
            (Submitted, InReview | ActionRequired | Rejected | Cancelled)
                | (InReview, ActionRequired | Approved | Rejected)
                | (ActionRequired, InReview | Rejected | Cancelled)
                | (Approved, Completed)
        )
}

/// Short codes in case numbers, and the department each service's cases go to.
fn routing(service: &str) -> (&'static str, Text) {
    match service {
        "council-letter" => ("CC", t("دبیرخانه شورای اسلامی شهر", "the city council's secretariat")),
        "building-permit" => ("BP", t("معاونت شهرسازی منطقه", "the district's urban-planning office")),
        "pavement-repair" => ("PR", t("واحد عمران منطقه", "the district's civil works unit")),
        "tree-pruning" => ("TP", t("سازمان پارک‌ها و فضای سبز", "the parks and green space organisation")),
        "venue-booking" => ("VB", t("سازمان فرهنگی، اجتماعی و ورزشی", "the cultural and social organisation")),
        "report-137" => ("137", t("مرکز ارتباط مردم و شهرداری (۱۳۷)", "the 137 citizen contact centre")),
        "suggestion-complaint" => ("SC", t("اداره ارتباطات مردمی", "the public relations office")),
        "contractor-renewal" => ("CR", t("اداره امور پیمانکاران", "the contractors' affairs office")),
        _ => ("OR", t("دبیرخانه شهرداری", "the municipality's secretariat")),
    }
}

fn storage_failed(e: KvError) -> AdapterError {
    match e {
        KvError::QuotaExceeded(_) => AdapterError::Unavailable(t(
            "ثبت درخواست در حال حاضر ممکن نیست؛ بعداً دوباره تلاش کنید",
            "applications cannot be filed right now; try again later",
        )),
        other => AdapterError::Other(format!("case storage failed: {other:?}")),
    }
}

fn key(reference: &str) -> String {
    format!("case/{reference}")
}

fn fee_key(bill_id: &str, payment_id: &str) -> String {
    format!("fee/{bill_id}-{payment_id}")
}

/// The fee bill of a new case: the file ID is drawn from the case number, so every case
/// has its own bill; the check digits are the standard's (`formats::bill`).
fn fee_for(reference: &str, amount_rial: u64, year: i32) -> Fee {
    let file =
        reference.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
            % 10_000_000;
    let made = bill::make(&format!("{file}{FEE_COMPANY}"), 6, amount_rial, (year % 10) as u8, 1);
    Fee { bill_id: made.bill_id, payment_id: made.payment_id, amount_rial: made.amount_rial, paid: false }
}

/// Reads a case.
pub fn load(reference: &str) -> Result<Option<Case>, AdapterError> {
    let Some(bytes) = kv::get(&key(reference)).map_err(storage_failed)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AdapterError::Other(format!("case {reference} is corrupt: {e}")))
}

fn save(case: &Case) -> Result<(), AdapterError> {
    let bytes = serde_json::to_vec(case).map_err(|e| AdapterError::Other(e.to_string()))?;
    kv::set(&key(&case.reference), &bytes).map_err(storage_failed)
}

fn number(input: &[Value], field: &str) -> Result<u64, AdapterError> {
    input
        .get_value(field)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AdapterError::field(field, t("یک عدد مثبت وارد کنید", "enter a positive whole number")))
}

/// The municipality's own rules for each application, beyond what the host checked.
fn check(service: &str, input: &[Value]) -> Result<(), AdapterError> {
    match service {
        "building-permit" => {
            if let Some(postal) = input.get_value("postal-code") {
                crate::inquiries::property(&postal)?;
            }
            let area = number(input, "plot-area")?;
            if !(50..=100_000).contains(&area) {
                return Err(AdapterError::field(
                    "plot-area",
                    t("مساحت زمین باید بین ۵۰ تا ۱۰۰٬۰۰۰ متر مربع باشد", "plot area must be 50 to 100,000 m²"),
                ));
            }
            let floors = number(input, "floors")?;
            let allowed = if area < 120 { 3 } else { 12 };
            if !(1..=allowed).contains(&floors) {
                return Err(AdapterError::field(
                    "floors",
                    t(
                        format!("برای این مساحت حداکثر {allowed} طبقه مجاز است"),
                        format!("at most {allowed} floors are allowed on this plot"),
                    ),
                ));
            }
        }
        "tree-pruning" => {
            let trees = number(input, "tree-count")?;
            if !(1..=20).contains(&trees) {
                return Err(AdapterError::field(
                    "tree-count",
                    t("برای بیش از ۲۰ درخت با منطقه تماس بگیرید", "for more than 20 trees contact the district"),
                ));
            }
            let reason = input.get_value("reason").unwrap_or_default();
            if input.get_value("action").as_deref() == Some("remove") && reason.chars().count() < 20 {
                return Err(AdapterError::field(
                    "reason",
                    t(
                        "برای قطع درخت دلیل را دست‌کم در ۲۰ نویسه توضیح دهید؛ کمیسیون ماده ۷ بدون دلیل رأی نمی‌دهد",
                        "explain a removal in at least 20 characters; the Article 7 commission rules on reasons",
                    ),
                ));
            }
        }
        "venue-booking" => {
            let date = input.get_value("event-date").and_then(|d| jalali::parse(&d).ok());
            let today = clock::today();
            if date.is_none_or(|d| d <= today) {
                return Err(AdapterError::field(
                    "event-date",
                    t("تاریخ برنامه باید پس از امروز باشد", "the event must be after today"),
                ));
            }
            let venue = input.get_value("venue").unwrap_or_default();
            let seats = VENUES.iter().find(|v| v.0 == venue).map_or(0, |v| v.3);
            let attendees = number(input, "attendees")?;
            if attendees == 0 || u64::from(seats) < attendees {
                return Err(AdapterError::field(
                    "attendees",
                    t(format!("این سالن {seats} صندلی دارد"), format!("this hall seats {seats}")),
                ));
            }
        }
        "contractor-renewal" => {
            let grade = number(input, "grade")?;
            if !(1..=5).contains(&grade) {
                return Err(AdapterError::field("grade", t("پایه از ۱ تا ۵ است", "grades run from 1 to 5")));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Files an application: checks it, stores a new case, returns the receipt.
pub fn submit(ctx: &CallContext, input: &[Value]) -> Result<Receipt, AdapterError> {
    let service = catalogue::find(&ctx.service)
        .filter(|s| s.kind == ServiceKind::Application)
        .ok_or_else(|| AdapterError::NotFound(t("این خدمت درخواست ندارد", "this service takes no applications")))?;
    if service.audience == Audience::LegalEntities && !(ctx.for_legal_entity() && ctx.national_id().is_some()) {
        return Err(AdapterError::Forbidden(t(
            "این درخواست را امضاکننده‌ی شرکت از طرف شرکت ثبت می‌کند",
            "a company's signatory files this for the company",
        )));
    }
    check(&service.id, input)?;

    let (code, department) = routing(&service.id);
    let now = clock::now_ms();
    let year = clock::jalali_date(now).year;
    let serial: String = ctx.request_id.chars().take(6).collect::<String>().to_ascii_uppercase();
    let reference = format!("ISF-{code}-{year}-{serial}");
    // A retried call (same request) must not open a second case.
    if let Some(existing) = load(&reference)? {
        return Ok(receipt(&existing));
    }

    let needs_national_id = service.identity.contains(&IdentityAttribute::NationalId);
    let filed_by = ctx.actor().map(|a| format!("{}:{}", basis_name(a.basis), a.subject));
    let case = Case {
        reference: reference.clone(),
        service: service.id.clone(),
        subject: ctx.citizen.as_ref().map(|c| c.subject.clone()),
        national_id: if needs_national_id { ctx.national_id().map(str::to_owned) } else { None },
        filed_by,
        fields: input.iter().map(|v| (v.name.clone(), v.value.clone())).collect(),
        history: vec![Event {
            status: Status::Submitted.as_str().into(),
            at_ms: now,
            message_fa: format!("درخواست شما با شماره {reference} ثبت شد و برای بررسی به {} ارسال شد.", department.fa),
            message_en: format!("your application {reference} was filed and sent to {} for review.", department.en),
        }],
        fee: service.fee_rial.map(|amount| fee_for(&reference, amount, year)),
    };
    if let Some(fee) = &case.fee {
        kv::set(&fee_key(&fee.bill_id, &fee.payment_id), reference.as_bytes()).map_err(storage_failed)?;
    }
    save(&case)?;
    log::info(&format!("case {reference} filed for {} (request {})", service.id, ctx.request_id));
    Ok(receipt(&case))
}

fn basis_name(basis: Representation) -> &'static str {
    match basis {
        Representation::Signatory => "signatory",
        Representation::Guardian => "guardian",
        Representation::CounterClerk => "counter-clerk",
        Representation::Mandate => "mandate",
    }
}

fn receipt(case: &Case) -> Receipt {
    let update = case.update();
    let receipt = Receipt::new(update.agency_reference, update.status, update.message);
    match case.unpaid_fee() {
        Some(fee) => receipt.bill(fee),
        None => receipt,
    }
}

/// A settled payment of a case's fee, named by its bill or by the case's reference: marks
/// the fee paid and sends the case to review. Anything else is not the municipality's
/// (`None`); a fee reported twice changes nothing the second time.
pub fn on_payment(payment: &Payment) -> Result<Option<StatusUpdate>, AdapterError> {
    let reference = match &payment.item {
        PaidItem::Fee(fee) => Some(fee.agency_reference.clone()),
        PaidItem::Bill(paid) => kv::get(&fee_key(&paid.bill_id, &paid.payment_id))
            .map_err(storage_failed)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    };
    let Some(mut case) = reference.map(|r| load(&r)).transpose()?.flatten() else {
        log::warn(&format!("payment {} is for no case of the municipality", payment.order_id));
        return Ok(None);
    };
    let Some(fee) = case.fee.as_mut().filter(|fee| !fee.paid) else { return Ok(None) };
    if payment.amount_rial < fee.amount_rial {
        return Err(AdapterError::Other(format!(
            "payment {} of {} rials is less than the fee of case {} ({} rials)",
            payment.order_id, payment.amount_rial, case.reference, fee.amount_rial
        )));
    }
    fee.paid = true;
    let amount = group_thousands(fee.amount_rial);
    let from = case.status();
    let to = if can_move(from, Status::InReview) { Status::InReview } else { from };
    case.history.push(Event {
        status: to.as_str().into(),
        at_ms: clock::now_ms(),
        message_fa: format!(
            "هزینه پرونده به مبلغ {amount} ریال پرداخت شد (شماره مرجع {}) و درخواست شما در حال بررسی است.",
            payment.rrn
        ),
        message_en: format!(
            "the fee of {amount} rials was paid (reference {}); your application is being reviewed.",
            payment.rrn
        ),
    });
    save(&case)?;
    log::info(&format!(
        "case {}: fee paid (order {}), {} to {}",
        case.reference,
        payment.order_id,
        from.as_str(),
        to.as_str()
    ));
    Ok(Some(case.update()))
}

fn not_found() -> AdapterError {
    AdapterError::NotFound(t("درخواستی با این شماره یافت نشد", "no application with this reference"))
}

/// The current state of a case: for the host following it (a call without a citizen), or
/// for its applicant only.
pub fn status(ctx: &CallContext, reference: &str) -> Result<StatusUpdate, AdapterError> {
    let case = load(reference)?.ok_or_else(not_found)?;
    let caller = ctx.citizen.as_ref().map(|c| c.subject.as_str());
    if caller.is_some() && case.subject.is_some() && case.subject.as_deref() != caller {
        return Err(not_found());
    }
    Ok(case.update())
}

/// Applies a status change pushed by the municipality's case system.
pub fn on_callback(body: &[u8]) -> Result<StatusUpdate, AdapterError> {
    let callback: Callback = serde_json::from_slice(body).map_err(|e| {
        AdapterError::field("body", t("پیام وضعیت قالب درستی ندارد", format!("the callback is not valid JSON: {e}")))
    })?;
    let to = Status::parse(&callback.status).ok_or_else(|| {
        AdapterError::field(
            "status",
            t(format!("وضعیت «{}» شناخته نیست", callback.status), format!("unknown status `{}`", callback.status)),
        )
    })?;
    let mut case = load(&callback.reference)?.ok_or_else(not_found)?;
    let from = case.status();
    if !can_move(from, to) {
        return Err(AdapterError::field(
            "status",
            t(
                format!("درخواست از وضعیت «{}» به «{}» نمی‌رود", from.label().fa, to.label().fa),
                format!("an application cannot move from {} to {}", from.as_str(), to.as_str()),
            ),
        ));
    }
    let default = default_message(to);
    case.history.push(Event {
        status: to.as_str().into(),
        at_ms: clock::now_ms(),
        message_fa: callback.message_fa.filter(|m| !m.trim().is_empty()).unwrap_or(default.fa),
        message_en: callback.message_en.filter(|m| !m.trim().is_empty()).unwrap_or(default.en),
    });
    save(&case)?;
    log::info(&format!("case {} moved from {} to {}", case.reference, from.as_str(), to.as_str()));
    if let (Some(fa), Some(en)) = (callback.notice_fa, callback.notice_en) {
        let title =
            t(format!("پیام شهرداری درباره پرونده {}", case.reference), format!("A note on case {}", case.reference));
        // The status change stands even if the note cannot go out; the municipality sees why in the log.
        if let Err(error) = notify::send(&case.reference, &title, &t(fa, en)) {
            log::warn(&format!("case {}: the note was not sent: {error:?}", case.reference));
        }
    }
    Ok(case.update())
}

fn default_message(status: Status) -> Text {
    match status {
        Status::Submitted => t("درخواست ثبت شد.", "the application was filed."),
        Status::InReview => t("درخواست شما در حال بررسی است.", "your application is being reviewed."),
        Status::ActionRequired => t(
            "برای ادامه بررسی، مدارک خواسته‌شده را بارگذاری کنید.",
            "upload the requested documents so the review can continue.",
        ),
        Status::Approved => t("با درخواست شما موافقت شد.", "your application was approved."),
        Status::Rejected => t("درخواست شما پذیرفته نشد.", "your application was not accepted."),
        Status::Completed => t("درخواست شما انجام شد.", "your request was carried out."),
        Status::Cancelled => t("درخواست لغو شد.", "the application was cancelled."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_plugin_sdk::testing::{self, input, signed_in};

    fn tree_request() -> Vec<Value> {
        input(&[
            ("address", "خیابان چهارباغ عباسی، کوچه ۱۲"),
            ("action", "prune"),
            ("tree-count", "2"),
            ("reason", "شاخه‌ها روی سیم برق افتاده‌اند"),
        ])
    }

    fn callback(reference: &str, status: &str) -> Vec<u8> {
        format!(r#"{{"reference":"{reference}","status":"{status}","message_fa":"پیام","message_en":"note"}}"#)
            .into_bytes()
    }

    #[test]
    fn a_case_moves_through_review_to_approval() {
        let ctx = signed_in("tree-pruning", "0499370899");
        let receipt = submit(&ctx, &tree_request()).unwrap();
        assert_eq!(receipt.status, Status::Submitted);
        assert_eq!(receipt.agency_reference, "ISF-TP-1404-012345");
        assert!(receipt.message.fa.contains("فضای سبز"));
        assert!(testing::kv_snapshot().contains_key("case/ISF-TP-1404-012345"));

        let update = on_callback(&callback(&receipt.agency_reference, "in-review")).unwrap();
        assert_eq!(update.status, Status::InReview);
        let update = on_callback(&callback(&receipt.agency_reference, "approved")).unwrap();
        assert_eq!((update.status, update.message.en.as_str()), (Status::Approved, "note"));

        let now = status(&ctx, &receipt.agency_reference).unwrap();
        assert_eq!(now.status, Status::Approved);
        let case = load(&receipt.agency_reference).unwrap().unwrap();
        let statuses: Vec<_> = case.history.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(statuses, ["submitted", "in-review", "approved"]);
        // Only the building permit keeps the national ID.
        assert_eq!(case.national_id, None);
    }

    #[test]
    fn the_same_request_files_one_case() {
        let ctx = signed_in("tree-pruning", "0499370899");
        let a = submit(&ctx, &tree_request()).unwrap();
        let b = submit(&ctx, &tree_request()).unwrap();
        assert_eq!(a, b);
        assert_eq!(testing::kv_snapshot().len(), 1);
    }

    #[test]
    fn callbacks_are_checked() {
        let reference = submit(&signed_in("tree-pruning", "0499370899"), &tree_request()).unwrap().agency_reference;
        let err = |body: &[u8]| match on_callback(body) {
            Err(AdapterError::InvalidInput(e)) => e[0].field.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(err(b"not json"), "body");
        assert_eq!(err(&callback(&reference, "teleported")), "status");
        // Straight from submitted to approved skips the review.
        assert_eq!(err(&callback(&reference, "approved")), "status");
        assert!(matches!(on_callback(&callback("ISF-XX-1-000000", "in-review")), Err(AdapterError::NotFound(_))));
        on_callback(&callback(&reference, "rejected")).unwrap();
        assert_eq!(err(&callback(&reference, "in-review")), "status", "rejected is final");
    }

    #[test]
    fn only_the_applicant_reads_a_case() {
        let reference = submit(&signed_in("tree-pruning", "0499370899"), &tree_request()).unwrap().agency_reference;
        let other = signed_in("tree-pruning", "0790419904");
        assert!(matches!(status(&other, &reference), Err(AdapterError::NotFound(_))));
    }

    #[test]
    fn status_machine() {
        use Status::*;
        assert!(can_move(Submitted, InReview));
        assert!(can_move(InReview, InReview));
        assert!(can_move(InReview, Approved));
        assert!(can_move(Approved, Completed));
        assert!(!can_move(Submitted, Approved));
        assert!(!can_move(Rejected, Rejected));
        assert!(!can_move(Completed, InReview));
    }

    #[test]
    fn municipal_rules() {
        let field =
            |service: &str, pairs: &[(&str, &str)]| match submit(&signed_in(service, "0499370899"), &input(pairs)) {
                Err(AdapterError::InvalidInput(e)) => e[0].field.clone(),
                other => panic!("{other:?}"),
            };
        let permit = [
            ("postal-code", "8134783111"),
            ("registration-plate", "123/45"),
            ("plot-area", "100"),
            ("floors", "5"),
            ("usage", "residential"),
        ];
        assert_eq!(field("building-permit", &permit), "floors");
        let mut elsewhere = permit;
        elsewhere[0].1 = "1193653471";
        assert_eq!(field("building-permit", &elsewhere), "postal-code");
        let mut ok = permit;
        ok[3].1 = "3";
        let receipt = submit(&signed_in("building-permit", "0499370899"), &input(&ok)).unwrap();
        let case = load(&receipt.agency_reference).unwrap().unwrap();
        assert_eq!(case.national_id.as_deref(), Some("0499370899"));
        assert_eq!(receipt.bills.len(), 1, "the permit's fee is billed");

        let removal = [("address", "میدان انقلاب"), ("action", "remove"), ("tree-count", "1"), ("reason", "خشک")];
        assert_eq!(field("tree-pruning", &removal), "reason");
        let past =
            [("venue", "honar-hall"), ("event-title", "شب شعر"), ("event-date", "1404/01/10"), ("attendees", "50")];
        assert_eq!(field("venue-booking", &past), "event-date");
        let crowd =
            [("venue", "honar-hall"), ("event-title", "شب شعر"), ("event-date", "1404/10/01"), ("attendees", "900")];
        assert_eq!(field("venue-booking", &crowd), "attendees");
    }

    fn paid(item: PaidItem, amount_rial: u64) -> Payment {
        Payment {
            order_id: "order-1".into(),
            item,
            amount_rial,
            rrn: "123456789012".into(),
            trace: "654321".into(),
            masked_card: "603799******1234".into(),
            paid_at: "2026-12-01T10:15:30.042Z".into(),
        }
    }

    fn permit() -> Vec<Value> {
        input(&[
            ("postal-code", "8134783111"),
            ("registration-plate", "123/45"),
            ("plot-area", "100"),
            ("floors", "3"),
            ("usage", "residential"),
        ])
    }

    #[test]
    fn the_permit_fee_is_billed_and_its_payment_sends_the_case_to_review() {
        let ctx = signed_in("building-permit", "0499370899");
        let receipt = submit(&ctx, &permit()).unwrap();
        let [fee] = receipt.bills.as_slice() else { panic!("{:?}", receipt.bills) };
        assert_eq!(fee.amount_rial, 2_500_000);
        let decoded = bill::decode(&fee.bill_id, &fee.payment_id).expect("valid check digits");
        assert_eq!((decoded.amount_rial, decoded.company_code.as_str()), (2_500_000, FEE_COMPANY));
        assert_eq!(submit(&ctx, &permit()).unwrap(), receipt, "a retry bills the same fee");

        let short =
            paid(PaidItem::Bill(BillRef { bill_id: fee.bill_id.clone(), payment_id: fee.payment_id.clone() }), 1000);
        assert!(matches!(on_payment(&short), Err(AdapterError::Other(_))));
        let payment = PaidItem::Bill(BillRef { bill_id: fee.bill_id.clone(), payment_id: fee.payment_id.clone() });
        let update = on_payment(&paid(payment, 2_500_000)).unwrap().expect("the case moves");
        assert_eq!(update.status, Status::InReview);
        assert!(update.message.en.contains("2,500,000") && update.message.en.contains("123456789012"), "{update:?}");
        assert_eq!(status(&ctx, &receipt.agency_reference).unwrap().status, Status::InReview);
        assert!(load(&receipt.agency_reference).unwrap().unwrap().fee.unwrap().paid);

        let again = paid(PaidItem::Fee(FeeRef { agency_reference: receipt.agency_reference.clone() }), 2_500_000);
        assert_eq!(on_payment(&again).unwrap(), None, "reported twice");
        let stranger = paid(PaidItem::Fee(FeeRef { agency_reference: "ISF-XX-1-000000".into() }), 1);
        assert_eq!(on_payment(&stranger).unwrap(), None);
        let tree = submit(&signed_in("tree-pruning", "0499370899"), &tree_request()).unwrap();
        assert!(tree.bills.is_empty(), "no fee, no bill");
    }

    #[test]
    fn a_signatory_renews_the_company_qualification_and_a_person_cannot() {
        let renewal = input(&[("field", "civil"), ("grade", "3")]);
        let ctx = testing::for_company("contractor-renewal", "10380284790");
        let receipt = submit(&ctx, &renewal).unwrap();
        let case = load(&receipt.agency_reference).unwrap().unwrap();
        assert_eq!(case.national_id.as_deref(), Some("10380284790"), "the company's legal ID is on file");
        assert_eq!(case.filed_by.as_deref(), Some("signatory:test-signatory"));
        let person = signed_in("contractor-renewal", "0499370899");
        assert!(matches!(submit(&person, &renewal), Err(AdapterError::Forbidden(_))));
        let grade = input(&[("field", "civil"), ("grade", "9")]);
        assert!(matches!(submit(&ctx, &grade), Err(AdapterError::InvalidInput(e)) if e[0].field == "grade"));
    }

    #[test]
    fn a_callback_note_reaches_the_applicant_through_notify() {
        let reference = submit(&signed_in("tree-pruning", "0499370899"), &tree_request()).unwrap().agency_reference;
        let body = format!(
            r#"{{"reference":"{reference}","status":"in-review","notice_fa":"شنبه به منطقه ۳ بیایید","notice_en":"come to district 3 on Saturday"}}"#
        );
        on_callback(body.as_bytes()).unwrap();
        let sent = testing::notified();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, reference);
        assert_eq!(sent[0].2.en, "come to district 3 on Saturday");
        // Without the grant the status still moves; the note is only logged as not sent.
        testing::deny_notify();
        let body = format!(r#"{{"reference":"{reference}","status":"approved","notice_fa":"x","notice_en":"y"}}"#);
        assert_eq!(on_callback(body.as_bytes()).unwrap().status, Status::Approved);
        assert_eq!(testing::notified().len(), 1);
    }

    #[test]
    fn without_storage_the_adapter_reports_instead_of_panicking() {
        testing::deny_kv();
        assert!(matches!(
            submit(&signed_in("tree-pruning", "0499370899"), &tree_request()),
            Err(AdapterError::Other(_))
        ));
    }
}
