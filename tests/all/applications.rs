//! Applications end to end on both databases: tracking codes, idempotency, other
//! citizens' codes, signed agency callbacks, assurance checks and the data-usage log.

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::harness::{APPLICANT, Answer, Database, Host, UTILITY_BILLS, on_both_databases};

const PERMIT: &str = "/api/v1/services/test-office/permit/applications";
const SECRET: &str = "s3cret-shared-with-the-agency";
/// Grants the applicant only the national ID, and gives it a callback secret.
const CONFIG: &str = r#"
[auth]
otp-backoff-ms = 0

[adapters.applicant.grant]
identity = ["national-id"]
kv-quota-kib = 16

[adapters.applicant.config]
callback-secret = { secret = "s3cret-shared-with-the-agency" }
"#;

const ALI: (&str, &str) = ("0499370899", "09121234567");
const SARA: (&str, &str) = ("0790419904", "09351234567");

fn form(reference: &str) -> Value {
    json!({"input": {"postal-code": "۱۱۹۳۶۵۳۴۷۱", "reference": reference}})
}

/// The agency's signature header for `body`, made now.
fn sign(body: &[u8], secret: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    sign_at(body, secret, now)
}

/// The agency's signature header for `body` at Unix time `t`.
fn sign_at(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn callback(host: &Host, agency: &str, body: &str, signature: Option<&str>) -> Answer {
    let mut request = host
        .client
        .post(host.url(&format!("/api/v1/callbacks/{agency}")))
        .header("accept-language", "en")
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("x-panjereh-signature", signature);
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    let (status, body) = crate::harness::decode(response).await;
    Answer { status, body, headers }
}

fn is_tracking_code(code: &str) -> bool {
    let parts: Vec<_> = code.split('-').collect();
    parts.len() == 5
        && parts[0] == "PJ"
        && parts[1..4].iter().all(|p| p.len() == 4)
        && parts[4].len() == 1
        && code[3..]
            .chars()
            .all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"ILOU".contains(c) && !c.is_lowercase()))
}

async fn submit_then_track_with_history(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let filed = host.post_as(&ali, PERMIT, form("CASE-1")).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    let code = filed.body["tracking_code"].as_str().unwrap().to_owned();
    assert!(is_tracking_code(&code), "{code}");
    assert_eq!(filed.body["status"], "submitted");
    assert_eq!(filed.body["agency_reference"], "CASE-1");
    assert_eq!(filed.body["service_title"], "Test permit");
    let history = filed.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["actor"], "citizen");
    assert_eq!(history[0]["message"], "Your application was received");

    let mine = host.get_as(&ali, "/api/v1/applications").await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["count"], 1);
    assert_eq!(mine.body["applications"][0]["tracking_code"], code.as_str());

    let shown = host.get_as(&ali, &format!("/api/v1/applications/{code}")).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body, filed.body);
    // Typed the way people type it.
    let sloppy = code.to_lowercase().replace('-', "");
    assert_eq!(host.get_as(&ali, &format!("/api/v1/applications/{sloppy}")).await.status, 200);

    // One character wrong: the check character catches it, and says so.
    let last = code.chars().last().unwrap();
    let typo = format!("{}{}", &code[..code.len() - 1], if last == 'A' { 'B' } else { 'A' });
    let answer = host.get_as(&ali, &format!("/api/v1/applications/{typo}")).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/application-not-found");
    assert!(answer.body["detail"].as_str().unwrap().contains("mistyped"), "{}", answer.body);
    let answer = host.get_as(&ali, "/api/v1/applications/not-a-code").await;
    assert_eq!(answer.status, 404);
    // Not even bytes that are not UTF-8 get past the problem format.
    let answer = host.get_as(&ali, "/api/v1/applications/%FF%FE").await;
    assert_eq!(answer.status, 400, "{}", answer.body);

    // The agency refuses one: nothing is stored.
    let refused = host.post_as(&ali, PERMIT, form("refuse")).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["field"], "reference");
    assert_eq!(host.get_as(&ali, "/api/v1/applications").await.body["count"], 1);

    // Host validation first: a bad postal code never reaches the agency.
    let invalid = host.post_as(&ali, PERMIT, json!({"input": {"postal-code": "1234567890"}})).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.body["errors"][0]["field"], "postal-code");
    // An inquiry is not an application.
    let wrong_kind = host.post_as(&ali, "/api/v1/services/test-office/echo/applications", json!({})).await;
    assert_eq!(wrong_kind.status, 409);
}

