//! One adapter call, the way every use case makes it: find → admit → validate → disclose →
//! call → settle → evidence.
//!
//! [`AdapterCall`] holds what the steps share (the adapter version, the service, the
//! caller, the request id), so no use case threads them by hand, and [`AdapterCall::record`]
//! is the one place where a call becomes an evidence entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use super::error::{AdapterFailure, ServiceError, purpose};
use crate::app::App;
use crate::auth::{Citizen, access};
use crate::plugins::{Adapter, Operation, Outcome, Registry, Slot};
use crate::runtime::bindings::{AdapterError, Assurance, CallContext, Service, ServiceKind, SubjectKind, Value};
use crate::store::data_usage::{self, Usage};
use crate::text::{Bilingual, FieldProblem, Lang};

/// The adapter serving `agency` and the index of its service `service`, enabled or not.
pub fn find_any(registry: &Registry, agency: &str, service: &str) -> Result<(Slot, usize), ServiceError> {
    let slot = registry.get(agency).ok_or_else(|| ServiceError::UnknownAgency(agency.to_owned()))?;
    let index = slot
        .adapter
        .agency
        .services
        .iter()
        .position(|s| s.id == service)
        .ok_or_else(|| ServiceError::UnknownService { agency: agency.to_owned(), service: service.to_owned() })?;
    Ok((slot, index))
}

/// The adapter serving `agency`, unless an operator has disabled it.
pub fn enabled_agency(registry: &Registry, agency: &str) -> Result<Arc<Adapter>, ServiceError> {
    let slot = registry.get(agency).ok_or_else(|| ServiceError::UnknownAgency(agency.to_owned()))?;
    if !slot.enabled {
        return Err(ServiceError::Maintenance { adapter: slot.adapter.manifest.id.clone(), whole_agency: true });
    }
    Ok(slot.adapter)
}

/// Lets the caller use `agency`'s `service` as a `kind`: the right kind of service, within
/// the mandate of whoever acts for the subject, a subject the
/// service is for (its audience: persons, legal entities, or both; an anonymous caller
/// counts as a person), and a sign-in at least as strong as the service requires.
pub fn admit(
    agency: &str,
    service: &Service,
    kind: ServiceKind,
    citizen: Option<&Citizen>,
) -> Result<(), ServiceError> {
    if service.kind != kind {
        return Err(ServiceError::WrongKind { expected: kind });
    }
    if let Some(actor) = citizen.and_then(|c| c.actor.as_ref())
        && !crate::store::mandates::covers(actor.scope.as_deref(), agency, &service.id)
    {
        return Err(ServiceError::OutsideMandate);
    }
    let subject =
        if citizen.is_some_and(Citizen::is_legal_entity) { SubjectKind::LegalEntity } else { SubjectKind::Person };
    if !service.audience.admits(subject) {
        return Err(match subject {
            SubjectKind::LegalEntity => ServiceError::ForPersons,
            SubjectKind::Person => ServiceError::ForLegalEntities,
        });
    }
    let needed = service.min_assurance;
    match citizen {
        None if needed == Assurance::None => Ok(()),
        None => Err(ServiceError::SignInRequired { needed: Some(needed) }),
        Some(c) if c.assurance.rank() >= needed.rank() => Ok(()),
        Some(c) => Err(ServiceError::AssuranceTooLow { needed, current: c.assurance }),
    }
}

/// Hash of a call's normalized input, for the evidence log (the input itself is never
/// logged): each name and value, length-prefixed.
pub fn input_hash(input: &[Value]) -> String {
    let mut bytes = Vec::new();
    for v in input {
        for part in [v.name.as_bytes(), v.value.as_bytes()] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part);
        }
    }
    crate::audit::sha256_hex(&bytes)
}

/// A random request id (64 bits, hex): the call's name in logs, evidence and support.
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One call of one adapter version, from admission to its evidence entry.
pub struct AdapterCall<'a> {
    pub app: &'a App,
    /// The version that serves this call to its end, even if an operator swaps it meanwhile.
    pub adapter: Arc<Adapter>,
    /// The service's index in the adapter's description, for calls of a service.
    service: Option<usize>,
    pub citizen: Option<&'a Citizen>,
    pub request_id: String,
    pub lang: Lang,
}

