//! Who a request acts as: the session behind a token, and the right to act for someone
//! else (a legal entity, a minor, a citizen at a counter office, a grantor of a mandate),
//! checked on every request and asked again, without cache, before a filing or a payment.

use super::ServiceError;
use crate::app::App;
use crate::auth::representation::{Basis, RepresentationError};
use crate::auth::session::{Actor, Citizen, Source, TOKEN_PREFIX, hash_token};
use crate::runtime::bindings::Assurance;
use crate::store::{citizens, counter, mandates, now_ms, sessions};

/// The citizen a session token acts as, if the session is active: its own citizen, or the
/// subject it acts for while that right still holds.
pub async fn resolve(app: &App, token: &str) -> Result<Option<Citizen>, ServiceError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let (hash, now) = (hash_token(token), now_ms());
    let found = match app.sessions.get(&hash, now) {
        Some(found) => Some(found),
        None => {
            let found = sessions::find_active(&app.db, &hash, now).await?;
            if let Some((session, citizen)) = &found {
                app.sessions.put(&hash, session, citizen);
            }
            found
        }
    };
    let Some((session, citizen)) = found else {
        return Ok(None);
    };
    let (Ok(assurance), Ok(source)) = (session.assurance.parse::<Assurance>(), session.source.parse::<Source>()) else {
        return Ok(None);
    };
    let own = Citizen {
        assurance,
        session_id: session.id.clone(),
        subject: citizen.id.clone(),
        national_id: citizen.national_id.clone(),
        mobile: citizen.mobile.clone(),
        source,
        expires_ms: session.expires_ms,
        actor: None,
    };
    let Some((subject_id, basis)) = session.acting_for.clone() else {
        return Ok(Some(own));
    };
    // Acting for someone: checked on every request (against a short cache of the
    // registries' answers); a right that ended ends the acting, not the session.
    let basis = Basis::from_name(&basis).filter(|_| session.acting_until_ms.is_none_or(|until| until > now_ms()));
    let subject = citizens::get(&app.db, &subject_id).await?;
    let allowed = match (basis, &subject) {
        (Some(basis), Some(subject)) => {
            match right_holds(app, &citizen.national_id, basis, &subject.national_id, false).await {
                // A consent at a counter names its services itself; the other rights
                // say what they cover.
                Ok(scope) => Some((basis, session.acting_scope.clone().or(scope))),
                // A registry that does not answer neither grants the right nor ends it: the
                // request fails, and the session still acts for the subject afterwards.
                Err(error @ RepresentationError::Unavailable(_)) => return Err(error.into()),
                Err(_) => None,
            }
        }
        _ => None,
    };
    match (allowed, subject) {
        (Some((basis, scope)), Some(subject)) => Ok(Some(Citizen {
            subject: subject.id,
            national_id: subject.national_id,
            mobile: subject.mobile,
            actor: Some(Actor { subject: citizen.id, national_id: citizen.national_id, basis, scope }),
            ..own
        })),
        _ => {
            tracing::info!(session = %session.id, "the right to act for a subject ended; the session acts for its own citizen again");
            sessions::set_acting(&app.db, &session.id, None).await?;
            app.sessions.forget(&session.id);
            Ok(Some(own))
        }
    }
}

/// How long a clerk acts for the citizen present after their consent.
pub const COUNTER_CONSENT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Whether `actor` (a national ID) may still act for `subject` on `basis`, and for which
/// services (`None`: every one): the registries for signatories and parents (cached unless
/// `fresh`), the clerks' register for counter offices (whose consent lasts the clerk's
/// session), the mandates in force (every service any of them covers).
pub async fn right_holds(
    app: &App,
    actor: &str,
    basis: Basis,
    subject: &str,
    fresh: bool,
) -> Result<Option<Vec<String>>, RepresentationError> {
    match basis {
        Basis::Counter => match counter::clerk(&app.db, actor).await {
            Ok(Some(_)) => Ok(None),
            Ok(None) => Err(RepresentationError::NotAllowed),
            Err(error) => Err(RepresentationError::Unavailable(error.to_string())),
        },
        Basis::Mandate => match mandates::in_force_for(&app.db, actor, now_ms()).await {
            Ok(list) => {
                let given: Vec<_> = list.into_iter().filter(|m| m.grantor_nid == subject).collect();
                if given.is_empty() {
                    return Err(RepresentationError::NotAllowed);
                }
                if given.iter().any(|m| m.scope.is_none()) {
                    return Ok(None);
                }
                let mut scope: Vec<String> = given.into_iter().flat_map(|m| m.scope.unwrap_or_default()).collect();
                scope.sort();
                scope.dedup();
                Ok(Some(scope))
            }
            Err(error) => Err(RepresentationError::Unavailable(error.to_string())),
        },
        _ => app.representation.check(actor, basis, subject, fresh).await.map(|_| None),
    }
}

/// Before a filing or a payment: asks the registries again (no cache) whether the actor
/// may still act for the subject.
pub async fn recheck(app: &App, citizen: &Citizen) -> Result<(), RepresentationError> {
    let Some(actor) = &citizen.actor else {
        return Ok(());
    };
    right_holds(app, &actor.national_id, actor.basis, &citizen.national_id, true).await.map(drop)
}
