//! Two national registries that say who may act for whom:
//!
//! - the companies registry: `GET /v1/companies/{legal_id}` answers the legal entity with
//!   its signatories (`fixtures/companies.json`); `GET /v1/people/{national_id}/companies`
//!   the entities a person signs for;
//! - the civil registry: `GET /v1/people/{national_id}/children` answers a parent's children
//!   with their dates of birth (`fixtures/civil.json`).
//!
//! Both check `Authorization: Bearer <token>`. Tests change the data through [`Handle`].

use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::error;

pub const COMPANIES: &str = include_str!("../fixtures/companies.json");
pub const CIVIL: &str = include_str!("../fixtures/civil.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signatory {
    pub national_id: String,
    pub role_fa: String,
    pub role_en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Company {
    pub legal_id: String,
    pub name_fa: String,
    pub name_en: String,
    pub signatories: Vec<Signatory>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Child {
    pub parent: String,
    pub national_id: String,
    pub name_fa: String,
    pub name_en: String,
    /// `YYYY-MM-DD`.
    pub born: String,
}

#[derive(Debug, Deserialize)]
struct CompaniesFixture {
    companies: Vec<Company>,
}

#[derive(Debug, Deserialize)]
struct CivilFixture {
    children: Vec<Child>,
}

/// Both registries' data.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    token: String,
    companies: RwLock<Vec<Company>>,
    children: RwLock<Vec<Child>>,
}

impl Handle {
    pub fn new(token: impl Into<String>) -> Handle {
        let companies: CompaniesFixture = serde_json::from_str(COMPANIES).expect("fixtures/companies.json is valid");
        let civil: CivilFixture = serde_json::from_str(CIVIL).expect("fixtures/civil.json is valid");
        Handle(Arc::new(Inner {
            token: token.into(),
            companies: RwLock::new(companies.companies),
            children: RwLock::new(civil.children),
        }))
    }

    /// Removes a signatory (a board change, registered today).
    pub fn remove_signatory(&self, legal_id: &str, national_id: &str) {
        let mut companies = self.0.companies.write().unwrap_or_else(|e| e.into_inner());
        for company in companies.iter_mut().filter(|c| c.legal_id == legal_id) {
            company.signatories.retain(|s| s.national_id != national_id);
        }
    }

    /// The companies registry's routes.
    pub fn companies_router(&self) -> Router {
        Router::new()
            .route("/v1/companies/{legal_id}", get(company))
            .route("/v1/people/{national_id}/companies", get(companies_of))
            .with_state(self.clone())
    }

    /// The civil registry's routes.
    pub fn civil_router(&self) -> Router {
        Router::new().route("/v1/people/{national_id}/children", get(children_of)).with_state(self.clone())
    }

    fn authorized(&self, headers: &HeaderMap) -> Result<(), (StatusCode, Json<serde_json::Value>)> {
        let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if bearer == Some(self.0.token.as_str()) {
            Ok(())
        } else {
            Err(error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"))
        }
    }
}

type Answer<T> = Result<Json<T>, (StatusCode, Json<serde_json::Value>)>;

async fn company(State(r): State<Handle>, headers: HeaderMap, Path(legal_id): Path<String>) -> Answer<Company> {
    r.authorized(&headers)?;
    let companies = r.0.companies.read().unwrap_or_else(|e| e.into_inner());
    companies
        .iter()
        .find(|c| c.legal_id == legal_id)
        .cloned()
        .map(Json)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no such legal entity"))
}

async fn companies_of(State(r): State<Handle>, headers: HeaderMap, Path(nid): Path<String>) -> Answer<Vec<Company>> {
    r.authorized(&headers)?;
    let companies = r.0.companies.read().unwrap_or_else(|e| e.into_inner());
    Ok(Json(companies.iter().filter(|c| c.signatories.iter().any(|s| s.national_id == nid)).cloned().collect()))
}

async fn children_of(State(r): State<Handle>, headers: HeaderMap, Path(nid): Path<String>) -> Answer<Vec<Child>> {
    r.authorized(&headers)?;
    let children = r.0.children.read().unwrap_or_else(|e| e.into_inner());
    Ok(Json(children.iter().filter(|c| c.parent == nid).cloned().collect()))
}