async fn another_citizens_code_is_not_found(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let sara = host.sign_in(SARA.0, SARA.1).await;
    let filed = host.post_as(&ali, PERMIT, form("CASE-2")).await;
    assert_eq!(filed.status, 201);
    let code = filed.body["tracking_code"].as_str().unwrap();

    let theirs = host.get_as(&sara, &format!("/api/v1/applications/{code}")).await;
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    // Exactly what an unknown (but well-formed) code gets.
    let unknown = host.get_as(&sara, &format!("/api/v1/applications/{}", panjereh_host::tracking::generate())).await;
    assert_eq!(theirs.body, unknown.body);
    assert_eq!(host.get_as(&sara, "/api/v1/applications").await.body["count"], 0);
    let anonymous = host.call(Method::GET, &format!("/api/v1/applications/{code}"), None, None, &[]).await;
    assert_eq!(anonymous.status, 401);
}

async fn an_idempotency_key_never_files_twice(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let key = [("idempotency-key", "retry-7f3a")];
    let first = host.call(Method::POST, PERMIT, Some(&ali), Some(form("CASE-3")), &key).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let again = host.call(Method::POST, PERMIT, Some(&ali), Some(form("CASE-3")), &key).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");

    // Several retries at once still make one application.
    let racing = [("idempotency-key", "retry-race")];
    let answers = futures_join(&host, &ali, &racing).await;
    let codes: std::collections::BTreeSet<_> =
        answers.iter().filter(|a| a.status == 201).map(|a| a.body["tracking_code"].to_string()).collect();
    assert_eq!(codes.len(), 1, "{:?}", answers.iter().map(|a| (a.status, a.body.clone())).collect::<Vec<_>>());
    assert!(answers.iter().all(|a| a.status == 201 || a.status == 409));
    assert_eq!(host.get_as(&ali, "/api/v1/applications").await.body["count"], 2);

    // The same key with different input is a mistake, not a replay.
    let reused = host.call(Method::POST, PERMIT, Some(&ali), Some(form("CASE-OTHER")), &key).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.body["type"], "/problems/idempotency-key-reused");
    // Keys are per citizen: another citizen's identical key files their own application.
    let sara = host.sign_in(SARA.0, SARA.1).await;
    let theirs = host.call(Method::POST, PERMIT, Some(&sara), Some(form("CASE-S")), &key).await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.body["tracking_code"], first.body["tracking_code"]);
    assert_eq!(host.get_as(&ali, "/api/v1/applications").await.body["count"], 2);
    let bad_key = host.call(Method::POST, PERMIT, Some(&ali), Some(form("CASE-4")), &[("idempotency-key", "")]).await;
    assert_eq!(bad_key.status, 400);
}

async fn futures_join(host: &Host, token: &str, headers: &[(&str, &str)]) -> Vec<Answer> {
    let call = || host.call(Method::POST, PERMIT, Some(token), Some(form("CASE-RACE")), headers);
    let (a, b, c, d) = tokio::join!(call(), call(), call(), call());
    vec![a, b, c, d]
}

