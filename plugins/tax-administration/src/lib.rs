//! Iranian National Tax Administration (سازمان امور مالیاتی کشور): a taxpayer's file status,
//! and registration of a new taxpayer (ثبت‌نام مودیان) with tracking, both against the
//! administration's back-end over HTTP.
//!
//! Unlike the municipality's sample, this adapter keeps no state: the back-end is the
//! system of record, so `status` asks it and `on-callback` only translates its message.
//!
//! The back-end's API (served for development by `mock-agencies`), every call with
//! `x-api-key`:
//!
//! ```text
//! GET  {base-url}/v1/taxpayers/{national-id}    200 file · 404 no file
//! POST {base-url}/v1/registrations              201 {"reference","status","message_fa","message_en"}
//!                                               409 already registered · 422 {"errors":[{"field","message_fa","message_en"}]}
//! GET  {base-url}/v1/registrations/{reference}  200 {"reference","status","message_fa","message_en"} · 404
//! ```

use panjereh_plugin_sdk::formats::group_thousands;
use panjereh_plugin_sdk::http::{self, HttpError, Request, Response};
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, config, export};
use serde::{Deserialize, Serialize};

/// The adapter.
pub struct TaxAdministration;

const FILE_STATUS: &str = "tax-file-status";
const REGISTRATION: &str = "taxpayer-registration";

fn t(fa: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(fa, en)
}

fn category() -> Category {
    Category::new("taxes", t("مالیات", "Taxes"))
}

fn national_id_field() -> Field {
    Field::new("national-id", t("کد ملی مودی", "Taxpayer's national ID"), FieldType::NationalId)
        .optional()
        .help(t("اگر وارد سامانه شده‌اید خالی بگذارید", "leave empty if you are signed in"))
}

impl Adapter for TaxAdministration {
    fn describe() -> Agency {
        Agency {
            id: "tax-administration".into(),
            name: t("سازمان امور مالیاتی کشور", "Iranian National Tax Administration"),
            services: vec![
                Service::inquiry(
                    FILE_STATUS,
                    t("استعلام وضعیت پرونده مالیاتی", "Tax file status"),
                    t(
                        "وضعیت پرونده مالیاتی، اداره مالیاتی، اظهارنامه‌های سال‌های اخیر و بدهی قطعی‌شده را ببینید.",
                        "See the status of a tax file, its tax office, recent returns and any assessed debt.",
                    ),
                    category(),
                )
                .field(national_id_field())
                .needs(&[IdentityAttribute::NationalId]),
                Service::application(
                    REGISTRATION,
                    t("ثبت‌نام مودیان مالیاتی", "Taxpayer registration"),
                    t(
                        "برای کسب‌وکار تازه پرونده مالیاتی و کد اقتصادی بگیرید. پس از بررسی اداره مالیاتی محل، نتیجه با کد پیگیری اعلام می‌شود.",
                        "Open a tax file and get an economic code for a new business. The local tax office reviews it and you follow the result with a tracking code.",
                    ),
                    category(),
                )
                .field(national_id_field())
                .field(Field::new("business-name", t("نام کسب‌وکار", "Business name"), FieldType::Text))
                .field(Field::new(
                    "activity",
                    t("نوع فعالیت", "Activity"),
                    FieldType::Choice(vec![
                        Choice::new("retail", t("خرده‌فروشی", "Retail")),
                        Choice::new("services", t("خدمات", "Services")),
                        Choice::new("manufacturing", t("تولیدی", "Manufacturing")),
                        Choice::new("professional", t("مشاغل تخصصی (پزشک، وکیل، مهندس)", "Professions (doctor, lawyer, engineer)")),
                    ]),
                ))
                .field(Field::new("postal-code", t("کد پستی محل فعالیت", "Postal code of the premises"), FieldType::PostalCode))
                .field(Field::new("mobile", t("شماره همراه", "Mobile"), FieldType::Mobile))
                .field(Field::new("start-date", t("تاریخ شروع فعالیت", "Start of activity"), FieldType::JalaliDate))
                .needs(&[IdentityAttribute::NationalId])
                .expected_days(7),
            ],
        }
    }

    fn inquire(ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        if ctx.service != FILE_STATUS {
            return Err(AdapterError::NotFound(t("خدمت یافت نشد", "no such service")));
        }
        let national_id = taxpayer(&ctx, &input)?;
        let response = send(&ctx, Request::get(format!("{}/v1/taxpayers/{national_id}", setting("base-url")?)))?;
        match response.status {
            200 => file_document(&decode(&response)?),
            404 => Err(AdapterError::NotFound(t(
                "برای این کد ملی پرونده مالیاتی تشکیل نشده است",
                "there is no tax file for this national ID",
            ))),
            status => Err(unexpected(status)),
        }
    }

