//! Durable background work, on the host's database (`store::jobs`), and what it does:
//! following an application's status at its agency, and delivering the citizen's messages
//! by SMS with their delivery reports.
//!
//! Every replica runs one worker ([`spawn`]). It claims due jobs with a lease (`FOR UPDATE
//! SKIP LOCKED` on PostgreSQL, the single writer on SQLite), so each job runs on one
//! replica at a time, and runs up to `[notifications] workers` of them at once (a status
//! poll still waits for its adapter's own concurrency, as every adapter call does); a job
//! that fails runs again after an exponential back-off with
//! jitter, capped at an hour, and after [`MAX_ATTEMPTS`] it is a dead letter that operators
//! see and retry (`/admin/v1/jobs`). A `kill -9` loses only leases, which run out.
//!
//! The citizen's inbox ([`tell`]) is where status changes and receipts land, in both
//! languages; the SMS of a message is one more job.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;

use crate::app::App;
use crate::auth::notifier::{Delivery, SmsGateway, sms_segments};
use crate::store::applications::{self};
use crate::store::jobs::{self, Job};
use crate::store::messages::{self, Message};
use crate::store::{citizens, now_ms, random_id};
use crate::text::Lang;
use crate::text::messages as messages_text;

/// Follows one application at its agency (`{"application": id}`).
pub const POLL: &str = "application.poll";
/// Sends a message's SMS (`{"message": id}`).
pub const SMS: &str = "message.sms";
/// Asks the SMS gateway whether it was delivered (`{"message": id}`).
pub const SMS_STATUS: &str = "message.sms-status";
/// Sends a message by e-mail (`{"message": id}`).
pub const EMAIL: &str = "message.email";
/// Puts a settled payment's receipt in the citizen's inbox (`{"payment": id}`).
pub const RECEIPT: &str = "payment.receipt";
/// Tells the citizen of an application's newest status (`{"application": id}`), for changes
/// made where no `App` is at hand (an adapter's answer to a payment).
pub const CHANGED: &str = "application.changed";

/// Attempts after which a job is a dead letter.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a worker holds a claimed job.
const LEASE: Duration = Duration::from_secs(120);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How often the worker looks for due jobs.
const TICK: Duration = Duration::from_millis(500);
/// Jobs claimed in one round, per job run at once: enough that a round keeps every worker
/// busy, few enough that a replica does not hold leases it will not get to soon.
const CLAIMED_PER_WORKER: usize = 4;

/// What a job asks for next.
#[derive(Debug)]
enum Next {
    Done,
    /// Run again at this time (periodic work; not a failure).
    At(i64),
    /// Failed; try again after the back-off.
    Retry(String),
}

/// The wait after `attempts` failures: 2 s doubling, at most an hour, ±25 % jitter.
pub fn backoff(attempts: i64) -> Duration {
    let base = Duration::from_secs(2).saturating_mul(1u32 << attempts.clamp(0, 20) as u32).min(MAX_BACKOFF);
    let quarter = base.as_millis() as u64 / 4;
    let jitter = rand::random_range(0..=quarter * 2);
    Duration::from_millis((base.as_millis() as u64 - quarter + jitter).max(1))
}

/// Starts this replica's worker. A round that claimed a full batch is followed at once by
/// the next, so a backlog drains without waiting for the tick.
pub fn spawn(app: Arc<App>) {
    let owner = random_id();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match run_due(&app, &owner).await {
                    Ok(ran) if ran == batch(&app) => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "background jobs: a round failed");
                        break;
                    }
                }
            }
        }
    });
}

/// The jobs one round claims.
fn batch(app: &App) -> usize {
    app.config.notifications.workers * CLAIMED_PER_WORKER
}

/// Runs the jobs that are due now, up to `[notifications] workers` at once; answers how
/// many it claimed. Every job's outcome is written even when another's could not be.
pub async fn run_due(app: &App, owner: &str) -> sqlx::Result<usize> {
    let now = now_ms();
    let due = jobs::claim(&app.db, owner, now, now + LEASE.as_millis() as i64, batch(app) as i64).await?;
    let count = due.len();
    let settled: Vec<sqlx::Result<()>> = futures::stream::iter(due)
        .map(|job| run_and_settle(app, owner, job))
        .buffer_unordered(app.config.notifications.workers)
        .collect()
        .await;
    settled.into_iter().collect::<sqlx::Result<()>>()?;
    Ok(count)
}

