//! The catalogue: searching the services serving now, and one service's description.

use super::ServiceError;
use super::call::find_any;
use super::views::{ServiceDetail, ServiceSummary};
use crate::plugins::Registry;
use crate::plugins::catalogue::Entry;
use crate::runtime::bindings::{Scope, ServiceKind};
use crate::text::Lang;

/// What to look for; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Free text, matched against titles, descriptions and categories in both languages
    /// with Persian folding (Arabic ي and ك, Persian digits, ZWNJ, diacritics).
    pub text: Option<String>,
    pub category: Option<String>,
    pub agency: Option<String>,
    /// National services are always listed, provincial ones only for their province.
    pub province: Option<String>,
    pub kind: Option<ServiceKind>,
}

impl Filters {
    fn matches(&self, entry: &Entry, needle: Option<&str>) -> bool {
        let service = entry.service();
        let province_ok = match &service.scope {
            Scope::Province(p) => self.province.as_deref().is_none_or(|q| q == p),
            Scope::National => true,
        };
        self.agency.as_deref().is_none_or(|a| a == entry.adapter.agency.id)
            && self.category.as_deref().is_none_or(|c| c == service.category.id)
            && self.kind.is_none_or(|k| k == service.kind)
            && province_ok
            && needle.is_none_or(|needle| entry.mentions(needle))
    }
}

/// The services matching `filters`, in catalogue order.
pub fn search(registry: &Registry, lang: Lang, filters: &Filters) -> Vec<ServiceSummary> {
    let needle = filters.text.as_deref().map(panjereh_formats::text::search_key).filter(|n| !n.is_empty());
    registry
        .catalogue()
        .entries
        .iter()
        .filter(|entry| filters.matches(entry, needle.as_deref()))
        .map(|entry| ServiceSummary::new(lang, &entry.adapter.agency, entry.service(), entry.enabled))
        .collect()
}

/// One service's description and form, whether or not its adapter is enabled.
pub fn service(registry: &Registry, lang: Lang, agency: &str, service: &str) -> Result<ServiceDetail, ServiceError> {
    let (slot, index) = find_any(registry, agency, service)?;
    Ok(ServiceDetail::new(lang, &slot.adapter.agency, &slot.adapter.agency.services[index], slot.enabled))
}