    fn submit(ctx: CallContext, input: Vec<Value>) -> Result<Receipt, AdapterError> {
        if ctx.service != REGISTRATION {
            return Err(AdapterError::NotFound(t("خدمت یافت نشد", "no such service")));
        }
        let national_id = taxpayer(&ctx, &input)?;
        let value = |name: &str| input.get_value(name).unwrap_or_default();
        let body = Registration {
            national_id: &national_id,
            business_name: &value("business-name"),
            activity: &value("activity"),
            postal_code: &value("postal-code"),
            mobile: &value("mobile"),
            start_date: &value("start-date"),
        };
        let body = serde_json::to_vec(&body).map_err(|e| AdapterError::Other(e.to_string()))?;
        let response = send(&ctx, Request::post_json(format!("{}/v1/registrations", setting("base-url")?), body))?;
        match response.status {
            200 | 201 => {
                let state: CaseState = decode(&response)?;
                let update = state.into_update()?;
                Ok(Receipt::new(update.agency_reference, update.status, update.message))
            }
            409 => Err(AdapterError::field(
                "national-id",
                t(
                    "برای این کد ملی پیش‌تر پرونده مالیاتی تشکیل شده است؛ وضعیت آن را استعلام کنید",
                    "a tax file already exists for this national ID; look up its status instead",
                ),
            )),
            422 => {
                let refused: Refused = decode(&response)?;
                Err(AdapterError::InvalidInput(
                    refused
                        .errors
                        .into_iter()
                        .map(|e| FieldError { field: e.field, message: t(e.message_fa, e.message_en) })
                        .collect(),
                ))
            }
            status => Err(unexpected(status)),
        }
    }

    fn status(ctx: CallContext, agency_reference: String) -> Result<StatusUpdate, AdapterError> {
        if agency_reference.is_empty() || !agency_reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(not_found());
        }
        let url = format!("{}/v1/registrations/{agency_reference}", setting("base-url")?);
        let response = send(&ctx, Request::get(url))?;
        match response.status {
            200 => decode::<CaseState>(&response)?.into_update(),
            404 => Err(not_found()),
            status => Err(unexpected(status)),
        }
    }

    /// The back-end pushes the same shape it answers `GET /v1/registrations/{reference}`
    /// with.
    fn on_callback(body: Vec<u8>) -> Result<StatusUpdate, AdapterError> {
        let state: CaseState = serde_json::from_slice(&body).map_err(|e| {
            AdapterError::field(
                "body",
                t("پیام وضعیت قالب درستی ندارد", format!("the callback is not valid JSON: {e}")),
            )
        })?;
        state.into_update()
    }
}

/// Whose file: the national ID typed in the form, else the signed-in citizen's.
fn taxpayer(ctx: &CallContext, input: &[Value]) -> Result<String, AdapterError> {
    input.get_value("national-id").or_else(|| ctx.national_id().map(str::to_owned)).ok_or_else(|| {
        AdapterError::field(
            "national-id",
            t("کد ملی مودی را وارد کنید یا وارد سامانه شوید", "enter the taxpayer's national ID, or sign in"),
        )
    })
}

#[derive(Serialize)]
struct Registration<'a> {
    national_id: &'a str,
    business_name: &'a str,
    activity: &'a str,
    postal_code: &'a str,
    mobile: &'a str,
    start_date: &'a str,
}

/// A registration's state as the back-end reports it.
#[derive(Debug, Deserialize)]
struct CaseState {
    reference: String,
    status: String,
    message_fa: String,
    message_en: String,
}

impl CaseState {
    fn into_update(self) -> Result<StatusUpdate, AdapterError> {
        let status = Status::parse(&self.status).ok_or_else(|| {
            AdapterError::field(
                "status",
                t(format!("وضعیت «{}» شناخته نیست", self.status), format!("unknown status `{}`", self.status)),
            )
        })?;
        Ok(StatusUpdate::new(self.reference, status, t(self.message_fa, self.message_en)))
    }
}

#[derive(Deserialize)]
struct Refused {
    errors: Vec<RefusedField>,
}

#[derive(Deserialize)]
struct RefusedField {
    field: String,
    message_fa: String,
    message_en: String,
}

/// A taxpayer's file.
#[derive(Debug, Deserialize)]
pub struct TaxFile {
    pub national_id: String,
    pub name_fa: String,
    pub name_en: String,
    pub file_number: String,
    pub economic_code: String,
    pub tax_office_fa: String,
    pub tax_office_en: String,
    /// `active`, `inactive` or `suspended`.
    pub status: String,
    pub debt_rial: u64,
    pub returns: Vec<TaxReturn>,
}

