//! Clients that try to hold the server: slow headers, slow bodies, answers never read, too
//! many connections, floods of anonymous inquiries; and what the host tells whom (the
//! readiness details, HSTS). Raw TCP where a well-behaved HTTP client cannot misbehave
//! enough.

use std::time::{Duration, Instant};

use panjereh_host::store::operators::Role;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::harness::{FS_IMPORT, Host, UTILITY_BILLS};

const INQUIRY: &str = "/api/v1/services/utility-bills/bill-details/inquiries";

fn bill() -> Value {
    json!({"input": {"bill-id": "7748317800142", "payment-id": "1770160"}})
}

/// Reads until the host closes the connection (or resets it), at most `limit`; returns
/// what arrived and whether the connection ended within the limit.
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads one answer without a chunked body: its head and `Content-Length` bytes.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
            if received.len() >= end + 4 + length {
                return String::from_utf8_lossy(&received[..end + 4 + length]).into_owned();
            }
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before a whole answer: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buf[..n]);
    }
}

async fn healthz_on(stream: &mut TcpStream) -> String {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: panjereh\r\n\r\n").await.unwrap();
    read_answer(stream).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_headers_slowly_is_cut_off_while_others_are_served() {
    let host = Host::start(&[], "[server]\nheader-timeout-secs = 1\n").await;
    let mut slow = TcpStream::connect(host.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: panjereh\r\nx-slow: ").await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = slow.split();
    // A byte every 200 ms: the connection is busy, but its head never ends.
    let dribble = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(b"a").await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let closed = async {
        read_until_closed(&mut reader, Duration::from_secs(10)).await;
        started.elapsed()
    };
    let others = async {
        for _ in 0..3 {
            let (status, body) = host.get("/healthz").await;
            assert_eq!((status, body), (200, json!("ok")), "other clients are served meanwhile");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let watched = async { tokio::join!(closed, others).0 };
    let elapsed = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            elapsed = watched => elapsed,
            () = dribble => unreachable!(),
        }
    })
    .await
    .expect("the host closes a connection whose head takes longer than header-timeout-secs");
    assert!(elapsed >= Duration::from_millis(900), "not before the timeout: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_dribbling_its_body_gets_a_408_problem_and_loses_the_connection() {
    let host = Host::start(&[UTILITY_BILLS], "[server]\nbody-timeout-secs = 1\n").await;
    let mut slow = TcpStream::connect(host.addr).await.unwrap();
    let head = format!(
        "POST {INQUIRY} HTTP/1.1\r\nhost: panjereh\r\naccept-language: en\r\ncontent-type: application/json\r\n\
         content-length: 200\r\n\r\n{{\"input\": "
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (answer, closed) = tokio::time::timeout(Duration::from_secs(10), async {
        let (mut reader, mut writer) = slow.split();
        let dribble = async {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if writer.write_all(b" ").await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let (received, closed) = tokio::select! {
            read = read_until_closed(&mut reader, Duration::from_secs(10)) => read,
            () = dribble => unreachable!(),
        };
        (String::from_utf8_lossy(&received).into_owned(), closed)
    })
    .await
    .expect("the host answers a body that takes longer than body-timeout-secs");
    let elapsed = started.elapsed();
    assert!(closed);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/problem+json"), "{answer}");
    assert!(lower.contains("connection: close"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["type"], "/problems/request-timeout");
    assert_eq!(body["title"], "The request took too long to send");
    assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4), "{elapsed:?}");

    // In Persian by default, and a body sent in time is served as before.
    let mut slow = TcpStream::connect(host.addr).await.unwrap();
    slow.write_all(
        b"POST /auth/otp/start HTTP/1.1\r\nhost: p\r\ncontent-type: application/json\r\ncontent-length: 9\r\n\r\n{",
    )
    .await
    .unwrap();
    let (answer, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(closed && answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("ارسال درخواست بیش از حد طول کشید"), "{answer}");
    let (status, body) = host.post(INQUIRY, bill()).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_new_clients_wait_while_open_ones_are_served() {
    let host = Host::start(&[], "[server]\nmax-connections = 2\nheader-timeout-secs = 30\n").await;
    // Two connections take both slots: one kept alive after an answer, one idle mid-head.
    let mut kept = TcpStream::connect(host.addr).await.unwrap();
    assert!(healthz_on(&mut kept).await.starts_with("HTTP/1.1 200"));
    let mut holder = TcpStream::connect(host.addr).await.unwrap();
    holder.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A third client connects (the kernel's listen queue takes it) but is not served yet.
    let mut waiting = TcpStream::connect(host.addr).await.unwrap();
    waiting.write_all(b"GET /healthz HTTP/1.1\r\nhost: panjereh\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "a client beyond max-connections waits for a slot: {early:?}");

    // Meanwhile the open connections keep working.
    assert!(healthz_on(&mut kept).await.starts_with("HTTP/1.1 200"));
    assert!(healthz_on(&mut kept).await.starts_with("HTTP/1.1 200"));

    // A slot frees: the waiting client is served at once.
    drop(holder);
    let answer = tokio::time::timeout(Duration::from_secs(3), read_answer(&mut waiting))
        .await
        .expect("the waiting client is served once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_its_answers_loses_its_connection() {
    let host =
        Host::start(&[], "[server]\nmax-connections = 1\nidle-timeout-secs = 1\nheader-timeout-secs = 30\n").await;
    let size = reqwest::get(host.url("/api/openapi.json")).await.unwrap().bytes().await.unwrap().len();
    // Enough pipelined requests that their answers overflow every socket buffer on the way.
    let count = (64 << 20) / size + 1;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(host.addr).await.unwrap();
    let requests = "GET /api/openapi.json HTTP/1.1\r\nhost: panjereh\r\n\r\n".repeat(count);
    let (mut read_half, mut write_half) = stream.split();
    // The host stops reading requests once its answers back up; give up writing then.
    let _ = tokio::time::timeout(Duration::from_secs(3), write_half.write_all(requests.as_bytes())).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The only slot was freed for another client.
    let other = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let response = other.get(host.url("/healthz")).send().await.expect("another client is served");
    assert_eq!(response.status(), 200);

    // The reader's connection was closed long before all its answers were sent.
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match read_half.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the host closed the connection");
    assert!(received < count * size / 2, "{received} of {} bytes were sent", count * size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish_then_returns() {
    let mut host = Host::start(&[UTILITY_BILLS], "").await;
    let mut kept = TcpStream::connect(host.addr).await.unwrap();
    assert!(healthz_on(&mut kept).await.starts_with("HTTP/1.1 200"));
    // A request whose body is still on its way when shutdown begins.
    let mut in_flight = TcpStream::connect(host.addr).await.unwrap();
    let body = bill().to_string();
    let head = format!(
        "POST {INQUIRY} HTTP/1.1\r\nhost: p\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body.as_bytes()[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let served = host.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(TcpStream::connect(host.addr).await.is_err(), "no new connections once shutdown began");
    in_flight.write_all(&body.as_bytes()[5..]).await.unwrap();
    let answer = read_answer(&mut in_flight).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The idle kept-alive connection is closed, and serving ends.
    let (_, closed) = read_until_closed(&mut kept, Duration::from_secs(5)).await;
    assert!(closed);
    let result = tokio::time::timeout(Duration::from_secs(5), served).await.expect("serve returns");
    result.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_inquiries_are_limited_per_client_with_retry_after() {
    let config = "trusted-proxies = [\"127.0.0.1\"]\n[server]\nanonymous-inquiries-per-minute = 2\n";
    let host = Host::start(&[UTILITY_BILLS], config).await;
    let from = |client: &'static str| [("x-forwarded-for", client)];
    for _ in 0..2 {
        let answer = host.call(Method::POST, INQUIRY, None, Some(bill()), &from("198.51.100.7")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let refused = host.call(Method::POST, INQUIRY, None, Some(bill()), &from("198.51.100.7")).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/too-many-requests");
    assert!(refused.body["detail"].as_str().unwrap().contains("inquiries without sign-in"), "{}", refused.body);
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let (status, fa) = host.post(INQUIRY, bill()).await;
    assert_eq!(status, 200, "another client has its own budget: {fa}");

    // The portal's form counts against the same budget.
    let form = host
        .client
        .post(host.url("/services/utility-bills/bill-details"))
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("bill-id", "7748317800142"), ("payment-id", "1770160")])
        .send()
        .await
        .unwrap();
    // Without the CSRF token the portal refuses before anything else; with it, 429.
    assert_eq!(form.status(), 403);
    let page = host.client.get(host.url("/services/utility-bills/bill-details")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let form = host
        .client
        .post(host.url("/services/utility-bills/bill-details"))
        .header("x-forwarded-for", "198.51.100.7")
        .header("cookie", cookie)
        .form(&[("_csrf", csrf.as_str()), ("bill-id", "7748317800142"), ("payment-id", "1770160")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 429);
    assert!(form.headers().contains_key("retry-after"));
    assert!(form.text().await.unwrap().contains("استعلام بدون ورود"));

    // A signed-in citizen is not limited by it.
    let token = host.sign_in("0499370899", "09121234567").await;
    for _ in 0..3 {
        let answer = host.call(Method::POST, INQUIRY, Some(&token), Some(bill()), &from("198.51.100.7")).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_tells_anonymous_callers_only_the_status() {
    let host = Host::start(&[UTILITY_BILLS, FS_IMPORT], "").await;
    let (status, ready) = host.get("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready, json!({"status": "ready"}), "no paths, reasons or adapters for anonymous callers");
    let citizen = host.sign_in("0499370899", "09121234567").await;
    assert_eq!(host.get_as(&citizen, "/readyz").await.body, json!({"status": "ready"}));
    assert_eq!(host.get_as("pjo_not_a_token", "/readyz").await.body, json!({"status": "ready"}));

    let auditor = host.operator("reza", Role::Auditor).await;
    let detailed = host.get_as(&auditor, "/readyz").await;
    assert_eq!(detailed.status, 200);
    assert_eq!(detailed.body["status"], "ready");
    assert_eq!(detailed.body["adapters"][0]["id"], "utility-bills", "{}", detailed.body);
    let refused = detailed.body["refused"][0].clone();
    assert!(refused["file"].as_str().unwrap().ends_with("fs-import.wasm"), "{refused}");
    assert!(refused["reason"].as_str().unwrap().contains("wasi:filesystem"), "{refused}");
    assert!(detailed.body["pooling"].is_boolean());

    // A revoked operator token is no operator's.
    let admin = host.operator("leila", Role::Admin).await;
    let (status, _) = host.admin(Method::POST, "/admin/v1/operators/reza/revoke", &admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(host.get_as(&auditor, "/readyz").await.body, json!({"status": "ready"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_is_sent_on_every_answer_to_a_request_that_came_over_https() {
    let host = Host::start(&[UTILITY_BILLS], "").await;
    let hsts = |answer: &crate::harness::Answer| {
        answer.headers.get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned())
    };
    let https = [("x-forwarded-proto", "https")];
    for (method, path, body) in [
        (Method::GET, "/api/v1/services", None),
        (Method::POST, INQUIRY, Some(bill())),
        (Method::GET, "/no/such/path", None),
        (Method::GET, "/", None),
    ] {
        let answer = host.call(method.clone(), path, None, body.clone(), &https).await;
        assert_eq!(hsts(&answer).as_deref(), Some("max-age=31536000"), "{method} {path}");
        let plain = host.call(method.clone(), path, None, body, &[]).await;
        assert_eq!(hsts(&plain), None, "{method} {path} over plain HTTP");
    }
    let forwarded = host.call(Method::GET, "/healthz", None, None, &[("forwarded", "for=192.0.2.1;proto=https")]).await;
    assert_eq!(hsts(&forwarded).as_deref(), Some("max-age=31536000"));

    let host = Host::start(&[], "[server]\nhsts-max-age-secs = 0\n").await;
    assert_eq!(hsts(&host.call(Method::GET, "/healthz", None, None, &https).await), None, "turned off");
    let host = Host::start(&[], "[server]\nhsts-max-age-secs = 600\n").await;
    let answer = host.call(Method::GET, "/healthz", None, None, &https).await;
    assert_eq!(hsts(&answer).as_deref(), Some("max-age=600"));
}
