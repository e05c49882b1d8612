//! The citizens' web portal over real HTTP, as a browser without JavaScript uses it:
//! language and direction, security headers, CSRF refusals, Persian search, forms with
//! errors next to their fields, sign-in with a one-time code, filing and tracking.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::harness::{APPLICANT, APPLICANT_WITH_NATIONAL_ID as CONFIG, Host, UTILITY_BILLS};

const NID: &str = "0499370899";
const MOBILE: &str = "09121234567";

/// A browser without JavaScript: keeps cookies, does not follow redirects.
struct Browser<'a> {
    host: &'a Host,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// Reaching the host through a TLS-terminating proxy (`X-Forwarded-Proto: https`).
    https: bool,
}

/// One answer: status, headers and the page.
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Got {
    fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The value of the first hidden `name` input.
    fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self.html.find(&marker).unwrap_or_else(|| panic!("no hidden {name} in {}", self.html)) + marker.len();
        self.html[at..].split('"').next().unwrap().to_owned()
    }

    /// The text of the error line reserved under field `id`.
    fn field_error(&self, id: &str) -> String {
        let marker = format!("id=\"f-{id}-error\" aria-live=\"polite\">");
        let at = self.html.find(&marker).unwrap_or_else(|| panic!("no error line for {id}")) + marker.len();
        self.html[at..].split("</p>").next().unwrap().to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(host: &'a Host) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { host, client, cookies: BTreeMap::new(), https: false }
    }

    /// A browser on `https://` behind the proxy.
    fn behind_https(host: &'a Host) -> Self {
        Browser { https: true, ..Browser::new(host) }
    }

    /// The session cookie's name on this browser's scheme.
    fn session_cookie(&self) -> &'static str {
        if self.https { "__Host-panjereh_session" } else { "panjereh_session" }
    }

    fn proto(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Got {
        for value in response.headers().get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        Got { status, headers, html: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Got {
        let response = self
            .client
            .get(self.host.url(path))
            .header("cookie", self.cookie_header())
            .header("x-forwarded-proto", self.proto())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Got {
        let response = self
            .client
            .post(self.host.url(path))
            .header("cookie", self.cookie_header())
            .header("x-forwarded-proto", self.proto())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Signs in through the two sign-in forms; returns where the portal sent the browser.
    async fn sign_in(&mut self, next: &str) -> String {
        let page = self.get(&format!("/signin?next={next}")).await;
        let csrf = page.hidden("_csrf");
        let step2 = self
            .post("/signin", &[("_csrf", &csrf), ("national_id", "۰۴۹۹۳۷۰۸۹۹"), ("mobile", MOBILE), ("next", next)])
            .await;
        assert_eq!(step2.status, 200, "{}", step2.html);
        assert!(step2.html.contains("autocomplete=\"one-time-code\""));
        let code = self.host.notifier.last_code(MOBILE).expect("a code was sent");
        let done = self
            .post(
                "/signin/verify",
                &[("_csrf", &step2.hidden("_csrf")), ("national_id", NID), ("code", &code), ("next", next)],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.html);
        assert!(self.cookies.contains_key(self.session_cookie()), "{:?}", self.cookies);
        done.location().to_owned()
    }
}

/// Percent-encodes a query value.
fn encode(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn pages_are_persian_first_with_security_headers() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let mut browser = Browser::new(&host);
    let home = browser.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.html.contains("<html lang=\"fa\" dir=\"rtl\">"), "{}", home.html);
    assert!(home.html.contains("آب، برق، گاز و تلفن"), "service groups are listed");
    let csp = home.header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(home.header("x-content-type-options"), "nosniff");
    assert!(!home.header("referrer-policy").is_empty());
    assert_eq!(home.header("content-type"), "text/html; charset=utf-8");
    // Nothing inline that the policy would block.
    assert!(!home.html.contains("<script>") && !home.html.contains(" style="), "{}", home.html);
    assert!(home.html.contains("<script src=\"/static/portal."));

    // English by query, remembered by cookie.
    let english = browser.get("/services?lang=en").await;
    assert!(english.html.contains("<html lang=\"en\" dir=\"ltr\">"));
    assert_eq!(browser.cookies.get("lang").map(String::as_str), Some("en"));
    let again = browser.get("/").await;
    assert!(again.html.contains("<html lang=\"en\" dir=\"ltr\">"));
    assert!(again.html.contains("Water, electricity, gas and phone"));
    let back = browser.get("/?lang=fa").await;
    assert!(back.html.contains("dir=\"rtl\""));

    // Unknown paths: a page for browsers, a problem document for programs.
    let response = browser.client.get(host.url("/no-such-page")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("<html lang=\"fa\" dir=\"rtl\">"));
    let (status, body) = host.get("/no-such-page").await;
    assert_eq!((status, body["type"].as_str()), (404, Some("/problems/not-found")));
    let response = browser.client.get(host.url("/api/v1/nothing")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn assets_are_hashed_cached_and_pages_are_light() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let client = reqwest::Client::new();
    let gzip = |path: String| {
        let client = client.clone();
        let url = host.url(&path);
        async move {
            let response = client.get(url).header("accept-encoding", "gzip").send().await.unwrap();
            let encoding = response.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned());
            let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
            let bytes = response.bytes().await.unwrap();
            (encoding, cache, bytes.len())
        }
    };
    let html = client.get(host.url("/services/utility-bills/bill-details")).send().await.unwrap().text().await.unwrap();
    let asset = |marker: &str| {
        let at = html.find(marker).unwrap() + marker.len();
        html[at..].split('"').next().unwrap().to_owned()
    };
    let (css, js) = (asset("<link rel=\"stylesheet\" href=\""), asset("<script src=\""));
    assert!(css.starts_with("/static/portal.") && css.ends_with(".css"), "{css}");
    assert!(js.starts_with("/static/portal.") && js.ends_with(".js"), "{js}");
    let mut total = 0;
    for path in ["/services/utility-bills/bill-details".to_owned(), css.clone(), js.clone()] {
        let (encoding, cache, size) = gzip(path.clone()).await;
        assert_eq!(encoding.as_deref(), Some("gzip"), "{path} is compressed");
        if path.starts_with("/static/") {
            assert!(cache.unwrap().contains("immutable"), "{path}");
            let plain = client.get(host.url(&path)).send().await.unwrap();
            assert!(plain.headers().get("set-cookie").is_none(), "{path} sets no cookie, so caches may keep it");
        }
        total += size;
    }
    assert!(total < 150 * 1024, "page with its assets weighs {total} bytes compressed");
    let (status, _) = (client.get(host.url("/static/portal.0000.css")).send().await.unwrap().status(), ());
    assert_eq!(status, 404, "an old or unknown hash is not served");
}

#[tokio::test]
async fn sign_in_forms_share_the_per_client_limit() {
    let host = Host::start(&[], "[auth]\notp-client-per-minute = 2\notp-backoff-ms = 0\n").await;
    let mut browser = Browser::new(&host);
    let csrf = browser.get("/signin").await.hidden("_csrf");
    let form = [("_csrf", csrf.as_str()), ("national_id", NID), ("mobile", MOBILE)];
    assert_eq!(browser.post("/signin", &form).await.status, 200);
    let code = browser.post("/signin/verify", &[("_csrf", &csrf), ("national_id", NID), ("code", "00000")]).await;
    assert_ne!(code.status, 429, "{}", code.html);
    let refused = browser.post("/signin", &form).await;
    assert_eq!(refused.status, 429);
    assert!(refused.html.contains("درخواست‌های ورود بیش از حد مجاز"), "{}", refused.html);
    assert!(refused.html.contains("dir=\"rtl\""), "a page, in Persian");
}

#[tokio::test]
async fn posts_without_the_csrf_token_are_refused() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let mut browser = Browser::new(&host);
    let form = [("national_id", NID), ("mobile", MOBILE)];
    // No cookie and no token.
    let refused = browser.post("/signin", &form).await;
    assert_eq!(refused.status, 403);
    assert!(refused.html.contains("dir=\"rtl\""), "a page, in Persian");
    assert!(host.notifier.last_code(MOBILE).is_none(), "nothing was sent");
    // A cookie but a forged token.
    browser.get("/signin").await;
    let forged = browser.post("/signin", &[("_csrf", "00"), ("national_id", NID), ("mobile", MOBILE)]).await;
    assert_eq!(forged.status, 403);
    // The inquiry form and sign-out are protected too.
    let inquiry = browser.post("/services/utility-bills/bill-details", &[("bill-id", "7748317800142")]).await;
    assert_eq!(inquiry.status, 403);
    assert_eq!(browser.post("/signout", &[]).await.status, 403);
    // With the token from the page, it works.
    let csrf = browser.get("/signin").await.hidden("_csrf");
    let ok = browser.post("/signin", &[("_csrf", &csrf), ("national_id", NID), ("mobile", MOBILE)]).await;
    assert_eq!(ok.status, 200, "{}", ok.html);
    assert!(host.notifier.last_code(MOBILE).is_some());
    // A token from another browser is refused.
    let mut other = Browser::new(&host);
    other.get("/").await;
    let stolen = other.post("/signin", &[("_csrf", &csrf), ("national_id", NID), ("mobile", MOBILE)]).await;
    assert_eq!(stolen.status, 403);
}

#[tokio::test]
async fn catalogue_search_and_filters_work_without_javascript() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let mut browser = Browser::new(&host);
    let titles = |html: &str| -> Vec<String> {
        html.split("<h3><a href=\"/services/").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect()
    };
    // «قبض» finds the bill inquiry; «كتابخانه» typed with the Arabic kaf finds the library.
    let bills = browser.get(&format!("/services?q={}", encode("قبض"))).await;
    let found = titles(&bills.html);
    assert!(found.contains(&"utility-bills/bill-details".to_owned()), "{found:?}");
    assert!(found.iter().all(|t| t.starts_with("utility-bills/")), "{found:?}");
    let library = browser.get(&format!("/services?q={}", encode("كتابخانه"))).await;
    assert_eq!(titles(&library.html), ["test-office/library-card"]);
    // Filters from the form, empty selects meaning "any".
    let utilities = browser.get("/services?q=&category=utilities&agency=&province=&kind=").await;
    let found = titles(&utilities.html);
    assert!(found.contains(&"utility-bills/bill-details".to_owned()) && found.len() == 5, "{found:?}");
    let isfahan = browser.get("/services?province=isfahan&kind=inquiry&agency=test-office").await;
    let found = titles(&isfahan.html);
    assert!(found.contains(&"test-office/library-card".to_owned()), "{found:?}");
    assert!(!found.contains(&"test-office/parking".to_owned()), "Tehran's service is not Isfahan's");
    assert!(isfahan.html.contains("<option value=\"isfahan\" selected>اصفهان</option>"));
    let applications = browser.get("/services?kind=application").await;
    assert!(titles(&applications.html).iter().all(|t| t.contains("permit")));
}

#[tokio::test]
async fn inquiry_form_shows_errors_next_to_fields_then_the_bill() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let mut browser = Browser::new(&host);
    let page = browser.get("/services/utility-bills/bill-details").await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains("<label for=\"f-bill-id\">شناسه قبض"), "{}", page.html);
    assert!(page.html.contains("عدد ۶ تا ۱۳ رقمی روی قبض"), "help text");
    assert_eq!(page.field_error("bill-id"), "", "the error line is reserved, empty");
    let csrf = page.hidden("_csrf");

    // A wrong check digit and a missing field: both messages, in Persian, beside their fields.
    let wrong = browser
        .post(
            "/services/utility-bills/bill-details",
            &[("_csrf", &csrf), ("bill-id", "7748317800143"), ("payment-id", "")],
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.html);
    assert!(!wrong.field_error("bill-id").is_empty());
    assert_eq!(wrong.field_error("payment-id"), "«شناسه پرداخت» را وارد کنید");
    assert!(wrong.html.contains("value=\"7748317800143\""), "what was typed is kept");

    // Persian digits are accepted; the bill comes back with its amount grouped in Persian digits.
    let bill = browser
        .post(
            "/services/utility-bills/bill-details",
            &[("_csrf", &csrf), ("bill-id", "۷۷۴۸۳۱۷۸۰۰۱۴۲"), ("payment-id", "۱۷۷۰۱۶۰")],
        )
        .await;
    assert_eq!(bill.status, 200, "{}", bill.html);
    assert!(bill.html.contains("class=\"bill\""));
    assert!(bill.html.contains("۱۷٬۰۰۰ <span>ریال</span>"), "{}", bill.html);

    // The same in English.
    browser.get("/?lang=en").await;
    let csrf = browser.get("/services/utility-bills/bill-details").await.hidden("_csrf");
    let wrong = browser
        .post(
            "/services/utility-bills/bill-details",
            &[("_csrf", &csrf), ("bill-id", "7748317800142"), ("payment-id", "")],
        )
        .await;
    assert_eq!(wrong.field_error("payment-id"), "Payment ID is required");
}

