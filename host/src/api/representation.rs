//! `/api/v1/me/representation`: acting for a legal entity (as its signatory) or a minor
//! (as a parent), and `/api/v1/me/acted`: what others did for the citizen and what the
//! citizen did for others.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::errors::representation_problem;
use super::extract::{ApiJson, ApiPath};
use super::problem::{Bilingual, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::otp::Purpose;
use crate::auth::representation::{Basis, Representable, RepresentationError};
use crate::store::{applications, citizens, mandates, now_ms, payments, random_id, sessions};
use crate::text::rfc3339;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(show, start, stop))
        .routes(routes!(acted))
        .routes(routes!(mandates_list, mandate_give))
        .routes(routes!(mandate_revoke))
        .routes(routes!(counter_start))
        .routes(routes!(counter_verify))
}

pub fn admin_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(clerk_register)).routes(routes!(clerk_remove))
}

/// Who the session acts for, and whom its person may act for.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepresentationView {
    /// The person who signed in (their pseudonym).
    pub actor: String,
    /// Whom the session acts for now, if not its own person.
    pub acting_for: Option<ActingFor>,
    /// Everyone the person may act for, as the registries say now.
    pub may_act_for: Vec<Representable>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActingFor {
    pub basis: Basis,
    /// The national legal ID, or the minor's national ID.
    pub id: String,
    /// Their pseudonym in the window.
    pub subject: String,
}

/// Who acts for whom (shared by the API and the portal).
pub async fn view(app: &App, citizen: &Citizen) -> Result<RepresentationView, Problem> {
    let (actor, actor_nid) = citizen.person();
    let mut may_act_for = match app.representation.of(&actor_nid, false).await {
        Ok(list) => list,
        Err(RepresentationError::Off) => Vec::new(),
        Err(error) => return Err(representation_problem(error)),
    };
    for mandate in mandates::in_force_for(&app.db, &actor_nid, now_ms()).await? {
        may_act_for.push(Representable {
            basis: Basis::Mandate,
            id: mandate.grantor_nid,
            name_fa: "وکالت‌دهنده".into(),
            name_en: "Grantor of a mandate".into(),
            role_fa: None,
            role_en: None,
            until: Some(rfc3339(mandate.valid_until_ms)),
        });
    }
    let acting_for = citizen.actor.as_ref().map(|a| ActingFor {
        basis: a.basis,
        id: citizen.national_id.clone(),
        subject: citizen.subject.clone(),
    });
    Ok(RepresentationView { actor, acting_for, may_act_for })
}

/// Whom the session acts for, and whom its person may act for.
#[utoipa::path(
    get, path = "/me/representation", tag = "citizen",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "Who acts for whom", body = RepresentationView),
        (status = 401, description = "Not signed in"),
        (status = 503, description = "A registry did not answer"),
    ),
)]
async fn show(State(app): State<Arc<App>>, citizen: Citizen) -> Result<Json<RepresentationView>, Problem> {
    Ok(Json(view(&app, &citizen).await?))
}

/// Body of `POST /api/v1/me/representation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActRequest {
    /// `signatory` (for a legal entity) or `guardian` (for a minor).
    pub basis: String,
    /// The national legal ID, or the minor's national ID.
    pub id: String,
}

/// Acts for a legal entity or a minor from now on (checked with the registries, and again
/// on every request).
#[utoipa::path(
    post, path = "/me/representation", tag = "citizen", request_body = ActRequest,
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "Acting for the subject", body = RepresentationView),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The registries do not give the right"),
        (status = 404, description = "Acting for others is not offered on this host"),
        (status = 422, description = "An unknown basis, or an id that is not valid"),
        (status = 503, description = "A registry did not answer"),
    ),
)]
async fn start(
    State(app): State<Arc<App>>,
    citizen: Citizen,
    ApiJson(body): ApiJson<ActRequest>,
) -> Result<Json<RepresentationView>, Problem> {
    Ok(Json(act_for(&app, citizen, &body.basis, &body.id).await?))
}

