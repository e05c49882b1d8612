//! The tax administration's taxpayer service: file status and registrations.
//!
//! Registrations live in memory; `POST /v1/registrations/{reference}/decision` with
//! `{"status": "approved", "message_fa": "...", "message_en": "..."}` plays the tax office
//! deciding one, and answers with the callback body the real back-end would push.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{check_key, error};

/// The fixture file, compiled in so the binary runs from anywhere.
pub const FIXTURE: &str = include_str!("../fixtures/tax.json");

/// Taxpayers known to the mock, as the back-end answers them.
#[derive(Debug, Clone, Deserialize)]
pub struct Fixture {
    pub taxpayers: Vec<serde_json::Value>,
}

/// The fixture's taxpayers.
pub fn fixture() -> Fixture {
    serde_json::from_str(FIXTURE).expect("fixtures/tax.json is valid")
}

/// A registration's state, the shape of answers and callbacks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseState {
    pub reference: String,
    pub status: String,
    pub message_fa: String,
    pub message_en: String,
}

struct Tax {
    key: String,
    fixture: Fixture,
    /// Registrations by reference, and the national IDs already registered.
    registrations: Mutex<(BTreeMap<String, CaseState>, Vec<String>)>,
}

/// The taxpayer service, accepting `key`.
pub fn router(key: String) -> Router {
    let state = Tax { key, fixture: fixture(), registrations: Mutex::new((BTreeMap::new(), Vec::new())) };
    Router::new()
        .route("/v1/taxpayers/{national_id}", get(taxpayer))
        .route("/v1/registrations", post(register))
        .route("/v1/registrations/{reference}", get(registration))
        .route("/v1/registrations/{reference}/decision", post(decide))
        .with_state(Arc::new(state))
}

type Answer = Result<(StatusCode, Json<serde_json::Value>), (StatusCode, Json<serde_json::Value>)>;

async fn taxpayer(State(tax): State<Arc<Tax>>, headers: HeaderMap, Path(national_id): Path<String>) -> Answer {
    check_key(&headers, &tax.key)?;
    tax.fixture
        .taxpayers
        .iter()
        .find(|t| t["national_id"] == national_id.as_str())
        .map(|t| (StatusCode::OK, Json(t.clone())))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no tax file for this national ID"))
}

#[derive(Deserialize)]
struct Registration {
    national_id: String,
    business_name: String,
    activity: String,
    postal_code: String,
    mobile: String,
    start_date: String,
}

async fn register(State(tax): State<Arc<Tax>>, headers: HeaderMap, Json(r): Json<Registration>) -> Answer {
    check_key(&headers, &tax.key)?;
    let mut refused = Vec::new();
    let mut refuse = |field: &str, fa: &str, en: &str| {
        refused.push(json!({ "field": field, "message_fa": fa, "message_en": en }));
    };
    if r.business_name.trim().chars().count() < 3 {
        refuse("business-name", "نام کسب‌وکار دست‌کم سه حرف دارد", "the business name needs at least three letters");
    }
    if !["retail", "services", "manufacturing", "professional"].contains(&r.activity.as_str()) {
        refuse("activity", "نوع فعالیت شناخته نیست", "unknown activity");
    }
    // The back-end's own rule: registrations are for activities started in the last 5 years.
    if r.start_date.as_str() < "1399/01/01" {
        refuse(
            "start-date",
            "برای فعالیت‌های پیش از ۱۳۹۹ به اداره مالیاتی مراجعه کنید",
            "for activities started before 1399, visit the tax office",
        );
    }
    if r.postal_code.len() != 10 || r.mobile.len() != 11 {
        refuse("postal-code", "کد پستی یا شماره همراه نادرست است", "postal code or mobile is malformed");
    }
    if !refused.is_empty() {
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "errors": refused }))));
    }
    let has_file = tax.fixture.taxpayers.iter().any(|t| t["national_id"] == r.national_id.as_str());
    let mut guard = tax.registrations.lock().unwrap();
    let (cases, registered) = &mut *guard;
    if has_file || registered.contains(&r.national_id) {
        return Err(error(StatusCode::CONFLICT, "a tax file already exists for this national ID"));
    }
    registered.push(r.national_id);
    let reference = format!("TR-1404-{:06}", cases.len() + 1);
    let case = CaseState {
        reference: reference.clone(),
        status: "submitted".into(),
        message_fa: format!("درخواست ثبت‌نام «{}» دریافت شد و به اداره مالیاتی محل ارجاع شد.", r.business_name),
        message_en: format!("the registration of “{}” was received and sent to the local tax office.", r.business_name),
    };
    cases.insert(reference, case.clone());
    Ok((StatusCode::CREATED, Json(json!(case))))
}

async fn registration(State(tax): State<Arc<Tax>>, headers: HeaderMap, Path(reference): Path<String>) -> Answer {
    check_key(&headers, &tax.key)?;
    let guard = tax.registrations.lock().unwrap();
    guard
        .0
        .get(&reference)
        .map(|c| (StatusCode::OK, Json(json!(c))))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no registration with this reference"))
}

#[derive(Deserialize)]
struct Decision {
    status: String,
    message_fa: String,
    message_en: String,
}

async fn decide(
    State(tax): State<Arc<Tax>>,
    headers: HeaderMap,
    Path(reference): Path<String>,
    Json(d): Json<Decision>,
) -> Answer {
    check_key(&headers, &tax.key)?;
    let mut guard = tax.registrations.lock().unwrap();
    let case = guard.0.get_mut(&reference).ok_or_else(|| error(StatusCode::NOT_FOUND, "no registration"))?;
    *case = CaseState { reference, status: d.status, message_fa: d.message_fa, message_en: d.message_en };
    Ok((StatusCode::OK, Json(json!(case))))
}