/// One filed return.
#[derive(Debug, Deserialize)]
pub struct TaxReturn {
    pub year: u32,
    pub kind_fa: String,
    pub kind_en: String,
    pub filed_on: String,
    pub status_fa: String,
    pub status_en: String,
    pub tax_rial: u64,
}

/// The file as a document.
pub fn file_document(file: &TaxFile) -> Result<Document, AdapterError> {
    let status = match file.status.as_str() {
        "active" => t("فعال", "active"),
        "inactive" => t("غیرفعال", "inactive"),
        "suspended" => t("معلق", "suspended"),
        other => t(other, other),
    };
    Ok(Document::new(t("پرونده مالیاتی", "Tax file"))
        .item(t("مودی", "Taxpayer"), format!("{} / {}", file.name_fa, file.name_en))
        .item(t("کد ملی", "National ID"), file.national_id.clone())
        .item(t("شماره پرونده", "File number"), file.file_number.clone())
        .item(t("کد اقتصادی", "Economic code"), file.economic_code.clone())
        .item(t("اداره مالیاتی", "Tax office"), format!("{} / {}", file.tax_office_fa, file.tax_office_en))
        .item(t("وضعیت پرونده", "File status"), format!("{} / {}", status.fa, status.en))
        .item(t("بدهی قطعی (ریال)", "Assessed debt (rials)"), group_thousands(file.debt_rial))
        .table(Table {
            title: t("اظهارنامه‌ها", "Returns"),
            columns: vec![
                t("سال عملکرد", "Tax year"),
                t("نوع", "Kind"),
                t("تاریخ تسلیم", "Filed on"),
                t("وضعیت", "Status"),
                t("مالیات (ریال)", "Tax (rials)"),
            ],
            rows: file
                .returns
                .iter()
                .map(|r| {
                    vec![
                        r.year.to_string(),
                        format!("{} / {}", r.kind_fa, r.kind_en),
                        r.filed_on.clone(),
                        format!("{} / {}", r.status_fa, r.status_en),
                        group_thousands(r.tax_rial),
                    ]
                })
                .collect(),
        }))
}

fn setting(key: &str) -> Result<String, AdapterError> {
    match config::get(key) {
        Ok(Some(value)) if !value.trim().is_empty() => Ok(value.trim().trim_end_matches('/').to_owned()),
        Ok(_) => Err(AdapterError::Other(format!("config `{key}` is not set by the operator"))),
        Err(e) => Err(AdapterError::Other(format!("config `{key}`: {e:?}"))),
    }
}

fn unavailable() -> AdapterError {
    AdapterError::Unavailable(t(
        "سامانه سازمان امور مالیاتی پاسخ نمی‌دهد؛ بعداً دوباره تلاش کنید",
        "the tax administration's system is not answering; try again later",
    ))
}

fn not_found() -> AdapterError {
    AdapterError::NotFound(t("ثبت‌نامی با این شماره یافت نشد", "no registration with this reference"))
}

fn unexpected(status: u16) -> AdapterError {
    if (500..600).contains(&status) {
        unavailable()
    } else {
        AdapterError::Other(format!("tax back-end answered {status}"))
    }
}

/// Sends a request with the API key and the host's request id.
fn send(ctx: &CallContext, request: Request) -> Result<Response, AdapterError> {
    let request = request
        .header("x-api-key", setting("api-key")?)
        .header("x-request-id", ctx.request_id.clone())
        .timeout_ms(5_000);
    let response = http::send(&request).map_err(|e| match e {
        HttpError::Timeout | HttpError::ConnectionFailed(_) => unavailable(),
        other => AdapterError::Other(format!("tax back-end: {other:?}")),
    })?;
    if response.status == 401 {
        return Err(AdapterError::Other("tax back-end refused the API key (401)".into()));
    }
    Ok(response)
}

fn decode<T: for<'de> Deserialize<'de>>(response: &Response) -> Result<T, AdapterError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| AdapterError::Other(format!("tax back-end sent an unreadable answer: {e}")))
}

