//! The built-in identity provider over real HTTP: the ownership check before any code is
//! sent, limits shared by replicas, one-time codes from the notifier, sessions by bearer
//! token and cookie, expiry, reuse, wrong codes, lock-out, sign-out.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Database, Host, on_both_databases};

const NID: &str = "0499370899";
const MOBILE: &str = "09121234567";

/// No back-off between wrong codes, so the lock-out test needs no sleeping.
const NO_BACKOFF: &str = "[auth]\notp-backoff-ms = 0\n";

async fn start(host: &Host, national_id: &str, mobile: &str) -> crate::harness::Answer {
    host.call(Method::POST, "/auth/otp/start", None, Some(json!({"national_id": national_id, "mobile": mobile})), &[])
        .await
}

async fn verify(host: &Host, national_id: &str, code: &str) -> crate::harness::Answer {
    host.call(Method::POST, "/auth/otp/verify", None, Some(json!({"national_id": national_id, "code": code})), &[])
        .await
}

fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:05}", (n + 1) % 100_000)
}

async fn otp_sign_in_end_to_end(db: Database) {
    let host = Host::start_db(db, &[], "").await;
    // Persian digits and an international prefix are normalized before anything else.
    let started = start(&host, "۰۴۹۹۳۷۰۸۹۹", "+98 912 123 4567").await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["sent_to"], "0912***4567");
    assert_eq!(started.body["code_length"], 5);
    assert!(started.body["expires_in"].as_i64().unwrap() > 100);
    let code = host.notifier.last_code(MOBILE).expect("the notifier got the code");
    assert_eq!(code.len(), 5);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));

    // The code may be typed in Persian digits too.
    let persian: String = code.chars().map(|c| char::from_u32(0x06F0 + c.to_digit(10).unwrap()).unwrap()).collect();
    let verified = verify(&host, NID, &persian).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    let token = verified.body["token"].as_str().unwrap().to_owned();
    assert_eq!(verified.body["token_type"], "Bearer");
    assert_eq!(verified.body["assurance"], "substantial");
    let cookie = verified.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("panjereh_session={token};")), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: a Secure cookie would not come back: {cookie}");

    // The code is stored hashed, never in clear.
    let challenge = panjereh_host::store::otp::latest(&host.app.db, NID, panjereh_host::auth::otp::Purpose::SIGN_IN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(challenge.code_hash.len(), 64, "a SHA-256 in hex");
    assert_ne!(challenge.code_hash, code);

    let me = host.get_as(&token, "/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["national_id"], NID);
    assert_eq!(me.body["mobile"], MOBILE);
    assert_eq!(me.body["assurance"], "substantial");
    assert_eq!(me.body["source"], "otp");
    let subject = me.body["subject"].as_str().unwrap().to_owned();
    assert_ne!(subject, NID);

    // The portal's cookie works like the bearer token.
    let by_cookie = host
        .client
        .get(host.url("/api/v1/me"))
        .header("cookie", format!("theme=dark; panjereh_session={token}"))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::harness::decode(by_cookie).await;
    assert_eq!((status, body["subject"].as_str()), (200, Some(subject.as_str())));

    // Signing in again is the same citizen.
    let again = host.sign_in(NID, MOBILE).await;
    assert_eq!(host.get_as(&again, "/api/v1/me").await.body["subject"], subject.as_str());

    // Sign-out revokes the token and clears the cookie.
    let out = host.call(Method::POST, "/auth/logout", Some(&token), None, &[]).await;
    assert_eq!(out.status, 204);
    assert!(out.headers.get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let me = host.get_as(&token, "/api/v1/me").await;
    assert_eq!(me.status, 401);
    assert_eq!(me.body["type"], "/problems/sign-in-required");
    // The other session is untouched.
    assert_eq!(host.get_as(&again, "/api/v1/me").await.status, 200);
    // The revoked token in a cookie counts as no sign-in at all.
    let stale = host
        .client
        .get(host.url("/api/v1/me"))
        .header("cookie", format!("panjereh_session={token}"))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::harness::decode(stale).await;
    assert_eq!((status, body["type"].as_str()), (401, Some("/problems/sign-in-required")));
    // Signing out needs a session.
    assert_eq!(host.call(Method::POST, "/auth/logout", None, None, &[]).await.status, 401);
}

async fn sessions_expire(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\nsession-ttl-secs = 1\n").await;
    let token = host.sign_in(NID, MOBILE).await;
    assert_eq!(host.get_as(&token, "/api/v1/me").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let answer = host.get_as(&token, "/api/v1/me").await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(answer.body["detail"].as_str().unwrap().contains("expired"));
}

async fn bad_input_gets_per_field_problems(db: Database) {
    let host = Host::start_db(db, &[], "").await;
    let answer = start(&host, "1234567890", "0812123456").await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/invalid-input");
    let errors = answer.body["errors"].as_array().unwrap();
    let fields: Vec<_> = errors.iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["national_id", "mobile"]);
    for e in errors {
        assert!(!e["fa"].as_str().unwrap().is_empty() && !e["en"].as_str().unwrap().is_empty());
    }
    let (status, body) = host.post("/auth/otp/start", json!({"national_id": NID})).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "mobile");
    assert_eq!(body["errors"][0]["message"], body["errors"][0]["fa"], "Persian by default");
    let (status, _) = host.post("/auth/otp/start", json!({"national_id": NID, "mobile": MOBILE, "x": 1})).await;
    assert_eq!(status, 400, "unknown fields are refused");
    let answer = verify(&host, NID, "12").await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["errors"][0]["field"], "code");
    // Anonymous and forged credentials.
    let answer = host.call(Method::GET, "/api/v1/me", None, None, &[]).await;
    assert_eq!(answer.status, 401);
    let answer = host.get_as("pjs_forged", "/api/v1/me").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["type"], "/problems/sign-in-required");
}

