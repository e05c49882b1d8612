//! Who may call a service, and what the adapter learns about them.
//!
//! (Whether the caller may use the service at all is `window::call::admit`.) [`handover`]
//! builds the `citizen` record an adapter receives: a pseudonym specific to the agency,
//! plus only those identity attributes the service declares **and** the operator granted
//! the adapter. Each attribute handed over is an entry of the data-usage log, which the
//! caller makes durable before the call (`window::call::AdapterCall::context`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Citizen;
use crate::plugins::Adapter;
use crate::runtime::bindings::{self, IdentityAttribute, Service, SubjectKind};
use crate::store::data_usage::Usage;
use crate::store::now_ms;

pub use crate::names::Purpose;

/// The citizen's pseudonym for one agency: stable for that agency, unlinkable across
/// agencies without the window's data.
pub fn pseudonym(subject: &str, agency: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(subject.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"panjereh-pseudonym:");
    mac.update(agency.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// What a call hands an adapter about the citizen, and the data-usage entries that must be
/// durable before it does.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    pub citizen: Option<bindings::Citizen>,
    pub entries: Vec<Usage>,
}

/// The hand-over of a call of `service` on `adapter`, not yet logged: its entries are for
/// the caller to write (with [`data_usage::record_on`]) before the call.
pub fn handover(
    adapter: &Adapter,
    service: &Service,
    citizen: Option<&Citizen>,
    purpose: Purpose,
    request_id: &str,
) -> Handover {
    let Some(citizen) = citizen else {
        return Handover::default();
    };
    let granted = &adapter.grant().identity;
    let handed: Vec<IdentityAttribute> =
        service.identity.iter().copied().filter(|a| granted.contains(a.as_str())).fold(Vec::new(), |mut acc, a| {
            if !acc.contains(&a) {
                acc.push(a);
            }
            acc
        });
    let now = now_ms();
    let entries: Vec<Usage> = handed
        .iter()
        .map(|a| Usage {
            citizen_id: citizen.subject.clone(),
            adapter_id: adapter.manifest.id.clone(),
            agency: adapter.agency.id.clone(),
            service: service.id.clone(),
            attribute: *a,
            purpose,
            request_id: request_id.to_owned(),
            at_ms: now,
            actor_id: citizen.actor_id(),
        })
        .collect();
    let record = bindings::Citizen {
        subject: pseudonym(&citizen.subject, &adapter.agency.id),
        national_id: handed.contains(&IdentityAttribute::NationalId).then(|| citizen.national_id.clone()),
        mobile: handed.contains(&IdentityAttribute::Mobile).then(|| citizen.mobile.clone()),
        assurance: citizen.assurance,
        kind: if citizen.is_legal_entity() { SubjectKind::LegalEntity } else { SubjectKind::Person },
        actor: citizen.actor.as_ref().map(|actor| bindings::Actor {
            subject: pseudonym(&actor.subject, &adapter.agency.id),
            basis: actor.basis.into(),
        }),
    };
    Handover { citizen: Some(record), entries }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_agency_and_unlinkable_across() {
        let subject = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let a = pseudonym(subject, "traffic-police");
        assert_eq!(a, pseudonym(subject, "traffic-police"));
        assert_ne!(a, pseudonym(subject, "tax-administration"));
        assert_ne!(a, pseudonym("another-subject", "traffic-police"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains(subject));
    }
}
