//! The traffic police's fines service: unpaid fines of a vehicle, for its owner only, and
//! the notice that a fine was paid (after which the inquiry no longer lists it).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{check_key, error};

/// The fixture file, compiled in so the binary runs from anywhere.
pub const FIXTURE: &str = include_str!("../fixtures/police.json");

/// Vehicles known to the mock.
#[derive(Debug, Clone, Deserialize)]
pub struct Fixture {
    pub vehicles: Vec<Vehicle>,
}

/// A registered vehicle and its unpaid fines.
#[derive(Debug, Clone, Deserialize)]
pub struct Vehicle {
    pub plate: String,
    pub owner_national_id: String,
    pub vehicle_fa: String,
    pub vehicle_en: String,
    pub fines: Vec<Fine>,
}

/// One fine, with its bill and payment IDs (service type 9).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Fine {
    pub serial: String,
    pub date: String,
    pub time: String,
    pub code: String,
    pub violation_fa: String,
    pub violation_en: String,
    pub location_fa: String,
    pub location_en: String,
    pub amount_rial: u64,
    pub bill_id: String,
    pub payment_id: String,
}

/// The fixture's vehicles.
pub fn fixture() -> Fixture {
    serde_json::from_str(FIXTURE).expect("fixtures/police.json is valid")
}

struct Police {
    key: String,
    fixture: Fixture,
    /// Serials of the fines reported paid since the mock started.
    paid: Mutex<BTreeSet<String>>,
}

/// `POST /v1/fines/inquiry` and `POST /v1/fines/paid`, accepting `key`.
pub fn router(key: String) -> Router {
    Router::new()
        .route("/v1/fines/inquiry", post(inquiry))
        .route("/v1/fines/paid", post(paid))
        .with_state(Arc::new(Police { key, fixture: fixture(), paid: Mutex::default() }))
}

#[derive(Deserialize)]
struct Payment {
    bill_id: String,
    payment_id: String,
    amount_rial: u64,
    rrn: String,
}

/// `POST /v1/fines/paid` `{"bill_id", "payment_id", "amount_rial", "rrn"}`: marks the fine
/// with that bill paid. 200 `{"serial", "already_paid"}` · 404 no such fine · 422 the amount
/// is not the fine's.
async fn paid(
    State(police): State<Arc<Police>>,
    headers: HeaderMap,
    Json(payment): Json<Payment>,
) -> Result<Json<serde_json::Value>, (StatusCode, Json<serde_json::Value>)> {
    check_key(&headers, &police.key)?;
    let fine = police
        .fixture
        .vehicles
        .iter()
        .flat_map(|v| &v.fines)
        .find(|f| f.bill_id == payment.bill_id && f.payment_id == payment.payment_id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no fine with this bill"))?;
    if fine.amount_rial != payment.amount_rial {
        return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "the amount is not the fine's"));
    }
    let fresh = police.paid.lock().expect("paid fines lock").insert(fine.serial.clone());
    tracing::info!(serial = %fine.serial, rrn = %payment.rrn, fresh, "fine paid");
    Ok(Json(json!({ "serial": fine.serial, "already_paid": !fresh })))
}

#[derive(Deserialize)]
struct Query {
    plate: String,
    owner_national_id: String,
}

async fn inquiry(
    State(police): State<Arc<Police>>,
    headers: HeaderMap,
    Json(query): Json<Query>,
) -> Result<Json<serde_json::Value>, (StatusCode, Json<serde_json::Value>)> {
    check_key(&headers, &police.key)?;
    let vehicle = police
        .fixture
        .vehicles
        .iter()
        .find(|v| v.plate == query.plate.trim())
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no vehicle with this plate"))?;
    if vehicle.owner_national_id != query.owner_national_id.trim() {
        return Err(error(StatusCode::FORBIDDEN, "the national ID does not own this vehicle"));
    }
    let paid = police.paid.lock().expect("paid fines lock").clone();
    let unpaid: Vec<&Fine> = vehicle.fines.iter().filter(|f| !paid.contains(&f.serial)).collect();
    let total: u64 = unpaid.iter().map(|f| f.amount_rial).sum();
    Ok(Json(json!({
        "plate": vehicle.plate,
        "vehicle_fa": vehicle.vehicle_fa,
        "vehicle_en": vehicle.vehicle_en,
        "total_rial": total,
        "fines": unpaid,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_formats::bill::{ServiceType, decode};

    #[test]
    fn every_fixture_fine_is_a_payable_traffic_fine() {
        let fixture = fixture();
        assert!(fixture.vehicles.iter().any(|v| v.fines.is_empty()), "a vehicle without fines");
        for fine in fixture.vehicles.iter().flat_map(|v| &v.fines) {
            let bill = decode(&fine.bill_id, &fine.payment_id).unwrap_or_else(|e| panic!("{}: {e}", fine.serial));
            assert_eq!(bill.service_type, ServiceType::TrafficFines);
            assert_eq!(bill.amount_rial, fine.amount_rial);
        }
        for vehicle in &fixture.vehicles {
            assert_eq!(panjereh_formats::plate::parse(&vehicle.plate).unwrap().canonical(), vehicle.plate);
            assert!(panjereh_formats::national_id::parse(&vehicle.owner_national_id).is_ok());
        }
    }
}