/// Every "no valid code" answer, whatever the reason: one status, one problem.
fn assert_invalid(answer: &crate::harness::Answer, why: &str) {
    assert_eq!(answer.status, 401, "{why}: {}", answer.body);
    assert_eq!(answer.body["type"], "/problems/otp-invalid", "{why}");
    assert!(answer.body.get("attempts_left").is_none(), "{why}: nothing about the challenge's state");
    assert!(answer.headers.get("retry-after").is_none(), "{why}");
}

/// What a refusal tells its reader (everything but the request's own id).
fn shape(answer: &crate::harness::Answer) -> (u16, Value) {
    let mut body = answer.body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("instance");
        map.remove("request_id");
    }
    (answer.status, body)
}

async fn reused_and_expired_codes_are_refused(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    assert_eq!(verify(&host, NID, &code).await.status, 200);
    let reused = verify(&host, NID, &code).await;
    assert_invalid(&reused, "a used code");
    let (_, fa) = host.post("/auth/otp/verify", json!({"national_id": NID, "code": code})).await;
    assert_eq!(fa["title"], "کد تأیید پذیرفته نشد", "Persian by default");

    // A new code that runs out before it is used.
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    let challenge = panjereh_host::store::otp::latest(&host.app.db, NID, panjereh_host::auth::otp::Purpose::SIGN_IN)
        .await
        .unwrap()
        .unwrap();
    panjereh_host::store::otp::set_expiry(&host.app.db, &challenge.id, panjereh_host::store::now_ms() - 1)
        .await
        .unwrap();
    let expired = verify(&host, NID, &code).await;
    assert_invalid(&expired, "an expired code");
    assert_eq!(shape(&expired), shape(&reused), "expired and used read the same");

    // Starting again replaces the code: the previous one no longer works.
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let first = host.notifier.last_code(MOBILE).unwrap();
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let second = host.notifier.last_code(MOBILE).unwrap();
    if first != second {
        assert_invalid(&verify(&host, NID, &first).await, "a replaced code");
    }
    assert_eq!(verify(&host, NID, &second).await.status, 200);
}