/// Runs one claimed job and writes what it asks for next.
async fn run_and_settle(app: &App, owner: &str, job: Job) -> sqlx::Result<()> {
    let next = run(app, &job).await;
    let now = now_ms();
    match next {
        Next::Done => jobs::done(&app.db, &job.id, owner, now).await?,
        Next::At(due) => jobs::again_at(&app.db, &job.id, owner, due, now).await?,
        Next::Retry(error) => {
            let dead = job.attempts + 1 >= MAX_ATTEMPTS;
            if dead {
                tracing::error!(job = %job.id, kind = %job.kind, %error, "background job is a dead letter");
            } else {
                tracing::warn!(job = %job.id, kind = %job.kind, %error, "background job failed; it runs again");
            }
            let due = now + backoff(job.attempts).as_millis() as i64;
            jobs::failed(&app.db, &job.id, owner, &error, due, dead, now).await?;
        }
    }
    metrics::counter!("panjereh_jobs_total", "kind" => job.kind).increment(1);
    Ok(())
}

async fn run(app: &App, job: &Job) -> Next {
    let id = ["application", "message", "payment"].iter().find_map(|k| job.payload.get(*k)).and_then(|v| v.as_str());
    let Some(id) = id else {
        return Next::Retry(format!("a {} job without its id", job.kind));
    };
    let result = match job.kind.as_str() {
        POLL => poll(app, id).await,
        SMS => send_sms(app, id).await,
        SMS_STATUS => sms_status(app, id).await,
        RECEIPT => receipt(app, id).await,
        EMAIL => send_email(app, id).await,
        CHANGED => changed(app, id).await,
        jobs::AGENCY_MESSAGE => agency_message(app, id, &job.payload).await,
        other => Err(format!("unknown job kind {other}")),
    };
    result.unwrap_or_else(Next::Retry)
}

/// How often `agency`'s applications are asked about: its manifest's `[status]
/// poll-every-mins`, never more often than the host's floor, or the host's default.
pub fn poll_interval(app: &App, agency: &str) -> Duration {
    let asked = app.registry.get(agency).and_then(|slot| slot.adapter.manifest.poll_every);
    interval(asked, &app.config.notifications)
}

fn interval(asked: Option<Duration>, settings: &crate::config::NotificationSettings) -> Duration {
    asked.map_or(settings.poll_every, |asked| asked.max(settings.poll_floor))
}

/// The job that follows a newly filed application of `agency`, queued with its filing.
pub fn follow(app: &App, application_id: &str, agency: &str) -> jobs::NewJob<'static> {
    jobs::NewJob {
        kind: POLL,
        payload: json!({"application": application_id}),
        due_ms: now_ms() + poll_interval(app, agency).as_millis() as i64,
        dedupe: Some(format!("poll:{application_id}")),
    }
}