/// Switches the session to act for `id` on `basis` once the registries confirm it (shared
/// by the API and the portal).
pub async fn act_for(app: &App, citizen: Citizen, basis: &str, id: &str) -> Result<RepresentationView, Problem> {
    let invalid = |field: &str, fa: &str, en: &str| {
        Problem::invalid_input(vec![super::problem::FieldProblem {
            field: field.to_owned(),
            message: Bilingual::new(fa.to_owned(), en.to_owned()),
        }])
    };
    let basis = Basis::from_name(basis).filter(|b| *b != Basis::Counter).ok_or_else(|| {
        invalid("basis", "«signatory»، «guardian» یا «mandate»", "basis must be signatory, guardian or mandate")
    })?;
    let id = match basis {
        Basis::Signatory => panjereh_formats::legal_id::parse(id),
        Basis::Guardian | Basis::Counter | Basis::Mandate => panjereh_formats::national_id::parse(id),
    }
    .map_err(|e| invalid("id", &e.fa, &e.en))?;
    let (actor, actor_nid) = citizen.person();
    let scope =
        crate::window::acting::right_holds(app, &actor_nid, basis, &id, true).await.map_err(representation_problem)?;
    let subject = citizens::subject(&app.db, &id, basis.subject_kind()).await?;
    let acting = sessions::Acting { subject: &subject.id, basis: basis.name(), until_ms: None, scope: None };
    sessions::set_acting(&app.db, &citizen.session_id, Some(acting)).await?;
    app.sessions.forget(&citizen.session_id);
    let entry = crate::audit::Entry {
        kind: "representation.start".into(),
        actor: actor.clone(),
        subject: subject.id.clone(),
        data: serde_json::json!({"basis": basis.name()}),
    };
    crate::api::record(&app.audit, entry).await?;
    let acting = Citizen {
        subject: subject.id,
        national_id: subject.national_id,
        mobile: subject.mobile,
        actor: Some(crate::auth::session::Actor { subject: actor, national_id: actor_nid, basis, scope }),
        ..citizen
    };
    view(app, &acting).await
}

/// Acts for the signed-in person again.
#[utoipa::path(
    delete, path = "/me/representation", tag = "citizen",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 204, description = "Acting for oneself"),
        (status = 401, description = "Not signed in"),
    ),
)]
async fn stop(State(app): State<Arc<App>>, citizen: Citizen) -> Result<StatusCode, Problem> {
    stop_acting(&app, &citizen).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Acts for the signed-in person again (shared by the API and the portal).
pub async fn stop_acting(app: &App, citizen: &Citizen) -> Result<(), Problem> {
    sessions::set_acting(&app.db, &citizen.session_id, None).await?;
    app.sessions.forget(&citizen.session_id);
    if let Some(actor) = &citizen.actor {
        let entry = crate::audit::Entry {
            kind: "representation.stop".into(),
            actor: actor.subject.clone(),
            subject: citizen.subject.clone(),
            data: serde_json::json!({}),
        };
        crate::api::record(&app.audit, entry).await?;
    }
    Ok(())
}

/// Something one person did for another.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActView {
    /// `application` or `payment`.
    pub kind: &'static str,
    /// The tracking code, or the payment order's id.
    pub reference: String,
    /// For whom (their pseudonym).
    pub subject: String,
    /// For whom: their national ID, or the legal entity's national legal ID.
    pub subject_id: String,
    /// Who acted (their pseudonym).
    pub actor: String,
    /// Who acted: their national ID.
    pub actor_id: String,
    pub at: String,
}

/// `GET /api/v1/me/acted`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActedView {
    /// What others did for the session's subject.
    pub for_me: Vec<ActView>,
    /// What the signed-in person did for others.
    pub for_others: Vec<ActView>,
}

/// What others did for the subject, and what the person did for others.
#[utoipa::path(
    get, path = "/me/acted", tag = "citizen",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "Both lists, newest first", body = ActedView),
        (status = 401, description = "Not signed in"),
    ),
)]
async fn acted(State(app): State<Arc<App>>, citizen: Citizen) -> Result<Json<ActedView>, Problem> {
    Ok(Json(acted_view(&app, &citizen).await?))
}