async fn five_wrong_codes_kill_the_challenge(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    for _ in 0..5 {
        assert_invalid(&verify(&host, NID, &wrong(&code)).await, "a wrong code");
    }
    // Even the right code is refused now, with the same answer.
    assert_invalid(&verify(&host, NID, &code).await, "the right code of a locked challenge");
    let challenge = panjereh_host::store::otp::latest(&host.app.db, NID, panjereh_host::auth::otp::Purpose::SIGN_IN)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(challenge.attempts, 5, "every wrong code was counted");
    // A new code works.
    host.sign_in(NID, MOBILE).await;
}

async fn a_wrong_code_imposes_a_wait(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\notp-backoff-ms = 400\n").await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    assert_invalid(&verify(&host, NID, &wrong(&code)).await, "a wrong code");
    // Right away even the right code is refused, and the answer does not say why.
    assert_invalid(&verify(&host, NID, &code).await, "the right code too soon after a wrong one");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(verify(&host, NID, &code).await.status, 200, "after the wait it works");
}

/// `/auth/otp/verify` does not tell whether a national ID ever started a sign-in: a code
/// for one that never did reads exactly like a wrong code for one that did.
async fn verify_never_tells_who_is_signing_in(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    let never = verify(&host, "0790419904", "12345").await;
    assert_invalid(&never, "a national ID that never asked for a code");
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    let wrong = verify(&host, NID, &wrong(&code)).await;
    assert_eq!(shape(&never), shape(&wrong));
    let (_, en) = host.post_lang("/auth/otp/verify", json!({"national_id": "0790419904", "code": "12345"}), "en").await;
    assert_eq!(en["title"], "The code was not accepted");
}

/// The review's attack: the victim's national ID with the attacker's own mobile. No code
/// is sent, no session is issued, and the victim's stored mobile is untouched.
async fn a_stranger_cannot_sign_in_as_someone_else(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    let victim = host.sign_in(NID, MOBILE).await;
    const ATTACKER: &str = "09359876543";
    host.own("1583250689", ATTACKER);

    let refused = start(&host, NID, ATTACKER).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/otp-refused");
    assert!(host.notifier.last_code(ATTACKER).is_none(), "no code was sent");
    // The same answer whichever part is wrong: the victim's mobile with another national
    // ID, and a pair the registry has never heard of.
    let other_id = start(&host, "1583250689", MOBILE).await;
    let unknown = start(&host, "0084575948", "09109999999").await;
    assert_eq!(shape(&other_id), shape(&refused));
    assert_eq!(shape(&unknown), shape(&refused));
    let (_, en) = host.post_lang("/auth/otp/start", json!({"national_id": NID, "mobile": ATTACKER}), "en").await;
    assert_eq!(en["title"], "Sign-in with these details is not possible");

    // Nothing to verify against, and the victim's record is as it was.
    assert_invalid(&verify(&host, NID, "12345").await, "no challenge was made");
    let me = host.get_as(&victim, "/api/v1/me").await;
    assert_eq!(me.body["mobile"], MOBILE, "the stored mobile was not replaced");
}

/// Refused pairs are not counted against the owner: a stranger trying the owner's national
/// ID, or the owner's mobile, with anything else cannot lock the owner out.
async fn a_stranger_cannot_lock_the_owner_out(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\notp-backoff-ms = 0\notp-client-per-minute = 0\n").await;
    for i in 0..12 {
        let mobile = format!("0935000{i:04}");
        assert_eq!(start(&host, NID, &mobile).await.status, 403, "the owner's ID, the stranger's mobile");
        assert_eq!(start(&host, "1583250689", MOBILE).await.status, 403, "the owner's mobile, another ID");
    }
    host.sign_in(NID, MOBILE).await;
}

