//! The contract's types with small builders, so adapters read like their services.

pub use crate::bindings::exports::panjereh::adapter::adapter::{
    AdapterError, Agency, CallContext, Document, Payment, Receipt, StatusUpdate, Value,
};
pub use crate::bindings::panjereh::adapter::types::Text;
pub use crate::bindings::panjereh::adapter::types::{
    Actor, Assurance, Audience, Bill, BillRef, Category, Choice, Citizen, FeeRef, Field, FieldError, FieldType,
    IdentityAttribute, Item, PaidItem, Representation, Scope, Service, ServiceKind, Status, SubjectKind, Table,
};

impl Text {
    /// A text in Persian and English.
    pub fn new(fa: impl Into<String>, en: impl Into<String>) -> Self {
        Text { fa: fa.into(), en: en.into() }
    }
}

impl Category {
    /// A catalogue group.
    pub fn new(id: impl Into<String>, label: Text) -> Self {
        Category { id: id.into(), label }
    }
}

impl Choice {
    /// An option of a choice field.
    pub fn new(id: impl Into<String>, label: Text) -> Self {
        Choice { id: id.into(), label }
    }
}

impl Field {
    /// A required field.
    pub fn new(name: impl Into<String>, label: Text, kind: FieldType) -> Self {
        Field { name: name.into(), label, help: None, kind, required: true }
    }

    /// Makes the field optional.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Adds help text.
    pub fn help(mut self, help: Text) -> Self {
        self.help = Some(help);
        self
    }
}

impl Service {
    fn new(kind: ServiceKind, id: &str, title: Text, description: Text, category: Category) -> Self {
        Service {
            id: id.into(),
            title,
            description,
            category,
            kind,
            scope: Scope::National,
            fields: Vec::new(),
            min_assurance: Assurance::None,
            identity: Vec::new(),
            fee_rial: None,
            expected_days: None,
            audience: Audience::Persons,
        }
    }

    /// A national inquiry open to anyone, with no fields yet.
    pub fn inquiry(id: &str, title: Text, description: Text, category: Category) -> Self {
        Self::new(ServiceKind::Inquiry, id, title, description, category)
    }

    /// A national application for signed-in citizens (substantial assurance).
    pub fn application(id: &str, title: Text, description: Text, category: Category) -> Self {
        Service {
            min_assurance: Assurance::Substantial,
            ..Self::new(ServiceKind::Application, id, title, description, category)
        }
    }

    /// Appends a form field.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Offers the service in one province only.
    pub fn in_province(mut self, province: &str) -> Self {
        self.scope = Scope::Province(province.into());
        self
    }

    /// Requires at least this sign-in strength.
    pub fn min_assurance(mut self, assurance: Assurance) -> Self {
        self.min_assurance = assurance;
        self
    }

    /// Needs these attributes of the citizen.
    pub fn needs(mut self, attributes: &[IdentityAttribute]) -> Self {
        self.identity = attributes.to_vec();
        self
    }

    /// Offers the service to legal entities only: a company's signatory uses it for the
    /// company (the default is persons only).
    pub fn for_legal_entities(mut self) -> Self {
        self.audience = Audience::LegalEntities;
        self
    }

    /// Offers the service to persons and legal entities alike.
    pub fn for_everyone(mut self) -> Self {
        self.audience = Audience::Everyone;
        self
    }

    /// Charges a fee.
    pub fn fee_rial(mut self, fee: u64) -> Self {
        self.fee_rial = Some(fee);
        self
    }

    /// Typical days to a decision.
    pub fn expected_days(mut self, days: u32) -> Self {
        self.expected_days = Some(days);
        self
    }
}

impl Document {
    /// An empty document with a title.
    pub fn new(title: Text) -> Self {
        Document { title, items: Vec::new(), tables: Vec::new(), bills: Vec::new() }
    }

    /// Appends a labelled value.
    pub fn item(mut self, label: Text, value: impl Into<String>) -> Self {
        self.items.push(Item { label, value: value.into() });
        self
    }

    /// Appends a table.
    pub fn table(mut self, table: Table) -> Self {
        self.tables.push(table);
        self
    }

    /// Appends a payable bill.
    pub fn bill(mut self, bill: Bill) -> Self {
        self.bills.push(bill);
        self
    }
}

