//! Single sign-on against a real OpenID provider: `oidc-provider` (npm) run with node on
//! loopback by `tests/oidc/provider.mjs`. The test plays the browser: it follows the
//! provider's redirects and posts its development login and consent forms with a cookie
//! jar, then hands the code to the host's `/auth/callback` as the browser would.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::harness::{Database, Host, on_both_databases};

/// The redirect URL registered with the provider: the portal's public address. The
/// provider never calls it; the test reads it from the provider's last redirect.
const REDIRECT: &str = "https://portal.panjereh.test/auth/callback";
const NID: &str = "0499370899";

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// `npm ci` once per test run when `tests/oidc/node_modules` is missing (CI and xtask
/// run it beforehand).
fn install_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = provider_dir();
        if dir.join("node_modules/oidc-provider/package.json").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is installed");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    });
}

/// A running `oidc-provider`; killed when dropped (and it exits when its stdin closes).
struct Provider {
    issuer: String,
    _child: tokio::process::Child,
}

impl Provider {
    async fn start() -> Provider {
        Provider::launch(&[]).await
    }

    /// A provider whose ID tokens carry only `sub` and the protocol claims: the national
    /// ID must be read from UserInfo.
    async fn start_userinfo_only() -> Provider {
        Provider::launch(&["userinfo"]).await
    }

    async fn launch(args: &[&str]) -> Provider {
        install_provider();
        let mut child = tokio::process::Command::new("node")
            .arg(provider_dir().join("provider.mjs"))
            .arg(REDIRECT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node is installed");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(port) = line.strip_prefix("listening ") {
                    return port.trim().parse::<u16>().unwrap();
                }
            }
            panic!("the OpenID provider exited before listening");
        })
        .await
        .expect("the OpenID provider starts within 30 s");
        // Keep reading, so the provider never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Provider { issuer: format!("http://127.0.0.1:{port}"), _child: child }
    }

    /// The host's `[oidc]` section for one of the provider's clients.
    fn config(&self, client: &str) -> String {
        let (secret, auth) = match client {
            "panjereh-es256" => ("panjereh-es256-secret", "client_secret_post"),
            _ => ("panjereh-test-secret", "client_secret_basic"),
        };
        format!(
            "[oidc]\nissuer = \"{}\"\nclient-id = \"{client}\"\nclient-secret = {{ secret = \"{secret}\" }}\n\
             client-auth = \"{auth}\"\nredirect-url = \"{REDIRECT}\"\nscopes = [\"national_id\", \"phone\"]\n\
             mobile-claim = \"phone_number\"\n",
            self.issuer
        )
    }
}

/// A browser: a cookie jar, no automatic redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// What the provider sent back to the redirect URL.
#[derive(Debug, Clone)]
struct Callback {
    query: String,
}

impl Callback {
    fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(header::LOCATION).expect("a Location header").to_str().unwrap().to_owned()
}

/// Starts a sign-in at the host and signs in at the provider as `login`; returns the
/// provider's answer to the redirect URL.
async fn authorize(browser: &reqwest::Client, host: &Host, provider: &Provider, login: &str) -> Callback {
    let started = browser.get(host.url("/auth/login?return_to=/services%3Fq%3Dtax")).send().await.unwrap();
    assert_eq!(started.status(), 303, "{}", started.text().await.unwrap());
    let cookie = started.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("panjereh_oidc=") && cookie.contains("HttpOnly"), "{cookie}");
    let mut next = location(&started);
    assert!(next.starts_with(&format!("{}/auth?", provider.issuer)), "{next}");
    for param in ["code_challenge_method=S256", "code_challenge=", "nonce=", "state=", "response_type=code"] {
        assert!(next.contains(param), "{next} lacks {param}");
    }

    for _ in 0..20 {
        if let Some(query) = next.strip_prefix(&format!("{REDIRECT}?")) {
            return Callback { query: query.to_owned() };
        }
        let url = if next.starts_with('/') { format!("{}{next}", provider.issuer) } else { next.clone() };
        let response = browser.get(&url).send().await.unwrap();
        if response.status().is_redirection() {
            next = location(&response);
            continue;
        }
        assert_eq!(response.status(), 200, "{url}");
        let page = response.text().await.unwrap();
        let action = page.split("action=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a form");
        let action = if action.starts_with('/') { format!("{}{action}", provider.issuer) } else { action.to_owned() };
        let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "any")]
        } else {
            vec![("prompt", "consent")]
        };
        let posted = browser.post(&action).form(&form).send().await.unwrap();
        assert!(posted.status().is_redirection(), "{action}: {}", posted.status());
        next = location(&posted);
    }
    panic!("the provider never redirected back");
}