/// The code limit of a pair is counted in one statement: many requests at once get exactly
/// the limit between them.
async fn concurrent_starts_get_exactly_the_limit(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\notp-client-per-minute = 0\n").await;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let request =
            host.client.post(host.url("/auth/otp/start")).json(&json!({"national_id": NID, "mobile": MOBILE}));
        requests.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let answers = requests.join_all().await;
    let sent = answers.iter().filter(|s| **s == 202).count();
    let limited = answers.iter().filter(|s| **s == 429).count();
    assert_eq!((sent, limited), (5, 7), "{answers:?}");
    let again = start(&host, NID, MOBILE).await;
    assert_eq!(again.body["type"], "/problems/otp-too-many-requests");
    let wait: u64 = again.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((500..=600).contains(&wait), "until the ten-minute window ends: {wait}");
}

/// While the registry does not answer, no code is sent and the citizen is told to retry.
async fn no_registry_no_code(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    host.registry.set_down(true);
    let answer = start(&host, NID, MOBILE).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/otp-registry-unavailable");
    assert!(answer.headers.get("retry-after").is_some());
    assert!(host.notifier.last_code(MOBILE).is_none());
    host.registry.set_down(false);
    host.sign_in(NID, MOBILE).await;
}

/// In `development` mode nothing proves the mobile, so it never replaces a stored one.
async fn development_mode_never_replaces_a_mobile(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\notp = \"development\"\notp-backoff-ms = 0\n").await;
    let first = host.sign_in(NID, MOBILE).await;
    assert_eq!(host.get_as(&first, "/api/v1/me").await.body["mobile"], MOBILE);
    // Any mobile gets a code in development mode, the stranger's too...
    let second = host.sign_in(NID, "09359876543").await;
    // ...but it is not written over the citizen's mobile.
    assert_eq!(host.get_as(&second, "/api/v1/me").await.body["mobile"], MOBILE);
}

/// With `otp = "off"` there is no one-time-code sign-in at all.
async fn otp_can_be_turned_off(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\notp = \"off\"\n").await;
    let answer = start(&host, NID, MOBILE).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/otp-off");
    assert!(host.notifier.last_code(MOBILE).is_none());
    assert_eq!(verify(&host, NID, "12345").await.body["type"], "/problems/otp-off");
}

on_both_databases!(
    otp_sign_in_end_to_end,
    bad_input_gets_per_field_problems,
    reused_and_expired_codes_are_refused,
    five_wrong_codes_kill_the_challenge,
    a_wrong_code_imposes_a_wait,
    verify_never_tells_who_is_signing_in,
    a_stranger_cannot_sign_in_as_someone_else,
    a_stranger_cannot_lock_the_owner_out,
    concurrent_starts_get_exactly_the_limit,
    no_registry_no_code,
    development_mode_never_replaces_a_mobile,
    otp_can_be_turned_off,
    sessions_expire,
);

/// Two replicas on one PostgreSQL database give a client one sign-in budget, and a pair
/// one code budget, not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_the_sign_in_limits() {
    let database = crate::harness::PgDatabase::create().await;
    let config = "[auth]\notp-client-per-minute = 3\notp-backoff-ms = 0\n";
    let a = Host::start_on(Some(&database.url), &[], config, |_| {}).await;
    let b = Host::start_on(Some(&database.url), &[], config, |_| {}).await;
    assert_eq!(start(&a, NID, MOBILE).await.status, 202);
    assert_eq!(start(&b, NID, MOBILE).await.status, 202);
    assert_eq!(start(&a, NID, MOBILE).await.status, 202);
    let refused = start(&b, NID, MOBILE).await;
    assert_eq!(refused.status, 429, "the fourth request, on the other replica: {}", refused.body);
    assert_eq!(refused.body["type"], "/problems/too-many-requests");
    drop((a, b));

    // The code limit of a pair too, with the client limit off.
    let config = "[auth]\notp-client-per-minute = 0\n";
    let a = Host::start_on(Some(&database.url), &[], config, |_| {}).await;
    let b = Host::start_on(Some(&database.url), &[], config, |_| {}).await;
    a.own("1271408929", "09131234567");
    b.own("1271408929", "09131234567");
    for i in 0..5 {
        let host = if i % 2 == 0 { &a } else { &b };
        assert_eq!(start(host, "1271408929", "09131234567").await.status, 202, "code {i}");
    }
    assert_eq!(start(&a, "1271408929", "09131234567").await.status, 429);
    assert_eq!(start(&b, "1271408929", "09131234567").await.status, 429);
    drop((a, b));
    database.drop_now().await;
}

