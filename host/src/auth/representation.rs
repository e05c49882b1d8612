//! Acting for others: who may act for whom, asked of the registries that know.
//!
//! - A **legal entity** (11-digit national legal ID) is acted for by its registered
//!   signatories: the companies registry answers them.
//! - A **minor** is acted for by a parent until their 18th birthday: the civil registry
//!   answers a parent's children with their dates of birth.
//!
//! Answers are cached for `[representation] cache-secs` (60) to check every request
//! cheaply; a filing or a payment asks again ([`Representation::check`] with `fresh`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::RepresentationSettings;

/// On what basis someone acts for a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// A registered signatory of a legal entity.
    Signatory,
    /// A parent of a minor.
    Guardian,
    /// A counter-office clerk, for a citizen present who read back the code sent to their
    /// mobile; for the rest of the clerk's session.
    Counter,
    /// A delegate, under a mandate the citizen gave them.
    Mandate,
}

impl From<Basis> for crate::runtime::bindings::Representation {
    fn from(basis: Basis) -> Self {
        use crate::runtime::bindings::Representation;
        match basis {
            Basis::Signatory => Representation::Signatory,
            Basis::Guardian => Representation::Guardian,
            Basis::Counter => Representation::CounterClerk,
            Basis::Mandate => Representation::Mandate,
        }
    }
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Signatory => "signatory",
            Basis::Guardian => "guardian",
            Basis::Counter => "counter",
            Basis::Mandate => "mandate",
        }
    }

    pub fn from_name(name: &str) -> Option<Basis> {
        match name {
            "signatory" => Some(Basis::Signatory),
            "guardian" => Some(Basis::Guardian),
            "counter" => Some(Basis::Counter),
            "mandate" => Some(Basis::Mandate),
            _ => None,
        }
    }

    /// The kind of subject acted for on this basis (`citizens.kind`).
    pub fn subject_kind(self) -> &'static str {
        match self {
            Basis::Signatory => "legal-entity",
            Basis::Guardian | Basis::Counter | Basis::Mandate => "person",
        }
    }
}

/// Someone the actor may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Representable {
    pub basis: Basis,
    /// The national legal ID of a legal entity, or the national ID of a minor.
    pub id: String,
    pub name_fa: String,
    pub name_en: String,
    /// The signatory's role (`مدیرعامل`), for a legal entity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_fa: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_en: Option<String>,
    /// The day the right ends (a minor's 18th birthday), `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepresentationError {
    #[error("no right to act for this subject")]
    NotAllowed,
    #[error("acting for others is not configured on this host")]
    Off,
    #[error("the registry did not answer: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct Company {
    legal_id: String,
    name_fa: String,
    name_en: String,
    signatories: Vec<Signatory>,
}

#[derive(Deserialize)]
struct Signatory {
    national_id: String,
    role_fa: String,
    role_en: String,
}

#[derive(Deserialize)]
struct Child {
    national_id: String,
    name_fa: String,
    name_en: String,
    born: String,
}

/// The registries' client, with its short cache.
#[derive(Debug)]
pub struct Representation {
    settings: Option<RepresentationSettings>,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, Vec<Representable>)>>,
}

impl Representation {
    pub fn new(settings: Option<RepresentationSettings>) -> anyhow::Result<Representation> {
        let timeout = settings.as_ref().map_or(Duration::from_secs(5), |s| s.timeout);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("panjereh/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Representation { settings, http, cache: Mutex::new(HashMap::new()) })
    }

    /// Everyone `actor` (a national ID) may act for now; from the cache unless `fresh`.
    pub async fn of(&self, actor: &str, fresh: bool) -> Result<Vec<Representable>, RepresentationError> {
        let settings = self.settings.as_ref().ok_or(RepresentationError::Off)?;
        if !fresh {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, list)) = cache.get(actor)
                && at.elapsed() < settings.cache_for
            {
                return Ok(list.clone());
            }
        }
        let mut list = Vec::new();
        let companies: Vec<Company> =
            self.get(&format!("{}/v1/people/{actor}/companies", settings.companies_url)).await?;
        for company in companies {
            if let Some(s) = company.signatories.iter().find(|s| s.national_id == actor) {
                list.push(Representable {
                    basis: Basis::Signatory,
                    id: company.legal_id,
                    name_fa: company.name_fa,
                    name_en: company.name_en,
                    role_fa: Some(s.role_fa.clone()),
                    role_en: Some(s.role_en.clone()),
                    until: None,
                });
            }
        }
        let children: Vec<Child> = self.get(&format!("{}/v1/people/{actor}/children", settings.civil_url)).await?;
        let today = today();
        for child in children {
            let Some(until) = eighteenth_birthday(&child.born) else {
                continue;
            };
            if until.as_str() > today.as_str() {
                list.push(Representable {
                    basis: Basis::Guardian,
                    id: child.national_id,
                    name_fa: child.name_fa,
                    name_en: child.name_en,
                    role_fa: None,
                    role_en: None,
                    until: Some(until),
                });
            }
        }
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(actor.to_owned(), (Instant::now(), list.clone()));
        Ok(list)
    }

    /// Whether `actor` may act for `id` on `basis`: what the registries say, from the cache
    /// unless `fresh` (filings and payments ask again).
    pub async fn check(
        &self,
        actor: &str,
        basis: Basis,
        id: &str,
        fresh: bool,
    ) -> Result<Representable, RepresentationError> {
        self.of(actor, fresh)
            .await?
            .into_iter()
            .find(|r| r.basis == basis && r.id == id)
            .ok_or(RepresentationError::NotAllowed)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, RepresentationError> {
        let settings = self.settings.as_ref().ok_or(RepresentationError::Off)?;
        let response = self
            .http
            .get(url)
            .bearer_auth(&settings.token)
            .send()
            .await
            .map_err(|e| RepresentationError::Unavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(RepresentationError::Unavailable(format!("status {}", response.status())));
        }
        response.json().await.map_err(|e| RepresentationError::Unavailable(e.without_url().to_string()))
    }
}

/// Today in UTC, `YYYY-MM-DD`.
fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}-{:02}", now.year(), u8::from(now.month()), now.day())
}

/// The 18th birthday of someone born on `born` (`YYYY-MM-DD`); 29 February counts as
/// 1 March in a year without one.
fn eighteenth_birthday(born: &str) -> Option<String> {
    let (year, rest) = born.split_once('-')?;
    let year: i32 = year.parse().ok()?;
    let (month, day) = rest.split_once('-')?;
    let (month, day): (u8, u8) = (month.parse().ok()?, day.parse().ok()?);
    let target = year + 18;
    let leap = (target % 4 == 0 && target % 100 != 0) || target % 400 == 0;
    let (month, day) = if month == 2 && day == 29 && !leap { (3, 1) } else { (month, day) };
    Some(format!("{target:04}-{month:02}-{day:02}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_right_of_a_parent_ends_at_eighteen() {
        assert_eq!(super::eighteenth_birthday("2015-04-02").as_deref(), Some("2033-04-02"));
        assert_eq!(super::eighteenth_birthday("2008-02-29").as_deref(), Some("2026-03-01"));
        assert_eq!(super::eighteenth_birthday("2004-02-29").as_deref(), Some("2022-03-01"));
        assert_eq!(super::eighteenth_birthday("1990-02-29").as_deref(), Some("2008-02-29"));
        assert_eq!(super::eighteenth_birthday("garbage"), None);
    }
}
