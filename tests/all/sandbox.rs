//! Misbehaving adapters are stopped and reported; the host keeps serving.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    CHATTER, DRAIN, FLOOD, FS_IMPORT, FUTURE_WIT, HOG, HYDRA, Host, PANIC, SPIN, SPRAWL, UTILITY_BILLS,
};

const BILL: &str = "/api/v1/services/utility-bills/bill-details/inquiries";

fn valid_bill() -> serde_json::Value {
    json!({"input": {"bill-id": "2050327604613", "payment-id": "1070189"}})
}

const LIMITS: &str = "[limits]\ncpu-ms = 100\nmemory-mib = 64\n";

#[tokio::test]
async fn a_spinning_adapter_is_stopped_at_its_cpu_budget_while_others_answer() {
    let host = Host::start(&[UTILITY_BILLS, SPIN], LIMITS).await;
    let started = Instant::now();
    let spin = host.post_lang("/api/v1/services/spinner/run/inquiries", json!({}), "en");
    let normal = async {
        // Issued while the spinner runs.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t = Instant::now();
        let answer = host.post(BILL, valid_bill()).await;
        (answer, t.elapsed())
    };
    let ((status, body), ((normal_status, _), normal_time)) = tokio::join!(spin, normal);
    let elapsed = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["type"], "/problems/adapter-cpu-budget");
    assert_eq!(body["adapter"], "spin");
    assert!(body["detail"].as_str().unwrap().contains("100 ms"), "{body}");
    assert!(elapsed < Duration::from_millis(100 + 900), "stopped after {elapsed:?}");
    assert_eq!(normal_status, 200);
    assert!(normal_time < Duration::from_millis(900), "the normal call waited {normal_time:?}");

    // Still serving, and the spinner can be stopped again.
    let (status, _) = host.post(BILL, valid_bill()).await;
    assert_eq!(status, 200);
    let (status, _) = host.post("/api/v1/services/spinner/run/inquiries", json!({})).await;
    assert_eq!(status, 504);
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[tokio::test]
async fn an_adapter_allocating_without_end_is_stopped_at_its_memory_limit() {
    let host = Host::start(&[UTILITY_BILLS, HOG], LIMITS).await;
    let before = resident_bytes();
    for _ in 0..3 {
        let (status, body) = host.post_lang("/api/v1/services/hog/run/inquiries", json!({}), "en").await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["type"], "/problems/adapter-memory-limit");
        assert_eq!(body["adapter"], "hog");
        assert!(body["detail"].as_str().unwrap().contains("64 MiB"), "{body}");
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 64 << 20, "host memory grew by {} MiB", grown >> 20);
    let (status, _) = host.post(BILL, valid_bill()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_panicking_adapter_answers_502_and_the_host_keeps_serving() {
    let host = Host::start(&[UTILITY_BILLS, PANIC], "").await;
    let (status, body) = host.post_lang("/api/v1/services/panicker/run/inquiries", json!({}), "en").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["type"], "/problems/adapter-failed");
    assert_eq!(body["adapter"], "panic");
    let (status, _) = host.post(BILL, valid_bill()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn forbidden_imports_future_contracts_and_junk_are_refused_at_load() {
    let host = Host::start_with(&[UTILITY_BILLS, FS_IMPORT, FUTURE_WIT], "", |dir| {
        std::fs::write(dir.join("notes.wasm"), "this is not WebAssembly").unwrap();
        std::fs::write(
            dir.join("notes.toml"),
            "id = \"notes\"\nversion = \"1.0.0\"\nagency = \"notes\"\nwit = \"0.1.0\"\n",
        )
        .unwrap();
        // A component without its manifest.
        std::fs::copy(UTILITY_BILLS.wasm, dir.join("orphan.wasm")).unwrap();
    })
    .await;

    // What was refused, and why, is for operators (see clients::readyz_tells_anonymous_callers_only_the_status).
    let auditor = host.operator("reza", panjereh_host::store::operators::Role::Auditor).await;
    let ready = host.get_as(&auditor, "/readyz").await.body;
    let loaded: Vec<_> = ready["adapters"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(loaded, ["utility-bills"]);
    let reason = |file: &str| -> String {
        ready["refused"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(file))
            .unwrap_or_else(|| panic!("{file} not refused: {ready}"))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let fs = reason("fs-import.wasm");
    assert!(fs.contains("wasi:filesystem"), "{fs}");
    assert!(fs.contains("kv"), "the refusal points to kv storage: {fs}");
    let future = reason("future-wit.wasm");
    assert!(future.contains("panjereh:adapter@1.0.0") && future.contains("panjereh:adapter@0.2.0"), "{future}");
    assert_eq!(reason("notes.wasm"), "not a WebAssembly file");
    assert!(reason("orphan.wasm").contains("no manifest"));

    let (status, _) = host.post(BILL, valid_bill()).await;
    assert_eq!(status, 200);
    let (_, catalogue) = host.get("/api/v1/services").await;
    let agencies: std::collections::BTreeSet<_> =
        catalogue["services"].as_array().unwrap().iter().map(|s| s["agency"].as_str().unwrap()).collect();
    assert_eq!(agencies.into_iter().collect::<Vec<_>>(), ["utility-bills"]);
}

/// The value of the first series of `/metrics` whose line holds every one of `needles`.
async fn metric(host: &Host, needles: &[&str]) -> f64 {
    let text = host.client.get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no metric with {needles:?} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn memory_is_limited_over_all_of_a_components_memories() {
    // hydra grows each of its four memories by 24 MiB: each stays under 64 MiB, the sum does not.
    let host = Host::start(&[UTILITY_BILLS, HYDRA], LIMITS).await;
    let (status, body) = host.post_lang("/api/v1/services/hydra/grow/inquiries", json!({}), "en").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["type"], "/problems/adapter-memory-limit");
    assert_eq!(body["adapter"], "hydra");
    assert!(body["detail"].as_str().unwrap().contains("64 MiB"), "{body}");
    let (status, _) = host.post(BILL, valid_bill()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_adapter_holding_many_pool_slots_cannot_starve_the_others() {
    // 16 instances: pools of 128 core instances and 32 memories. Each hydra call holds 16
    // core instances and 4 memories while it sleeps 1.5 s; eight at once would empty both.
    let host = Host::start(&[UTILITY_BILLS, HYDRA], "[limits]\nmax-instances = 16\n").await;
    assert_eq!(metric(&host, &["panjereh_adapter_pool_slots_per_call", "hydra", "core_instances"]).await, 16.0);
    assert_eq!(metric(&host, &["panjereh_adapter_pool_slots_per_call", "hydra", "memories"]).await, 4.0);
    let sleepers: Vec<_> = (0..12)
        .map(|_| {
            let url = host.url("/api/v1/services/hydra/sleep/inquiries");
            let client = host.client.clone();
            tokio::spawn(async move { client.post(url).json(&json!({})).send().await.unwrap().status().as_u16() })
        })
        .collect();
    // hydra takes every memory but the two kept for two calls of utility-bills: seven calls.
    // (Read from the host itself: /metrics is one recorder for every host of this process.)
    let memories = || host.app.runtime.pools().in_use().memories;
    let started = Instant::now();
    while memories() < 28 && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(memories(), 28, "memories in use while hydra sleeps");
    for _ in 0..4 {
        let started = Instant::now();
        let (status, body) = host.post(BILL, valid_bill()).await;
        assert_eq!(status, 200, "another adapter answers while hydra holds its share: {body}");
        assert!(started.elapsed() < Duration::from_millis(900), "it waited {:?}", started.elapsed());
    }
    for sleeper in sleepers {
        // Each hydra call either slept and answered, or found hydra's share full (503).
        let status = sleeper.await.unwrap();
        assert!(status == 200 || status == 503, "hydra answered {status}");
    }
    assert_eq!(host.app.runtime.pools().in_use().core_instances, 0);
}

#[tokio::test]
async fn answers_past_the_caps_are_refused_with_502_naming_the_adapter() {
    let secret = "flood-callback-secret";
    let config =
        format!("[auth]\notp-backoff-ms = 0\n[adapters.flood.config]\ncallback-secret = {{ secret = \"{secret}\" }}\n");
    let host = Host::start(&[FLOOD], &config).await;
    for (service, reason) in
        [("items", "items: 5000, at most 200"), ("huge", "more than 4 MiB"), ("errors", "field errors: 1000")]
    {
        let path = format!("/api/v1/services/flood/{service}/inquiries");
        let (status, body) = host.post_lang(&path, json!({}), "en").await;
        assert_eq!(status, 502, "{service}: {body}");
        assert_eq!(body["type"], "/problems/adapter-answer-too-large", "{service}");
        assert_eq!(body["adapter"], "flood");
        assert!(body["detail"].as_str().unwrap().contains(reason), "{service}: {body}");
        let (_, fa) = host.post(&path, json!({})).await;
        assert!(fa["detail"].as_str().unwrap().contains("«flood»"), "{fa}");
    }
    // A receipt with a 10 kB agency reference: nothing is filed.
    let token = host.sign_in("0499370899", "09121234567").await;
    let filed = host.post_as(&token, "/api/v1/services/flood/receipt/applications", json!({"input": {}})).await;
    assert_eq!(filed.status, 502, "{}", filed.body);
    assert_eq!(filed.body["type"], "/problems/adapter-answer-too-large");
    assert!(filed.body["detail"].as_str().unwrap().contains("agency reference"), "{}", filed.body);
    assert_eq!(host.get_as(&token, "/api/v1/applications").await.body["count"], 0);

    // A status update with a 10 kB message, read from a signed callback.
    let body = r#"{"case":"A-1","state":"approved"}"#;
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, format!("{t}.{body}").as_bytes());
    let signature = format!("t={t},sha256={}", hex::encode(hmac::Mac::finalize(mac).into_bytes()));
    let response = host
        .client
        .post(host.url("/api/v1/callbacks/flood"))
        .header("accept-language", "en")
        .header("content-type", "application/json")
        .header("x-panjereh-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, answer) = crate::harness::decode(response).await;
    assert_eq!(status, 502, "{answer}");
    assert_eq!(answer["type"], "/problems/adapter-answer-too-large");
    assert!(answer["detail"].as_str().unwrap().contains("the status message (fa) is 10000 bytes"), "{answer}");

    // Each counts as the adapter's failure.
    let oversized = metric(&host, &["panjereh_adapter_kills_total", "adapter=\"flood\"", "reason=\"oversized\""]).await;
    assert_eq!(oversized, 8.0);
    let inquiries = ["panjereh_adapter_calls_total", "adapter=\"flood\"", "service=\"items\"", "outcome=\"oversized\""];
    assert_eq!(metric(&host, &inquiries).await, 2.0);
}

#[tokio::test]
async fn a_description_past_the_caps_is_refused_at_load_and_the_others_serve() {
    let host = Host::start(&[UTILITY_BILLS, SPRAWL], "").await;
    // What was refused, and why, is for operators.
    let auditor = host.operator("sara", panjereh_host::store::operators::Role::Auditor).await;
    let ready = host.get_as(&auditor, "/readyz").await.body;
    let loaded: Vec<_> = ready["adapters"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(loaded, ["utility-bills"]);
    let refusal =
        ready["refused"].as_array().unwrap().iter().find(|r| r["file"].as_str().unwrap().ends_with("sprawl.wasm"));
    let reason = refusal.unwrap_or_else(|| panic!("sprawl not refused: {ready}"))["reason"].as_str().unwrap();
    assert!(reason.contains("services: 500, at most 100"), "{reason}");
    let (_, catalogue) = host.get("/api/v1/services").await;
    let services = catalogue["services"].as_array().unwrap();
    assert!(!services.is_empty() && services.iter().all(|s| s["agency"] == "utility-bills"), "{catalogue}");
    assert_eq!(host.post(BILL, valid_bill()).await.0, 200);
}

#[tokio::test]
async fn host_work_for_a_guest_is_capped_random_bytes_and_log_lines() {
    let host = Host::start(&[DRAIN, CHATTER], "").await;
    // 32 MiB of random bytes in one call would be made by the host outside the CPU budget.
    let (status, body) = host.post_lang("/api/v1/services/drain/run/inquiries", json!({}), "en").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["type"], "/problems/adapter-failed");
    assert_eq!(body["adapter"], "drain");

    // 100 lines a call are allowed, but no more than 1000 a minute for the adapter.
    for _ in 0..12 {
        assert_eq!(host.post("/api/v1/services/chatter/run/inquiries", json!({})).await.0, 200);
    }
    let lines = ["panjereh_adapter_log_lines_total", "adapter=\"chatter\""];
    assert_eq!(metric(&host, &[lines[0], lines[1], "outcome=\"written\""]).await, 1000.0);
    assert_eq!(metric(&host, &[lines[0], lines[1], "outcome=\"dropped\""]).await, 200.0);
}