#[tokio::test]
async fn sign_in_apply_track_and_see_data_usage_without_javascript() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let mut browser = Browser::new(&host);
    // Private pages send visitors to sign in first, and back afterwards.
    let mine = browser.get("/applications").await;
    assert_eq!(mine.status, 303);
    assert_eq!(mine.location(), "/signin?next=%2Fapplications");

    // A wrong code is shown beside the code field.
    let csrf = browser.get("/signin").await.hidden("_csrf");
    let step2 = browser.post("/signin", &[("_csrf", &csrf), ("national_id", NID), ("mobile", "09121234567")]).await;
    let code = host.notifier.last_code(MOBILE).unwrap();
    let wrong = format!("{:05}", (code.parse::<u32>().unwrap() + 1) % 100_000);
    let refused = browser
        .post("/signin/verify", &[("_csrf", &step2.hidden("_csrf")), ("national_id", NID), ("code", &wrong)])
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.field_error("code").contains("کد تأیید پذیرفته نشد"), "{}", refused.html);

    assert_eq!(browser.sign_in("/applications").await, "/applications");
    let empty = browser.get("/applications").await;
    assert_eq!(empty.status, 200);
    assert!(empty.html.contains("0912***4567") || empty.html.contains("۰۹۱۲***۴۵۶۷"));

    // File an application through the generated form.
    let form = browser.get("/services/test-office/permit").await;
    let (csrf, key) = (form.hidden("_csrf"), form.hidden("_key"));
    let bad =
        browser.post("/services/test-office/permit", &[("_csrf", &csrf), ("_key", &key), ("postal-code", "123")]).await;
    assert_eq!(bad.status, 422);
    assert!(!bad.field_error("postal-code").is_empty());
    let filed = browser
        .post(
            "/services/test-office/permit",
            &[("_csrf", &csrf), ("_key", &key), ("postal-code", "۱۱۹۳۶۵۳۴۷۱"), ("reference", "CASE-7")],
        )
        .await;
    assert_eq!(filed.status, 303, "{}", filed.html);
    let location = filed.location().to_owned();
    assert!(location.starts_with("/applications/PJ-") && location.ends_with("?filed=1"), "{location}");
    let code = location.trim_start_matches("/applications/").trim_end_matches("?filed=1").to_owned();
    // Sending the same form twice files once.
    let twice = browser
        .post(
            "/services/test-office/permit",
            &[("_csrf", &csrf), ("_key", &key), ("postal-code", "۱۱۹۳۶۵۳۴۷۱"), ("reference", "CASE-7")],
        )
        .await;
    assert_eq!(twice.location(), location);

    let shown = browser.get(&location).await;
    assert_eq!(shown.status, 200);
    assert!(shown.html.contains(&code));
    assert!(shown.html.contains("class=\"timeline\""));
    assert!(shown.html.contains("درخواست شما دریافت شد"), "the agency's message in the timeline");
    assert!(shown.html.contains("<time datetime=\""), "dates carry the machine-readable time");
    assert!(shown.html.contains("title=\"20"), "with the Gregorian date at hand");

    // "My applications" lists it; the tracking form finds it typed sloppily.
    assert!(browser.get("/applications").await.html.contains(&code));
    let sloppy = code.to_lowercase().replace('-', "");
    let tracked = browser.get(&format!("/track?code={sloppy}")).await;
    assert_eq!(tracked.status, 303);
    let page = browser.get(tracked.location()).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(&code));
    let typo = browser.get("/applications/PJ-AAAA-AAAA-AAAA-A").await;
    assert_eq!(typo.status, 404);
    assert!(typo.html.contains("کد پیگیری"));

    // The national ID was handed over once, and the citizen can see it.
    let usage = browser.get("/data-usage").await;
    assert_eq!(usage.status, 200);
    assert!(usage.html.contains("<td>کد ملی</td>"), "{}", usage.html);
    assert!(usage.html.contains("پروانه آزمایشی"));

    // Signing out ends the session.
    let csrf = browser.get("/").await.hidden("_csrf");
    let out = browser.post("/signout", &[("_csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(!browser.cookies.contains_key("panjereh_session"));
    assert_eq!(browser.get("/applications").await.status, 303);
}

/// Return targets that once sent a browser off-site or could: browsers drop tabs and
/// newlines, read `\` as `/` and `//host` as another site.
const OFF_SITE: &[&str] = &[
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/.//evil.example",
    "/ /evil.example",
    "/\u{7f}/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
];

/// An attribute's value as the browser reads it.
fn unescape(attribute: &str) -> String {
    attribute.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The href of the language switch.
fn language_link(html: &str) -> String {
    let at = html.find(" hreflang=").expect("a language switch");
    let start = html[..at].rfind("href=\"").unwrap() + "href=\"".len();
    unescape(html[start..at].split('"').next().unwrap())
}

#[tokio::test]
async fn no_return_path_leads_off_site() {
    let host = Host::start(&[APPLICANT], CONFIG).await;
    let mut browser = Browser::new(&host);
    for next in OFF_SITE {
        let page = browser.get(&format!("/signin?next={}", encode(next))).await;
        assert_eq!((page.status, unescape(&page.hidden("next"))), (StatusCode::OK, "/".to_owned()), "{next:?}");
    }
    // A hostile target posted with the code form: home, not there.
    assert_eq!(browser.sign_in("/\t/evil.example").await, "/");
    // Signed in, `/signin?next=` redirects at once: only to local paths.
    for next in OFF_SITE {
        let page = browser.get(&format!("/signin?next={}", encode(next))).await;
        assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/"), "{next:?}");
    }
    let page = browser.get("/signin?next=/%09/evil.example").await;
    assert_eq!(page.location(), "/");
    let page = browser.get("/signin?next=/applications%3Fq%3D1").await;
    assert_eq!(page.location(), "/applications?q=1");

    // The 404 page's language switch does not echo `//host`; an ordinary page's does echo.
    for path in ["//evil.example/x", "//evil.example", "/.//evil.example"] {
        let response = browser.client.get(host.url(path)).header("accept", "text/html").send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let link = language_link(&response.text().await.unwrap());
        assert_eq!(link, "/?lang=en", "{path}");
    }
    assert_eq!(language_link(&browser.get("/services?q=a").await.html), "/services?q=a&lang=en");
}

/// Behind HTTPS every cookie of the portal is `__Host-` named (Secure, `Path=/`, no
/// `Domain`), the JS-free forms with their CSRF tokens still work, answers carry HSTS, and
/// a cookie without the prefix (planted over plain HTTP or by a sibling domain) is not read.
#[tokio::test]
async fn behind_https_cookies_are_host_prefixed_and_the_forms_still_work() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], CONFIG).await;
    let mut browser = Browser::behind_https(&host);
    let response =
        browser.client.get(host.url("/services?lang=en")).header("x-forwarded-proto", "https").send().await.unwrap();
    let set: Vec<String> =
        response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(set.len(), 2, "the language and the CSRF secret: {set:?}");
    for cookie in &set {
        assert!(cookie.starts_with("__Host-"), "{cookie}");
        assert!(cookie.contains("; Path=/;") && cookie.ends_with("; Secure"), "{cookie}");
        assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    }
    let english = browser.keep(response).await;
    assert_eq!(english.header("strict-transport-security"), "max-age=31536000");
    assert_eq!(browser.cookies.get("__Host-lang").map(String::as_str), Some("en"));
    assert!(browser.cookies.contains_key("__Host-panjereh_csrf"), "{:?}", browser.cookies);
    assert!(browser.get("/").await.html.contains("<html lang=\"en\" dir=\"ltr\">"), "the language is read back");

    // Sign-in through both forms (CSRF-checked) sets the prefixed session cookie...
    let next = browser.sign_in("/applications").await;
    assert_eq!(next, "/applications");
    let mine = browser.get("/applications").await;
    assert_eq!(mine.status, 200, "the session is read from __Host-panjereh_session: {}", mine.html);

    // ...and a session token under the plain name is ignored over HTTPS.
    let token = host.sign_in(NID, MOBILE).await;
    let planted = browser
        .client
        .get(host.url("/applications"))
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("panjereh_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(planted.status(), StatusCode::SEE_OTHER, "sent to sign in");
    for (name, status) in [("panjereh_session", 401), ("__Host-panjereh_session", 200)] {
        let cookie = format!("{name}={token}");
        let me = host
            .call(
                reqwest::Method::GET,
                "/api/v1/me",
                None,
                None,
                &[("x-forwarded-proto", "https"), ("cookie", &cookie)],
            )
            .await;
        assert_eq!(me.status, status, "{name}: {}", me.body);
    }

    // Signing out clears the prefixed cookie.
    let csrf = browser.get("/").await.hidden("_csrf");
    let out = browser
        .client
        .post(host.url("/signout"))
        .header("cookie", browser.cookie_header())
        .header("x-forwarded-proto", "https")
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let cleared = out.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("__Host-panjereh_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("; Path=/;") && cleared.ends_with("; Secure"), "{cleared}");
}

/// A citizen gives a mandate in the portal without JavaScript (a Jalali date, one service
/// ticked), the delegate sees it, and the citizen revokes it; a form that names no service
/// is refused next to the field.
#[tokio::test]
async fn a_citizen_gives_and_revokes_a_mandate_in_the_portal() {
    const DELEGATE: (&str, &str) = ("1271408929", "09131234567");
    let host = Host::start(&[APPLICANT], CONFIG).await;
    let mut browser = Browser::new(&host);
    browser.sign_in("/mandates").await;
    let page = browser.get("/mandates").await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("وکالت‌هایی که داده‌اید") && page.html.contains("وکالتی نداده‌اید"), "{}", page.html);
    assert!(page.html.contains("value=\"test-office/echo\""), "the services to tick: {}", page.html);
    let csrf = page.hidden("_csrf");
    let until = {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
        let j = panjereh_formats::jalali::JalaliDate::from_gregorian(d.year(), u8::from(d.month()), d.day()).unwrap();
        j.to_persian_digits()
    };
    let form = |scope: &'static str, service: Option<&'static str>| {
        let mut form = vec![
            ("_csrf", csrf.clone()),
            ("delegate_national_id", DELEGATE.0.to_owned()),
            ("until", until.clone()),
            ("scope", scope.to_owned()),
        ];
        form.extend(service.map(|s| ("service", s.to_owned())));
        form
    };
    async fn post(browser: &mut Browser<'_>, form: Vec<(&'static str, String)>) -> Got {
        let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser.post("/mandates", &borrowed).await
    }
    let none = post(&mut browser, form("some", None)).await;
    assert_eq!(none.status, 422, "{}", none.html);
    assert!(none.field_error("services").contains("دست‌کم یک خدمت"), "{}", none.html);
    assert_eq!(
        host.get_as(&host.sign_in(DELEGATE.0, DELEGATE.1).await, "/api/v1/me/mandates").await.body["received"],
        json!([])
    );

    let given = post(&mut browser, form("some", Some("test-office/echo"))).await;
    assert_eq!((given.status.as_u16(), given.location()), (303, "/mandates"), "{}", given.html);
    let page = browser.get("/mandates").await;
    assert!(page.html.contains("۱۲۷۱۴۰۸۹۲۹") && page.html.contains("test-office/echo"), "{}", page.html);
    let delegate = host.sign_in(DELEGATE.0, DELEGATE.1).await;
    let received = host.get_as(&delegate, "/api/v1/me/mandates").await.body;
    assert_eq!(received["received"][0]["grantor_national_id"], NID, "{received}");
    assert_eq!(received["received"][0]["services"], json!(["test-office/echo"]));

    let id = received["received"][0]["id"].as_str().unwrap().to_owned();
    let csrf = page.hidden("_csrf");
    let revoked = browser.post(&format!("/mandates/{id}/revoke"), &[("_csrf", &csrf)]).await;
    assert_eq!(revoked.status.as_u16(), 303);
    assert!(browser.get("/mandates").await.html.contains("لغو شده"));
    assert_eq!(host.get_as(&delegate, "/api/v1/me/mandates").await.body["received"], json!([]));
}

