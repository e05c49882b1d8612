//! The JSON shapes of the public API (and what the portal renders), built from the
//! contract's types in one language.
//! Kept apart from the WIT types so the API stays stable when the contract grows.

use serde::Serialize;
use utoipa::ToSchema;

use crate::runtime::bindings::{
    Agency, Assurance, Audience, Bill, Document, FieldType, IdentityAttribute, Scope, Service, ServiceKind, Text,
};
use crate::text::Lang;

/// Serializes a contract enum by its wire name (`crate::names`).
fn wire_name<S: serde::Serializer>(value: &impl std::fmt::Display, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn t(lang: Lang, text: &Text) -> String {
    lang.pick(&text.fa, &text.en).to_owned()
}

/// `GET /api/v1/agencies`.
#[derive(Serialize, ToSchema)]
pub struct AgencyList {
    pub agencies: Vec<AgencyView>,
}

/// `GET /api/v1/services`.
#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    pub count: usize,
    pub services: Vec<ServiceSummary>,
}

/// The answer to an inquiry.
#[derive(Serialize, ToSchema)]
pub struct InquiryAnswer {
    /// The call's id in the evidence log (quote it to support).
    pub request_id: String,
    pub document: DocumentView,
}

/// An agency serving now.
#[derive(Serialize, ToSchema)]
pub struct AgencyView {
    pub id: String,
    pub name: String,
    pub services: usize,
}

impl AgencyView {
    pub fn new(lang: Lang, agency: &Agency) -> Self {
        AgencyView { id: agency.id.clone(), name: t(lang, &agency.name), services: agency.services.len() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CategoryView {
    pub id: String,
    pub label: String,
}

#[derive(Serialize, ToSchema)]
#[serde(tag = "level", rename_all = "kebab-case")]
pub enum ScopeView {
    National,
    Province { province: String },
}

#[derive(Serialize, ToSchema)]
pub struct ServiceSummary {
    pub agency: String,
    pub agency_name: String,
    pub id: String,
    pub title: String,
    pub description: String,
    pub category: CategoryView,
    /// `inquiry` or `application`.
    #[schema(value_type = String, example = "inquiry")]
    #[serde(serialize_with = "wire_name")]
    pub kind: ServiceKind,
    pub scope: ScopeView,
    /// `none`, `low`, `substantial` or `high`: the session assurance the service needs.
    #[schema(value_type = String, example = "substantial")]
    #[serde(serialize_with = "wire_name")]
    pub min_assurance: Assurance,
    /// `persons`, `legal-entities` or `everyone`: whom the service is for. A legal entity
    /// uses a service through a signatory acting for it.
    #[schema(value_type = String, example = "persons")]
    #[serde(serialize_with = "wire_name")]
    pub audience: Audience,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fee_rial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_days: Option<u32>,
    /// Where the service's details and form are.
    pub href: String,
    /// `false` while an operator has the agency's adapter disabled for maintenance: the
    /// service is listed, and answers 503 until it is back.
    pub available: bool,
}

impl ServiceSummary {
    pub fn new(lang: Lang, agency: &Agency, service: &Service, available: bool) -> Self {
        ServiceSummary {
            available,
            agency: agency.id.clone(),
            agency_name: t(lang, &agency.name),
            id: service.id.clone(),
            title: t(lang, &service.title),
            description: t(lang, &service.description),
            category: CategoryView { id: service.category.id.clone(), label: t(lang, &service.category.label) },
            kind: service.kind,
            scope: match &service.scope {
                Scope::National => ScopeView::National,
                Scope::Province(p) => ScopeView::Province { province: p.clone() },
            },
            min_assurance: service.min_assurance,
            audience: service.audience,
            fee_rial: service.fee_rial,
            expected_days: service.expected_days,
            href: format!("/api/v1/services/{}/{}", agency.id, service.id),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChoiceView {
    pub id: String,
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// `text`, `long-text`, `number`, `national-id`, `legal-id`, `mobile`, `postal-code`,
    /// `bill-id`, `payment-id`, `sheba`, `plate`, `jalali-date` or `choice`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "national-id")]
    pub kind: &'static str,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<ChoiceView>>,
}

/// Wire name of a field type.
pub fn field_type_name(kind: &FieldType) -> &'static str {
    match kind {
        FieldType::Text => "text",
        FieldType::LongText => "long-text",
        FieldType::Number => "number",
        FieldType::NationalId => "national-id",
        FieldType::LegalId => "legal-id",
        FieldType::Mobile => "mobile",
        FieldType::PostalCode => "postal-code",
        FieldType::BillId => "bill-id",
        FieldType::PaymentId => "payment-id",
        FieldType::Sheba => "sheba",
        FieldType::Plate => "plate",
        FieldType::JalaliDate => "jalali-date",
        FieldType::Choice(_) => "choice",
    }
}

#[derive(Serialize, ToSchema)]
pub struct ServiceDetail {
    #[serde(flatten)]
    pub summary: ServiceSummary,
    pub fields: Vec<FieldView>,
    /// Attributes of the citizen the service receives (when granted): `national-id`, `mobile`.
    #[schema(value_type = Vec<String>)]
    pub identity: Vec<&'static str>,
}

impl ServiceDetail {
    pub fn new(lang: Lang, agency: &Agency, service: &Service, available: bool) -> Self {
        ServiceDetail {
            summary: ServiceSummary::new(lang, agency, service, available),
            fields: service
                .fields
                .iter()
                .map(|f| FieldView {
                    name: f.name.clone(),
                    label: t(lang, &f.label),
                    help: f.help.as_ref().map(|h| t(lang, h)),
                    kind: field_type_name(&f.kind),
                    required: f.required,
                    choices: match &f.kind {
                        FieldType::Choice(choices) => Some(
                            choices.iter().map(|c| ChoiceView { id: c.id.clone(), label: t(lang, &c.label) }).collect(),
                        ),
                        _ => None,
                    },
                })
                .collect(),
            identity: service
                .identity
                .iter()
                .map(|a| match a {
                    IdentityAttribute::NationalId => "national-id",
                    IdentityAttribute::Mobile => "mobile",
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ItemView {
    pub label: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
pub struct TableView {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A payable bill: of an inquiry's document, or of an application's receipt.
#[derive(Serialize, ToSchema)]
pub struct BillView {
    pub bill_id: String,
    pub payment_id: String,
    pub amount_rial: u64,
    pub title: String,
}

impl BillView {
    pub fn new(lang: Lang, bill: &Bill) -> Self {
        BillView {
            bill_id: bill.bill_id.clone(),
            payment_id: bill.payment_id.clone(),
            amount_rial: bill.amount_rial,
            title: t(lang, &bill.title),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DocumentView {
    pub title: String,
    pub items: Vec<ItemView>,
    pub tables: Vec<TableView>,
    pub bills: Vec<BillView>,
}

impl DocumentView {
    pub fn new(lang: Lang, doc: &Document) -> Self {
        DocumentView {
            title: t(lang, &doc.title),
            items: doc.items.iter().map(|i| ItemView { label: t(lang, &i.label), value: i.value.clone() }).collect(),
            tables: doc
                .tables
                .iter()
                .map(|tb| TableView {
                    title: t(lang, &tb.title),
                    columns: tb.columns.iter().map(|c| t(lang, c)).collect(),
                    rows: tb.rows.clone(),
                })
                .collect(),
            bills: doc.bills.iter().map(|b| BillView::new(lang, b)).collect(),
        }
    }
}