/// Hands the provider's answer to the host, asking for a JSON answer.
async fn finish(browser: &reqwest::Client, host: &Host, callback: &Callback) -> (u16, Value) {
    let response = browser
        .get(host.url(&format!("/auth/callback?{}", callback.query)))
        .header(header::ACCEPT, "application/json")
        .header(header::ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn full_flow_signs_in_and_me_shows_the_national_id(db: Database) {
    let provider = Provider::start().await;
    let host = Host::start_db(db, &[], &provider.config("panjereh")).await;
    let browser = browser();
    let callback = authorize(&browser, &host, &provider, "citizen").await;
    assert_eq!(callback.param("iss").as_deref(), Some(provider.issuer.as_str()));
    let (status, body) = finish(&browser, &host, &callback).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assurance"], "substantial");
    assert_eq!(body["return_to"], "/services?q=tax");
    let token = body["token"].as_str().unwrap();

    let me = host.get_as(token, "/api/v1/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["national_id"], NID);
    assert_eq!(me.body["mobile"], "09121234567");
    assert_eq!(me.body["source"], "oidc");
    assert_eq!(me.body["assurance"], "substantial");

    // The same person signing in with a one-time code is the same citizen.
    let otp_token = host.sign_in(NID, "09121234567").await;
    let again = host.get_as(&otp_token, "/api/v1/me").await;
    assert_eq!(again.body["subject"], me.body["subject"]);
    drop(host);
}

on_both_databases!(full_flow_signs_in_and_me_shows_the_national_id);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es256_tokens_and_the_portal_redirect_with_its_cookie() {
    let provider = Provider::start().await;
    let config = provider.config("panjereh-es256") + "assurance = \"high\"\n";
    let host = Host::start(&[], &config).await;
    let browser = browser();
    let callback = authorize(&browser, &host, &provider, "persian").await;
    let response = browser.get(host.url(&format!("/auth/callback?{}", callback.query))).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/services?q=tax");
    let cookies: Vec<String> =
        response.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("panjereh_session=pjs_") && c.contains("HttpOnly")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("panjereh_oidc=;") && c.contains("Max-Age=0")), "{cookies:?}");

    // The browser's session cookie is enough for the citizen API.
    let me = browser.get(host.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["national_id"], NID, "Persian digits in the claim are normalized");
    assert_eq!(me["assurance"], "high");
    assert_eq!(me["mobile"], "", "no mobile claim for this account");
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_only_in_userinfo_are_read_from_there() {
    let provider = Provider::start_userinfo_only().await;
    let host = Host::start(&[], &provider.config("panjereh")).await;
    let browser = browser();
    let callback = authorize(&browser, &host, &provider, "citizen").await;
    let (status, body) = finish(&browser, &host, &callback).await;
    assert_eq!(status, 200, "{body}");
    let me = host.get_as(body["token"].as_str().unwrap(), "/api/v1/me").await;
    assert_eq!(me.body["national_id"], NID);
    assert_eq!(me.body["mobile"], "09121234567");
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_state_replayed_code_and_another_browser_are_refused() {
    let provider = Provider::start().await;
    let host = Host::start(&[], &provider.config("panjereh")).await;
    let browser = browser();

    // A tampered state matches no sign-in.
    let callback = authorize(&browser, &host, &provider, "citizen").await;
    let state = callback.param("state").unwrap();
    let code = callback.param("code").unwrap();
    let tampered = Callback { query: format!("code={code}&state={state}x") };
    let (status, body) = finish(&browser, &host, &tampered).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "/problems/sso-state-invalid");
    assert!(body["detail"].as_str().unwrap().contains("state"), "{body}");

    // The genuine answer still works once...
    let (status, body) = finish(&browser, &host, &callback).await;
    assert_eq!(status, 200, "{body}");
    // ...and never twice.
    let (status, body) = finish(&browser, &host, &callback).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "/problems/sso-state-invalid");

    // The used code with a fresh sign-in's state: the provider refuses it (and PKCE
    // would too: the new sign-in has another verifier).
    let fresh = authorize(&browser, &host, &provider, "citizen").await;
    let replay = Callback { query: format!("code={code}&state={}", fresh.param("state").unwrap()) };
    let (status, body) = finish(&browser, &host, &replay).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "/problems/sso-code-rejected");

    // An answer delivered to a browser that did not start the sign-in.
    let started_here = authorize(&browser, &host, &provider, "citizen").await;
    let (status, body) = finish(&reqwest::Client::new(), &host, &started_here).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "/problems/sso-state-invalid");

    // The provider's own refusal, and a callback with no code.
    let (status, body) =
        finish(&browser, &host, &Callback { query: "error=access_denied&state=whatever".into() }).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "/problems/sso-denied");
    let (status, body) = finish(&browser, &host, &Callback { query: "state=x".into() }).await;
    assert_eq!(status, 400, "{body}");
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_invalid_national_id_is_refused() {
    let provider = Provider::start().await;
    let host = Host::start(&[], &provider.config("panjereh")).await;
    for (login, problem) in [("nobody", "sso-national-id-missing"), ("invalid", "sso-national-id-invalid")] {
        // A browser each: the provider remembers who signed in.
        let browser = browser();
        let callback = authorize(&browser, &host, &provider, login).await;
        let (status, body) = finish(&browser, &host, &callback).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["type"], format!("/problems/{problem}"));
        assert_eq!(body["claim"], "national_id");
    }
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_provider_login_answers_problems() {
    // Not configured: 404 saying so, in the asked language.
    let host = Host::start(&[], "").await;
    let (status, body) = host.get_lang("/auth/login", "en").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["type"], "/problems/sso-not-configured");
    assert!(body["title"].as_str().unwrap().contains("Single sign-on"));
    let (status, body) = host.get("/auth/callback?code=a&state=b").await;
    assert_eq!(status, 404);
    assert!(body["title"].as_str().unwrap().contains("ورود یکپارچه"), "{body}");
    drop(host);

    // Configured but unreachable: 502, not 500; a foreign return_to: 400.
    let config = "[oidc]\nissuer = \"http://127.0.0.1:9\"\nclient-id = \"c\"\nclient-secret = { secret = \"s\" }\n\
                  redirect-url = \"https://portal.panjereh.test/auth/callback\"\n";
    let host = Host::start(&[], config).await;
    let (status, body) = host.get("/auth/login").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["type"], "/problems/sso-unavailable");
    let (status, body) = host.get("/auth/login?return_to=https://evil.example/").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = host.get("/auth/login?return_to=//evil.example/").await;
    assert_eq!(status, 400, "{body}");
    for hostile in ["/\t/evil.example", "/\n/evil.example", "/\\evil.example", "/.//evil.example", "/ /evil.example"] {
        let encoded: String = url::form_urlencoded::byte_serialize(hostile.as_bytes()).collect();
        let (status, body) = host.get(&format!("/auth/login?return_to={encoded}")).await;
        assert_eq!(status, 400, "{hostile:?}: {body}");
        assert_eq!(body["field"], "return_to");
    }
    drop(host);
}
