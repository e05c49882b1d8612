//! Who may call a service, and what the adapter learns about them.
//!
//! [`admit`] compares a service's `min-assurance` with the session: anonymous callers are
//! let through only when it is `none`. [`disclose`] builds the `citizen` record an adapter
//! receives: a pseudonym specific to the agency, plus only those identity attributes the
//! service declares **and** the operator granted the adapter. Each attribute handed over
//! is written to the data-usage log before the call.

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::session::sign_in_required;
use super::{Citizen, assurance_name, assurance_rank};
use crate::api::problem::{Bilingual, Problem};
use crate::plugins::Adapter;
use crate::runtime::bindings::{self, Assurance, IdentityAttribute, Service};
use crate::store::data_usage::{self, Usage};
use crate::store::{Db, now_ms};

/// Why a call was made, as shown in the data-usage log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Inquiry,
    Application,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Inquiry => "inquiry",
            Purpose::Application => "application",
        }
    }
}

fn level_fa(a: Assurance) -> &'static str {
    match a {
        Assurance::None => "بدون ورود",
        Assurance::Low => "پایین",
        Assurance::Substantial => "معتبر (کد یک‌بارمصرف)",
        Assurance::High => "بالا (کارت هوشمند ملی)",
    }
}

/// Lets the caller in if their sign-in is at least as strong as the service requires.
pub fn admit(service: &Service, citizen: Option<&Citizen>) -> Result<(), Problem> {
    if citizen.is_some_and(Citizen::is_legal_entity) && service.identity.contains(&IdentityAttribute::NationalId) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "service-for-persons",
            Bilingual::new("این خدمت برای اشخاص حقیقی است", "This service is for natural persons"),
        )
        .detail(Bilingual::new(
            "این خدمت کد ملی شخص را به دستگاه می‌فرستد؛ برای استفاده از آن از طرف خودتان اقدام کنید.",
            "the service hands a person's national ID to the agency; act for yourself to use it",
        )));
    }
    let needed = service.min_assurance;
    match citizen {
        None if needed == Assurance::None => Ok(()),
        None => Err(sign_in_required(Bilingual::new(
            format!("این خدمت به ورود با سطح اطمینان «{}» یا بالاتر نیاز دارد.", level_fa(needed)),
            format!("this service needs a sign-in with at least `{}` assurance", assurance_name(needed)),
        ))
        .extension("required_assurance", assurance_name(needed))),
        Some(c) if assurance_rank(c.assurance) >= assurance_rank(needed) => Ok(()),
        Some(c) => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "assurance-too-low",
            Bilingual::new("سطح اطمینان ورود شما کافی نیست", "Your sign-in is not strong enough"),
        )
        .detail(Bilingual::new(
            format!(
                "این خدمت به سطح «{}» نیاز دارد و ورود شما در سطح «{}» است؛ با روشی قوی‌تر وارد شوید.",
                level_fa(needed),
                level_fa(c.assurance)
            ),
            format!(
                "this service needs `{}` assurance; your session has `{}`: sign in with a stronger method",
                assurance_name(needed),
                assurance_name(c.assurance)
            ),
        ))
        .extension("required_assurance", assurance_name(needed))
        .extension("current_assurance", assurance_name(c.assurance))),
    }
}

/// The citizen's pseudonym for one agency: stable for that agency, unlinkable across
/// agencies without the window's data.
pub fn pseudonym(subject: &str, agency: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(subject.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"panjereh-pseudonym:");
    mac.update(agency.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

fn attribute_name(a: IdentityAttribute) -> &'static str {
    match a {
        IdentityAttribute::NationalId => "national-id",
        IdentityAttribute::Mobile => "mobile",
    }
}

/// The `citizen` record for a call of `service` on `adapter`, after logging every
/// attribute it hands over.
pub async fn disclose(
    db: &Db,
    adapter: &Adapter,
    service: &Service,
    citizen: Option<&Citizen>,
    purpose: Purpose,
    request_id: &str,
) -> sqlx::Result<Option<bindings::Citizen>> {
    let Some(citizen) = citizen else {
        return Ok(None);
    };
    let granted = &adapter.grant().identity;
    let handed: Vec<IdentityAttribute> =
        service.identity.iter().copied().filter(|a| granted.contains(attribute_name(*a))).fold(
            Vec::new(),
            |mut acc, a| {
                if !acc.contains(&a) {
                    acc.push(a);
                }
                acc
            },
        );
    let now = now_ms();
    let entries: Vec<Usage> = handed
        .iter()
        .map(|a| Usage {
            citizen_id: citizen.subject.clone(),
            adapter_id: adapter.manifest.id.clone(),
            agency: adapter.agency.id.clone(),
            service: service.id.clone(),
            attribute: attribute_name(*a).to_owned(),
            purpose: purpose.name().to_owned(),
            request_id: request_id.to_owned(),
            at_ms: now,
            actor_id: citizen.actor_id(),
        })
        .collect();
    data_usage::record(db, &entries).await?;
    Ok(Some(bindings::Citizen {
        subject: pseudonym(&citizen.subject, &adapter.agency.id),
        national_id: handed.contains(&IdentityAttribute::NationalId).then(|| citizen.national_id.clone()),
        mobile: handed.contains(&IdentityAttribute::Mobile).then(|| citizen.mobile.clone()),
        assurance: citizen.assurance,
    }))
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
