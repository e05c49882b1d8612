//! The OpenAPI description (`GET /api/openapi.json`) against the API actually served:
//! every route is described, every described route is served, error answers are problem
//! documents, and real answers have the shapes the description gives them. Also the
//! limits on bad input that every endpoint shares.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{APPLICANT, APPLICANT_WITH_NATIONAL_ID as CONFIG, Host, UTILITY_BILLS};

/// The API as designed (DESIGN.md): if one of these disappears, clients break.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("get", "/api/v1/agencies"),
    ("get", "/api/v1/services"),
    ("get", "/api/v1/services/{agency}/{service}"),
    ("post", "/api/v1/services/{agency}/{service}/inquiries"),
    ("post", "/api/v1/services/{agency}/{service}/applications"),
    ("get", "/api/v1/applications"),
    ("get", "/api/v1/applications/{code}"),
    ("post", "/api/v1/callbacks/{agency}"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/me/data-usage"),
    ("post", "/auth/otp/start"),
    ("post", "/auth/otp/verify"),
    ("post", "/auth/logout"),
    ("get", "/auth/login"),
    ("get", "/auth/callback"),
    ("get", "/admin/v1/plugins"),
    ("post", "/admin/v1/plugins"),
    ("get", "/admin/v1/plugins/{id}"),
    ("delete", "/admin/v1/plugins/{id}"),
    ("post", "/admin/v1/plugins/{id}/enable"),
    ("post", "/admin/v1/plugins/{id}/disable"),
    ("post", "/admin/v1/plugins/{id}/activate"),
    ("post", "/admin/v1/plugins/{id}/rollback"),
    ("delete", "/admin/v1/plugins/{id}/versions/{version}"),
    ("get", "/admin/v1/audit"),
    ("get", "/admin/v1/audit/verify"),
    ("get", "/admin/v1/operators"),
    ("post", "/admin/v1/operators/{name}/revoke"),
    ("get", "/admin/v1/audit/checkpoints"),
    ("post", "/admin/v1/audit/checkpoints"),
    ("post", "/api/v1/payments"),
    ("get", "/api/v1/payments/{id}"),
    ("get", "/api/v1/me/payments"),
    ("get", "/admin/v1/payments"),
    ("post", "/admin/v1/payments/{id}/review"),
    ("get", "/api/v1/me/messages"),
    ("get", "/api/v1/me/preferences"),
    ("put", "/api/v1/me/preferences"),
    ("post", "/api/v1/me/messages/{id}/read"),
    ("get", "/admin/v1/jobs"),
    ("post", "/admin/v1/jobs/{id}/retry"),
    ("get", "/api/v1/me/representation"),
    ("post", "/api/v1/me/representation"),
    ("delete", "/api/v1/me/representation"),
    ("get", "/api/v1/me/acted"),
    ("get", "/api/v1/me/mandates"),
    ("post", "/api/v1/me/mandates"),
    ("post", "/api/v1/me/mandates/{id}/revoke"),
    ("post", "/api/v1/counter/consent"),
    ("post", "/api/v1/counter/consent/verify"),
    ("post", "/admin/v1/counter-clerks"),
    ("delete", "/admin/v1/counter-clerks/{national_id}"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

async fn description(host: &Host) -> Value {
    let response = reqwest::get(host.url("/api/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// Follows a local `$ref`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/schemas/").expect("a local schema reference");
            let target = &spec["components"]["schemas"][name];
            assert!(!target.is_null(), "{reference} is not defined");
            resolve(spec, target)
        }
        None => schema,
    }
}

/// Checks `value` against the parts of JSON Schema utoipa generates: types, required and
/// known members of objects, array items, `allOf`, `oneOf`. Returns what does not fit.
fn misfits(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if let Some(all) = schema["allOf"].as_array() {
        // allOf parts each see the whole object; members known to any part are known.
        let mut known = std::collections::BTreeSet::new();
        for part in all {
            let part = resolve(spec, part);
            known.extend(part["properties"].as_object().into_iter().flat_map(|p| p.keys().cloned()));
            let mut relaxed = part.clone();
            relaxed["additionalProperties"] = json!(true);
            misfits(spec, &relaxed, value, at, out);
        }
        for key in value.as_object().into_iter().flat_map(|o| o.keys()) {
            if !known.contains(key) {
                out.push(format!("{at}.{key} is not described"));
            }
        }
        return;
    }
    if let Some(one) = schema["oneOf"].as_array() {
        let fits = one.iter().any(|s| {
            let mut errors = Vec::new();
            misfits(spec, s, value, at, &mut errors);
            errors.is_empty()
        });
        if !fits {
            out.push(format!("{at} fits none of oneOf: {value}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return, // any value
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.iter().any(|t| *t == actual || (*t == "number" && actual == "integer")) {
        out.push(format!("{at} is {actual}, described as {types:?}"));
        return;
    }
    match value {
        Value::Object(members) => {
            for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !members.contains_key(required) {
                    out.push(format!("{at}.{required} is required but missing"));
                }
            }
            let properties = schema["properties"].as_object();
            for (key, member) in members {
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => misfits(spec, s, member, &format!("{at}.{key}"), out),
                    None if properties.is_some() && schema["additionalProperties"] != json!(true) => {
                        out.push(format!("{at}.{key} is not described"))
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                misfits(spec, &schema["items"], item, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Asserts that an answer has the shape the description gives `method path` for `status`.
fn assert_described(spec: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let response = &spec["paths"][path][method]["responses"][status.to_string()];
    assert!(!response.is_null(), "{method} {path} answered {status}, which is not described: {body}");
    let content = response["content"].as_object().expect("the answer has content");
    let (_, media) = content.iter().next().unwrap();
    let mut errors = Vec::new();
    misfits(spec, &media["schema"], body, "$", &mut errors);
    assert!(errors.is_empty(), "{method} {path} {status} does not fit its description: {errors:#?}\n{body:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_described_and_every_description_is_served() {
    let host = Host::start(&[UTILITY_BILLS, APPLICANT], CONFIG).await;
    let spec = description(&host).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"), "{}", spec["openapi"]);
    assert_eq!(spec["info"]["title"], "Panjereh");

    let mut described = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(*method) {
                described.push((method.to_string(), path.clone()));
                assert!(operation["summary"].is_string(), "{method} {path} has no summary");
                assert!(!operation["tags"].as_array().unwrap().is_empty(), "{method} {path} has no tag");
                for (status, answer) in operation["responses"].as_object().unwrap() {
                    if status.as_str() >= "400" {
                        assert_eq!(
                            answer["content"]["application/problem+json"]["schema"]["$ref"],
                            "#/components/schemas/Problem",
                            "{method} {path} {status} is not a problem document"
                        );
                    }
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415"] {
                        assert!(
                            operation["responses"].get(status).is_some(),
                            "{method} {path} takes a body but does not describe {status}"
                        );
                    }
                }
            }
        }
    }
    for (method, path) in ROUTES {
        assert!(described.iter().any(|(m, p)| m == method && p == path), "{method} {path} is served but not described");
    }
    assert_eq!(described.len(), ROUTES.len(), "described routes beyond the known ones: {described:?}");

    // Each described route is served: filled with made-up parameters, none falls through
    // to the unknown-path answer.
    for (method, path) in &described {
        let concrete = path
            .replace("{agency}", "no-agency")
            .replace("{service}", "no-service")
            .replace("{code}", "PJ-0000-0000-0000-0")
            .replace("{id}", "no-adapter")
            .replace("{name}", "no-operator");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = host.call(method.clone(), &concrete, None, Some(json!({})), &[]).await;
        assert!(
            !(answer.status == 404 && answer.body["detail"] == "no such path"),
            "{method} {path} is described but not served"
        );
        assert_ne!(answer.status, 405, "{method} {path} is described but not served");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_have_the_described_shapes() {
    let host = Host::start(&[UTILITY_BILLS, APPLICANT], CONFIG).await;
    let spec = description(&host).await;
    // The checker itself sees a wrong type, a missing member and an unknown one.
    let mut errors = Vec::new();
    let agencies = json!({"$ref": "#/components/schemas/AgencyList"});
    misfits(&spec, &agencies, &json!({"agencies": [{"id": 1, "services": 2, "extra": true}]}), "$", &mut errors);
    assert_eq!(errors.len(), 3, "{errors:?}");

    let token = host.sign_in("0499370899", "09121234567").await;

    let get = |path: &'static str| {
        let host = &host;
        let token = token.clone();
        async move { host.get_as(&token, path).await }
    };
    for (path, described) in [
        ("/api/v1/agencies", "/api/v1/agencies"),
        ("/api/v1/services?q=bill", "/api/v1/services"),
        ("/api/v1/services/utility-bills/bill-details", "/api/v1/services/{agency}/{service}"),
        ("/api/v1/services/test-office/permit", "/api/v1/services/{agency}/{service}"),
        ("/api/v1/me", "/api/v1/me"),
        ("/readyz", "/readyz"),
    ] {
        let answer = get(path).await;
        assert_described(&spec, "get", described, answer.status, &answer.body);
    }
    // What operators see of readiness, and how they see one another.
    let auditor = host.operator("reza", panjereh_host::store::operators::Role::Auditor).await;
    for (path, described) in [("/readyz", "/readyz"), ("/admin/v1/operators", "/admin/v1/operators")] {
        let answer = host.get_as(&auditor, path).await;
        assert!(answer.body["adapters"].is_array() || answer.body["operators"].is_array(), "{}", answer.body);
        assert_described(&spec, "get", described, answer.status, &answer.body);
    }

    let inquiry = host
        .post_as(
            &token,
            "/api/v1/services/utility-bills/bill-details/inquiries",
            json!({"input": {"bill-id": "7748317800142", "payment-id": "1770160"}}),
        )
        .await;
    assert_eq!(inquiry.status, 200, "{}", inquiry.body);
    assert_described(&spec, "post", "/api/v1/services/{agency}/{service}/inquiries", 200, &inquiry.body);

    let filed = host
        .post_as(
            &token,
            "/api/v1/services/test-office/permit/applications",
            json!({"input": {"postal-code": "۱۱۹۳۶۵۳۴۷۱", "reference": "R-1"}}),
        )
        .await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    assert_described(&spec, "post", "/api/v1/services/{agency}/{service}/applications", 201, &filed.body);
    let code = filed.body["tracking_code"].as_str().unwrap();
    let shown = host.get_as(&token, &format!("/api/v1/applications/{code}")).await;
    assert_described(&spec, "get", "/api/v1/applications/{code}", shown.status, &shown.body);
    let listed = get("/api/v1/applications").await;
    assert_described(&spec, "get", "/api/v1/applications", listed.status, &listed.body);
    let usage = get("/api/v1/me/data-usage").await;
    assert_eq!(usage.body["count"], 1, "{}", usage.body);
    assert_described(&spec, "get", "/api/v1/me/data-usage", usage.status, &usage.body);

    // Problems: a 422 with per-field errors, a 404, a 401.
    let refused = host
        .post_as(&token, "/api/v1/services/utility-bills/bill-details/inquiries", json!({"input": {"bill-id": "12"}}))
        .await;
    assert_eq!(refused.status, 422);
    assert_described(&spec, "post", "/api/v1/services/{agency}/{service}/inquiries", 422, &refused.body);
    let missing = get("/api/v1/services/utility-bills/no-such-service").await;
    assert_described(&spec, "get", "/api/v1/services/{agency}/{service}", missing.status, &missing.body);
    let anonymous = host.call(Method::GET, "/api/v1/me", None, None, &[]).await;
    assert_described(&spec, "get", "/api/v1/me", anonymous.status, &anonymous.body);

    let operator = host.operator("ops", panjereh_host::store::operators::Role::Admin).await;
    let (status, plugins) = host.admin(Method::GET, "/admin/v1/plugins", &operator, None).await;
    assert_described(&spec, "get", "/admin/v1/plugins", status, &plugins);
    let (status, audit) = host.admin(Method::GET, "/admin/v1/audit?limit=5", &operator, None).await;
    assert_described(&spec, "get", "/admin/v1/audit", status, &audit);
    let (status, verified) = host.admin(Method::GET, "/admin/v1/audit/verify", &operator, None).await;
    assert_described(&spec, "get", "/admin/v1/audit/verify", status, &verified);
    let (status, checkpoints) = host.admin(Method::GET, "/admin/v1/audit/checkpoints", &operator, None).await;
    assert_described(&spec, "get", "/admin/v1/audit/checkpoints", status, &checkpoints);
    let (status, unanchored) = host.admin(Method::POST, "/admin/v1/audit/checkpoints", &operator, None).await;
    assert_eq!(status, 409, "{unanchored}");
    assert_described(&spec, "post", "/admin/v1/audit/checkpoints", status, &unanchored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_the_host_cannot_read_get_precise_problems() {
    let host = Host::start(&[UTILITY_BILLS], CONFIG).await;
    let path = "/api/v1/services/utility-bills/bill-details/inquiries";
    let raw = |body: String, content_type: &'static str| {
        let request = reqwest::Client::new()
            .post(host.url(path))
            .header("content-type", content_type)
            .header("accept-language", "en")
            .body(body);
        async move { crate::harness::decode(request.send().await.unwrap()).await }
    };

    // Nesting beyond what any form needs: refused while parsing, not by a crash.
    let deep = format!("{{\"input\": {{\"bill-id\": {}1{}}}}}", "[".repeat(5000), "]".repeat(5000));
    let (status, body) = raw(deep, "application/json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["type"], "/problems/bad-request");
    assert!(body["detail"].as_str().unwrap().contains("recursion limit"), "{body}");

    let (status, body) = raw(r#"{"input": {}, "extra": 1}"#.into(), "application/json").await;
    assert_eq!(status, 400);
    assert!(body["detail"].as_str().unwrap().contains("unknown field `extra`"), "{body}");

    let (status, body) = raw(r#"{"input": "#.into(), "application/json").await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "/problems/bad-request");

    let (status, body) = raw("bill-id=1".into(), "application/x-www-form-urlencoded").await;
    assert_eq!(status, 415);
    assert_eq!(body["type"], "/problems/unsupported-media-type");

    let huge = format!("{{\"input\": {{\"bill-id\": \"{}\"}}}}", "1".repeat(300 << 10));
    let (status, body) = raw(huge, "application/json").await;
    assert_eq!(status, 413);
    assert_eq!(body["type"], "/problems/payload-too-large");

    // A known path with a method it does not take.
    let answer = host.call(Method::GET, "/auth/otp/start", None, None, &[]).await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert_eq!(answer.body["type"], "/problems/method-not-allowed");
    assert_eq!(answer.headers["allow"], "POST");

    // The host still serves.
    let (status, _) = host.get("/api/v1/agencies").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_limited_per_client() {
    let host = Host::start(&[], "[auth]\notp-client-per-minute = 3\notp-backoff-ms = 0\n").await;
    let start = |national_id: &'static str, mobile: &'static str| {
        host.call(
            Method::POST,
            "/auth/otp/start",
            None,
            Some(json!({"national_id": national_id, "mobile": mobile})),
            &[],
        )
    };
    // Three requests for three different citizens pass (one of them malformed: it counts).
    assert_eq!(start("0499370899", "09121234567").await.status, 202);
    assert_eq!(start("1271408929", "09131234567").await.status, 202);
    assert_eq!(start("123", "09141234567").await.status, 422);
    // The fourth, for yet another citizen, is refused: the limit is the client's.
    let refused = start("0013542419", "09151234567").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/too-many-requests");
    assert_eq!(refused.body["title"], "Too many sign-in requests");
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "until the minute's window ends: {wait}");
    assert!(host.notifier.last_code("09151234567").is_none(), "no code is sent to a refused request");

    // Verify counts too, and the answer is in Persian when asked.
    let (status, body) = host.post("/auth/otp/verify", json!({"national_id": "0499370899", "code": "12345"})).await;
    assert_eq!(status, 429);
    assert_eq!(body["title"], "درخواست‌های ورود بیش از حد مجاز");

    // Everything else is served as usual.
    let (status, _) = host.get("/api/v1/agencies").await;
    assert_eq!(status, 200);
}

/// Asks for a code as a client behind `forwarded`; the status, or the problem's type.
async fn start_behind(host: &Host, mobile: &str, forwarded: &str) -> String {
    let body = json!({"national_id": "0499370899", "mobile": mobile});
    let answer = host.call(Method::POST, "/auth/otp/start", None, Some(body), &[("x-forwarded-for", forwarded)]).await;
    answer.body["type"].as_str().map_or_else(|| answer.status.to_string(), str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_limit_is_per_forwarded_client() {
    let config = "trusted-proxies = [\"127.0.0.1\"]\n[auth]\notp-client-per-minute = 1\n";
    let host = Host::start(&[], config).await;
    host.own("0499370899", "09121234569");
    assert_eq!(start_behind(&host, "09121234567", "198.51.100.7").await, "202");
    assert_eq!(
        start_behind(&host, "09121234568", "198.51.100.7").await,
        "/problems/too-many-requests",
        "the same client behind the proxy"
    );
    assert_eq!(start_behind(&host, "09121234569", "198.51.100.8").await, "202", "another client behind the proxy");
    // What the client itself claims, left of what the proxy saw, does not count.
    assert_eq!(start_behind(&host, "09121234560", "203.0.113.1, 198.51.100.8").await, "/problems/too-many-requests");

    // Without a trusted proxy, the header is the client's word and is ignored.
    let host = Host::start(&[], "[auth]\notp-client-per-minute = 1\n").await;
    assert_eq!(start_behind(&host, "09121234567", "198.51.100.7").await, "202");
    assert_eq!(start_behind(&host, "09121234568", "198.51.100.8").await, "/problems/too-many-requests");
}