impl<'a> AdapterCall<'a> {
    /// Finds the service, admits the caller for a `kind` call, and validates the form:
    /// the call, and the normalized values to hand the adapter.
    pub fn admit(
        app: &'a App,
        lang: Lang,
        (agency, service): (&str, &str),
        kind: ServiceKind,
        citizen: Option<&'a Citizen>,
        input: &BTreeMap<String, serde_json::Value>,
    ) -> Result<(Self, Vec<Value>), ServiceError> {
        let (slot, index) = find_any(&app.registry, agency, service)?;
        if !slot.enabled {
            return Err(ServiceError::Maintenance { adapter: slot.adapter.manifest.id.clone(), whole_agency: false });
        }
        let descriptor = &slot.adapter.agency.services[index];
        admit(agency, descriptor, kind, citizen)?;
        let input = crate::forms::validate(&descriptor.fields, input).map_err(ServiceError::InvalidInput)?;
        let call = AdapterCall {
            app,
            adapter: slot.adapter,
            service: Some(index),
            citizen,
            request_id: new_request_id(),
            lang,
        };
        Ok((call, input))
    }

    /// A call of an agency's adapter outside any one service (a callback, a status poll):
    /// no citizen, Persian context.
    pub fn of_adapter(app: &'a App, adapter: Arc<Adapter>) -> Self {
        AdapterCall { app, adapter, service: None, citizen: None, request_id: new_request_id(), lang: Lang::Fa }
    }

    /// The service called, for calls of a service.
    pub fn service(&self) -> Option<&Service> {
        self.service.map(|i| &self.adapter.agency.services[i])
    }

    /// The context the adapter receives, after writing a data-usage entry for each identity
    /// attribute it hands over.
    pub async fn context(&self) -> Result<CallContext, ServiceError> {
        let (ctx, entries) = self.handover();
        data_usage::record(&self.app.db, entries).await?;
        Ok(ctx)
    }

    /// The context the adapter receives and the data-usage entries of what it hands over,
    /// for a caller that makes them durable with writes of its own, before the call.
    pub fn handover(&self) -> (CallContext, Vec<Usage>) {
        let (service_id, handover) = match self.service() {
            Some(service) => {
                let purpose = purpose(service.kind);
                (service.id.clone(), access::handover(&self.adapter, service, self.citizen, purpose, &self.request_id))
            }
            None => (String::new(), access::Handover::default()),
        };
        let ctx = CallContext {
            request_id: self.request_id.clone(),
            service: service_id,
            citizen: handover.citizen,
            locale: self.lang.code().to_owned(),
        };
        (ctx, handover.entries)
    }

    /// Turns the call's outcome into the adapter's answer or a [`ServiceError`] naming it.
    pub fn settle<T>(&self, outcome: Outcome<T>) -> Result<T, ServiceError> {
        settle(&self.adapter, &self.request_id, outcome)
    }

    /// Appends the call to the evidence log (see [`record`]).
    pub async fn record<T: Serialize>(
        &self,
        operation: Operation,
        service: &str,
        request_hash: String,
        result: Result<&T, &ServiceError>,
    ) -> Result<(), ServiceError> {
        let entry = self.evidence(operation, service, request_hash, result);
        record_entry(&self.app.audit, self.request_id.as_str(), entry).await
    }

    /// The call's evidence entry (see [`evidence`]), for a caller that commits it with
    /// writes of its own ([`crate::audit::Audit::append_in`]).
    pub fn evidence<T: Serialize>(
        &self,
        operation: Operation,
        service: &str,
        request_hash: String,
        result: Result<&T, &ServiceError>,
    ) -> crate::audit::Entry {
        let call = Call {
            operation,
            adapter: &self.adapter,
            service,
            request_id: &self.request_id,
            actor: self.citizen.map(Citizen::acting_person),
            on_behalf_of: self.citizen.and_then(|c| c.actor.as_ref().map(|_| c.subject.as_str())),
            request_hash,
        };
        let outcome = match result {
            Ok(answer) => Ok(serde_json::to_vec(answer).unwrap_or_default()),
            Err(error) => Err(error.code()),
        };
        evidence(call, outcome)
    }
}

