//! The background worker's deliveries against a real SMS gateway over loopback HTTP (the
//! `mock-agencies` one): a delivery id the gateway de-duplicates, so a job that runs again
//! after the gateway took its SMS does not text the citizen twice; a slow gateway; and jobs
//! run at once up to the replica's `[notifications] workers`.

use std::net::SocketAddr;
use std::time::Duration;

use mock_agencies::sms;
use panjereh_host::store::{citizens, messages};

use crate::harness::{Database, Host, on_both_databases};

const MOBILE: &str = "09121234567";

/// A gateway on its own port and a host that texts through it, with `sms_extra` under
/// `[auth.sms]` and `extra` under `[notifications]`.
async fn host_and_gateway(
    db: Database,
    sms_extra: &str,
    extra: &str,
) -> (sms::Handle, Host, tokio::sync::watch::Sender<()>) {
    let gateway = sms::Handle::new("s-key");
    let (addr, served) = mock_agencies::serve(SocketAddr::from(([127, 0, 0, 1], 0)), gateway.router()).await.unwrap();
    (gateway, host_texting_through(db, addr, sms_extra, extra).await, served)
}

async fn host_texting_through(db: Database, gateway: SocketAddr, sms_extra: &str, extra: &str) -> Host {
    let config = format!(
        "[auth.sms]\nurl = \"http://{gateway}\"\napi-key = {{ secret = \"s-key\" }}\nsender = \"10004346\"\n{sms_extra}\n\
         [notifications]\ndelivery-check-secs = 0\n{extra}\n"
    );
    Host::start_db(db, &[], &config).await
}

/// A citizen with a mobile, told something: answers the message's id.
async fn tell(host: &Host, national_id: &str) -> String {
    let citizen = citizens::upsert(&host.app.db, national_id, MOBILE).await.unwrap();
    panjereh_host::background::tell(
        &host.app,
        &citizen.id,
        "application-status",
        ("پرونده شما بررسی شد".into(), "Your case was reviewed".into()),
        (String::new(), String::new()),
        None,
    )
    .await
    .unwrap();
    let inbox = messages::of_citizen(&host.app.db, &citizen.id, 10).await.unwrap();
    inbox[0].id.clone()
}

async fn sms_state(host: &Host, message: &str) -> (String, Option<String>) {
    let message = messages::get(&host.app.db, message).await.unwrap().unwrap();
    (message.sms_state, message.sms_id)
}

/// Waits until the message's SMS is `wanted`; answers its state and the gateway's id.
async fn sms_becomes(host: &Host, message: &str, wanted: &str) -> (String, Option<String>) {
    let state = eventually(async || {
        let state = sms_state(host, message).await;
        (state.0 == wanted, state)
    })
    .await;
    assert_eq!(state.0, wanted, "{state:?}");
    state
}

/// Polls `check` every 50 ms for up to 20 s; answers its last value.
async fn eventually<T>(mut check: impl AsyncFnMut() -> (bool, T)) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (done, value) = check().await;
        if done || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the SMS job has failed once; answers the error it recorded.
async fn failed_once(host: &Host) -> Option<String> {
    let job = eventually(async || {
        let job: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE kind = 'message.sms' AND state = 'queued'")
                .fetch_optional(host.app.db.pool())
                .await
                .unwrap();
        (job.as_ref().is_some_and(|j| j.0 >= 1), job)
    })
    .await;
    assert!(job.as_ref().is_some_and(|j| j.0 >= 1), "the SMS job failed once: {job:?}");
    job.and_then(|j| j.1)
}

/// Makes the message's SMS job due now, as its back-off passing would.
async fn due_now(host: &Host) {
    sqlx::query("UPDATE jobs SET due_ms = 0 WHERE kind = 'message.sms' AND state = 'queued'")
        .execute(host.app.db.writer())
        .await
        .unwrap();
}

/// The gateway took the SMS but its answer was lost, so the job failed and runs again; and
/// later the job runs once more as if its replica had been killed after the gateway took it
/// but before the host wrote that down (its lease ran out). Each time the host sends the
/// same delivery id: the citizen gets one SMS, and the host the gateway's first message id.
async fn an_sms_sent_again_reaches_the_citizen_once(db: Database) {
    let (gateway, host, _served) = host_and_gateway(db, "", "").await;
    gateway.set_losing_answers(true);
    let message = tell(&host, "0499370899").await;
    failed_once(&host).await;
    assert_eq!(sms_state(&host, &message).await.0, "failed-temporarily", "the lost answer is a failure");
    assert_eq!(gateway.sent_to(MOBILE).len(), 1, "the gateway took it all the same");

    gateway.set_losing_answers(false);
    due_now(&host).await;
    let delivered = sms_becomes(&host, &message, "delivered").await;
    let texts = gateway.sent_to(MOBILE);
    assert_eq!(texts.len(), 1, "one SMS, not one per attempt: {texts:?}");
    assert!(texts[0].localid.is_some(), "the host sent a delivery id");
    assert_eq!(delivered.1, Some(texts[0].messageid.to_string()), "the gateway answered its first message");

    // The replica died between the gateway's answer and the host's write: the message is
    // still queued and its job's lease has run out.
    sqlx::query("UPDATE messages SET sms_state = 'queued', sms_id = NULL WHERE id = $1")
        .bind(message.as_str())
        .execute(host.app.db.writer())
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET state = 'queued', due_ms = 0, lease_until_ms = 0 WHERE kind = 'message.sms'")
        .execute(host.app.db.writer())
        .await
        .unwrap();
    let again = sms_becomes(&host, &message, "delivered").await;
    assert_eq!(gateway.sent_to(MOBILE).len(), 1, "still one SMS");
    assert_eq!(again.1, Some(texts[0].messageid.to_string()));
}

