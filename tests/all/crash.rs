//! A `kill -9` right after a 201 loses nothing: the real `panjereh` binary files
//! applications, is killed with SIGKILL at once, restarts on the same SQLite file and
//! still finds each application, its data-usage entry and its evidence.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::harness::APPLICANT;

/// The `panjereh` binary next to this test executable (`target/debug/panjereh`).
fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = dir.join(format!("panjereh{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build -p panjereh-host` (or `cargo test --workspace`) first",
        binary.display()
    );
    binary
}

/// Removes ANSI colour sequences from a log line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value after `key=` in a log line.
fn field(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    Some(line[at..].split_whitespace().next()?.trim_matches('"').to_owned())
}

struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: String,
}

/// The crash tests sign in with codes the development notifier writes to the log.
const DEVELOPMENT: &str = "[auth]\notp = \"development\"\n";

impl Server {
    /// A host with `config` as its configuration file.
    fn start_with(dir: &Path, config: &str) -> Server {
        std::fs::write(dir.join("panjereh.toml"), config).unwrap();
        let mut child = Command::new(binary())
            // Anything the host writes relative to its folder (its compile cache) stays in the temp dir.
            .current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--plugins"])
            .arg(dir.join("plugins"))
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.join("panjereh.db").display()))
            .arg("--config")
            .arg(dir.join("panjereh.toml"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to start panjereh");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(plain(&line)).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, lines, addr: String::new() };
        server.addr = server.wait_for("address");
        server
    }

    /// The next log line's `key=` value, waiting up to a minute.
    fn wait_for(&mut self, key: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = field(&line, key) {
                        return value;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        panic!("the host never logged `{key}=`");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(mut self) {
        // SIGKILL: no shutdown, no flush, nothing the process can do about it.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Server {
    /// SIGKILL, then every log line not read yet.
    fn kill_and_read_log(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs in with the development notifier, which writes the code to the host's log.
async fn sign_in(server: &mut Server, client: &reqwest::Client) -> String {
    let started = client
        .post(server.url("/auth/otp/start"))
        .json(&json!({"national_id": "0499370899", "mobile": "09121234567"}))
        .send()
        .await
        .unwrap();
    assert_ne!(
        started.status(),
        404,
        "{} does not know /auth: it is stale (another branch's build?); run `cargo build -p panjereh-host`",
        binary().display()
    );
    assert_eq!(started.status(), 202);
    let code = server.wait_for("code");
    let verified: serde_json::Value = client
        .post(server.url("/auth/otp/verify"))
        .json(&json!({"national_id": "0499370899", "code": code}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    verified["token"].as_str().expect("a token").to_owned()
}

/// Files an application of the test office and kills the host with SIGKILL right after
/// its answer: the status and body the citizen got.
async fn file_and_kill(
    server: Server,
    client: &reqwest::Client,
    token: &str,
    reference: &str,
) -> (u16, serde_json::Value) {
    let filed = client
        .post(server.url("/api/v1/services/test-office/permit/applications"))
        .bearer_auth(token)
        .json(&json!({"input": {"postal-code": "1193653471", "reference": reference}}))
        .send()
        .await
        .unwrap();
    let status = filed.status().as_u16();
    let body: serde_json::Value = filed.json().await.unwrap();
    server.kill();
    (status, body)
}

/// The crash tests' configuration with the test office granted the national ID, so that a
/// filing writes a data-usage entry before its call.
const WITH_NATIONAL_ID: &str =
    concat!("[auth]\notp = \"development\"\n", "[adapters.applicant.grant]\nidentity = [\"national-id\"]\n");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_application_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    APPLICANT.install(&dir.path().join("plugins"));
    let client = reqwest::Client::new();

    let mut server = Server::start_with(dir.path(), WITH_NATIONAL_ID);
    let token = sign_in(&mut server, &client).await;

    let (status, body) = file_and_kill(server, &client, &token, "CASE-KILL").await;
    assert_eq!(status, 201, "{body} (a 404 here means a stale binary: run `cargo build -p panjereh-host`)");
    let code = body["tracking_code"].as_str().unwrap().to_owned();

    let server = Server::start_with(dir.path(), WITH_NATIONAL_ID);
    let found =
        client.get(server.url(&format!("/api/v1/applications/{code}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(found.status(), 200);
    let found: serde_json::Value = found.json().await.unwrap();
    assert_eq!(found["tracking_code"], code.as_str());
    assert_eq!(found["agency_reference"], "CASE-KILL");
    assert_eq!(found["history"].as_array().unwrap().len(), 1);

    // Filings at once share their commits (group commit); every one answered 201 is
    // there after kill -9, with its data-usage entry and its evidence.
    let filings: Vec<_> = (0..8)
        .map(|i| {
            let (client, token, url) =
                (client.clone(), token.clone(), server.url("/api/v1/services/test-office/permit/applications"));
            tokio::spawn(async move {
                let filed = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"input": {"postal-code": "1193653471", "reference": format!("CASE-{i}")}}))
                    .send()
                    .await
                    .unwrap();
                (filed.status().as_u16(), filed.json::<serde_json::Value>().await.unwrap())
            })
        })
        .collect();
    let mut filed = Vec::new();
    for filing in filings {
        filed.push(filing.await.unwrap());
    }
    server.kill();
    let mut codes = Vec::new();
    for (status, body) in &filed {
        assert_eq!(*status, 201, "{body}");
        codes.push(body["tracking_code"].as_str().unwrap().to_owned());
    }

    let server = Server::start_with(dir.path(), WITH_NATIONAL_ID);
    for code in &codes {
        let found =
            client.get(server.url(&format!("/api/v1/applications/{code}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(found.status(), 200, "{code} was answered 201 before the kill");
    }
    let usage: serde_json::Value =
        client.get(server.url("/api/v1/me/data-usage")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(usage["count"], 9, "one hand-over of the national ID per filing: {usage}");
    server.kill();
    let db = panjereh_host::store::Db::connect(&format!("sqlite://{}", dir.path().join("panjereh.db").display()))
        .await
        .unwrap();
    let evidence: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE kind = 'call.submit'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(evidence, 9, "one evidence entry per filing");
}

/// A job queued before `kill -9` runs after the restart: the host follows an application
/// at its agency even though the process that filed it died before its first poll.
#[tokio::test]
async fn a_queued_job_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    APPLICANT.install(&dir.path().join("plugins"));
    let client = reqwest::Client::new();
    let config = format!("{DEVELOPMENT}\n[notifications]\npoll-every-secs = 3\n");

    let mut server = Server::start_with(dir.path(), &config);
    let token = sign_in(&mut server, &client).await;
    // Killed before the first poll is due: the job exists only in the database.
    let (status, body) = file_and_kill(server, &client, &token, "CASE-JOB").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "submitted");
    let tracking = body["tracking_code"].as_str().unwrap().to_owned();

    let server = Server::start_with(dir.path(), &config);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found: serde_json::Value = client
            .get(server.url(&format!("/api/v1/applications/{tracking}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if found["status"] == "in-review" || std::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(found["status"], "in-review", "the restarted host ran the poll: {found}");
    let inbox: serde_json::Value =
        client.get(server.url("/api/v1/me/messages")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(inbox["messages"][0]["kind"], "application-status", "{inbox}");
    server.kill();
}

/// In production mode the host asks the ownership registry, sends the code through the SMS
/// gateway, and never writes the code to its log.
#[tokio::test]
async fn codes_go_by_sms_and_never_to_the_log() {
    use mock_agencies::{registry, sms};
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (registry_addr, _registry) =
        mock_agencies::serve(any, registry::Handle::new("r-token").router()).await.unwrap();
    let gateway = sms::Handle::new("s-key");
    let (sms_addr, _sms) = mock_agencies::serve(any, gateway.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let config = format!(
        "[auth]\notp = \"registry-checked\"\n\
         [auth.registry]\nurl = \"http://{registry_addr}\"\ntoken = {{ secret = \"r-token\" }}\n\
         [auth.sms]\nurl = \"http://{sms_addr}\"\napi-key = {{ secret = \"s-key\" }}\nsender = \"10004346\"\n"
    );
    let server = Server::start_with(dir.path(), &config);
    let client = reqwest::Client::new();
    let start = |mobile: &str| {
        client.post(server.url("/auth/otp/start")).json(&json!({"national_id": "0499370899", "mobile": mobile})).send()
    };
    // A pair the registry does not confirm gets nothing.
    assert_eq!(start("09359876543").await.unwrap().status(), 403);
    assert!(gateway.sent_to("09359876543").is_empty());

    assert_eq!(start("09121234567").await.unwrap().status(), 202);
    let sent = gateway.sent_to("09121234567");
    assert_eq!(sent.len(), 1, "one SMS");
    assert_eq!(sent[0].sender, "10004346");
    let code: String = sent[0].message.chars().filter(char::is_ascii_digit).take(5).collect();
    assert_eq!(code.len(), 5, "{}", sent[0].message);
    assert!(sent[0].message.chars().count() <= 70, "one UCS-2 segment: {}", sent[0].message);
    let verified = client
        .post(server.url("/auth/otp/verify"))
        .json(&json!({"national_id": "0499370899", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);

    let log = server.kill_and_read_log();
    assert!(!log.is_empty(), "the host logged its requests");
    for line in &log {
        let numbers: Vec<&str> = line.split(|c: char| !c.is_ascii_digit()).collect();
        assert!(!numbers.contains(&code.as_str()) && !line.contains("code="), "the code is in the log: {line}");
    }
}

/// `kill -9` of the host between the gateway's callback and the verification: after a
/// restart, the reconciler verifies and settles the order exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_interrupted_by_kill_9_is_settled_once_after_restart() {
    use mock_agencies::psp::{Fault, Step, TxState};
    let gateway = crate::payments::gateway().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    let config = format!(
        "{DEVELOPMENT}{}",
        crate::payments::payments_config(gateway.addr, "stuck-after-secs = 0\n")
            .replace("reconcile-every-secs = 3600", "reconcile-every-secs = 1")
    );
    let server = Server::start_with(dir.path(), &config);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let opened: serde_json::Value = client
        .post(server.url("/api/v1/payments"))
        .json(&json!({"bill_id": "7748317800142", "payment_id": "1770160"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = opened["id"].as_str().expect("an order").to_owned();
    let token = opened["pay_url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let fields = gateway.psp.pay(&token, "6037991234567893").unwrap();
    // Every verification hangs past the host's timeout: the order stays `returned`.
    gateway.psp.fault(Step::Verify, Fault::Delay(Duration::from_secs(5)), 1000);
    let callback = client.post(server.url("/payments/callback")).form(&fields).send().await.unwrap();
    assert_eq!(callback.status(), 303);
    let order: serde_json::Value =
        client.get(server.url(&format!("/api/v1/payments/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(order["state"], "returned", "{order}");
    server.kill();
    assert_eq!(gateway.psp.transaction(&id).unwrap().state, TxState::Paid, "paid, not verified yet");

    gateway.psp.heal();
    let server = Server::start_with(dir.path(), &config);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let order: serde_json::Value =
            client.get(server.url(&format!("/api/v1/payments/{id}"))).send().await.unwrap().json().await.unwrap();
        if order["state"] == "settled" || std::time::Instant::now() > deadline {
            break order;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(settled["state"], "settled", "{settled}");
    let tx = gateway.psp.transaction(&id).unwrap();
    assert_eq!((tx.state, tx.settles, tx.reversals), (TxState::Settled, 1, 0));
    server.kill();
}