/// `answer`, once its evidence is durable: a refusal stays the refusal whether or not its
/// evidence could be written (that failure is logged); an answer whose evidence could not
/// be written is withheld.
pub fn once_recorded<T>(
    answer: Result<T, ServiceError>,
    recorded: Result<(), ServiceError>,
) -> Result<T, ServiceError> {
    answer.and_then(|answer| recorded.map(|()| answer))
}

/// Turns the outcome of a call of `adapter` into its answer or a [`ServiceError`] naming
/// the adapter; the reason of the adapter's own error is logged (redacted), never shown.
pub fn settle<T>(adapter: &Adapter, request_id: &str, outcome: Outcome<T>) -> Result<T, ServiceError> {
    let text = |t: crate::runtime::bindings::Text| Bilingual::new(t.fa, t.en);
    let failure = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(AdapterError::InvalidInput(errors))) => AdapterFailure::InvalidInput(
            errors.into_iter().map(|e| FieldProblem { field: e.field, message: text(e.message) }).collect(),
        ),
        Ok(Err(AdapterError::NotFound(message))) => AdapterFailure::NotFound(message),
        Ok(Err(AdapterError::Forbidden(message))) => AdapterFailure::Forbidden(message),
        Ok(Err(AdapterError::Unavailable(message))) => AdapterFailure::Unavailable(message),
        Ok(Err(AdapterError::Other(reason))) => {
            let reason = adapter.capabilities().redact(&reason);
            tracing::warn!(adapter = %adapter.manifest.id, request_id, %reason, "adapter returned an error");
            AdapterFailure::Other
        }
        Err(stopped) => AdapterFailure::Stopped(stopped),
    };
    Err(ServiceError::Adapter { adapter: adapter.manifest.id.clone(), request_id: request_id.to_owned(), failure })
}

/// One adapter call as the evidence log keeps it.
pub struct Call<'a> {
    pub operation: Operation,
    pub adapter: &'a Adapter,
    pub service: &'a str,
    pub request_id: &'a str,
    /// Who acted (a pseudonym); `None` for the host's own calls and anonymous callers.
    pub actor: Option<&'a str>,
    /// Whom they acted for, when not for themselves.
    pub on_behalf_of: Option<&'a str>,
    /// [`input_hash`] of the request, or the hash of what identifies it.
    pub request_hash: String,
}

/// Appends one adapter call to the evidence log, and waits until it is durable (the log's
/// writer commits concurrent calls' entries together); see [`evidence`].
pub async fn record(
    audit: &crate::audit::Audit,
    call: Call<'_>,
    outcome: Result<Vec<u8>, &'static str>,
) -> Result<(), ServiceError> {
    let request_id = call.request_id;
    record_entry(audit, request_id, evidence(call, outcome)).await
}

async fn record_entry(
    audit: &crate::audit::Audit,
    request_id: &str,
    entry: crate::audit::Entry,
) -> Result<(), ServiceError> {
    audit.record(entry).await.map_err(|error| {
        tracing::error!(%error, request_id, "a call's evidence was not written");
        ServiceError::Evidence(format!("{error:#}"))
    })
}

/// The evidence entry of one adapter call: who acted for whom, the adapter version, the
/// hash of the request and of the answer. `outcome` is the answer's bytes as the caller got
/// them (for the API, its JSON), or the problem type it was refused with, whose hash is
/// over `{"error": <problem type>}`. Payloads themselves are never logged.
pub fn evidence(call: Call<'_>, outcome: Result<Vec<u8>, &'static str>) -> crate::audit::Entry {
    let (name, response) = match outcome {
        Ok(bytes) => ("ok", bytes),
        Err(code) => (code, serde_json::to_vec(&json!({"error": code})).unwrap_or_default()),
    };
    let adapter = call.adapter;
    crate::audit::Entry {
        kind: call.operation.evidence_kind().to_owned(),
        actor: call.actor.unwrap_or("anonymous").to_owned(),
        subject: adapter.manifest.id.clone(),
        data: json!({
            "request_id": call.request_id,
            "agency": adapter.agency.id,
            "service": call.service,
            "adapter_version": adapter.manifest.version.to_string(),
            "adapter_digest": adapter.digest,
            "request_hash": call.request_hash,
            "response_hash": crate::audit::sha256_hex(&response),
            "outcome": name,
            "on_behalf_of": call.on_behalf_of,
        }),
    }
}