export!(TaxAdministration);

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_plugin_sdk::http::Method;
    use panjereh_plugin_sdk::testing::{self, context, input, signed_in};

    const BASE: &str = "http://127.0.0.1:9102";

    fn configured() {
        testing::set_config("base-url", BASE);
        testing::set_config("api-key", "dev-tax-key");
    }

    const FILE: &str = r#"{"national_id":"0499370899","name_fa":"مریم احمدی","name_en":"Maryam Ahmadi",
        "file_number":"1402-0351-88412","economic_code":"411155572384","tax_office_fa":"اداره کل امور مالیاتی استان اصفهان",
        "tax_office_en":"Isfahan Province Tax Office","status":"active","debt_rial":0,
        "returns":[{"year":1403,"kind_fa":"مالیات بر درآمد مشاغل","kind_en":"business income tax","filed_on":"1404/03/28",
        "status_fa":"قطعی شده","status_en":"assessed","tax_rial":48500000}]}"#;

    #[test]
    fn file_status_for_the_signed_in_citizen() {
        configured();
        testing::respond(Method::Get, &format!("{BASE}/v1/taxpayers/0499370899"), 200, FILE);
        let doc = TaxAdministration::inquire(signed_in(FILE_STATUS, "0499370899"), vec![]).unwrap();
        assert_eq!(doc.tables[0].rows[0][0], "1403");
        assert!(doc.items.iter().any(|i| i.value == "411155572384"));
        let sent = &testing::requests()[0];
        assert!(sent.headers.iter().any(|h| h.name == "x-api-key" && h.value == "dev-tax-key"));
    }

    #[test]
    fn no_file_is_not_found_and_no_id_is_a_field_error() {
        configured();
        testing::respond(Method::Get, BASE, 404, "{}");
        let ask = TaxAdministration::inquire(context(FILE_STATUS), input(&[("national-id", "0790419904")]));
        assert!(matches!(ask, Err(AdapterError::NotFound(_))));
        let anonymous = TaxAdministration::inquire(context(FILE_STATUS), vec![]);
        assert!(matches!(anonymous, Err(AdapterError::InvalidInput(e)) if e[0].field == "national-id"));
    }

    fn registration() -> Vec<Value> {
        input(&[
            ("business-name", "کافه نقش جهان"),
            ("activity", "services"),
            ("postal-code", "8134783111"),
            ("mobile", "09121234567"),
            ("start-date", "1404/07/01"),
        ])
    }

    #[test]
    fn registration_is_tracked_by_the_back_end() {
        configured();
        testing::respond(
            Method::Post,
            &format!("{BASE}/v1/registrations"),
            201,
            r#"{"reference":"TR-1404-000001","status":"submitted","message_fa":"ثبت شد","message_en":"filed"}"#,
        );
        let receipt = TaxAdministration::submit(signed_in(REGISTRATION, "0499370899"), registration()).unwrap();
        assert_eq!((receipt.agency_reference.as_str(), receipt.status), ("TR-1404-000001", Status::Submitted));
        let body: serde_json::Value = serde_json::from_slice(testing::requests()[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body["national_id"], "0499370899");
        assert_eq!(body["business_name"], "کافه نقش جهان");

        testing::respond(
            Method::Get,
            &format!("{BASE}/v1/registrations/TR-1404-000001"),
            200,
            r#"{"reference":"TR-1404-000001","status":"in-review","message_fa":"در حال بررسی","message_en":"in review"}"#,
        );
        let update = TaxAdministration::status(signed_in(REGISTRATION, "0499370899"), "TR-1404-000001".into()).unwrap();
        assert_eq!(update.status, Status::InReview);
        assert!(matches!(
            TaxAdministration::status(context(REGISTRATION), "../../etc".into()),
            Err(AdapterError::NotFound(_))
        ));
    }

    #[test]
    fn registration_refusals() {
        configured();
        testing::respond(Method::Post, BASE, 409, "{}");
        let again = TaxAdministration::submit(signed_in(REGISTRATION, "0499370899"), registration());
        assert!(matches!(again, Err(AdapterError::InvalidInput(e)) if e[0].field == "national-id"));
        testing::respond(
            Method::Post,
            BASE,
            422,
            r#"{"errors":[{"field":"start-date","message_fa":"تاریخ آینده است","message_en":"date is in the future"}]}"#,
        );
        let future = TaxAdministration::submit(signed_in(REGISTRATION, "0499370899"), registration());
        assert!(matches!(future, Err(AdapterError::InvalidInput(e)) if e[0].field == "start-date"));
    }

    #[test]
    fn callbacks_translate_the_back_ends_message() {
        let update = TaxAdministration::on_callback(
            r#"{"reference":"TR-1404-000001","status":"approved","message_fa":"کد اقتصادی صادر شد","message_en":"economic code issued"}"#
                .as_bytes()
                .to_vec(),
        )
        .unwrap();
        assert_eq!(update.status, Status::Approved);
        assert!(matches!(TaxAdministration::on_callback(b"{}".to_vec()), Err(AdapterError::InvalidInput(_))));
    }
}
