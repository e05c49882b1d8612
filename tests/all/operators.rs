//! Operators: install, enable, disable, swap and roll back adapters at run time, signed and
//! audited, across replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use panjereh_host::plugins::signature;
use panjereh_host::store::operators::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{
    Database, ECHO_V1, ECHO_V2, FS_IMPORT, FUTURE_WIT, Guest, Host, KEEPER, KEEPER_TWO, PgDatabase, UTILITY_BILLS,
    on_both_databases,
};

const ECHO: &str = "/api/v1/services/echo/version/inquiries";

async fn echo_version(host: &Host) -> (u16, String) {
    let (status, body) = host.post(ECHO, json!({})).await;
    (status, body["document"]["items"][0]["value"].as_str().unwrap_or_default().to_owned())
}

fn manifest(guest: Guest) -> String {
    std::fs::read_to_string(guest.manifest).unwrap()
}

fn wasm(guest: Guest) -> Vec<u8> {
    std::fs::read(guest.wasm).unwrap()
}

#[tokio::test]
async fn operators_need_their_own_tokens_and_auditors_only_read() {
    let host = Host::start(&[], "").await;
    let admin = host.operator("leila", Role::Admin).await;
    let auditor = host.operator("reza", Role::Auditor).await;

    let (status, body) = host.admin(Method::GET, "/admin/v1/plugins", "pjo_not_a_token", None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "/problems/operator-unauthorized");
    let response = host.client.get(host.url("/admin/v1/plugins")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    let (status, _) = host.admin(Method::GET, "/admin/v1/plugins", &auditor, None).await;
    assert_eq!(status, 200);
    let (status, body) = host.upload_guest(&auditor, ECHO_V1).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = host.upload_guest(&admin, ECHO_V1).await;
    assert_eq!(status, 201);
    let (status, body) = host.admin(Method::POST, "/admin/v1/plugins/echo/disable", &auditor, None).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn upload_call_disable_and_reenable() {
    let host = Host::start(&[], "").await;
    let token = host.operator("leila", Role::Admin).await;
    assert_eq!(host.post(ECHO, json!({})).await.0, 404);

    let (status, body) = host.upload_guest(&token, ECHO_V1).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "echo");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["activated"], true);
    assert_eq!(echo_version(&host).await, (200, "1".into()));

    let (status, shown) = host.admin(Method::POST, "/admin/v1/plugins/echo/disable", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["state"], "disabled");
    let (status, body) = host.post_lang(ECHO, json!({}), "en").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "/problems/maintenance");
    let (_, fa) = host.post(ECHO, json!({})).await;
    assert!(fa["title"].as_str().unwrap().contains("تعمیر"), "{fa}");
    // The catalogue and the portal say so before anyone tries.
    let (_, listed) = host.get("/api/v1/services?agency=echo").await;
    assert_eq!(listed["services"][0]["available"], false, "{listed}");
    let page = reqwest::get(host.url("/services/echo/version")).await.unwrap().text().await.unwrap();
    assert!(page.contains("در دست تعمیر"), "the service page is marked");
    let page = reqwest::get(host.url("/services/echo/version?lang=en")).await.unwrap().text().await.unwrap();
    assert!(page.contains("Under maintenance"));

    let (status, _) = host.admin(Method::POST, "/admin/v1/plugins/echo/enable", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(echo_version(&host).await, (200, "1".into()));
    let (_, listed) = host.get("/api/v1/services?agency=echo").await;
    assert_eq!(listed["services"][0]["available"], true);

    let (status, shown) = host.admin(Method::GET, "/admin/v1/plugins/echo", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["digest"].as_str().unwrap().len(), 64);
    assert!(shown["stats"]["calls"].as_u64().unwrap() >= 2, "{shown}");
    assert_eq!(shown["versions"].as_array().unwrap().len(), 1);

    // Removing takes the services away.
    let (status, _) = host.admin(Method::DELETE, "/admin/v1/plugins/echo", &token, None).await;
    assert_eq!(status, 204);
    assert_eq!(host.post(ECHO, json!({})).await.0, 404);
}

#[tokio::test]
async fn swapping_and_rolling_back_under_load_fails_no_request() {
    // The load is anonymous inquiries from one address: lift the per-client limit.
    let host = Arc::new(Host::start(&[], "[server]\nanonymous-inquiries-per-minute = 0\n").await);
    let token = host.operator("leila", Role::Admin).await;
    assert_eq!(host.upload_guest(&token, ECHO_V1).await.0, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, v2_seen) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (host, stop, ok, failed, v2_seen) =
            (host.clone(), stop.clone(), ok.clone(), failed.clone(), v2_seen.clone());
        workers.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match echo_version(&host).await {
                    (200, v) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if v == "2" {
                            v2_seen.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = host.upload_guest(&token, ECHO_V2).await;
    assert_eq!(status, 201, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(echo_version(&host).await, (200, "2".into()));
    let (status, shown) = host.admin(Method::POST, "/admin/v1/plugins/echo/rollback", &token, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["active_version"], "1.0.0");
    // 1.0.0 was first: there is nothing further back, and no way forth but `activate`.
    assert_eq!(shown["previous_version"], Value::Null);
    assert_eq!(shown["history"], json!(["1.0.0"]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(echo_version(&host).await, (200, "1".into()));
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{} requests failed", failed.load(Ordering::Relaxed));
    assert!(ok.load(Ordering::Relaxed) > 50, "the load loop ran");
    assert!(v2_seen.load(Ordering::Relaxed) > 0, "version 2 served some requests");

    // A stored version can be activated by name, and the same version cannot be re-uploaded
    // with other content.
    let (status, shown) =
        host.admin(Method::POST, "/admin/v1/plugins/echo/activate", &token, Some(json!({"version": "2.0.0"}))).await;
    assert_eq!((status, shown["active_version"].clone()), (200, json!("2.0.0")));
    let (status, body) = host.upload(&token, &manifest(ECHO_V2), wasm(ECHO_V1), None).await;
    assert_eq!(status, 409, "{body}");
}

async fn plugin_ids(host: &Host, token: &str) -> Vec<String> {
    let (_, list) = host.admin(Method::GET, "/admin/v1/plugins", token, None).await;
    list["plugins"].as_array().unwrap().iter().map(|p| format!("{}@{}", p["id"], p["active_version"])).collect()
}

#[tokio::test]
async fn bad_packages_are_refused_with_their_reason_and_change_nothing() {
    let (secret, public) = signature::generate();
    let (other_secret, _) = signature::generate();
    let config = format!("[signatures]\nrequired = true\n[signatures.trusted]\necho = [\"{public}\"]\n");
    let host = Host::start(&[], &config).await;
    let token = host.operator("leila", Role::Admin).await;
    let key = signature::parse_secret_key(&secret).unwrap();
    let good = signature::sign(&key, &manifest(ECHO_V1), &wasm(ECHO_V1)).unwrap();
    let (status, body) = host.upload(&token, &manifest(ECHO_V1), wasm(ECHO_V1), Some(&good)).await;
    assert_eq!(status, 201, "{body}");
    let before = plugin_ids(&host, &token).await;

    let refused = |body: &Value| body["detail"].as_str().unwrap_or_default().to_owned();
    // Unsigned.
    let (status, body) = host.upload(&token, &manifest(ECHO_V2), wasm(ECHO_V2), None).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("no signature"), "{body}");
    // Tampered: v1's signature on v2's bytes.
    let (status, body) = host.upload(&token, &manifest(ECHO_V2), wasm(ECHO_V2), Some(&good)).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("does not match"), "{body}");
    // Signed by a key nobody trusts.
    let forged =
        signature::sign(&signature::parse_secret_key(&other_secret).unwrap(), &manifest(ECHO_V2), &wasm(ECHO_V2))
            .unwrap();
    let (status, body) = host.upload(&token, &manifest(ECHO_V2), wasm(ECHO_V2), Some(&forged)).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("does not match"), "{body}");
    // An agency with no trusted key at all.
    let bills = signature::sign(&key, &manifest(UTILITY_BILLS), &wasm(UTILITY_BILLS)).unwrap();
    let (status, body) = host.upload(&token, &manifest(UTILITY_BILLS), wasm(UTILITY_BILLS), Some(&bills)).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("no key is trusted for agency `utility-bills`"), "{body}");
    assert_eq!(plugin_ids(&host, &token).await, before);

    // Without the signature requirement: a forbidden import and a too-new contract.
    let open = Host::start(&[], "").await;
    let token = open.operator("leila", Role::Admin).await;
    let (status, body) = open.upload_guest(&token, FS_IMPORT).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("wasi:filesystem"), "{body}");
    let (status, body) = open.upload_guest(&token, FUTURE_WIT).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("panjereh:adapter@1.0.0"), "{body}");
    let (status, body) = open.upload(&token, "id = \"x\"", b"\0asm".to_vec(), None).await;
    assert_eq!(status, 422);
    assert!(refused(&body).contains("manifest"), "{body}");
    assert!(plugin_ids(&open, &token).await.is_empty());
}

