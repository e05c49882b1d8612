//! The catalogue of the services serving now, with their search keys.
//!
//! Built once each time the registry changes (an install, upgrade, rollback, enable,
//! disable or removal), not on every request: listing and searching the catalogue is
//! what anonymous visitors do most, and folding every title, description and category
//! of every service for Persian search on each of their requests would let them spend
//! the host's time at will.

use std::collections::BTreeMap;
use std::sync::Arc;

use panjereh_formats::text::search_key;

use super::{Adapter, Slot};
use crate::runtime::bindings::Service;

/// Every service of every adapter in the registry, in catalogue order (by agency, then as
/// each adapter describes them).
#[derive(Debug, Default)]
pub struct Catalogue {
    pub entries: Vec<Entry>,
}

/// One service and its search keys.
#[derive(Debug)]
pub struct Entry {
    pub adapter: Arc<Adapter>,
    /// Index of the service in the adapter's description.
    pub index: usize,
    /// Whether the adapter serves now (an operator may have it disabled for maintenance).
    pub enabled: bool,
    /// [`search_key`] of the title, description and category, in both languages.
    keys: [String; 6],
}

impl Entry {
    /// The service as its adapter describes it.
    pub fn service(&self) -> &Service {
        &self.adapter.agency.services[self.index]
    }

    /// Whether `needle` (already a [`search_key`]) occurs in the service's texts.
    pub fn mentions(&self, needle: &str) -> bool {
        self.keys.iter().any(|key| key.contains(needle))
    }
}

impl Catalogue {
    /// The catalogue of `slots`.
    pub fn build(slots: &BTreeMap<String, Slot>) -> Catalogue {
        let entries = slots
            .values()
            .flat_map(|slot| {
                slot.adapter.agency.services.iter().enumerate().map(|(index, s)| {
                    let [title, description, category] = [&s.title, &s.description, &s.category.label];
                    Entry {
                        adapter: slot.adapter.clone(),
                        index,
                        enabled: slot.enabled,
                        keys: [title, description, category]
                            .map(|t| [search_key(&t.fa), search_key(&t.en)])
                            .concat()
                            .try_into()
                            .unwrap_or_default(),
                    }
                })
            })
            .collect();
        Catalogue { entries }
    }
}