/// What others did for the session's subject, and what its person did for others, newest
/// first (shared by the API and the portal).
pub async fn acted_view(app: &App, citizen: &Citizen) -> Result<ActedView, Problem> {
    // (kind, reference, subject, actor, at)
    type Act = (&'static str, String, String, String, i64);
    let application = |a: applications::ApplicationRow| -> Act {
        ("application", a.tracking_code, a.citizen_id, a.actor_id.unwrap_or_default(), a.created_ms)
    };
    let payment = |p: payments::Order| -> Act {
        ("payment", p.id, p.citizen_id.unwrap_or_default(), p.actor_id.unwrap_or_default(), p.created_ms)
    };
    let by_someone_else = |act: &Act| !act.3.is_empty() && act.3 != citizen.subject;
    let mut for_me: Vec<Act> =
        applications::list_for(&app.db, &citizen.subject, 200).await?.into_iter().map(application).collect();
    for_me.extend(payments::of_citizen(&app.db, &citizen.subject, 200).await?.into_iter().map(payment));
    for_me.retain(by_someone_else);
    let person = citizen.acting_person().to_owned();
    let mut for_others: Vec<Act> =
        applications::filed_by(&app.db, &person, 200).await?.into_iter().map(application).collect();
    for_others.extend(payments::paid_by(&app.db, &person, 200).await?.into_iter().map(payment));
    // Each pseudonym's identifier, looked up once.
    let mut ids = std::collections::HashMap::new();
    for id in for_me.iter().chain(&for_others).flat_map(|act| [&act.2, &act.3]) {
        if !ids.contains_key(id) {
            let found = citizens::get(&app.db, id).await?.map(|c| c.national_id).unwrap_or_default();
            ids.insert(id.clone(), found);
        }
    }
    let view = |list: Vec<Act>| {
        let mut list: Vec<ActView> = list
            .into_iter()
            .map(|(kind, reference, subject, actor, at)| ActView {
                kind,
                reference,
                subject_id: ids.get(&subject).cloned().unwrap_or_default(),
                actor_id: ids.get(&actor).cloned().unwrap_or_default(),
                subject,
                actor,
                at: rfc3339(at),
            })
            .collect();
        list.sort_by(|a, b| b.at.cmp(&a.at));
        list
    };
    Ok(ActedView { for_me: view(for_me), for_others: view(for_others) })
}

/// The clerk of the signed-in person, or a 403: only registered counter-office clerks act
/// for citizens present.
async fn clerk_of(app: &App, citizen: &Citizen) -> Result<crate::store::counter::Clerk, Problem> {
    if citizen.actor.is_some() {
        return Err(representation_problem(RepresentationError::NotAllowed));
    }
    crate::store::counter::clerk(&app.db, &citizen.national_id).await?.ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "not-a-counter-clerk",
            Bilingual::new("شما کارمند ثبت‌شده‌ی دفتر پیشخوان نیستید", "You are not a registered counter-office clerk"),
        )
    })
}

/// Body of `POST /api/v1/counter/consent`: the citizen at the counter, and the services the
/// clerk is to use for them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    pub national_id: Option<String>,
    pub mobile: Option<String>,
    /// `agency/service` names, one to [`MAX_CONSENT_SERVICES`]: the session acts for the
    /// citizen in these services only.
    #[schema(example = json!(["traffic-police/vehicle-fines"]))]
    pub services: Option<Vec<String>>,
}

/// Whether `name` is an agency (`traffic-police`) or an agency's service
/// (`isfahan-municipality/tree-pruning`) the window serves.
fn names_a_service(app: &App, name: &str) -> bool {
    match name.split_once('/') {
        Some((agency, service)) => crate::window::call::find_any(&app.registry, agency, service).is_ok(),
        None => app.registry.get(name).is_some(),
    }
}

/// The most services one consent at a counter may cover.
pub const MAX_CONSENT_SERVICES: usize = 20;

/// The services a consent names, each an `agency/service` the window serves, deduplicated;
/// or a 422 naming the field.
fn consent_services(app: &App, asked: Option<&[String]>) -> Result<Vec<String>, Problem> {
    let invalid = |fa: &str, en: &str| {
        Problem::invalid_input(vec![super::problem::FieldProblem {
            field: "services".into(),
            message: Bilingual::new(fa.to_owned(), en.to_owned()),
        }])
    };
    let asked = asked.unwrap_or_default();
    if asked.is_empty() || asked.len() > MAX_CONSENT_SERVICES {
        return Err(invalid(
            "فهرست خدمت‌ها (۱ تا ۲۰ خدمت به شکل «نهاد/خدمت») لازم است",
            "services must list 1 to 20 services as agency/service",
        ));
    }
    let mut services = Vec::with_capacity(asked.len());
    for name in asked {
        if !name.contains('/') || !names_a_service(app, name) {
            return Err(invalid("این خدمت در پنجره نیست", &format!("{name:.80} is not a service of the window")));
        }
        if !services.contains(name) {
            services.push(name.clone());
        }
    }
    Ok(services)
}