/// The inbox page chooses the channels and the language without JavaScript: e-mail without
/// an address is refused next to the field and nothing is stored; a valid choice is stored
/// and shown again.
#[tokio::test]
async fn a_citizen_chooses_channels_and_language_on_the_inbox_page() {
    let host = Host::start(&[APPLICANT], CONFIG).await;
    let mut browser = Browser::new(&host);
    browser.sign_in("/inbox").await;
    let page = browser.get("/inbox").await;
    assert!(page.html.contains("چگونه به شما خبر دهیم"), "{}", page.html);
    let csrf = page.hidden("_csrf");
    let refused = browser
        .post("/inbox/preferences", &[("_csrf", &csrf), ("channel-email", "on"), ("email", ""), ("language", "en")])
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.field_error("email").contains("نشانی"), "{}", refused.html);
    let token = host.sign_in(NID, MOBILE).await;
    assert_eq!(host.get_as(&token, "/api/v1/me/preferences").await.body["language"], "fa", "nothing stored");

    let saved = browser
        .post(
            "/inbox/preferences",
            &[
                ("_csrf", &csrf),
                ("channel-sms", "on"),
                ("channel-email", "on"),
                ("email", "sara@example.ir"),
                ("language", "en"),
            ],
        )
        .await;
    assert_eq!((saved.status.as_u16(), saved.location()), (303, "/inbox?saved=1"), "{}", saved.html);
    let stored = host.get_as(&token, "/api/v1/me/preferences").await.body;
    assert_eq!(stored, json!({"channels": ["sms", "email"], "email": "sara@example.ir", "language": "en"}));
    let page = browser.get("/inbox?saved=1").await;
    assert!(page.html.contains("ذخیره شد") && page.html.contains("value=\"sara@example.ir\""), "{}", page.html);
}