async fn a_signed_callback_moves_the_status(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let filed = host.post_as(&ali, PERMIT, form("CASE-42")).await;
    assert_eq!(filed.status, 201);
    let code = filed.body["tracking_code"].as_str().unwrap();
    let path = format!("/api/v1/applications/{code}");

    let body = r#"{"reference": "CASE-42", "status": "in-review"}"#;
    // Refused: no signature, a wrong one, one made with another secret.
    for signature in [None, Some("sha256=00ff"), Some("md5=abc"), Some(sign(body.as_bytes(), "guess").as_str())] {
        let answer = callback(&host, "test-office", body, signature).await;
        assert_eq!(answer.status, 401, "{signature:?}: {}", answer.body);
        assert_eq!(answer.body["type"], "/problems/callback-signature");
    }
    assert_eq!(host.get_as(&ali, &path).await.body["status"], "submitted");
    // A valid signature over a different body; the body signed without its timestamp.
    let tampered = callback(&host, "test-office", body, Some(&sign(b"{}", SECRET))).await;
    assert_eq!(tampered.status, 401);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let untimed = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(callback(&host, "test-office", body, Some(&untimed)).await.status, 401);
    // A signature made ten minutes ago (a captured callback, or a clock far off), and a
    // fresh signature whose timestamp was then changed.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let stale = callback(&host, "test-office", body, Some(&sign_at(body.as_bytes(), SECRET, now - 600))).await;
    assert_eq!(stale.status, 401, "{}", stale.body);
    let moved = sign_at(body.as_bytes(), SECRET, now - 600).replacen(&(now - 600).to_string(), &now.to_string(), 1);
    assert_eq!(callback(&host, "test-office", body, Some(&moved)).await.status, 401);
    assert_eq!(host.get_as(&ali, &path).await.body["history"].as_array().unwrap().len(), 1);

    let signature = sign(body.as_bytes(), SECRET);
    let accepted = callback(&host, "test-office", body, Some(&signature)).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "in-review");
    // The same delivery again is a replay: refused, and the history does not grow.
    let replayed = callback(&host, "test-office", body, Some(&signature)).await;
    assert_eq!(replayed.status, 409, "{}", replayed.body);
    assert_eq!(replayed.body["type"], "/problems/callback-replayed");

    let shown = host.get_as(&ali, &path).await;
    assert_eq!(shown.body["status"], "in-review");
    let history = shown.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!((history[0]["actor"].as_str(), history[0]["status"].as_str()), (Some("citizen"), Some("submitted")));
    assert_eq!((history[1]["actor"].as_str(), history[1]["status"].as_str()), (Some("agency"), Some("in-review")));
    assert_eq!(history[1]["message"], "Status updated by the agency");
    assert!(history[1]["at"].as_str().unwrap() >= history[0]["at"].as_str().unwrap());

    let approved = r#"{"reference": "CASE-42", "status": "approved"}"#;
    assert_eq!(callback(&host, "test-office", approved, Some(&sign(approved.as_bytes(), SECRET))).await.status, 200);
    assert_eq!(host.get_as(&ali, &path).await.body["history"].as_array().unwrap().len(), 3);

    // Unknown reference, unknown agency, a body the adapter cannot read.
    let unknown = r#"{"reference": "CASE-404", "status": "approved"}"#;
    let answer = callback(&host, "test-office", unknown, Some(&sign(unknown.as_bytes(), SECRET))).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let answer = callback(&host, "nobody", unknown, Some(&sign(unknown.as_bytes(), SECRET))).await;
    assert_eq!(answer.status, 404);
    let garbage = "not json";
    let signature = sign(garbage.as_bytes(), SECRET);
    let answer = callback(&host, "test-office", garbage, Some(&signature)).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    // A delivery that failed is not spent: the agency may send it again as it was.
    assert_eq!(callback(&host, "test-office", garbage, Some(&signature)).await.status, 422);
}

/// One signature has one spelling that counts: after a delivery is accepted, the same
/// timestamp and MAC written another way (hex case, field order) is a replay, and headers
/// outside the grammar (repeated or unknown fields, white space, a signed or zero-padded
/// timestamp) are refused. Each of these once passed with a receipt of its own.
async fn a_callback_works_once_however_its_header_is_spelled(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let filed = host.post_as(&ali, PERMIT, form("CASE-7")).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    let path = format!("/api/v1/applications/{}", filed.body["tracking_code"].as_str().unwrap());
    let body = r#"{"reference": "CASE-7", "status": "in-review"}"#;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let signature = sign_at(body.as_bytes(), SECRET, now);
    let mac = signature.split_once(",sha256=").unwrap().1.to_owned();

    let upper = format!("t={now},sha256={}", mac.to_uppercase());
    let accepted = callback(&host, "test-office", body, Some(&upper)).await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    for replay in [signature.clone(), format!("sha256={mac},t={now}"), format!("sha256={},t={now}", mac.to_uppercase())]
    {
        let answer = callback(&host, "test-office", body, Some(&replay)).await;
        assert_eq!(answer.status, 409, "{replay}: {}", answer.body);
        assert_eq!(answer.body["type"], "/problems/callback-replayed");
    }
    for odd in [
        format!("t={now},sha256={mac},sha256={mac}"),
        format!("t={now},t={now},sha256={mac}"),
        format!("t={now}, sha256={mac}"),
        format!("t={now} ,sha256={mac}"),
        format!("t= {now},sha256={mac}"),
        format!("t=+{now},sha256={mac}"),
        format!("t=0{now},sha256={mac}"),
        format!("t={now},sha256={mac}00"),
        format!("t={now},sha256={mac},v1=0"),
        format!("t={now},,sha256={mac}"),
    ] {
        let answer = callback(&host, "test-office", body, Some(&odd)).await;
        assert_eq!(answer.status, 401, "{odd}: {}", answer.body);
        assert_eq!(answer.body["type"], "/problems/callback-signature");
    }
    let history = host.get_as(&ali, &path).await.body["history"].as_array().unwrap().len();
    assert_eq!(history, 2, "the status moved once");

    // The same body signed at another second is another delivery.
    let later = sign_at(body.as_bytes(), SECRET, now - 1);
    assert_eq!(callback(&host, "test-office", body, Some(&later)).await.status, 200);
    assert_eq!(host.get_as(&ali, &path).await.body["history"].as_array().unwrap().len(), 3);
}