/// Asks the agency where an application stands (see [`crate::window::follow`]). A poll
/// the agency refused is tried again at the usual pace; one that failed on the far side
/// backs off.
async fn poll(app: &App, id: &str) -> Result<Next, String> {
    use crate::window::follow::{Followed, follow};
    let Some(row) = applications::by_id(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    let again = Next::At(now_ms() + poll_interval(app, &row.agency).as_millis() as i64);
    match follow(app, &row).await {
        Ok(Followed::Done) => Ok(Next::Done),
        Ok(Followed::Moved(status)) if status.is_final() => Ok(Next::Done),
        Ok(Followed::Moved(_) | Followed::Unchanged) => Ok(again),
        Err(error) if error.is_transient() || matches!(error, crate::window::ServiceError::UnknownAgency(_)) => {
            Err(error.to_string())
        }
        Err(error) => {
            tracing::info!(application = id, %error, "status poll refused; trying again later");
            Ok(again)
        }
    }
}

/// Tells the citizen that an application moved (polling and callbacks both call it).
pub async fn status_changed(
    app: &App,
    citizen_id: &str,
    tracking_code: &str,
    status: &str,
    message_fa: &str,
    message_en: &str,
) -> sqlx::Result<()> {
    let (fa, en) = crate::text::i18n::status_label(status);
    let (title_fa, _) =
        messages_text::render("application-status.title", &[("tracking_code", tracking_code), ("status", fa)]);
    let (_, title_en) =
        messages_text::render("application-status.title", &[("tracking_code", tracking_code), ("status", en)]);
    tell(
        app,
        citizen_id,
        "application-status",
        (title_fa, title_en),
        (message_fa.to_owned(), message_en.to_owned()),
        Some(format!("/applications/{tracking_code}")),
    )
    .await
}

/// Puts a message in the citizen's inbox and, when the host has an SMS gateway and knows
/// the citizen's mobile, queues its SMS (Persian, one line of title and the link's page).
pub async fn tell(
    app: &App,
    citizen_id: &str,
    kind: &str,
    title: (String, String),
    body: (String, String),
    link: Option<String>,
) -> sqlx::Result<()> {
    let preferences = citizens::preferences(&app.db, citizen_id).await?;
    let sms = app.sms.is_some() && preferences.channels.iter().any(|c| c == "sms");
    let email =
        app.mailer.is_some() && preferences.email.is_some() && preferences.channels.iter().any(|c| c == "email");
    let text =
        sms_text(Lang::from_code(&preferences.language).unwrap_or_default(), (&title.0, &title.1), (&body.0, &body.1));
    let message = Message {
        id: random_id(),
        citizen_id: citizen_id.to_owned(),
        kind: kind.to_owned(),
        title_fa: title.0,
        title_en: title.1,
        body_fa: body.0,
        body_en: body.1,
        link,
        created_ms: now_ms(),
        read_ms: None,
        sms_state: if sms { "queued" } else { "none" }.to_owned(),
        sms_id: None,
        sms_segments: if sms { sms_segments(&text) as i64 } else { 0 },
        email_state: if email { "queued" } else { "none" }.to_owned(),
    };
    messages::insert(&app.db, &message).await?;
    if sms {
        jobs::enqueue(&app.db, SMS, &json!({"message": message.id}), now_ms(), None, now_ms()).await?;
    }
    if email {
        jobs::enqueue(&app.db, EMAIL, &json!({"message": message.id}), now_ms(), None, now_ms()).await?;
    }
    Ok(())
}

/// A message an agency's adapter sent the citizen of one of its applications (`notify`).
async fn agency_message(app: &App, id: &str, payload: &serde_json::Value) -> Result<Next, String> {
    let Some(row) = applications::by_id(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    let pair = |key: &str| {
        let text = |i: usize| payload[key][i].as_str().map(str::to_owned);
        text(0).zip(text(1)).ok_or_else(|| format!("an agency message without its {key}"))
    };
    tell(
        app,
        &row.citizen_id,
        "agency-message",
        pair("title")?,
        pair("body")?,
        Some(format!("/applications/{}", row.tracking_code)),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Next::Done)
}

/// The inbox message of an application's newest event.
async fn changed(app: &App, id: &str) -> Result<Next, String> {
    let Some(row) = applications::by_id(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    let events = applications::events(&app.db, &row.id).await.map_err(|e| e.to_string())?;
    if let Some(last) = events.last() {
        status_changed(app, &row.citizen_id, &row.tracking_code, &last.status, &last.message_fa, &last.message_en)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Next::Done)
}

/// The inbox message of a settled payment.
async fn receipt(app: &App, id: &str) -> Result<Next, String> {
    let Some(order) = crate::store::payments::get(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    let Some(citizen) = order.citizen_id.as_deref() else {
        return Ok(Next::Done);
    };
    let amount = panjereh_formats::group_thousands(order.amount_rial as u64);
    let rrn = order.rrn.clone().unwrap_or_default();
    tell(
        app,
        citizen,
        "payment-receipt",
        messages_text::render("payment-receipt.title", &[]),
        messages_text::render("payment-receipt.body", &[("amount", &amount), ("rrn", &rrn)]),
        Some(format!("/payments/{}", order.id)),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Next::Done)
}

/// Sends a message to the citizen's e-mail address, in their language.
async fn send_email(app: &App, id: &str) -> Result<Next, String> {
    let mailer = app.mailer.as_ref().ok_or_else(|| "no mail relay is configured".to_owned())?;
    let Some(message) = messages::get(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    let preferences = citizens::preferences(&app.db, &message.citizen_id).await.map_err(|e| e.to_string())?;
    let Some(address) = preferences.email else {
        messages::set_email(&app.db, id, "failed-permanently").await.map_err(|e| e.to_string())?;
        return Ok(Next::Done);
    };
    let en = preferences.language == "en";
    let (subject, body) =
        if en { (&message.title_en, &message.body_en) } else { (&message.title_fa, &message.body_fa) };
    let lang = if en { Lang::En } else { Lang::Fa };
    let footer = message.link.as_deref().map_or_else(String::new, |link| {
        format!("\n\n{}", messages_text::render_in("email.footer", lang, &[("link", link)]))
    });
    match mailer.send(&address, subject, &format!("{body}{footer}")).await {
        Ok(()) => {
            messages::set_email(&app.db, id, "sent").await.map_err(|e| e.to_string())?;
            Ok(Next::Done)
        }
        Err(crate::auth::email::EmailError::Permanent(error)) => {
            tracing::warn!(message = id, %error, "e-mail refused for good");
            messages::set_email(&app.db, id, "failed-permanently").await.map_err(|e| e.to_string())?;
            Ok(Next::Done)
        }
        Err(error) => {
            messages::set_email(&app.db, id, "failed-temporarily").await.map_err(|e| e.to_string())?;
            Err(error.to_string())
        }
    }
}

/// One SMS of a message, in the citizen's language.
fn sms_text(lang: Lang, title: (&str, &str), body: (&str, &str)) -> String {
    let (title, body) = (lang.pick(title.0, title.1), lang.pick(body.0, body.1));
    if body.is_empty() {
        messages_text::render_in("sms.title-only", lang, &[("title", title)])
    } else {
        messages_text::render_in("sms.with-body", lang, &[("title", title), ("body", body)])
    }
}

fn gateway(app: &App) -> Result<&Arc<SmsGateway>, String> {
    app.sms.as_ref().ok_or_else(|| "no SMS gateway is configured".to_owned())
}

async fn send_sms(app: &App, id: &str) -> Result<Next, String> {
    let gateway = gateway(app)?;
    let Some(message) = messages::get(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    if message.sms_state != "queued" && message.sms_state != "failed-temporarily" {
        return Ok(Next::Done);
    }
    let citizen = citizens::get(&app.db, &message.citizen_id).await.map_err(|e| e.to_string())?;
    let Some(mobile) = citizen.map(|c| c.mobile).filter(|m| !m.is_empty()) else {
        messages::set_sms(&app.db, id, "failed-permanently", None).await.map_err(|e| e.to_string())?;
        return Ok(Next::Done);
    };
    let preferences = citizens::preferences(&app.db, &message.citizen_id).await.map_err(|e| e.to_string())?;
    let lang = Lang::from_code(&preferences.language).unwrap_or_default();
    let text = sms_text(lang, (&message.title_fa, &message.title_en), (&message.body_fa, &message.body_en));
    // The message's id is the delivery's: if this job runs again after the gateway took the
    // SMS (its answer lost, a lease run out, `kill -9`), the gateway answers with that SMS.
    match gateway.send_text(&mobile, &text, Some(&message.id)).await {
        Ok(sms_id) => {
            messages::set_sms(&app.db, id, "sent", Some(&sms_id)).await.map_err(|e| e.to_string())?;
            let due = now_ms() + app.config.notifications.delivery_check.as_millis() as i64;
            jobs::enqueue(&app.db, SMS_STATUS, &json!({"message": id}), due, None, now_ms())
                .await
                .map_err(|e| e.to_string())?;
            Ok(Next::Done)
        }
        Err(error) => {
            messages::set_sms(&app.db, id, "failed-temporarily", None).await.map_err(|e| e.to_string())?;
            Err(error.to_string())
        }
    }
}

async fn sms_status(app: &App, id: &str) -> Result<Next, String> {
    let gateway = gateway(app)?;
    let Some(message) = messages::get(&app.db, id).await.map_err(|e| e.to_string())? else {
        return Ok(Next::Done);
    };
    let Some(sms_id) = message.sms_id.as_deref() else {
        return Ok(Next::Done);
    };
    let state = match gateway.delivery(sms_id).await.map_err(|e| e.to_string())? {
        Delivery::Delivered => "delivered",
        Delivery::Undeliverable => "failed-permanently",
        Delivery::Pending => return Err("not delivered yet".to_owned()),
        Delivery::Unknown => {
            // Asking again would not help; the message stays `sent`, as far as anyone knows.
            tracing::warn!(message = id, sms_id, "the SMS gateway does not know this message; no delivery report");
            return Ok(Next::Done);
        }
    };
    messages::set_sms(&app.db, id, state, None).await.map_err(|e| e.to_string())?;
    Ok(Next::Done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_manifest_sets_the_pace_of_polls_within_the_floor() {
        use std::time::Duration;
        let settings = crate::config::NotificationSettings::default();
        assert_eq!(super::interval(None, &settings), settings.poll_every);
        assert_eq!(super::interval(Some(Duration::from_secs(1800)), &settings), Duration::from_secs(1800));
        assert_eq!(
            super::interval(Some(Duration::from_secs(60)), &settings),
            settings.poll_floor,
            "never under the floor"
        );
    }

    #[test]
    fn an_sms_is_in_the_citizens_language() {
        use crate::text::Lang;
        let (title, body) = (("رسید پرداخت", "Payment receipt"), ("۱۰۰ ریال", "100 rials"));
        assert_eq!(super::sms_text(Lang::Fa, title, body), "پنجره: رسید پرداخت\n۱۰۰ ریال");
        assert_eq!(super::sms_text(Lang::En, title, body), "Panjereh: Payment receipt\n100 rials");
        assert_eq!(super::sms_text(Lang::En, title, ("", "")), "Panjereh: Payment receipt");
    }

    #[test]
    fn the_back_off_doubles_with_jitter_and_a_cap() {
        for attempts in 0..30 {
            let wait = super::backoff(attempts).as_millis() as u64;
            let base = (2000u64 << attempts.min(20)).min(3_600_000);
            assert!(wait >= base * 3 / 4 && wait <= base * 5 / 4, "{attempts}: {wait} around {base}");
        }
    }
}
