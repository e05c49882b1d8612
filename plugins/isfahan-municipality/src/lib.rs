//! Isfahan municipality (شهرداری اصفهان): the thirteen service groups of its
//! non-attendance service desk (میز خدمت غیرحضوری), offered in the province of Isfahan.
//!
//! A sample adapter for agency developers: inquiries answer at once with documents and
//! payable bills; applications are kept in the adapter's own kv storage and move through
//! their statuses when the municipality's case system calls back.
//!
//! # Layout
//!
//! - [`catalogue`]: the groups and services, with their forms.
//! - [`inquiries`]: property file, renewal and business dues (bills of service type 6),
//!   traffic-zone charges, historic sites, contractor qualification.
//! - [`cases`]: applications, their storage, and the status callback.

pub mod cases;
pub mod catalogue;
pub mod inquiries;

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

/// The adapter.
pub struct IsfahanMunicipality;

impl Adapter for IsfahanMunicipality {
    fn describe() -> Agency {
        Agency {
            id: "isfahan-municipality".into(),
            name: Text::new("شهرداری اصفهان", "Isfahan Municipality"),
            services: catalogue::services(),
        }
    }

    fn inquire(ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        let value = |name: &str| input.get_value(name).unwrap_or_default();
        match ctx.service.as_str() {
            "property-file" => inquiries::property_file(&value("postal-code")),
            "renewal-dues" => inquiries::renewal_dues(&value("postal-code")),
            "traffic-zone-dues" => inquiries::traffic_zone_dues(&value("plate")),
            "historic-sites" => inquiries::historic_site(&value("site")),
            "contractor-rank" => inquiries::contractor_rank(&value("legal-id")),
            "business-dues" => inquiries::business_dues(&value("postal-code"), &value("guild")),
            _ => Err(AdapterError::NotFound(Text::new("این خدمت استعلام ندارد", "this service has no inquiry"))),
        }
    }

    fn submit(ctx: CallContext, input: Vec<Value>) -> Result<Receipt, AdapterError> {
        cases::submit(&ctx, &input)
    }

    fn status(ctx: CallContext, agency_reference: String) -> Result<StatusUpdate, AdapterError> {
        cases::status(&ctx, &agency_reference)
    }

    fn on_callback(body: Vec<u8>) -> Result<StatusUpdate, AdapterError> {
        cases::on_callback(&body)
    }

    fn on_payment(_ctx: CallContext, payment: Payment) -> Result<Option<StatusUpdate>, AdapterError> {
        cases::on_payment(&payment)
    }
}

export!(IsfahanMunicipality);

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_plugin_sdk::testing::{context, input};

    #[test]
    fn every_group_has_a_service_and_everything_is_in_isfahan() {
        let agency = IsfahanMunicipality::describe();
        let mut groups: Vec<_> = agency.services.iter().map(|s| s.category.id.as_str()).collect();
        groups.dedup();
        assert_eq!(groups.len(), 13, "{groups:?}");
        assert!(agency.services.iter().all(|s| s.scope == Scope::Province("isfahan".into())));
        assert!(agency.services.iter().all(|s| !s.title.fa.is_empty() && !s.title.en.is_empty()));
    }

    #[test]
    fn every_inquiry_answers() {
        let agency = IsfahanMunicipality::describe();
        let answers = [
            ("property-file", vec![("postal-code", "8134783111")]),
            ("renewal-dues", vec![("postal-code", "8134783111")]),
            ("traffic-zone-dues", vec![("plate", "12ب345-13")]),
            ("historic-sites", vec![("site", "ali-qapu")]),
            ("contractor-rank", vec![("legal-id", "10380284790")]),
            ("business-dues", vec![("postal-code", "8134783111"), ("guild", "food")]),
        ];
        let inquiries = agency.services.iter().filter(|s| s.kind == ServiceKind::Inquiry).count();
        assert_eq!(inquiries, answers.len());
        for (service, pairs) in answers {
            let document = IsfahanMunicipality::inquire(context(service), input(&pairs)).unwrap();
            assert!(!document.items.is_empty(), "{service}");
        }
        assert!(matches!(
            IsfahanMunicipality::inquire(context("tree-pruning"), vec![]),
            Err(AdapterError::NotFound(_))
        ));
    }
}
