//! What an adapter may hand the host: the caps on its answers and on its description.
//!
//! Every cap is here, so that the host, the README and `plugin-sdk/GUIDE.md` name the same
//! numbers. Lengths are in bytes of UTF-8 (a Persian letter takes two), and each language
//! of a `text` is measured on its own.
//!
//! An answer past a cap is the adapter's failure: the citizen gets a 502 naming the
//! adapter, and the call counts as failed (`oversized`) in the metrics. A description past
//! a cap refuses the adapter at load, with the reason in `/readyz`; the others keep serving.

use std::fmt::Display;

use crate::runtime::bindings::{
    AdapterError, Agency, Bill, Document, FieldType, Receipt, Service, StatusUpdate, Table, Text,
};

/// All the strings of one document together (both languages).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Labelled values in one document.
pub const MAX_ITEMS: usize = 200;
/// Tables in one document.
pub const MAX_TABLES: usize = 20;
/// Rows of all the tables of one document together.
pub const MAX_ROWS: usize = 2000;
/// Columns of a table, and cells of each of its rows.
pub const MAX_COLUMNS: usize = 30;
/// Bills in one document, receipt or status update.
pub const MAX_BILLS: usize = 20;
/// A title, label, name or column heading (each language).
pub const MAX_LABEL_BYTES: usize = 1024;
/// An item's value or a table cell.
pub const MAX_VALUE_BYTES: usize = 8 << 10;
/// A message of a receipt, a status update or an error, a service's description or a
/// field's help (each language).
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;
/// The agency's reference of an application, a bill ID or a payment ID.
pub const MAX_REFERENCE_BYTES: usize = 128;
/// Field errors in one `invalid-input` answer.
pub const MAX_FIELD_ERRORS: usize = 50;
/// An id: of a service, a field, a category, a choice or a province.
pub const MAX_ID_BYTES: usize = 64;
/// Services one agency describes.
pub const MAX_SERVICES: usize = 100;
/// Fields of one service's form.
pub const MAX_FIELDS: usize = 40;
/// Options of one choice field.
pub const MAX_CHOICES: usize = 100;

/// Why an answer or a description was refused: names what was too large and the cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Exceeded(pub String);

type Checked = Result<(), Exceeded>;

fn count(what: impl Display, n: usize, max: usize) -> Checked {
    if n > max {
        return Err(Exceeded(format!("{what}: {n}, at most {max}")));
    }
    Ok(())
}

fn length(what: impl Display, s: &str, max: usize) -> Checked {
    if s.len() > max {
        return Err(Exceeded(format!("{what} is {} bytes, at most {max}", s.len())));
    }
    Ok(())
}

fn text(what: impl Display, t: &Text, max: usize) -> Checked {
    length(format_args!("{what} (fa)"), &t.fa, max)?;
    length(format_args!("{what} (en)"), &t.en, max)
}

fn text_bytes(t: &Text) -> usize {
    t.fa.len() + t.en.len()
}

/// Checks an inquiry's answer.
pub fn document(doc: &Document) -> Checked {
    count("items", doc.items.len(), MAX_ITEMS)?;
    count("tables", doc.tables.len(), MAX_TABLES)?;
    count("rows of all tables", doc.tables.iter().map(|t| t.rows.len()).sum(), MAX_ROWS)?;
    text("the document's title", &doc.title, MAX_LABEL_BYTES)?;
    let mut bytes = text_bytes(&doc.title);
    for (i, item) in doc.items.iter().enumerate() {
        text(format_args!("item {i}'s label"), &item.label, MAX_LABEL_BYTES)?;
        length(format_args!("item {i}'s value"), &item.value, MAX_VALUE_BYTES)?;
        bytes += text_bytes(&item.label) + item.value.len();
    }
    for (i, table) in doc.tables.iter().enumerate() {
        bytes += self::table(i, table)?;
    }
    bytes += self::bills(&doc.bills)?;
    count("bytes of text in the document", bytes, MAX_DOCUMENT_BYTES)
}