/// A gateway slower than the host's timeout: the attempt fails temporarily and is retried,
/// and once the gateway is quick again the citizen has one SMS (whether or not the slow
/// gateway took the first attempt).
async fn a_slow_gateway_delays_an_sms_but_sends_it_once(db: Database) {
    let (gateway, host, _served) = host_and_gateway(db, "timeout-ms = 200", "").await;
    gateway.set_delay(Duration::from_millis(1000));
    let message = tell(&host, "0499370899").await;
    let error = failed_once(&host).await;
    assert!(error.as_deref().is_some_and(|e| e.contains("failed to deliver")), "{error:?}");
    assert_eq!(sms_state(&host, &message).await.0, "failed-temporarily");

    gateway.set_delay(Duration::ZERO);
    due_now(&host).await;
    sms_becomes(&host, &message, "delivered").await;
    assert_eq!(gateway.sent_to(MOBILE).len(), 1);
}

on_both_databases!(an_sms_sent_again_reaches_the_citizen_once, a_slow_gateway_delays_an_sms_but_sends_it_once);

/// With a gateway that takes a while to answer, a replica's worker has several SMS in
/// flight at once, and never more than its `workers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_runs_up_to_its_workers_jobs_at_once() {
    let (gateway, host, _served) = host_and_gateway(Database::Sqlite, "", "workers = 3").await;
    gateway.set_delay(Duration::from_millis(300));
    let mut sent = Vec::new();
    for i in 0..9 {
        sent.push(tell(&host, &format!("00000000{i:02}")).await);
    }
    for message in &sent {
        sms_becomes(&host, message, "delivered").await;
    }
    assert_eq!(gateway.sent_to(MOBILE).len(), 9);
    let most = gateway.most_in_flight();
    assert!(most > 1, "the jobs ran one after another");
    assert!(most <= 3, "{most} sends at once, more than the 3 workers");
}

/// The gateway is asked about a message id it never issued (it lost its records, or the id
/// is another sender's): the host stops asking, and the message stays `sent`, neither
/// delivered nor failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_for_an_unknown_message_changes_nothing() {
    use panjereh_host::store::{jobs, now_ms};
    let (_gateway, host, _served) = host_and_gateway(Database::Sqlite, "", "").await;
    let message = tell(&host, "0499370899").await;
    sms_becomes(&host, &message, "delivered").await;
    sqlx::query("UPDATE messages SET sms_state = 'sent', sms_id = '424242' WHERE id = $1")
        .bind(message.as_str())
        .execute(host.app.db.writer())
        .await
        .unwrap();
    let payload = serde_json::json!({ "message": message });
    jobs::enqueue(&host.app.db, panjereh_host::background::SMS_STATUS, &payload, 0, None, now_ms()).await.unwrap();
    let left = eventually(async || {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'message.sms-status' AND state <> 'done'")
                .fetch_one(host.app.db.pool())
                .await
                .unwrap();
        (left == 0, left)
    })
    .await;
    assert_eq!(left, 0, "the host stopped asking (no retry, no dead letter)");
    let failures: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(attempts), 0) FROM jobs WHERE kind = 'message.sms-status'")
            .fetch_one(host.app.db.pool())
            .await
            .unwrap();
    assert_eq!(failures, 0, "not counted as a failure");
    assert_eq!(sms_state(&host, &message).await, ("sent".to_owned(), Some("424242".to_owned())));
}

/// A gateway that is down (nothing listens), and something that is not the gateway's API
/// answering (a proxy's error page): the SMS fails temporarily, the job records why and runs
/// again later, and nothing is marked sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_down_or_answering_garbage_fails_the_sms_temporarily() {
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let garbage = axum::Router::new()
        .fallback(|| async { (axum::http::StatusCode::BAD_GATEWAY, "<html><h1>502 Bad Gateway</h1></html>") });
    let (garbage, _served) = mock_agencies::serve(SocketAddr::from(([127, 0, 0, 1], 0)), garbage).await.unwrap();
    for (gateway, why) in [(down, "error sending request"), (garbage, "answered 502 Bad Gateway without a result")] {
        let host = host_texting_through(Database::Sqlite, gateway, "", "").await;
        let message = tell(&host, "0499370899").await;
        let error = failed_once(&host).await;
        assert!(error.as_deref().is_some_and(|e| e.contains(why)), "{why}: {error:?}");
        assert_eq!(sms_state(&host, &message).await, ("failed-temporarily".to_owned(), None));
    }
}