async fn callbacks_need_a_configured_secret(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], "").await;
    let body = r#"{"reference": "X", "status": "approved"}"#;
    let answer = callback(&host, "test-office", body, Some(&sign(body.as_bytes(), ""))).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
}

async fn min_assurance_is_enforced(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    // Anonymous: allowed where min-assurance is none, 401 elsewhere.
    let open = host.call(Method::POST, "/api/v1/services/test-office/echo/inquiries", None, Some(json!({})), &[]).await;
    assert_eq!(open.status, 200, "{}", open.body);
    let signed = "/api/v1/services/test-office/signed-echo/inquiries";
    let answer = host.call(Method::POST, signed, None, Some(json!({})), &[]).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/sign-in-required");
    assert_eq!(answer.body["required_assurance"], "substantial");
    let answer = host.call(Method::POST, PERMIT, None, Some(form("A")), &[]).await;
    assert_eq!(answer.status, 401);

    let ali = host.sign_in(ALI.0, ALI.1).await;
    assert_eq!(host.post_as(&ali, signed, json!({})).await.status, 200);
    // A one-time code is `substantial`; this service needs `high`.
    let strong = "/api/v1/services/test-office/strong-permit/applications";
    let answer = host.post_as(&ali, strong, json!({})).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/assurance-too-low");
    assert_eq!(answer.body["required_assurance"], "high");
    assert_eq!(answer.body["current_assurance"], "substantial");
    assert!(answer.body["detail"].as_str().unwrap().contains("`high`"));
    let (_, fa) = {
        let r = host.client.post(host.url(strong)).bearer_auth(&ali).json(&json!({})).send().await.unwrap();
        crate::harness::decode(r).await
    };
    assert_eq!(fa["title"], "سطح اطمینان ورود شما کافی نیست");
}