/// Checks the bills of a document, receipt or status update; returns their bytes of text.
fn bills(bills: &[Bill]) -> Result<usize, Exceeded> {
    count("bills", bills.len(), MAX_BILLS)?;
    let mut bytes = 0;
    for (i, bill) in bills.iter().enumerate() {
        length(format_args!("bill {i}'s bill ID"), &bill.bill_id, MAX_REFERENCE_BYTES)?;
        length(format_args!("bill {i}'s payment ID"), &bill.payment_id, MAX_REFERENCE_BYTES)?;
        text(format_args!("bill {i}'s title"), &bill.title, MAX_LABEL_BYTES)?;
        bytes += bill.bill_id.len() + bill.payment_id.len() + text_bytes(&bill.title);
    }
    Ok(bytes)
}

/// Checks one table; returns its bytes of text.
fn table(i: usize, table: &Table) -> Result<usize, Exceeded> {
    text(format_args!("table {i}'s title"), &table.title, MAX_LABEL_BYTES)?;
    count(format_args!("columns of table {i}"), table.columns.len(), MAX_COLUMNS)?;
    let mut bytes = text_bytes(&table.title);
    for column in &table.columns {
        text(format_args!("a column heading of table {i}"), column, MAX_LABEL_BYTES)?;
        bytes += text_bytes(column);
    }
    for (r, row) in table.rows.iter().enumerate() {
        count(format_args!("cells of row {r} of table {i}"), row.len(), MAX_COLUMNS)?;
        for cell in row {
            length(format_args!("a cell of row {r} of table {i}"), cell, MAX_VALUE_BYTES)?;
            bytes += cell.len();
        }
        // Stop early rather than walk a huge table to the end.
        count("bytes of text in the document", bytes, MAX_DOCUMENT_BYTES)?;
    }
    Ok(bytes)
}

/// Checks the answer to `submit`.
pub fn receipt(receipt: &Receipt) -> Checked {
    length("the agency reference", &receipt.agency_reference, MAX_REFERENCE_BYTES)?;
    text("the receipt's message", &receipt.message, MAX_MESSAGE_BYTES)?;
    bills(&receipt.bills).map(drop)
}

/// Checks the answer to `status`, `on-callback` or `on-payment`.
pub fn status_update(update: &StatusUpdate) -> Checked {
    length("the agency reference", &update.agency_reference, MAX_REFERENCE_BYTES)?;
    text("the status message", &update.message, MAX_MESSAGE_BYTES)?;
    bills(&update.bills).map(drop)
}

/// Checks an error an adapter answered with.
pub fn error(error: &AdapterError) -> Checked {
    match error {
        AdapterError::InvalidInput(errors) => {
            count("field errors", errors.len(), MAX_FIELD_ERRORS)?;
            for e in errors {
                length("a field error's field name", &e.field, MAX_ID_BYTES)?;
                text("a field error's message", &e.message, MAX_MESSAGE_BYTES)?;
            }
            Ok(())
        }
        AdapterError::NotFound(m) | AdapterError::Forbidden(m) | AdapterError::Unavailable(m) => {
            text("the error message", m, MAX_MESSAGE_BYTES)
        }
        AdapterError::Other(reason) => length("the error reason", reason, MAX_MESSAGE_BYTES),
    }
}

/// Checks what `describe` returned.
pub fn agency(agency: &Agency) -> Checked {
    length("the agency id", &agency.id, MAX_ID_BYTES)?;
    text("the agency's name", &agency.name, MAX_LABEL_BYTES)?;
    count("services", agency.services.len(), MAX_SERVICES)?;
    agency.services.iter().try_for_each(service)
}