/// A clerk asks the citizen present for consent to the services named: a one-time code
/// for this consent only goes to the citizen's own mobile (once the ownership registry
/// confirms it), saying which office asks and for how many services, and the citizen
/// reads it back. The code signs nobody in.
#[utoipa::path(
    post, path = "/counter/consent", tag = "citizen", request_body = ConsentRequest,
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 202, description = "A code is on its way to the citizen's mobile"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Not a registered clerk, or the registry does not confirm the citizen's mobile"),
        (status = 422, description = "The national ID or the mobile is not valid"),
        (status = 429, description = "Too many requests"),
    ),
)]
async fn counter_start(
    State(app): State<Arc<App>>,
    crate::auth::throttle::ClientAddr(client): crate::auth::throttle::ClientAddr,
    citizen: Citizen,
    ApiJson(body): ApiJson<ConsentRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), Problem> {
    let clerk = clerk_of(&app, &citizen).await?;
    let services = consent_services(&app, body.services.as_deref())?;
    let purpose = Purpose::Consent { clerk_session: citizen.session_id.clone(), office: clerk.office_name, services };
    let sent =
        super::auth::send_code(&app, client, body.national_id.as_deref(), body.mobile.as_deref(), &purpose).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"sent_to": sent.sent_to, "expires_in": sent.expires_in}))))
}

/// Body of `POST /api/v1/counter/consent/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentVerify {
    pub national_id: Option<String>,
    pub code: Option<String>,
}

/// The citizen read the code back: the clerk's session acts for them, in the services they
/// consented to only, for half an hour (or until the clerk is removed from the register, or
/// the session ends). Only the clerk's session that asked can use the code.
#[utoipa::path(
    post, path = "/counter/consent/verify", tag = "citizen", request_body = ConsentVerify,
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "Acting for the citizen present", body = RepresentationView),
        (status = 401, description = "Not signed in, or the code is not valid"),
        (status = 403, description = "Not a registered clerk"),
        (status = 422, description = "The national ID or the code is malformed"),
    ),
)]
async fn counter_verify(
    State(app): State<Arc<App>>,
    crate::auth::throttle::ClientAddr(client): crate::auth::throttle::ClientAddr,
    citizen: Citizen,
    ApiJson(body): ApiJson<ConsentVerify>,
) -> Result<Json<RepresentationView>, Problem> {
    let clerk = clerk_of(&app, &citizen).await?;
    // The stored challenge holds the services the citizen was told of.
    let purpose = Purpose::consent_key(&citizen.session_id);
    let verified =
        super::auth::verify_code(&app, client, body.national_id.as_deref(), body.code.as_deref(), &purpose).await?;
    let (present, services) = (verified.citizen, verified.services.unwrap_or_default());
    if present.id == citizen.subject {
        return Err(representation_problem(RepresentationError::NotAllowed));
    }
    let until = now_ms() + crate::window::acting::COUNTER_CONSENT.as_millis() as i64;
    let acting = sessions::Acting {
        subject: &present.id,
        basis: Basis::Counter.name(),
        until_ms: Some(until),
        scope: Some(&services),
    };
    sessions::set_acting(&app.db, &citizen.session_id, Some(acting)).await?;
    app.sessions.forget(&citizen.session_id);
    let entry = crate::audit::Entry {
        kind: "representation.start".into(),
        actor: citizen.subject.clone(),
        subject: present.id.clone(),
        data: serde_json::json!({"basis": "counter", "office": clerk.office_id, "services": services}),
    };
    crate::api::record(&app.audit, entry).await?;
    let acting = Citizen {
        subject: present.id,
        national_id: present.national_id,
        mobile: present.mobile,
        actor: Some(crate::auth::session::Actor {
            subject: citizen.subject.clone(),
            national_id: citizen.national_id.clone(),
            basis: Basis::Counter,
            scope: Some(services),
        }),
        ..citizen
    };
    Ok(Json(view(&app, &acting).await?))
}

/// Body of `POST /admin/v1/counter-clerks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClerkRequest {
    pub national_id: String,
    pub office_id: String,
    pub office_name: String,
}