impl Bill {
    /// A bill for `amount_rial` of the agency's file `file_and_company` (file ID and
    /// company code), with valid check digits: see [`panjereh_formats::bill::make`] for
    /// how each argument is encoded (the amount in thousands of rials, so rounded down).
    pub fn make(
        file_and_company: &str,
        service_type: u8,
        amount_rial: u64,
        year_digit: u8,
        period: u8,
        title: Text,
    ) -> Self {
        let made = panjereh_formats::bill::make(file_and_company, service_type, amount_rial, year_digit, period);
        Bill { bill_id: made.bill_id, payment_id: made.payment_id, amount_rial: made.amount_rial, title }
    }

    /// Whether this is the bill a payment names.
    pub fn is(&self, paid: &BillRef) -> bool {
        self.bill_id == paid.bill_id && self.payment_id == paid.payment_id
    }
}

impl Receipt {
    /// A receipt without bills.
    pub fn new(agency_reference: impl Into<String>, status: Status, message: Text) -> Self {
        Receipt { agency_reference: agency_reference.into(), status, message, bills: Vec::new() }
    }

    /// Asks the citizen to pay a bill (a filing fee).
    pub fn bill(mut self, bill: Bill) -> Self {
        self.bills.push(bill);
        self
    }
}

impl StatusUpdate {
    /// A status update without bills.
    pub fn new(agency_reference: impl Into<String>, status: Status, message: Text) -> Self {
        StatusUpdate { agency_reference: agency_reference.into(), status, message, bills: Vec::new() }
    }

    /// Asks the citizen to pay a bill that arose with this change.
    pub fn bill(mut self, bill: Bill) -> Self {
        self.bills.push(bill);
        self
    }
}

impl AdapterError {
    /// One field refused, with a message in both languages.
    pub fn field(field: &str, message: Text) -> Self {
        AdapterError::InvalidInput(vec![FieldError { field: field.into(), message }])
    }
}

impl Status {
    /// Every status, in the order a case usually moves through them.
    pub const ALL: [Status; 7] = [
        Status::Submitted,
        Status::InReview,
        Status::ActionRequired,
        Status::Approved,
        Status::Rejected,
        Status::Completed,
        Status::Cancelled,
    ];

    /// The WIT spelling (`in-review`), which is also what agencies' callbacks send.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::InReview => "in-review",
            Status::ActionRequired => "action-required",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
        }
    }

    /// The status spelled `s` (WIT spelling; `_` is accepted for `-`).
    pub fn parse(s: &str) -> Option<Status> {
        let s = s.trim().replace('_', "-").to_ascii_lowercase();
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether no further change is expected.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Rejected | Status::Completed | Status::Cancelled)
    }

    /// How a citizen reads it.
    pub fn label(self) -> Text {
        let (fa, en) = match self {
            Status::Submitted => ("ثبت شده", "submitted"),
            Status::InReview => ("در حال بررسی", "in review"),
            Status::ActionRequired => ("نیازمند اقدام متقاضی", "action required"),
            Status::Approved => ("موافقت شده", "approved"),
            Status::Rejected => ("رد شده", "rejected"),
            Status::Completed => ("انجام شده", "completed"),
            Status::Cancelled => ("لغو شده", "cancelled"),
        };
        Text::new(fa, en)
    }
}

impl CallContext {
    /// `fa` or `en` text, in the caller's language.
    pub fn pick<'a>(&self, text: &'a Text) -> &'a str {
        if self.locale == "en" { &text.en } else { &text.fa }
    }

    /// The signed-in citizen's national ID (a legal entity's national legal ID), when the
    /// operator granted it to the adapter.
    pub fn national_id(&self) -> Option<&str> {
        self.citizen.as_ref().and_then(|c| c.national_id.as_deref())
    }

    /// Whether the call is for a legal entity (through one of its signatories).
    pub fn for_legal_entity(&self) -> bool {
        self.citizen.as_ref().is_some_and(|c| c.kind == SubjectKind::LegalEntity)
    }

    /// Who acts, when someone acts for the subject (a signatory, a parent, a counter
    /// clerk, a delegate).
    pub fn actor(&self) -> Option<&Actor> {
        self.citizen.as_ref().and_then(|c| c.actor.as_ref())
    }
}

/// Looking up submitted values by field name.
pub trait Values {
    /// The value of a field, if submitted.
    fn get_value(&self, name: &str) -> Option<String>;
}

impl Values for [Value] {
    fn get_value(&self, name: &str) -> Option<String> {
        self.iter().find(|v| v.name == name).map(|v| v.value.clone())
    }
}

impl Values for Vec<Value> {
    fn get_value(&self, name: &str) -> Option<String> {
        self.as_slice().get_value(name)
    }
}