fn service(s: &Service) -> Checked {
    length("a service id", &s.id, MAX_ID_BYTES)?;
    let id = &s.id;
    text(format_args!("service `{id}`'s title"), &s.title, MAX_LABEL_BYTES)?;
    text(format_args!("service `{id}`'s description"), &s.description, MAX_MESSAGE_BYTES)?;
    length(format_args!("service `{id}`'s category id"), &s.category.id, MAX_ID_BYTES)?;
    text(format_args!("service `{id}`'s category label"), &s.category.label, MAX_LABEL_BYTES)?;
    if let crate::runtime::bindings::Scope::Province(p) = &s.scope {
        length(format_args!("service `{id}`'s province"), p, MAX_ID_BYTES)?;
    }
    count(format_args!("fields of service `{id}`"), s.fields.len(), MAX_FIELDS)?;
    for f in &s.fields {
        length(format_args!("a field name of service `{id}`"), &f.name, MAX_ID_BYTES)?;
        let name = &f.name;
        text(format_args!("field `{name}` of service `{id}`: its label"), &f.label, MAX_LABEL_BYTES)?;
        if let Some(help) = &f.help {
            text(format_args!("field `{name}` of service `{id}`: its help"), help, MAX_MESSAGE_BYTES)?;
        }
        if let FieldType::Choice(choices) = &f.kind {
            count(format_args!("choices of field `{name}` of service `{id}`"), choices.len(), MAX_CHOICES)?;
            for c in choices {
                length(format_args!("a choice id of field `{name}`"), &c.id, MAX_ID_BYTES)?;
                text(format_args!("a choice label of field `{name}`"), &c.label, MAX_LABEL_BYTES)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::{Item, Status};

    fn t(s: &str) -> Text {
        Text { fa: s.into(), en: s.into() }
    }

    fn doc() -> Document {
        Document { title: t("title"), items: Vec::new(), tables: Vec::new(), bills: Vec::new() }
    }

    #[test]
    fn documents_within_the_caps_pass_and_past_them_name_the_cap() {
        let mut d = doc();
        d.items = (0..MAX_ITEMS).map(|_| Item { label: t("l"), value: "v".into() }).collect();
        assert_eq!(document(&d), Ok(()));
        d.items.push(Item { label: t("l"), value: "v".into() });
        assert_eq!(document(&d).unwrap_err().0, "items: 201, at most 200");

        let mut d = doc();
        d.tables = vec![Table { title: t("t"), columns: vec![t("c")], rows: vec![vec!["x".repeat(8000)]; 200] }];
        let error = document(&d).unwrap_err().0;
        assert!(error.starts_with("bytes of text in the document"), "{error}");

        let mut d = doc();
        d.title.fa = "ب".repeat(513);
        assert_eq!(document(&d).unwrap_err().0, "the document's title (fa) is 1026 bytes, at most 1024");
    }

    #[test]
    fn receipts_updates_and_errors_are_capped() {
        let receipt_ok =
            Receipt { agency_reference: "A-1".into(), status: Status::Submitted, message: t("ok"), bills: Vec::new() };
        assert_eq!(receipt(&receipt_ok), Ok(()));
        let bill =
            Bill { bill_id: "7748317800142".into(), payment_id: "1770160".into(), amount_rial: 1, title: t("b") };
        let many = Receipt { bills: vec![bill.clone(); MAX_BILLS + 1], ..receipt_ok.clone() };
        assert_eq!(receipt(&many).unwrap_err().0, "bills: 21, at most 20");
        let long = Receipt { agency_reference: "R".repeat(129), ..receipt_ok };
        assert!(receipt(&long).is_err());
        let update = StatusUpdate {
            agency_reference: "A-1".into(),
            status: Status::Approved,
            message: t(&"m".repeat(5000)),
            bills: Vec::new(),
        };
        assert!(status_update(&update).unwrap_err().0.contains("status message"));
        let titled =
            StatusUpdate { message: t("ok"), bills: vec![Bill { title: t(&"x".repeat(2000)), ..bill }], ..update };
        assert!(status_update(&titled).unwrap_err().0.starts_with("bill 0's title"));
        let many = AdapterError::InvalidInput(
            (0..51).map(|_| crate::runtime::bindings::FieldError { field: "f".into(), message: t("m") }).collect(),
        );
        assert_eq!(error(&many).unwrap_err().0, "field errors: 51, at most 50");
    }
}