/// Registers a counter-office clerk (admins).
#[utoipa::path(
    post, path = "/counter-clerks", tag = "operators", request_body = ClerkRequest, security(("operator" = [])),
    responses(
        (status = 204, description = "Registered"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "Auditors only read"),
        (status = 422, description = "The national ID is not valid, or the office is empty"),
    ),
)]
async fn clerk_register(
    State(app): State<Arc<App>>,
    auth: super::admin::OperatorAuth,
    ApiJson(body): ApiJson<ClerkRequest>,
) -> Result<StatusCode, Problem> {
    let operator = auth.admin()?;
    let national_id = panjereh_formats::national_id::parse(&body.national_id).map_err(|e| {
        Problem::invalid_input(vec![super::problem::FieldProblem {
            field: "national_id".into(),
            message: Bilingual::new(e.fa.clone(), e.en.clone()),
        }])
    })?;
    if body.office_id.trim().is_empty() || body.office_name.trim().is_empty() {
        return Err(Problem::invalid_input(vec![super::problem::FieldProblem {
            field: "office_id".into(),
            message: Bilingual::new("شناسه و نام دفتر را وارد کنید", "office_id and office_name are required"),
        }]));
    }
    let clerk = crate::store::counter::Clerk {
        national_id,
        office_id: body.office_id.trim().to_owned(),
        office_name: body.office_name.trim().to_owned(),
    };
    crate::store::counter::register(&app.db, &clerk, &operator.name, crate::store::now_ms()).await?;
    let entry = crate::audit::Entry {
        kind: "admin.counter-clerk".into(),
        actor: operator.name.clone(),
        subject: clerk.office_id.clone(),
        data: serde_json::json!({"office_name": clerk.office_name}),
    };
    crate::api::record(&app.audit, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ClerkPath {
    pub national_id: String,
}

/// Removes a clerk from the register: their acting ends on their next request (admins).
#[utoipa::path(
    delete, path = "/counter-clerks/{national_id}", tag = "operators", params(ClerkPath), security(("operator" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "Auditors only read"),
        (status = 404, description = "No such clerk"),
    ),
)]
async fn clerk_remove(
    State(app): State<Arc<App>>,
    auth: super::admin::OperatorAuth,
    ApiPath(path): ApiPath<ClerkPath>,
) -> Result<StatusCode, Problem> {
    let operator = auth.admin()?;
    let national_id = panjereh_formats::national_id::parse(&path.national_id).unwrap_or(path.national_id.clone());
    if !crate::store::counter::remove(&app.db, &national_id).await? {
        return Err(Problem::not_found(Bilingual::new("کارمندی با این کد ملی نیست", "no such clerk")));
    }
    let entry = crate::audit::Entry {
        kind: "admin.counter-clerk-removed".into(),
        actor: operator.name.clone(),
        subject: String::new(),
        data: serde_json::json!({}),
    };
    crate::api::record(&app.audit, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A mandate, as its grantor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MandateView {
    pub id: String,
    pub delegate_national_id: String,
    pub valid_until: String,
    pub revoked: bool,
    pub created_at: String,
    /// The agencies (`traffic-police`) and services (`isfahan-municipality/tree-pruning`) it
    /// covers; absent when it covers every service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Whether the delegate may pass it on.
    pub may_pass_on: bool,
    /// The mandate a delegate passed this one on from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed_on_from: Option<String>,
}

impl From<mandates::Mandate> for MandateView {
    fn from(m: mandates::Mandate) -> Self {
        MandateView {
            id: m.id,
            delegate_national_id: m.delegate_nid,
            valid_until: rfc3339(m.valid_until_ms),
            revoked: m.revoked_ms.is_some(),
            created_at: rfc3339(m.created_ms),
            services: m.scope,
            may_pass_on: m.may_pass_on,
            passed_on_from: m.parent_id,
        }
    }
}

/// A mandate in force, as its delegate sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedMandate {
    pub id: String,
    /// Who gave it: whom the delegate may act for.
    pub grantor_national_id: String,
    pub valid_until: String,
    /// What it covers; absent when it covers every service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

/// `GET /api/v1/me/mandates`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MandateList {
    /// Mandates the citizen gave, newest first.
    pub given: Vec<MandateView>,
    /// Mandates in force that others gave the citizen.
    pub received: Vec<ReceivedMandate>,
}

/// The mandates the person behind the session gave and holds (shared by the API and the
/// portal).
pub async fn mandate_list(app: &App, citizen: &Citizen) -> Result<MandateList, Problem> {
    let (person, person_nid) = citizen.person();
    let given = mandates::given_by(&app.db, &person).await?.into_iter().map(MandateView::from).collect();
    let received = mandates::in_force_for(&app.db, &person_nid, now_ms())
        .await?
        .into_iter()
        .map(|m| ReceivedMandate {
            id: m.id,
            grantor_national_id: m.grantor_nid,
            valid_until: rfc3339(m.valid_until_ms),
            services: m.scope,
        })
        .collect();
    Ok(MandateList { given, received })
}

/// Body of `POST /api/v1/me/mandates`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MandateRequest {
    /// Who may act for the citizen.
    pub delegate_national_id: String,
    /// Until when (`YYYY-MM-DD`, Gregorian, at most a year ahead).
    pub until: String,
    /// Only these agencies (`traffic-police`) or services (`isfahan-municipality/tree-pruning`);
    /// absent for every service.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Whether the delegate may pass the mandate on, within what it covers and until its
    /// date. Off unless asked for; a mandate passed on cannot be passed on again.
    #[serde(default)]
    pub may_pass_on: bool,
}