fn item(body: &Value, label: &str) -> String {
    body["document"]["items"].as_array().unwrap().iter().find(|i| i["label"] == label).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn only_granted_attributes_are_handed_over_and_logged(db: Database) {
    let host = Host::start_db(db, &[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let subject = host.get_as(&ali, "/api/v1/me").await.body["subject"].as_str().unwrap().to_owned();

    let echo = host.post_as(&ali, "/api/v1/services/test-office/echo/inquiries", json!({})).await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    assert_eq!(item(&echo.body, "signed-in"), "yes");
    assert_eq!(item(&echo.body, "national-id"), ALI.0, "granted and declared");
    assert_eq!(item(&echo.body, "mobile"), "-", "declared but not granted");
    let pseudonym = item(&echo.body, "subject");
    assert_ne!(pseudonym, subject, "adapters get a per-agency pseudonym");
    assert_ne!(pseudonym, ALI.0);
    // Stable across calls.
    let again = host.post_as(&ali, "/api/v1/services/test-office/echo/inquiries", json!({})).await;
    assert_eq!(item(&again.body, "subject"), pseudonym);
    assert_eq!(host.post_as(&ali, PERMIT, form("CASE-U")).await.status, 201);
    // A service that declares no attributes hands nothing over.
    let bill = host
        .post_as(
            &ali,
            "/api/v1/services/utility-bills/bill-details/inquiries",
            json!({"input": {"bill-id": "7748317800142", "payment-id": "1770160"}}),
        )
        .await;
    assert_eq!(bill.status, 200);

    let usage = host.get_as(&ali, "/api/v1/me/data-usage").await;
    assert_eq!(usage.status, 200, "{}", usage.body);
    let entries = usage.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{}", usage.body);
    assert!(entries.iter().all(|e| e["attribute"] == "national-id" && e["agency"] == "test-office"));
    assert!(entries.iter().all(|e| e["agency_name"] == "Test office" && e["adapter"] == "applicant"));
    let purposes: Vec<_> = entries.iter().map(|e| e["purpose"].as_str().unwrap()).collect();
    assert_eq!(purposes, ["application", "inquiry", "inquiry"], "newest first");
    assert_eq!(entries[1]["service"], "echo");

    // Another citizen's log is their own; an anonymous call logs nothing.
    let sara = host.sign_in(SARA.0, SARA.1).await;
    assert_eq!(host.get_as(&sara, "/api/v1/me/data-usage").await.body["count"], 0);
    let anonymous =
        host.call(Method::POST, "/api/v1/services/test-office/echo/inquiries", None, Some(json!({})), &[]).await;
    assert_eq!(item(&anonymous.body, "national-id"), "-");
    assert_eq!(host.get_as(&ali, "/api/v1/me/data-usage").await.body["count"], 3);
}

async fn nothing_is_handed_over_without_a_grant(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], "").await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let echo = host.post_as(&ali, "/api/v1/services/test-office/echo/inquiries", json!({})).await;
    assert_eq!(item(&echo.body, "signed-in"), "yes");
    assert_eq!(item(&echo.body, "national-id"), "-");
    assert_eq!(item(&echo.body, "mobile"), "-");
    assert_eq!(host.get_as(&ali, "/api/v1/me/data-usage").await.body["count"], 0);
}

/// Citizens filing all at once: every application, hand-over and evidence entry is kept.
/// (SQLite once answered "database is locked" to writers racing for its lock, and the
/// evidence log dropped batches.)
async fn concurrent_filings_lose_nothing(db: Database) {
    const FILINGS: usize = 48;
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let tokens = [host.sign_in(ALI.0, ALI.1).await, host.sign_in(SARA.0, SARA.1).await];
    let mut filings = tokio::task::JoinSet::new();
    for i in 0..FILINGS {
        let request = host
            .client
            .post(host.url(PERMIT))
            .bearer_auth(&tokens[i % 2])
            .header("accept-language", "en")
            .json(&form(&format!("CASE-{i}")));
        filings.spawn(async move { crate::harness::decode(request.send().await.unwrap()).await });
    }
    while let Some(answer) = filings.join_next().await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    for token in &tokens {
        assert_eq!(host.get_as(token, "/api/v1/applications").await.body["count"], FILINGS / 2);
        assert_eq!(host.get_as(token, "/api/v1/me/data-usage").await.body["count"], FILINGS / 2);
    }

    // One evidence entry per filing, committed with it, chained.
    let auditor = host.operator("auditor", panjereh_host::store::operators::Role::Auditor).await;
    let (_, audit) = host.admin(Method::GET, "/admin/v1/audit?limit=1000", &auditor, None).await;
    let submits = audit["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "call.submit").count();
    assert_eq!(submits, FILINGS, "{audit}");
    let (_, verified) = host.admin(Method::GET, "/admin/v1/audit/verify", &auditor, None).await;
    assert_eq!(verified["ok"], true, "{verified}");
}

/// A filed application and the evidence of its submit commit in one transaction: when the
/// evidence log cannot take the entry, the application is not filed either and the answer
/// is withheld (503); a refusal is still the refusal. Once the log takes entries again,
/// filing works and the chain holds. (The entry goes into `audit_log` on SQLite and into
/// `audit_pending` on PostgreSQL: both are taken away.)
async fn a_filing_and_its_evidence_commit_together(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], CONFIG).await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let auditor = host.operator("auditor", panjereh_host::store::operators::Role::Auditor).await;
    let submits = || async {
        let (_, audit) = host.admin(Method::GET, "/admin/v1/audit?limit=1000", &auditor, None).await;
        let entries = audit["entries"].as_array().unwrap().clone();
        entries
            .into_iter()
            .filter(|e| e["kind"] == "call.submit")
            .map(|e| e["data"]["outcome"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(host.post_as(&ali, PERMIT, form("CASE-1")).await.status, 201);
    assert_eq!(submits().await, [json!("ok")], "the evidence is there as soon as the answer is");

    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    for table in ["audit_log", "audit_pending"] {
        sqlx::query(&rename(table, &format!("{table}_away"))).execute(host.app.db.writer()).await.unwrap();
    }
    let withheld = host.post_as(&ali, PERMIT, form("CASE-2")).await;
    assert_eq!((withheld.status, withheld.body["type"].as_str()), (503, Some("/problems/evidence-unavailable")));
    assert!(withheld.body.get("tracking_code").is_none(), "{}", withheld.body);
    let refused = host.post_as(&ali, PERMIT, form("refuse")).await;
    assert_eq!(refused.status, 422, "a refusal stays the refusal: {}", refused.body);
    for table in ["audit_log", "audit_pending"] {
        sqlx::query(&rename(&format!("{table}_away"), table)).execute(host.app.db.writer()).await.unwrap();
    }

    let mine = host.get_as(&ali, "/api/v1/applications").await;
    assert_eq!(mine.body["count"], 1, "the application without evidence was not filed: {}", mine.body);
    // Nor is the office's note of it: the adapter's storage commits with the application.
    let note = |key: &'static str| panjereh_host::store::kv::get(&host.app.db, "applicant", key);
    assert_eq!(note("case/CASE-1").await.unwrap().as_deref(), Some(&b"submitted"[..]));
    assert_eq!(note("case/CASE-2").await.unwrap(), None, "the withheld filing's note was stored");
    // And its bytes are not counted against the office's quota.
    let stored: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM kv_entries WHERE adapter = 'applicant'",
    )
    .fetch_one(host.app.db.pool())
    .await
    .unwrap();
    assert_eq!(panjereh_host::store::kv::usage(&host.app.db, "applicant").await.unwrap() as i64, stored);
    assert_eq!(host.post_as(&ali, PERMIT, form("CASE-3")).await.status, 201);
    assert_eq!(submits().await, [json!("ok"), json!("ok")]);
    let (_, verified) = host.admin(Method::GET, "/admin/v1/audit/verify", &auditor, None).await;
    assert_eq!(verified["ok"], true, "{verified}");
}

/// On PostgreSQL a filing's evidence commits into `audit_pending` and the log's writer
/// chains it: when chaining fails, the application is filed all the same (its evidence is
/// durable), and the entry is chained later: here by a replica that starts, with no other
/// entry to write. The chain then holds, and nothing waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_evidence_not_chained_is_chained_later() {
    let db = crate::harness::PgDatabase::create().await;
    let a = Host::start_on(Some(&db.url), &[APPLICANT], CONFIG, |_| {}).await;
    let ali = a.sign_in(ALI.0, ALI.1).await;
    let auditor = a.operator("auditor", panjereh_host::store::operators::Role::Auditor).await;
    let pending = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM audit_pending").fetch_one(a.app.db.writer()).await.unwrap()
    };
    let submits = || async {
        let (_, audit) = a.admin(Method::GET, "/admin/v1/audit?limit=1000", &auditor, None).await;
        let entries = audit["entries"].as_array().unwrap().clone();
        entries.into_iter().filter(|e| e["kind"] == "call.submit").count()
    };

    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    sqlx::query(&rename("audit_log", "audit_log_away")).execute(a.app.db.writer()).await.unwrap();
    let filed = a.post_as(&ali, PERMIT, form("CASE-1")).await;
    assert_eq!(filed.status, 201, "filed, its evidence durable though not chained: {}", filed.body);
    assert_eq!(pending().await, 1);
    sqlx::query(&rename("audit_log_away", "audit_log")).execute(a.app.db.writer()).await.unwrap();
    assert_eq!(submits().await, 0);
    // The verifier says what waits to be chained.
    let (_, verified) = a.admin(Method::GET, "/admin/v1/audit/verify", &auditor, None).await;
    assert_eq!((verified["ok"].clone(), verified["unchained"].clone()), (json!(true), json!(1)), "{verified}");

    let b = Host::start_on(Some(&db.url), &[APPLICANT], CONFIG, |_| {}).await;
    let started = std::time::Instant::now();
    while submits().await == 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the starting replica did not chain the entry");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending().await, 0);
    assert_eq!(a.post_as(&ali, PERMIT, form("CASE-2")).await.status, 201);
    assert_eq!(submits().await, 2);
    let (_, verified) = a.admin(Method::GET, "/admin/v1/audit/verify", &auditor, None).await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(verified.get("unchained").is_none(), "{verified}");
    drop((a, b));
    db.drop_now().await;
}

on_both_databases!(
    a_filing_and_its_evidence_commit_together,
    concurrent_filings_lose_nothing,
    submit_then_track_with_history,
    another_citizens_code_is_not_found,
    an_idempotency_key_never_files_twice,
    a_signed_callback_moves_the_status,
    a_callback_works_once_however_its_header_is_spelled,
    callbacks_need_a_configured_secret,
    min_assurance_is_enforced,
    only_granted_attributes_are_handed_over_and_logged,
    nothing_is_handed_over_without_a_grant,
);
