//! The built-in identity provider over real HTTP: one-time codes from the notifier,
//! sessions by bearer token and cookie, expiry, reuse, wrong codes, lock-out, sign-out.

use reqwest::Method;
use serde_json::json;

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
    let challenge = panjereh_host::store::otp::latest(&host.app.db, NID).await.unwrap().unwrap();
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
    // A code for a national ID that never asked for one.
    let answer = verify(&host, "0790419904", "12345").await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["type"], "/problems/otp-not-started");
    // Anonymous and forged credentials.
    let answer = host.call(Method::GET, "/api/v1/me", None, None, &[]).await;
    assert_eq!(answer.status, 401);
    let answer = host.get_as("pjs_forged", "/api/v1/me").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.body["type"], "/problems/sign-in-required");
}

async fn reused_and_expired_codes_are_refused(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    assert_eq!(verify(&host, NID, &code).await.status, 200);
    let reused = verify(&host, NID, &code).await;
    assert_eq!(reused.status, 409, "{}", reused.body);
    assert_eq!(reused.body["type"], "/problems/otp-used");
    assert!(reused.body["title"].as_str().unwrap().contains("used"));

    // A new code that runs out before it is used.
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    let challenge = panjereh_host::store::otp::latest(&host.app.db, NID).await.unwrap().unwrap();
    panjereh_host::store::otp::set_expiry(&host.app.db, &challenge.id, panjereh_host::store::now_ms() - 1)
        .await
        .unwrap();
    let expired = verify(&host, NID, &code).await;
    assert_eq!(expired.status, 410, "{}", expired.body);
    assert_eq!(expired.body["type"], "/problems/otp-expired");
    let (_, fa) = host.post("/auth/otp/verify", json!({"national_id": NID, "code": code})).await;
    assert_eq!(fa["title"], "کد تأیید منقضی شده است");

    // Starting again replaces the code: the previous one no longer works.
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let first = host.notifier.last_code(MOBILE).unwrap();
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let second = host.notifier.last_code(MOBILE).unwrap();
    if first != second {
        assert_eq!(verify(&host, NID, &first).await.status, 401);
    }
    assert_eq!(verify(&host, NID, &second).await.status, 200);
}

async fn five_wrong_codes_kill_the_challenge(db: Database) {
    let host = Host::start_db(db, &[], NO_BACKOFF).await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    for left in (1..=4).rev() {
        let answer = verify(&host, NID, &wrong(&code)).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert_eq!(answer.body["type"], "/problems/otp-wrong");
        assert_eq!(answer.body["attempts_left"], left);
    }
    let fifth = verify(&host, NID, &wrong(&code)).await;
    assert_eq!(fifth.status, 403, "{}", fifth.body);
    assert_eq!(fifth.body["type"], "/problems/otp-locked");
    // Even the right code is refused now.
    let right = verify(&host, NID, &code).await;
    assert_eq!(right.status, 403);
    assert_eq!(right.body["type"], "/problems/otp-locked");
    // A new code works.
    host.sign_in(NID, MOBILE).await;
}

async fn a_wrong_code_imposes_a_wait(db: Database) {
    let host = Host::start_db(db, &[], "[auth]\notp-backoff-ms = 60000\n").await;
    assert_eq!(start(&host, NID, MOBILE).await.status, 202);
    let code = host.notifier.last_code(MOBILE).unwrap();
    assert_eq!(verify(&host, NID, &wrong(&code)).await.status, 401);
    let waiting = verify(&host, NID, &code).await;
    assert_eq!(waiting.status, 429, "{}", waiting.body);
    assert_eq!(waiting.body["type"], "/problems/otp-wait");
    let retry: u64 = waiting.headers.get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry), "{retry}");
}

on_both_databases!(
    otp_sign_in_end_to_end,
    bad_input_gets_per_field_problems,
    reused_and_expired_codes_are_refused,
    five_wrong_codes_kill_the_challenge,
    a_wrong_code_imposes_a_wait,
    sessions_expire,
);

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
