//! `notify`: an adapter tells the citizen of one of its agency's applications something.
//!
//! Deny-by-default: the manifest requests `notify = true` and the operator grants it. The
//! message is bounded, tied to an application of the adapter's own agency (found by its
//! agency reference), and queued durably as a job that the background worker delivers to
//! the citizen's inbox and chosen channels; the adapter never learns who the citizen is.

use serde_json::json;

use crate::runtime::CallState;
use crate::runtime::bindings::Text;
use crate::runtime::bindings::notify::{Host, NotifyError};
use crate::store::{applications, jobs, now_ms};

/// Longest title, in characters per language.
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest body, in characters per language.
pub const MAX_BODY_CHARS: usize = 1000;
/// Most messages one call may send.
pub const MAX_PER_CALL: u32 = 5;

fn check_text(what: &str, text: &Text, limit: usize) -> Result<(), NotifyError> {
    for (language, value) in [("fa", &text.fa), ("en", &text.en)] {
        let chars = value.chars().count();
        if value.trim().is_empty() {
            return Err(NotifyError::Invalid(format!("the {what} is empty in `{language}`")));
        }
        if chars > limit {
            return Err(NotifyError::Invalid(format!(
                "the {what} has {chars} characters in `{language}`; at most {limit} are allowed"
            )));
        }
    }
    Ok(())
}

impl Host for CallState {
    async fn send(&mut self, agency_reference: String, title: Text, body: Text) -> Result<(), NotifyError> {
        self.caps.check_notify().map_err(|denied| NotifyError::NotGranted(denied.message))?;
        if self.notices >= MAX_PER_CALL {
            return Err(NotifyError::TooMany(format!("at most {MAX_PER_CALL} messages per call")));
        }
        check_text("title", &title, MAX_TITLE_CHARS)?;
        check_text("body", &body, MAX_BODY_CHARS)?;
        // What the adapter stored before the message is durable before it is queued.
        self.commit_staged()
            .await
            .map_err(|_| NotifyError::Other("the adapter's storage could not be written".into()))?;
        let db =
            self.caps.db.clone().ok_or_else(|| NotifyError::Other("messages are not available on this host".into()))?;
        let failed = |error: sqlx::Error| {
            tracing::error!(adapter = %self.caps.adapter, request_id = %self.request_id, %error, "notify failed");
            NotifyError::Other("the message could not be queued; try again later".into())
        };
        let Some(application) =
            applications::by_agency_reference(&db, &self.caps.agency, &agency_reference).await.map_err(failed)?
        else {
            return Err(NotifyError::UnknownApplication(format!(
                "no application of this agency has reference `{}`",
                agency_reference.escape_debug()
            )));
        };
        let payload = json!({
            "application": application.id,
            "adapter": self.caps.adapter,
            "request_id": self.request_id,
            "title": [title.fa, title.en],
            "body": [body.fa, body.en],
        });
        let now = now_ms();
        jobs::enqueue(&db, jobs::AGENCY_MESSAGE, &payload, now, None, now).await.map_err(failed)?;
        self.notices += 1;
        tracing::info!(adapter = %self.caps.adapter, request_id = %self.request_id, tracking_code = %application.tracking_code, "agency message queued");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::capabilities::{Capabilities, Grant, HostServices};
    use crate::store::applications::{ApplicationRow, Reservation};
    use crate::store::{Db, citizens, random_id};

    fn text(s: &str) -> Text {
        Text { fa: format!("پیام {s}"), en: s.to_owned() }
    }

    /// An application filed with `agency`, which knows it as `reference`.
    async fn filed(db: &Db, agency: &str, reference: &str) {
        let citizen = citizens::upsert(db, "0499370899", "09121234567").await.unwrap();
        let row = ApplicationRow {
            id: random_id(),
            tracking_code: random_id(),
            citizen_id: citizen.id,
            agency: agency.to_owned(),
            service: "permit".to_owned(),
            adapter_id: agency.to_owned(),
            adapter_version: "1.0.0".to_owned(),
            agency_reference: Some(reference.to_owned()),
            status: "submitted".to_owned(),
            idempotency_key: None,
            request_hash: String::new(),
            created_ms: 1,
            updated_ms: 1,
            actor_id: None,
            bills: Vec::new(),
        };
        assert!(matches!(applications::reserve(db, &row, &[]).await.unwrap(), Reservation::Reserved));
    }

    /// One call of `agency`'s adapter, granted `notify`.
    fn call_of(db: &Db, agency: &str) -> CallState {
        let services = HostServices { db: Some(db.clone()), egress: Default::default() };
        let grant = Grant { notify: true, ..Default::default() };
        let caps = Capabilities::new(agency, agency, "1.0.0", grant, &Default::default(), &services);
        CallState::new(Arc::new(caps), "request-1".to_owned(), 1 << 20, Default::default())
    }

    async fn queued(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = $1")
            .bind(jobs::AGENCY_MESSAGE)
            .fetch_one(db.pool())
            .await
            .unwrap()
    }

    /// An adapter messages only the applicants of its own agency (another agency's reference
    /// is as unknown as a made-up one), and at most [`MAX_PER_CALL`] messages a call.
    #[tokio::test]
    async fn an_adapter_messages_only_its_agencys_applicants_and_a_few_a_call() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("notify.db").display())).await.unwrap();
        filed(&db, "tax-office", "TAX-1").await;
        filed(&db, "police", "POL-1").await;
        let mut tax = call_of(&db, "tax-office");
        for never_served in ["POL-1", "NOBODY-1"] {
            let refused = Host::send(&mut tax, never_served.to_owned(), text("title"), text("body")).await;
            assert!(matches!(refused, Err(NotifyError::UnknownApplication(_))), "{never_served}: {refused:?}");
        }
        assert_eq!(queued(&db).await, 0, "nothing queued for a citizen the adapter never served");

        for _ in 0..MAX_PER_CALL {
            Host::send(&mut tax, "TAX-1".to_owned(), text("title"), text("body")).await.unwrap();
        }
        let flooding = Host::send(&mut tax, "TAX-1".to_owned(), text("title"), text("body")).await;
        assert!(matches!(flooding, Err(NotifyError::TooMany(_))), "{flooding:?}");
        assert_eq!(queued(&db).await, i64::from(MAX_PER_CALL));
    }
}