/// The mandates the person gave, and those in force that others gave them.
#[utoipa::path(
    get, path = "/me/mandates", tag = "citizen",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses((status = 200, description = "Mandates", body = MandateList), (status = 401, description = "Not signed in")),
)]
async fn mandates_list(State(app): State<Arc<App>>, citizen: Citizen) -> Result<Json<MandateList>, Problem> {
    Ok(Json(mandate_list(&app, &citizen).await?))
}

/// Gives a mandate: the delegate may act for the citizen until the date. A delegate acting
/// under someone else's right cannot give one (no sub-delegation).
#[utoipa::path(
    post, path = "/me/mandates", tag = "citizen", request_body = MandateRequest,
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 201, description = "Given", body = MandateView),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "Acting for someone else: a mandate is given by its grantor only"),
        (status = 422, description = "A national ID or date that is not valid"),
    ),
)]
async fn mandate_give(
    State(app): State<Arc<App>>,
    citizen: Citizen,
    ApiJson(body): ApiJson<MandateRequest>,
) -> Result<(StatusCode, Json<MandateView>), Problem> {
    Ok((StatusCode::CREATED, Json(give_mandate(&app, &citizen, body).await?)))
}

/// The mandate a delegate acting for its grantor holds with the right to pass it on, or
/// a 403: nobody else acting for someone may give a mandate for them.
async fn passable(app: &App, citizen: &Citizen) -> Result<Option<mandates::Mandate>, Problem> {
    let Some(actor) = &citizen.actor else {
        return Ok(None);
    };
    let held = match actor.basis {
        Basis::Mandate => mandates::in_force_for(&app.db, &actor.national_id, now_ms()).await?,
        _ => Vec::new(),
    };
    match held.into_iter().find(|m| m.grantor_nid == citizen.national_id && m.may_pass_on) {
        Some(mandate) => Ok(Some(mandate)),
        None => Err(Problem::new(
            StatusCode::FORBIDDEN,
            "mandate-not-transferable",
            Bilingual::new("وکالت را فقط خود شخص می‌دهد", "Only the person themselves gives a mandate"),
        )
        .detail(Bilingual::new(
            "شما از طرف شخص دیگری اقدام می‌کنید و او اجازه‌ی دادن این حق به دیگری را به شما نداده است.",
            "you are acting for someone else, who did not let you pass that right on",
        ))),
    }
}

