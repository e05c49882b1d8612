//! The mobile-ownership registry (Shahkar, through an integrator's matching API): does this
//! mobile number belong to this national ID?
//!
//! `GET /v1/services/matching?nationalCode=..&mobileNumber=..` with `Authorization: Bearer
//! <token>` answers `{"matched": bool, "trackId": ".."}`. Like the real registry it knows
//! one owner per mobile number. Tests and demos may register a pair ([`Handle::register`])
//! or take the registry down ([`Handle::set_down`]: every request answers 503).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error;

/// The fixture file, compiled in so the binary runs from anywhere.
pub const FIXTURE: &str = include_str!("../fixtures/registry.json");

#[derive(Debug, Deserialize)]
struct Fixture {
    pairs: Vec<Pair>,
}

#[derive(Debug, Deserialize)]
struct Pair {
    national_id: String,
    mobile: String,
}

/// The registry's state, shared with whoever started it.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    token: String,
    /// Owner's national ID by mobile number.
    owners: RwLock<HashMap<String, String>>,
    down: AtomicBool,
    asked: AtomicU64,
}

impl Handle {
    /// A registry that knows the fixture's pairs and accepts `token`.
    pub fn new(token: impl Into<String>) -> Handle {
        let fixture: Fixture = serde_json::from_str(FIXTURE).expect("fixtures/registry.json is valid");
        let owners = fixture.pairs.into_iter().map(|p| (p.mobile, p.national_id)).collect();
        Handle(Arc::new(Inner {
            token: token.into(),
            owners: RwLock::new(owners),
            down: AtomicBool::new(false),
            asked: AtomicU64::new(0),
        }))
    }

    /// Registers `mobile` to `national_id` (its previous owner, if any, loses it).
    pub fn register(&self, national_id: &str, mobile: &str) {
        self.0.owners.write().unwrap_or_else(|e| e.into_inner()).insert(mobile.to_owned(), national_id.to_owned());
    }

    /// While down, every request answers 503.
    pub fn set_down(&self, down: bool) {
        self.0.down.store(down, Ordering::Relaxed);
    }

    /// Matching requests answered so far.
    pub fn asked(&self) -> u64 {
        self.0.asked.load(Ordering::Relaxed)
    }

    /// The registry's routes.
    pub fn router(&self) -> Router {
        Router::new().route("/v1/services/matching", get(matching)).with_state(self.clone())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MatchingQuery {
    national_code: String,
    mobile_number: String,
}

async fn matching(
    State(registry): State<Handle>,
    headers: HeaderMap,
    query: Result<Query<MatchingQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, (StatusCode, Json<serde_json::Value>)> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(registry.0.token.as_str()) {
        return Err(error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token"));
    }
    if registry.0.down.load(Ordering::Relaxed) {
        return Err(error(StatusCode::SERVICE_UNAVAILABLE, "the registry is not answering"));
    }
    let Ok(Query(query)) = query else {
        return Err(error(StatusCode::BAD_REQUEST, "nationalCode and mobileNumber are required"));
    };
    let n = registry.0.asked.fetch_add(1, Ordering::Relaxed) + 1;
    let owners = registry.0.owners.read().unwrap_or_else(|e| e.into_inner());
    let matched = owners.get(&query.mobile_number) == Some(&query.national_code);
    Ok(Json(json!({ "matched": matched, "trackId": format!("shahkar-{n:08}") })))
}
