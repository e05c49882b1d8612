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
