//! Misbehaving adapters are stopped and reported; the host keeps serving.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{FS_IMPORT, FUTURE_WIT, HOG, Host, PANIC, SPIN, UTILITY_BILLS};

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
    assert!(future.contains("panjereh:adapter@1.0.0") && future.contains("panjereh:adapter@0.1.0"), "{future}");
    assert_eq!(reason("notes.wasm"), "not a WebAssembly file");
    assert!(reason("orphan.wasm").contains("no manifest"));

    let (status, _) = host.post(BILL, valid_bill()).await;
    assert_eq!(status, 200);
    let (_, catalogue) = host.get("/api/v1/services").await;
    let agencies: std::collections::BTreeSet<_> =
        catalogue["services"].as_array().unwrap().iter().map(|s| s["agency"].as_str().unwrap()).collect();
    assert_eq!(agencies.into_iter().collect::<Vec<_>>(), ["utility-bills"]);
}