#[tokio::test]
async fn an_install_on_one_replica_is_served_by_another_within_two_seconds() {
    let db = PgDatabase::create().await;
    let config = "reconcile-ms = 60000\n"; // only NOTIFY can make this fast
    let a = Host::start_on(Some(&db.url), &[], config, |_| {}).await;
    let b = Host::start_on(Some(&db.url), &[], config, |_| {}).await;
    let token = a.operator("leila", Role::Admin).await;
    assert_eq!(b.post(ECHO, json!({})).await.0, 404);

    let (status, body) = a.upload_guest(&token, ECHO_V1).await;
    assert_eq!(status, 201, "{body}");
    let started = Instant::now();
    loop {
        if echo_version(&b).await == (200, "1".into()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "replica b did not serve the install within 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Disabling through b reaches a.
    let (status, _) = b.admin(Method::POST, "/admin/v1/plugins/echo/disable", &token, None).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    while a.post(ECHO, json!({})).await.0 != 503 {
        assert!(started.elapsed() < Duration::from_secs(2), "replica a did not see the disable within 2 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((a, b));
    db.drop_now().await;
}

async fn audit_roundtrip(database: Database) {
    let host = Host::start_db(database, &[], "").await;
    let token = host.operator("leila", Role::Admin).await;
    assert_eq!(host.upload_guest(&token, ECHO_V1).await.0, 201);
    assert_eq!(host.upload_guest(&token, ECHO_V2).await.0, 201);
    assert_eq!(host.admin(Method::POST, "/admin/v1/plugins/echo/rollback", &token, None).await.0, 200);
    assert_eq!(echo_version(&host).await.0, 200);

    let (status, report) = host.admin(Method::GET, "/admin/v1/audit/verify", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["entries"].as_i64().unwrap() >= 3);
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=10", &token, None).await;
    let kinds: Vec<_> =
        log["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect();
    assert!(kinds.contains(&"admin.rollback".to_owned()) && kinds.contains(&"admin.install".to_owned()), "{kinds:?}");

    // Someone edits the second entry directly in the database.
    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").execute(host.app.db.writer()).await.unwrap();
    let (_, report) = host.admin(Method::GET, "/admin/v1/audit/verify", &token, None).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken"]["seq"], 2);
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("edited"));

    // Deleting an entry is found too.
    sqlx::query("UPDATE audit_log SET actor = 'leila' WHERE seq = 2").execute(host.app.db.writer()).await.unwrap();
    assert_eq!(host.admin(Method::GET, "/admin/v1/audit/verify", &token, None).await.1["ok"], true);
    sqlx::query("DELETE FROM audit_log WHERE seq = 1").execute(host.app.db.writer()).await.unwrap();
    let (_, report) = host.admin(Method::GET, "/admin/v1/audit/verify", &token, None).await;
    assert_eq!(report["first_broken"]["seq"], 2, "{report}");

    // Without a checkpoint key the host says what it cannot find, and makes no checkpoint.
    assert_eq!(report["anchored"], false);
    sqlx::query("DELETE FROM audit_log").execute(host.app.db.writer()).await.unwrap();
    let (_, report) = host.admin(Method::GET, "/admin/v1/audit/verify", &token, None).await;
    assert_eq!(report["ok"], true, "{report}");
    assert!(report["warning"].as_str().unwrap().contains("checkpoint-key"), "{report}");
    let (status, body) = host.admin(Method::POST, "/admin/v1/audit/checkpoints", &token, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["type"], "/problems/audit-not-anchored");
    let (status, list) = host.admin(Method::GET, "/admin/v1/audit/checkpoints", &token, None).await;
    assert_eq!((status, list["anchored"].clone(), list["checkpoints"].clone()), (200, json!(false), json!([])));
}

#[tokio::test]
async fn audit_verify_finds_an_edited_row_on_sqlite() {
    audit_roundtrip(Database::Sqlite).await;
}

#[tokio::test]
async fn audit_verify_finds_an_edited_row_on_postgres() {
    audit_roundtrip(Database::Postgres).await;
}

#[tokio::test]
async fn metrics_and_the_audit_log_see_every_call() {
    let host = Host::start(&[crate::harness::SPIN], "[limits]\ncpu-ms = 50\n").await;
    let token = host.operator("leila", Role::Admin).await;
    assert_eq!(host.upload_guest(&token, ECHO_V1).await.0, 201);
    for _ in 0..3 {
        assert_eq!(echo_version(&host).await.0, 200);
    }
    assert_eq!(host.post("/api/v1/services/spinner/run/inquiries", json!({})).await.0, 504);

    let text = host.client.get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = |needle: &[&str]| {
        text.lines()
            .find(|l| !l.starts_with('#') && needle.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no metric with {needle:?} in\n{text}"))
            .to_owned()
    };
    let calls = line(&["panjereh_adapter_calls_total", "adapter=\"echo\"", "outcome=\"ok\"", "service=\"version\""]);
    assert!(calls.split_whitespace().last().unwrap().parse::<f64>().unwrap() >= 3.0, "{calls}");
    line(&["panjereh_adapter_calls_total", "adapter=\"spin\"", "outcome=\"cpu_budget\""]);
    let kills = line(&["panjereh_adapter_kills_total", "adapter=\"spin\"", "reason=\"cpu_budget\""]);
    assert!(kills.ends_with(" 1"), "{kills}");
    line(&["panjereh_adapter_call_seconds_bucket", "adapter=\"echo\""]);
    line(&["panjereh_adapter_loaded", "adapter=\"echo\"", "version=\"1.0.0\""]);
    line(&["panjereh_instances_in_use"]);
    // On SQLite the evidence goes through the group commit, which counts what it committed.
    let value = |name: &str| line(&[name]).split_whitespace().last().unwrap().parse::<f64>().unwrap();
    let (commits, writes) = (value("panjereh_db_group_commits_total"), value("panjereh_db_group_writes_total"));
    assert!(commits >= 1.0 && writes >= commits, "{commits} commits of {writes} writes");

    // Calls reach the evidence log as metadata and hashes, before they are answered.
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=50", &token, None).await;
    let calls: Vec<_> = log["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "call.inquire").collect();
    assert_eq!(calls.len(), 4, "{log}");
    // `data` is the JSON object itself.
    let data = calls[0]["data"].clone();
    assert_eq!(data["request_hash"].as_str().unwrap().len(), 64);
    assert!(data["adapter_digest"].is_string() && data["service"].is_string());
    assert_eq!(host.admin(Method::GET, "/admin/v1/audit/verify", &token, None).await.1["ok"], true);
}

/// An answer leaves only once its evidence is committed: the entry is there as soon as the
/// answer is, and when the log cannot take entries the answer is withheld (503), until it
/// can again.
#[tokio::test]
async fn an_answer_waits_for_its_evidence() {
    let host = Host::start(&[crate::harness::UTILITY_BILLS], "").await;
    let bill = json!({"input": {"bill-id": "7748317800142", "payment-id": "1770160"}});
    let path = "/api/v1/services/utility-bills/bill-details/inquiries";
    let logged = |request_id: String| {
        let db = host.app.db.clone();
        async move {
            let pattern = format!("%{request_id}%");
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE kind = 'call.inquire' AND data LIKE $1")
                    .bind(pattern)
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
            n
        }
    };
    let (status, body) = host.post(path, bill.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(logged(body["request_id"].as_str().unwrap().to_owned()).await, 1, "committed before the answer");

    sqlx::query("ALTER TABLE audit_log RENAME TO audit_log_away").execute(host.app.db.writer()).await.unwrap();
    let (status, body) = host.post_lang(path, bill.clone(), "en").await;
    assert_eq!((status, body["type"].as_str()), (503, Some("/problems/evidence-unavailable")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("evidence log"), "{body}");
    assert!(body.get("document").is_none(), "no answer without its evidence: {body}");

    sqlx::query("ALTER TABLE audit_log_away RENAME TO audit_log").execute(host.app.db.writer()).await.unwrap();
    let (status, body) = host.post(path, bill).await;
    assert_eq!(status, 200, "the log takes entries again: {body}");
    assert_eq!(logged(body["request_id"].as_str().unwrap().to_owned()).await, 1);
}

#[tokio::test]
async fn watch_installs_an_adapter_dropped_into_the_plugins_folder() {
    let host = Host::start(&[], "").await;
    panjereh_host::watch::spawn(host.app.clone()).unwrap();
    assert_eq!(host.post(ECHO, json!({})).await.0, 404);
    ECHO_V1.install(&host.app.config.plugins_dir);
    let started = Instant::now();
    while echo_version(&host).await != (200, "1".into()) {
        assert!(started.elapsed() < Duration::from_secs(10), "the watcher did not install the new adapter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A developer builds a new version into the folder: the watcher serves it.
    ECHO_V2.install(&host.app.config.plugins_dir);
    let started = Instant::now();
    while echo_version(&host).await != (200, "2".into()) {
        assert!(started.elapsed() < Duration::from_secs(10), "the watcher did not activate the new version");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs one kv operation in a keeper adapter serving `agency`; answers (status, outcome, value).
async fn keep(host: &Host, agency: &str, input: Value) -> (u16, String, String) {
    let (status, body) =
        host.post_lang(&format!("/api/v1/services/{agency}/store/inquiries"), json!({ "input": input }), "en").await;
    let item = |label: &str| {
        body["document"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["label"] == label)
            .map_or_else(String::new, |i| i["value"].as_str().unwrap_or_default().to_owned())
    };
    (status, item("outcome"), item("value"))
}

/// An adapter id is its agency's from the first install on. Another agency, with a key of
/// its own that the operator trusts, once could upload a package under the id and inherit
/// the id's grants, secrets and kv data; now it is refused with 409, also after the adapter
/// is removed (its kv data is kept for a reinstall) and after a purge (which erases it).
async fn an_adapter_id_belongs_to_its_agency(db: Database) {
    let (keeper_secret, keeper_public) = signature::generate();
    let (other_secret, other_public) = signature::generate();
    let config = format!(
        "[signatures]\nrequired = true\n[signatures.trusted]\nkeeper = [\"{keeper_public}\"]\n\
         keeper-two = [\"{other_public}\"]\n[adapters.keeper]\ngrant = {{ kv-quota-kib = 1 }}\n"
    );
    let host = Host::start_db(db, &[], &config).await;
    let token = host.operator("leila", Role::Admin).await;
    let signed_as = |secret: &str, manifest_text: &str, guest: Guest| {
        signature::sign(&signature::parse_secret_key(secret).unwrap(), manifest_text, &wasm(guest)).unwrap()
    };
    let signed = |secret: &str, guest: Guest| signed_as(secret, &manifest(guest), guest);
    let (status, body) =
        host.upload(&token, &manifest(KEEPER), wasm(KEEPER), Some(&signed(&keeper_secret, KEEPER))).await;
    assert_eq!(status, 201, "{body}");
    let (status, outcome, _) = keep(&host, "keeper", json!({"op": "set", "key": "note", "value": "alpha"})).await;
    assert_eq!((status, outcome.as_str()), (200, "ok"));

    // Agency keeper-two's own adapter, signed with its own key, but under keeper's id (as a
    // new version of it).
    let hijack = manifest(KEEPER_TWO)
        .replace("id = \"keeper-two\"", "id = \"keeper\"")
        .replace("version = \"0.1.0\"", "version = \"9.0.0\"");
    assert!(hijack.contains("id = \"keeper\"") && hijack.contains("agency = \"keeper-two\""), "{hijack}");
    let hijack_signature = signed_as(&other_secret, &hijack, KEEPER_TWO);
    let attempt = || host.upload(&token, &hijack, wasm(KEEPER_TWO), Some(&hijack_signature));
    let (status, body) = attempt().await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["type"], "/problems/adapter-id-taken");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("belongs to agency `keeper`") && detail.contains("`keeper-two`"), "{detail}");
    assert_eq!(plugin_ids(&host, &token).await, ["\"keeper\"@\"0.1.0\""]);
    assert_eq!(keep(&host, "keeper-two", json!({"op": "get", "key": "note"})).await.0, 404);
    assert_eq!(keep(&host, "keeper", json!({"op": "get", "key": "note"})).await.2, "alpha");

    // Removed: the data stays for the agency, and the id stays the agency's.
    assert_eq!(host.admin(Method::DELETE, "/admin/v1/plugins/keeper", &token, None).await.0, 204);
    let stored = panjereh_host::store::kv::get(&host.app.db, "keeper", "note").await.unwrap();
    assert_eq!(stored.as_deref(), Some(&b"alpha"[..]));
    assert_eq!(attempt().await.0, 409);
    assert!(plugin_ids(&host, &token).await.is_empty());
    let (status, body) =
        host.upload(&token, &manifest(KEEPER), wasm(KEEPER), Some(&signed(&keeper_secret, KEEPER))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        keep(&host, "keeper", json!({"op": "get", "key": "note"})).await.2,
        "alpha",
        "a reinstall finds its data"
    );

    // A purge erases the data; the id is still not another agency's.
    let (status, body) = host.admin(Method::DELETE, "/admin/v1/plugins/keeper?purge=true", &token, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(panjereh_host::store::kv::get(&host.app.db, "keeper", "note").await.unwrap(), None);
    assert_eq!(attempt().await.0, 409);
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=2", &token, None).await;
    let refused = &log["entries"][0];
    assert_eq!(refused["kind"], "admin.install-refused", "a refused install is evidence too");
    assert_eq!(refused["actor"], "leila");
    let entry = &log["entries"][1];
    assert_eq!(entry["kind"], "admin.remove");
    let data = entry["data"].clone();
    assert_eq!((data["purged"].clone(), data["kv_keys_erased"].clone()), (json!(true), json!(1)), "{data}");
    // Purging again finds the id (nothing left to erase); an id never installed is unknown.
    assert_eq!(host.admin(Method::DELETE, "/admin/v1/plugins/keeper?purge=true", &token, None).await.0, 204);
    assert_eq!(host.admin(Method::DELETE, "/admin/v1/plugins/nobody?purge=true", &token, None).await.0, 404);
    assert_eq!(host.admin(Method::DELETE, "/admin/v1/plugins/keeper", &token, None).await.0, 404);
    assert_eq!(host.admin(Method::DELETE, "/admin/v1/plugins/keeper?purge=maybe", &token, None).await.0, 400);

    // keeper-two under an id of its own is welcome.
    let own_signature = signed(&other_secret, KEEPER_TWO);
    let (status, body) = host.upload(&token, &manifest(KEEPER_TWO), wasm(KEEPER_TWO), Some(&own_signature)).await;
    assert_eq!(status, 201, "{body}");
}

/// A host configuration with a checkpoint key and a checkpoint folder of its own, in `dir`.
fn anchored(dir: &std::path::Path, extra: &str) -> (String, std::path::PathBuf) {
    let (secret, _) = signature::generate();
    let key = dir.join("audit.key");
    std::fs::write(&key, format!("{secret}\n")).unwrap();
    let folder = dir.join("checkpoints");
    let config = format!(
        "[audit]\ncheckpoint-key = {:?}\ncheckpoint-dir = {:?}\n{extra}",
        key.display().to_string(),
        folder.display().to_string()
    );
    (config, folder)
}

/// The newest entry's sequence number, hash, time and seal.
async fn newest_entry(host: &Host) -> (i64, String, i64, Option<String>) {
    use sqlx::Row as _;
    let row = sqlx::query("SELECT seq, hash, at, seal FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_one(host.app.db.pool())
        .await
        .unwrap();
    (row.get("seq"), row.get("hash"), row.get("at"), row.get("seal"))
}

async fn verify(host: &Host, token: &str) -> Value {
    let (status, report) = host.admin(Method::GET, "/admin/v1/audit/verify", token, None).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// Deleting the newest entries once passed `audit verify`: the chain stays whole. A signed
/// checkpoint, kept as a file outside the database, shows the log was longer.
async fn a_log_cut_short_is_found(db: Database) {
    let dir = tempfile::tempdir().unwrap();
    let (config, folder) = anchored(dir.path(), "checkpoint-every-secs = 1\n");
    let host = Host::start_db(db, &[], &config).await;
    let admin = host.operator("leila", Role::Admin).await;
    let auditor = host.operator("reza", Role::Auditor).await;
    assert_eq!(host.upload_guest(&admin, ECHO_V1).await.0, 201);
    assert_eq!(host.upload_guest(&admin, ECHO_V2).await.0, 201);
    let (head, _, _, seal) = newest_entry(&host).await;
    assert!(seal.is_some(), "the host seals what it appends");

    // Periodically, a checkpoint file of the head appears.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = panjereh_host::audit::checkpoint::latest_file(&folder).unwrap();
        if found.is_some_and(|f| f.checkpoint.is_ok_and(|c| c.seq == head)) {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint file of entry {head} in {}", folder.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // On demand, by an auditor; listed with the public key that verifies it anywhere.
    let (status, made) = host.admin(Method::POST, "/admin/v1/audit/checkpoints", &auditor, None).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["seq"], head);
    let (status, list) = host.admin(Method::GET, "/admin/v1/audit/checkpoints", &auditor, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["anchored"], true);
    assert_eq!(list["checkpoints"][0], made);
    let public = signature::parse_public_key(list["public_key"].as_str().unwrap()).unwrap();
    let checkpoint: panjereh_host::audit::checkpoint::Checkpoint = serde_json::from_value(made.clone()).unwrap();
    assert!(panjereh_host::audit::checkpoint::Keyring::new(None, &[public]).checks(&checkpoint));
    let report = verify(&host, &auditor).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!((report["sealed_to"].clone(), report["checkpoint"]["seq"].clone()), (json!(head), json!(head)));

    // Someone with the database deletes the newest entry, and the checkpoints stored there.
    let writer = host.app.db.writer();
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(head).execute(writer).await.unwrap();
    sqlx::query("DELETE FROM audit_checkpoints").execute(writer).await.unwrap();
    let report = verify(&host, &auditor).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_broken"]["seq"], head, "{report}");
    let reason = report["first_broken"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("ends at entry {}", head - 1)) && reason.contains("deleted from its end"),
        "{reason}"
    );
    assert!(reason.contains("checkpoints"), "names the checkpoint file: {reason}");
    // And the host will not vouch for the shortened log.
    let (status, body) = host.admin(Method::POST, "/admin/v1/audit/checkpoints", &auditor, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["type"], "/problems/audit-checkpoint-refused");
}

/// Entries appended with correctly recomputed hashes once passed `audit verify`. Every batch
/// the host appends ends with its seal, so an entry after the last seal, a copied seal or a
/// rewritten sealed entry is found.
async fn entries_forged_outside_the_host_are_found(db: Database) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = anchored(dir.path(), "checkpoint-every-secs = 0\n");
    let host = Host::start_db(db, &[], &config).await;
    let token = host.operator("leila", Role::Admin).await;
    assert_eq!(host.upload_guest(&token, ECHO_V1).await.0, 201);
    assert_eq!(verify(&host, &token).await["ok"], true);
    let (seq, hash, at, seal) = newest_entry(&host).await;
    let writer = host.app.db.writer();

    // A row appended, its hash computed exactly as the host would.
    let forged = panjereh_host::audit::entry_hash(&hash, seq + 1, at + 1, "admin.enable", "leila", "echo", "{}");
    sqlx::query(
        "INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash) \
         VALUES ($1, $2, 'admin.enable', 'leila', 'echo', '{}', $3, $4)",
    )
    .bind(seq + 1)
    .bind(at + 1)
    .bind(&hash)
    .bind(&forged)
    .execute(writer)
    .await
    .unwrap();
    let report = verify(&host, &token).await;
    assert_eq!(
        (report["ok"].clone(), report["first_broken"]["seq"].clone()),
        (json!(false), json!(seq + 1)),
        "{report}"
    );
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("no seal"), "{report}");
    // With the seal of the entry before it copied on.
    sqlx::query("UPDATE audit_log SET seal = $1 WHERE seq = $2")
        .bind(&seal)
        .bind(seq + 1)
        .execute(writer)
        .await
        .unwrap();
    let report = verify(&host, &token).await;
    assert_eq!(report["first_broken"]["seq"], seq + 1, "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("seal does not verify"), "{report}");

    // The newest real entry rewritten in place, its hash recomputed.
    sqlx::query("DELETE FROM audit_log WHERE seq = $1").bind(seq + 1).execute(writer).await.unwrap();
    assert_eq!(verify(&host, &token).await["ok"], true);
    use sqlx::Row as _;
    let row = sqlx::query("SELECT kind, subject, data, prev_hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_one(host.app.db.pool())
        .await
        .unwrap();
    let (kind, subject, data, prev): (String, String, String, String) =
        (row.get("kind"), row.get("subject"), row.get("data"), row.get("prev_hash"));
    let rewritten = panjereh_host::audit::entry_hash(&prev, seq, at, &kind, "mallory", &subject, &data);
    sqlx::query("UPDATE audit_log SET actor = 'mallory', hash = $1 WHERE seq = $2")
        .bind(&rewritten)
        .bind(seq)
        .execute(writer)
        .await
        .unwrap();
    let report = verify(&host, &token).await;
    assert_eq!((report["ok"].clone(), report["first_broken"]["seq"].clone()), (json!(false), json!(seq)), "{report}");
    assert!(report["first_broken"]["reason"].as_str().unwrap().contains("seal does not verify"), "{report}");
}

on_both_databases!(
    operator_tokens_expire_and_can_be_revoked,
    an_adapter_id_belongs_to_its_agency,
    a_log_cut_short_is_found,
    entries_forged_outside_the_host_are_found,
    rollback_walks_back_through_history,
    audit_list_filters_and_verify_names_its_anchor
);
/// Operator tokens expire, can be revoked over the admin API or with `panjereh operator
/// revoke`, and a name whose token no longer works can be issued a new one.
async fn operator_tokens_expire_and_can_be_revoked(database: Database) {
    use panjereh_host::store::operators::DEFAULT_TTL;
    let host = Host::start_db(database, &[], "").await;
    let admin = host.operator("leila", Role::Admin).await;
    let auditor = host.operator("reza", Role::Auditor).await;
    let (_, brief) = host.app.db.create_operator("sara", Role::Auditor, Duration::from_secs(1)).await.unwrap();
    assert_eq!(host.admin(Method::GET, "/admin/v1/plugins", &brief, None).await.0, 200);

    let (status, listed) = host.admin(Method::GET, "/admin/v1/operators", &auditor, None).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<_> = listed["operators"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["leila", "reza", "sara"]);
    assert_eq!(listed["operators"][0]["role"], "admin");
    assert_eq!(listed["operators"][0]["token"], "active");
    assert!(
        listed["operators"][0]["expires_at"].as_str().unwrap() > listed["operators"][0]["issued_at"].as_str().unwrap()
    );
    assert!(!listed.to_string().contains("pjo_"), "tokens are never shown: {listed}");

    // Expired: refused like an unknown token.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = host.admin(Method::GET, "/admin/v1/plugins", &brief, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "/problems/operator-unauthorized");
    assert!(body["detail"].as_str().unwrap().contains("expired or revoked"), "{body}");
    let (_, listed) = host.admin(Method::GET, "/admin/v1/operators", &admin, None).await;
    assert_eq!(listed["operators"][2]["token"], "expired");

    // Revoked over the API: only by an admin; at once; audited; twice is once.
    let (status, body) = host.admin(Method::POST, "/admin/v1/operators/leila/revoke", &auditor, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = host.admin(Method::POST, "/admin/v1/operators/reza/revoke", &admin, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token"], "revoked");
    let revoked_at = body["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{body}");
    for path in ["/admin/v1/plugins", "/admin/v1/audit", "/admin/v1/operators"] {
        let (status, body) = host.admin(Method::GET, path, &auditor, None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let (_, again) = host.admin(Method::POST, "/admin/v1/operators/reza/revoke", &admin, None).await;
    assert_eq!(again["revoked_at"], revoked_at);
    let (status, body) = host.admin(Method::POST, "/admin/v1/operators/nobody/revoke", &admin, None).await;
    assert_eq!(status, 404, "{body}");
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=10", &admin, None).await;
    let revocations = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "admin.operator-revoke" && e["actor"] == "leila" && e["subject"] == "reza")
        .count();
    assert_eq!(revocations, 2, "{log}");

    // Issued again under the same name: the new token works, the old one stays refused.
    let (_, renewed) = host.app.db.create_operator("reza", Role::Auditor, DEFAULT_TTL).await.unwrap();
    assert_eq!(host.admin(Method::GET, "/admin/v1/plugins", &renewed, None).await.0, 200);
    assert_eq!(host.admin(Method::GET, "/admin/v1/plugins", &auditor, None).await.0, 401);
    let error = host.app.db.create_operator("leila", Role::Admin, DEFAULT_TTL).await.unwrap_err();
    assert!(error.to_string().contains("revoke it first"), "{error:#}");

    // `panjereh operator revoke` on the database, the running host refuses at once.
    let url = host.app.config.database_url.clone();
    let code =
        panjereh_host::cli::run_args(["panjereh", "operator", "revoke", "reza", "--database-url", &url]).await.unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert_eq!(host.admin(Method::GET, "/admin/v1/plugins", &renewed, None).await.0, 401);
    let unknown = panjereh_host::cli::run_args(["panjereh", "operator", "revoke", "nobody", "--database-url", &url]);
    assert!(unknown.await.unwrap_err().to_string().contains("no operator named `nobody`"));
    for ttl in ["0d", "1w", "3651d"] {
        let args = ["panjereh", "operator", "create", "--name", "x", "--role", "admin", "--ttl", ttl];
        assert!(panjereh_host::cli::run_args(args).await.is_err(), "--ttl {ttl}");
    }
    let (status, log) = host.admin(Method::GET, "/admin/v1/audit/verify", &admin, None).await;
    assert_eq!((status, &log["ok"]), (200, &json!(true)), "the CLI's audit entry keeps the chain: {log}");
}

#[tokio::test]
async fn a_token_revoked_on_one_replica_is_refused_by_another_at_once() {
    let db = PgDatabase::create().await;
    let a = Host::start_on(Some(&db.url), &[], "", |_| {}).await;
    let b = Host::start_on(Some(&db.url), &[], "", |_| {}).await;
    let admin = a.operator("leila", Role::Admin).await;
    let auditor = a.operator("reza", Role::Auditor).await;
    assert_eq!(b.admin(Method::GET, "/admin/v1/plugins", &auditor, None).await.0, 200);
    assert_eq!(a.admin(Method::POST, "/admin/v1/operators/reza/revoke", &admin, None).await.0, 200);
    assert_eq!(b.admin(Method::GET, "/admin/v1/plugins", &auditor, None).await.0, 401);
    drop((a, b));
    db.drop_now().await;
}

/// The package is the signed unit: a signature covers the component, the manifest, and the
/// agency, id and version. A signed component under an edited manifest (a new version
/// number, more requests) is refused, and so is a signature of the old, component-only
/// format, each with a message that says what happened.
#[tokio::test]
async fn a_signature_covers_the_manifest_too() {
    let (secret, public) = signature::generate();
    let config = format!("[signatures]\nrequired = true\n[signatures.trusted]\necho = [\"{public}\"]\n");
    let host = Host::start(&[], &config).await;
    let token = host.operator("leila", Role::Admin).await;
    let key = signature::parse_secret_key(&secret).unwrap();
    let signed = signature::sign(&key, &manifest(ECHO_V1), &wasm(ECHO_V1)).unwrap();
    let detail = |body: &Value| body["detail"].as_str().unwrap_or_default().to_owned();

    let bumped = manifest(ECHO_V1).replace("version = \"1.0.0\"", "version = \"1.0.1\"");
    assert_ne!(bumped, manifest(ECHO_V1));
    let (status, body) = host.upload(&token, &bumped, wasm(ECHO_V1), Some(&signed)).await;
    assert_eq!(status, 422, "{body}");
    assert!(detail(&body).contains("the package changed after it was signed"), "{body}");
    let commented = format!("{}\n# one more line\n", manifest(ECHO_V1));
    assert_eq!(host.upload(&token, &commented, wasm(ECHO_V1), Some(&signed)).await.0, 422, "any edit");

    use sha2::Digest as _;
    let component_only = signature::sign_message(&key, &sha2::Sha256::digest(wasm(ECHO_V1)));
    let (status, body) = host.upload(&token, &manifest(ECHO_V1), wasm(ECHO_V1), Some(&component_only)).await;
    assert_eq!(status, 422);
    assert!(detail(&body).contains("covers only the component"), "{body}");

    let (status, body) = host.upload(&token, &manifest(ECHO_V1), wasm(ECHO_V1), Some(&signed)).await;
    assert_eq!(status, 201, "{body}");
    assert!(body["signed_by"].is_string(), "{body}");

    // Every refusal is in the audit log: who, what, why.
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=10", &token, None).await;
    let refusals: Vec<&Value> =
        log["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "admin.install-refused").collect();
    assert_eq!(refusals.len(), 3, "{log}");
    assert!(refusals.iter().all(|e| e["actor"] == "leila" && e["subject"] == "echo"));
    assert!(
        refusals.iter().any(|e| e["data"]["version"] == "1.0.1"
            && e["data"]["reason"].as_str().unwrap().contains("changed after it was signed")),
        "{refusals:?}"
    );
}

/// Once an operator requires signatures, versions stored unsigned before are not served,
/// `/readyz` says why, and installing the same bytes again with a valid signature signs
/// the stored version and serves it.
#[tokio::test]
async fn unsigned_stored_versions_are_not_served_once_signatures_are_required() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let open = Host::start_on(Some(&url), &[], "", |_| {}).await;
    let token = open.operator("leila", Role::Admin).await;
    assert_eq!(open.upload_guest(&token, ECHO_V1).await.0, 201);
    assert_eq!(echo_version(&open).await.0, 200);
    drop(open);

    let (secret, public) = signature::generate();
    let config = format!("[signatures]\nrequired = true\n[signatures.trusted]\necho = [\"{public}\"]\n");
    let strict = Host::start_on(Some(&url), &[], &config, |_| {}).await;
    let (status, _) = echo_version(&strict).await;
    assert_eq!(status, 404, "the unsigned version is not served");
    let (_, ready) = strict.admin(Method::GET, "/readyz", &token, None).await;
    let refused = ready["refused"].to_string();
    assert!(refused.contains("stored echo@1.0.0") && refused.contains("unsigned"), "{ready}");

    let key = signature::parse_secret_key(&secret).unwrap();
    let signed = signature::sign(&key, &manifest(ECHO_V1), &wasm(ECHO_V1)).unwrap();
    let (status, body) = strict.upload(&token, &manifest(ECHO_V1), wasm(ECHO_V1), Some(&signed)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(echo_version(&strict).await.0, 200, "signed now, and served");
    let stored = strict.app.db.version("echo", "1.0.0").await.unwrap().unwrap();
    assert!(stored.signed_by.is_some(), "the stored version is recorded as signed");
    let (_, ready) = strict.admin(Method::GET, "/readyz", &token, None).await;
    assert!(!ready["refused"].to_string().contains("echo"), "{ready}");
}

/// `panjereh config check` validates a configuration without starting the host, and the
/// operator commands never create a database: a wrong path is an error that says so.
#[tokio::test]
async fn config_check_and_operator_commands_on_a_missing_database() {
    use panjereh_host::cli::run_args;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[auth]\notp = \"development\"\n").unwrap();
    assert_eq!(
        run_args(["panjereh", "config", "check", good.to_str().unwrap()]).await.unwrap(),
        std::process::ExitCode::SUCCESS
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[auth]\notp = \"sometimes\"\n").unwrap();
    let error = run_args(["panjereh", "config", "check", bad.to_str().unwrap()]).await.unwrap_err();
    assert!(format!("{error:#}").contains("off, registry-checked or development"), "{error:#}");

    let missing = format!("sqlite://{}", dir.path().join("nowhere.db").display());
    for args in [
        vec!["panjereh", "audit", "verify", "--database-url", &missing],
        vec!["panjereh", "operator", "create", "--name", "x", "--role", "admin", "--database-url", &missing],
    ] {
        let error = run_args(args.clone()).await.unwrap_err().to_string();
        assert!(error.contains("there is no database at"), "{args:?}: {error}");
    }
    assert!(!dir.path().join("nowhere.db").exists(), "nothing was created");
}

/// Runs `panjereh ARGS --host HOST --token TOKEN` as an operator would, answering what it
/// printed or the message it failed with.
async fn cli(host: &Host, token: &str, args: &[&str]) -> Result<String, String> {
    let url = host.url("");
    let mut line = vec!["panjereh"];
    line.extend_from_slice(args);
    line.extend_from_slice(&["--host", &url, "--token", token]);
    match panjereh_host::cli::run_args_output(line).await {
        Ok((_, out)) => Ok(out),
        Err(error) => Err(format!("{error:#}")),
    }
}

/// Rollback steps back through the activation history (3 -> 2 -> 1), never back and forth;
/// `activate` reaches any stored version; a stored version other than the active one can be
/// removed on its own. All through the CLI, on both databases.
async fn rollback_walks_back_through_history(db: Database) {
    let host = Host::start_db(db, &[], "").await;
    let token = host.operator("leila", Role::Admin).await;
    let dir = tempfile::tempdir().unwrap();
    // Three versions: echo 1 and 2, and echo 1's component again as 3.0.0.
    let three = manifest(ECHO_V1).replace("version = \"1.0.0\"", "version = \"3.0.0\"");
    for (name, manifest, wasm) in [
        ("v1", manifest(ECHO_V1), wasm(ECHO_V1)),
        ("v2", manifest(ECHO_V2), wasm(ECHO_V2)),
        ("v3", three, wasm(ECHO_V1)),
    ] {
        std::fs::write(dir.path().join(format!("{name}.wasm")), wasm).unwrap();
        std::fs::write(dir.path().join(format!("{name}.toml")), manifest).unwrap();
        let component = dir.path().join(format!("{name}.wasm"));
        let out = cli(&host, &token, &["plugin", "install", component.to_str().unwrap()]).await.unwrap();
        assert!(out.contains("now serving"), "{out}");
    }
    let shown = async || host.admin(Method::GET, "/admin/v1/plugins/echo", &token, None).await.1;
    let state = shown().await;
    assert_eq!((state["active_version"].clone(), state["previous_version"].clone()), (json!("3.0.0"), json!("2.0.0")));
    assert_eq!(state["history"], json!(["1.0.0", "2.0.0", "3.0.0"]));

    let out = cli(&host, &token, &["plugin", "rollback", "echo"]).await.unwrap();
    assert!(out.contains("echo 2.0.0: enabled (previous 1.0.0)"), "{out}");
    assert_eq!(echo_version(&host).await, (200, "2".into()));
    let out = cli(&host, &token, &["plugin", "rollback", "echo"]).await.unwrap();
    assert!(out.contains("echo 1.0.0: enabled (previous -)"), "not back to 3.0.0: {out}");
    assert_eq!(echo_version(&host).await, (200, "1".into()));
    let error = cli(&host, &token, &["plugin", "rollback", "echo"]).await.unwrap_err();
    assert!(error.contains("409") && error.contains("no earlier version in its history"), "{error}");
    assert!(error.contains("activate VERSION"), "says what to do instead: {error}");

    // Forward again by name, then a rollback undoes exactly that.
    let out = cli(&host, &token, &["plugin", "activate", "echo", "3.0.0"]).await.unwrap();
    assert!(out.contains("echo 3.0.0: enabled (previous 1.0.0)"), "{out}");
    assert_eq!(shown().await["history"], json!(["1.0.0", "3.0.0"]));

    // One stored version goes; the active one cannot.
    let error = cli(&host, &token, &["plugin", "remove", "echo", "--version", "3.0.0"]).await.unwrap_err();
    assert!(error.contains("is the active one"), "{error}");
    let out = cli(&host, &token, &["plugin", "remove", "echo", "--version", "2.0.0"]).await.unwrap();
    assert!(out.contains("removed version 2.0.0 of echo"), "{out}");
    let state = shown().await;
    let versions: Vec<&str> =
        state["versions"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["1.0.0", "3.0.0"]);
    assert_eq!(state["active_version"], "3.0.0");
    let error = cli(&host, &token, &["plugin", "activate", "echo", "2.0.0"]).await.unwrap_err();
    assert!(error.contains("has no version 2.0.0"), "{error}");
    let error = cli(&host, &token, &["plugin", "remove", "echo", "--version", "2.0.0"]).await.unwrap_err();
    assert!(error.contains("404"), "{error}");
    assert_eq!(echo_version(&host).await, (200, "1".into()), "3.0.0 (echo 1's component) still serves");

    // Removing the version a rollback would return to leaves nothing to roll back to.
    cli(&host, &token, &["plugin", "remove", "echo", "--version", "1.0.0"]).await.unwrap();
    let state = shown().await;
    assert_eq!((state["previous_version"].clone(), state["history"].clone()), (Value::Null, json!(["3.0.0"])));
    assert!(cli(&host, &token, &["plugin", "rollback", "echo"]).await.is_err());
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?kind=admin.remove-version", &token, None).await;
    let removed: Vec<&Value> = log["entries"].as_array().unwrap().iter().map(|e| &e["data"]["version"]).collect();
    assert_eq!(removed, [&json!("1.0.0"), &json!("2.0.0")], "{log}");
    drop(host);
}

/// `panjereh audit list` filters by agency, actor, kind and time, and prints RFC 3339 times
/// and `data` as a JSON object; `audit verify` prints the head it reached and the
/// checkpoint it checked against. Both on the database directly, as an operator would.
async fn audit_list_filters_and_verify_names_its_anchor(db: Database) {
    use panjereh_host::cli::run_args_output;
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = anchored(dir.path(), "checkpoint-every-secs = 0\n");
    let config_file = dir.path().join("panjereh.toml");
    std::fs::write(&config_file, &config).unwrap();
    let host = Host::start_db(db, &[], &config).await;
    let url = host.app.config.database_url.clone();
    let leila = host.operator("leila", Role::Admin).await;
    let reza = host.operator("reza", Role::Admin).await;
    let started = panjereh_host::store::now_ms();
    assert_eq!(host.upload_guest(&leila, ECHO_V1).await.0, 201);
    assert_eq!(host.admin(Method::POST, "/admin/v1/plugins/echo/disable", &reza, None).await.0, 200);
    assert_eq!(host.admin(Method::POST, "/admin/v1/plugins/echo/enable", &reza, None).await.0, 200);
    assert_eq!(echo_version(&host).await.0, 200);
    let list = async |filters: &[&str]| -> Vec<Value> {
        let mut args = vec!["panjereh", "audit", "list", "--json", "--database-url", &url];
        args.extend_from_slice(filters);
        let (code, out) = run_args_output(args).await.unwrap();
        assert_eq!(code, std::process::ExitCode::SUCCESS);
        out.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    };
    // The call's entry is written in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    while list(&["--kind", "call.inquire"]).await.is_empty() {
        assert!(Instant::now() < deadline, "the call was never audited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let admin = list(&["--kind", "admin.*"]).await;
    let kinds: Vec<&str> = admin.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["admin.install", "admin.disable", "admin.enable"], "oldest first");
    for entry in &admin {
        let at = entry["at"].as_str().unwrap();
        let parsed = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).unwrap();
        assert!(parsed.unix_timestamp() * 1000 >= started - 1000, "{at}");
        assert!(entry["data"].is_object(), "{entry}");
    }
    assert_eq!(admin[0]["data"]["version"], "1.0.0");
    let by_reza = list(&["--actor", "reza"]).await;
    assert_eq!(by_reza.len(), 2, "{by_reza:?}");
    assert!(by_reza.iter().all(|e| e["actor"] == "reza"));
    let about_echo = list(&["--agency", "echo"]).await;
    assert!(about_echo.iter().any(|e| e["kind"] == "call.inquire" && e["data"]["agency"] == "echo"), "{about_echo:?}");
    assert!(about_echo.iter().any(|e| e["kind"] == "admin.install"));
    assert!(list(&["--agency", "utility-bills"]).await.is_empty());
    assert!(list(&["--since", "2999-01-01"]).await.is_empty());
    assert_eq!(list(&["--until", "2000-01-01T00:00:00Z"]).await.len(), 0);
    assert_eq!(list(&["--kind", "admin.*", "--limit", "1"]).await[0]["kind"], "admin.enable", "the newest");
    let error = run_args_output(["panjereh", "audit", "list", "--since", "last tuesday", "--database-url", &url])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("RFC 3339"), "{error}");
    // Columns for people: the same times and data.
    let (_, table) = run_args_output(["panjereh", "audit", "list", "--kind", "admin.install", "--database-url", &url])
        .await
        .unwrap();
    let row = table.lines().nth(1).unwrap();
    assert!(row.contains(admin[0]["at"].as_str().unwrap()) && row.contains("\"version\":\"1.0.0\""), "{table}");
    // The admin API answers the same shape, with the same filters.
    let (_, page) = host.admin(Method::GET, "/admin/v1/audit?actor=reza&kind=admin.disable", &leila, None).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1, "{page}");
    assert!(page["entries"][0]["data"].is_object());
    let (status, _) = host.admin(Method::GET, "/admin/v1/audit?since=soon", &leila, None).await;
    assert_eq!(status, 400);

    // Verify names the head it reached and the checkpoint it checked against.
    let (status, made) = host.admin(Method::POST, "/admin/v1/audit/checkpoints", &leila, None).await;
    assert_eq!(status, 200, "{made}");
    let (head, hash, _, _) = newest_entry(&host).await;
    let config_path = config_file.to_str().unwrap();
    let (code, out) = run_args_output(["panjereh", "audit", "verify", "--database-url", &url, "--config", config_path])
        .await
        .unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{out}");
    assert!(out.contains(&format!("head: entry {head} hash {hash}")), "{out}");
    let checkpoint =
        format!("verified against checkpoint: entry {} hash {}", made["seq"], made["head_hash"].as_str().unwrap());
    assert!(out.contains(&checkpoint), "{out}");
}

/// `panjereh plugin --help` tells the two kinds of verbs apart: the authoring ones, which
/// need no host, and the ones that talk to a running host with an operator token.
#[tokio::test]
async fn plugin_help_names_both_kinds_of_verbs() {
    let help = panjereh_host::cli::run_args(["panjereh", "plugin", "--help"]).await.unwrap_err().to_string();
    assert!(help.contains("Authoring verbs work on this machine and need no host"), "{help}");
    assert!(help.contains("Host verbs talk to a running host's admin API"), "{help}");
    for (verb, kind) in [
        ("new", "[authoring]"),
        ("build", "[authoring]"),
        ("sign", "[authoring]"),
        ("install", "[host]"),
        ("rollback", "[host]"),
        ("remove", "[host]"),
    ] {
        let line =
            help.lines().find(|l| l.trim_start().starts_with(verb)).unwrap_or_else(|| panic!("no `{verb}` in {help}"));
        assert!(line.contains(kind), "{line}");
    }
    let short = panjereh_host::cli::run_args(["panjereh", "--help"]).await.unwrap_err().to_string();
    assert!(
        short.lines().any(|l| l.contains("plugin") && l.contains("new, build, sign") && l.contains("install")),
        "{short}"
    );
}