/// A signed-out session stops at once on its own replica and, on another one that looked
/// it up a moment before, within `[auth] session-cache-ms` (here 300 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_stops_on_every_replica_within_the_cache_bound() {
    let database = crate::harness::PgDatabase::create().await;
    let config = "[auth]\nsession-cache-ms = 300\n";
    let a = Host::start_on(Some(&database.url), &[], config, |_| {}).await;
    let b = Host::start_on(Some(&database.url), &[], config, |_| {}).await;
    let token = a.sign_in(NID, MOBILE).await;
    assert_eq!(a.get_as(&token, "/api/v1/me").await.status, 200);
    assert_eq!(b.get_as(&token, "/api/v1/me").await.status, 200, "the other replica knows it too");
    assert_eq!(a.call(Method::POST, "/auth/logout", Some(&token), None, &[]).await.status, 204);
    assert_eq!(a.get_as(&token, "/api/v1/me").await.status, 401, "at once where it was signed out");
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let elsewhere = b.get_as(&token, "/api/v1/me").await;
    assert_eq!(elsewhere.status, 401, "past the bound on the other replica: {}", elsewhere.body);
    drop((a, b));
    database.drop_now().await;
}

/// `development` mode writes codes to the log and checks nothing: it is refused unless the
/// host listens on loopback.
#[test]
fn development_mode_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("panjereh.toml");
    std::fs::write(&file, "[auth]\notp = \"development\"\n").unwrap();
    let load = |listen: &str| {
        panjereh_host::config::Config::load(panjereh_host::config::Overrides {
            listen: Some(listen.parse().unwrap()),
            config_file: Some(file.clone()),
            ..Default::default()
        })
    };
    let error = load("0.0.0.0:8080").unwrap_err().to_string();
    assert!(error.contains("loopback"), "{error}");
    assert!(load("[::]:8080").is_err());
    assert!(load("127.0.0.1:8080").is_ok());
    assert!(load("[::1]:8080").is_ok());

    std::fs::write(&file, "[auth]\notp = \"registry-checked\"\n").unwrap();
    let error = load("127.0.0.1:8080").unwrap_err().to_string();
    assert!(error.contains("[auth.registry]"), "{error}");
    std::fs::write(&file, "[auth]\notp = \"sometimes\"\n").unwrap();
    let error = load("127.0.0.1:8080").unwrap_err().to_string();
    assert!(error.contains("off, registry-checked or development"), "{error}");
}

/// Behind a TLS-terminating proxy (which says so with `X-Forwarded-Proto`), the session
/// cookie only travels over HTTPS.
#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let host = Host::start(&[], NO_BACKOFF).await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    let verified = host
        .call(
            Method::POST,
            "/auth/otp/verify",
            None,
            Some(json!({"national_id": NID, "code": code})),
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    let cookie = verified.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-panjereh_session=") && cookie.ends_with("; Secure"), "{cookie}");
    let token = verified.body["token"].as_str().unwrap();
    let out =
        host.call(Method::POST, "/auth/logout", Some(token), None, &[("forwarded", "for=192.0.2.1;proto=https")]).await;
    assert_eq!(out.status, 204);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0") && cleared.ends_with("; Secure"), "{cleared}");

    // The portal's cookies too.
    let page =
        reqwest::Client::new().get(host.url("/signin")).header("x-forwarded-proto", "https").send().await.unwrap();
    let cookies: Vec<_> = page.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(!cookies.is_empty() && cookies.iter().all(|c| c.ends_with("; Secure")), "{cookies:?}");
}
