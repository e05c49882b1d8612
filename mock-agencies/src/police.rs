//! The traffic police's fines service: unpaid fines of a vehicle, for its owner only.

use std::sync::Arc;

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
}

/// `POST /v1/fines/inquiry`, accepting `key`.
pub fn router(key: String) -> Router {
    Router::new().route("/v1/fines/inquiry", post(inquiry)).with_state(Arc::new(Police { key, fixture: fixture() }))
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
    let total: u64 = vehicle.fines.iter().map(|f| f.amount_rial).sum();
    Ok(Json(json!({
        "plate": vehicle.plate,
        "vehicle_fa": vehicle.vehicle_fa,
        "vehicle_en": vehicle.vehicle_en,
        "total_rial": total,
        "fines": vehicle.fines,
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