/// Gives a mandate (shared by the API and the portal): the citizen's own, or, by a delegate
/// whose mandate allows it, one passed on within it.
pub async fn give_mandate(app: &App, citizen: &Citizen, body: MandateRequest) -> Result<MandateView, Problem> {
    let parent = passable(app, citizen).await?;
    let field = |name: &str, fa: &str, en: &str| {
        Problem::invalid_input(vec![super::problem::FieldProblem {
            field: name.to_owned(),
            message: Bilingual::new(fa.to_owned(), en.to_owned()),
        }])
    };
    let delegate = panjereh_formats::national_id::parse(&body.delegate_national_id)
        .map_err(|e| field("delegate_national_id", &e.fa, &e.en))?;
    if delegate == citizen.national_id || delegate == citizen.person().1 {
        return Err(field("delegate_national_id", "به خودتان وکالت نمی‌دهید", "a mandate is for someone else"));
    }
    let until =
        parse_date(&body.until).ok_or_else(|| field("until", "تاریخ به شکل YYYY-MM-DD", "until must be YYYY-MM-DD"))?;
    let until_ms = until.midnight().assume_utc().unix_timestamp() * 1000;
    let now = now_ms();
    if until_ms <= now || until_ms > now + 366 * 86_400_000 {
        return Err(field("until", "تاریخی در یک سال آینده", "a date within the next year"));
    }
    if let Some(parent) = &parent {
        if until_ms > parent.valid_until_ms {
            return Err(field(
                "until",
                "نه دیرتر از پایان وکالت خودتان",
                "no later than the end of the mandate you hold",
            ));
        }
        if body.may_pass_on {
            return Err(field(
                "may_pass_on",
                "وکالتی که به دیگری داده می‌شود دوباره داده نمی‌شود",
                "a mandate passed on cannot be passed on again",
            ));
        }
    }
    let scope = match body.services {
        None => None,
        Some(names) if names.is_empty() || names.len() > 50 => {
            return Err(field("services", "دست‌کم یک و حداکثر ۵۰ خدمت", "name 1 to 50 agencies or services"));
        }
        Some(names) => {
            for name in &names {
                if !names_a_service(app, name) {
                    return Err(field(
                        "services",
                        &format!("«{name}» در فهرست خدمات نیست"),
                        &format!("`{name}` is no agency or service of the catalogue"),
                    ));
                }
            }
            Some(names)
        }
    };
    // Passed on, it covers no more than the mandate it comes from.
    if let Some(parent) = parent.as_ref().filter(|p| p.scope.is_some()) {
        let within = scope.as_ref().is_some_and(|names| {
            names.iter().all(|name| match name.split_once('/') {
                Some((agency, service)) => parent.covers(agency, service),
                None => parent.scope.as_ref().is_some_and(|p| p.contains(name)),
            })
        });
        if !within {
            return Err(field(
                "services",
                "فقط خدمت‌هایی که در وکالت خودتان است",
                "only services the mandate you hold covers",
            ));
        }
    }
    let mandate = mandates::Mandate {
        id: random_id(),
        grantor_id: citizen.subject.clone(),
        grantor_nid: citizen.national_id.clone(),
        delegate_nid: delegate,
        created_ms: now,
        valid_until_ms: until_ms,
        revoked_ms: None,
        scope,
        may_pass_on: body.may_pass_on,
        parent_id: parent.map(|p| p.id),
    };
    mandates::create(&app.db, &mandate).await?;
    let entry = crate::audit::Entry {
        kind: "mandate.give".into(),
        actor: citizen.acting_person().to_owned(),
        subject: mandate.id.clone(),
        data: serde_json::json!({
            "valid_until": rfc3339(until_ms),
            "services": mandate.scope,
            "may_pass_on": mandate.may_pass_on,
            "passed_on_from": mandate.parent_id,
            "grantor": citizen.subject,
        }),
    };
    crate::api::record(&app.audit, entry).await?;
    Ok(MandateView::from(mandate))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MandatePath {
    pub id: String,
}

/// Revokes a mandate the citizen gave: the delegate's acting ends on their next request.
#[utoipa::path(
    post, path = "/me/mandates/{id}/revoke", tag = "citizen", params(MandatePath),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such mandate of this citizen"),
    ),
)]
async fn mandate_revoke(
    State(app): State<Arc<App>>,
    citizen: Citizen,
    ApiPath(path): ApiPath<MandatePath>,
) -> Result<StatusCode, Problem> {
    revoke_mandate(&app, &citizen, &path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a mandate the citizen gave (shared by the API and the portal).
pub async fn revoke_mandate(app: &App, citizen: &Citizen, id: &str) -> Result<(), Problem> {
    if citizen.actor.is_some() || !mandates::revoke(&app.db, &citizen.subject, id, now_ms()).await? {
        return Err(Problem::not_found(Bilingual::new("وکالتی با این شناسه نیست", "no such mandate")));
    }
    let entry = crate::audit::Entry {
        kind: "mandate.revoke".into(),
        actor: citizen.subject.clone(),
        subject: id.to_owned(),
        data: serde_json::json!({}),
    };
    crate::api::record(&app.audit, entry).await
}

/// A Gregorian `YYYY-MM-DD`.
fn parse_date(text: &str) -> Option<time::Date> {
    let mut parts = text.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}
