//! Capabilities end to end: adapters reach a real mock agency back-end on 127.0.0.1 only
//! where granted, keep private state within a quota, and read configuration whose secrets
//! never reach the log.
//!
//! Every connection these tests make stays on loopback: back-ends listen on 127.0.0.1, and
//! the host resolves names through a test resolver that maps them to loopback addresses
//! only, so no packet would leave the machine even if a check were broken. Refusing
//! private, link-local and metadata addresses is tested on the policy itself (host crate).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use serde_json::{Value, json};

use crate::harness::{FETCHER, Host, KEEPER, KEEPER_TWO, READER};

const SECRET: &str = "S3CRET-api-key-5f2b9c";
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A mock agency back-end on 127.0.0.1:0 that records the paths it served.
struct Backend {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
}

impl Backend {
    async fn start() -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let record = hits.clone();
        let app = Router::new()
            .route("/ok", get(|| async { "hello from the agency" }))
            .route(
                "/key",
                get(|headers: HeaderMap| async move {
                    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
                        Some(SECRET) => (StatusCode::OK, "key accepted"),
                        _ => (StatusCode::UNAUTHORIZED, "wrong key"),
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "too late"
                }),
            )
            .route(
                "/delay",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            )
            .route("/huge", get(|| async { vec![b'a'; 1 << 20] }))
            .route("/redirect/same", get(|| async { Redirect::to("/ok") }))
            .route("/redirect/loop", get(|| async { Redirect::to("/redirect/loop") }))
            .route(
                "/redirect/to",
                get(|axum::extract::RawQuery(query): axum::extract::RawQuery| async move {
                    // `/redirect/to?http://...`: a redirect to any URL.
                    let target = query.unwrap_or_default();
                    Response::builder()
                        .status(StatusCode::FOUND)
                        .header(header::LOCATION, target)
                        .body(axum::body::Body::empty())
                        .unwrap()
                }),
            )
            .layer(axum::middleware::from_fn(move |request: Request, next: Next| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push(request.uri().path().to_owned());
                    next.run(request).await
                }
            }));
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        let listener = listener.tap_io(move |_| {
            accepted.fetch_add(1, Ordering::SeqCst);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Backend { addr, hits, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

/// A raw back-end answering every connection with `response` bytes, then closing.
async fn raw_backend(response: Vec<u8>) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = Arc::new(response);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

/// A TOML array of strings.
fn list(items: &[String]) -> String {
    let quoted: Vec<_> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The fetcher's manifest, requesting `hosts` and the `api-key` setting.
fn fetcher_manifest(hosts: &[String]) -> String {
    format!(
        "id = \"fetcher\"\nversion = \"0.1.0\"\nagency = \"fetcher\"\nwit = \"0.2.0\"\n\
         [capabilities]\nhttp = {}\nconfig = [\"api-key\"]\n",
        list(hosts)
    )
}

/// The operator's configuration granting the fetcher `hosts` and its API key.
fn fetcher_config(hosts: &[String], extra: &str) -> String {
    format!(
        "{extra}\n[adapters.fetcher]\ngrant = {{ http = {}, config = [\"api-key\"] }}\n\
         [adapters.fetcher.config]\napi-key = {{ secret = \"{SECRET}\" }}\n",
        list(hosts)
    )
}

/// A host with the fetcher, whose manifest requests `requested` and whose operator grants
/// `granted`; `names` is what the test resolver knows.
async fn fetcher_host(requested: &[String], granted: &[String], extra: &str, names: &[(&str, IpAddr)]) -> Host {
    let manifest = fetcher_manifest(requested);
    Host::start_resolving(
        &[FETCHER],
        &fetcher_config(granted, extra),
        |dir| std::fs::write(dir.join("fetcher.toml"), manifest).unwrap(),
        names,
    )
    .await
}

/// Posts an inquiry and returns the document's items by label.
async fn inquire(host: &Host, agency: &str, service: &str, input: Value) -> BTreeMap<String, String> {
    let path = format!("/api/v1/services/{agency}/{service}/inquiries");
    let (status, body) = host.post_lang(&path, json!({ "input": input }), "en").await;
    assert_eq!(status, 200, "{body}");
    body["document"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["label"].as_str().unwrap().to_owned(), i["value"].as_str().unwrap().to_owned()))
        .collect()
}

async fn fetch(host: &Host, url: &str) -> BTreeMap<String, String> {
    inquire(host, "fetcher", "fetch", json!({ "url": url })).await
}

fn denials(host: &Host, agency: &str) -> [(&'static str, u64); 4] {
    host.app.registry.get(agency).unwrap().adapter.denials()
}

#[tokio::test]
async fn a_granted_back_end_answers_by_address_and_by_name() {
    let backend = Backend::start().await;
    let port = backend.port();
    let hosts = vec![format!("127.0.0.1:{port}"), format!("agency.test:{port}")];
    let host = fetcher_host(&hosts, &hosts, "", &[("agency.test", LOCAL)]).await;

    let answer = fetch(&host, &backend.url("/ok")).await;
    assert_eq!(answer["outcome"], "ok", "{answer:?}");
    assert_eq!(answer["status"], "200");
    assert_eq!(answer["body"], "hello from the agency");
    assert_eq!(answer["bytes"], "21");

    // By name: the test resolver maps it to 127.0.0.1, which is granted by address.
    let answer = fetch(&host, &format!("http://AGENCY.test:{port}/ok")).await;
    assert_eq!(answer["outcome"], "ok", "{answer:?}");

    // The operator's secret reaches the back-end as the adapter's header.
    let answer = fetch(&host, &backend.url("/key")).await;
    assert_eq!((answer["status"].as_str(), answer["body"].as_str()), ("200", "key accepted"));

    // A redirect within the grant is followed.
    let answer = fetch(&host, &backend.url("/redirect/same")).await;
    assert_eq!((answer["status"].as_str(), answer["body"].as_str()), ("200", "hello from the agency"));
    assert_eq!(backend.hits(), ["/ok", "/ok", "/key", "/redirect/same", "/ok"]);
    assert_eq!(denials(&host, "fetcher"), [("config", 0), ("kv", 0), ("http", 0), ("notify", 0)]);

    // Outbound requests are counted for operators.
    let metrics = host.client.get(host.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        "panjereh_egress_requests_total{adapter=\"fetcher\",outcome=\"completed\"}",
        "panjereh_egress_response_bytes_total{adapter=\"fetcher\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

/// What an adapter stored before a request is durable when the request reaches the
/// back-end; what it stored afterwards, in a call that then fails, is lost with the call.
#[tokio::test]
async fn what_an_adapter_stored_is_durable_before_its_request_goes_out() {
    // The back-end looks in the host's database when the adapter's request arrives.
    let db = Arc::new(std::sync::OnceLock::<panjereh_host::store::Db>::new());
    let seen = db.clone();
    let look = move || async move {
        let stored = panjereh_host::store::kv::get(seen.get().unwrap(), "fetcher", "remembered").await.unwrap();
        String::from_utf8(stored.unwrap_or_default()).unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/look", get(look))).await });
    let hosts = vec![addr.to_string()];
    let manifest = format!("{}kv-quota-kib = 1\n", fetcher_manifest(&hosts));
    let config = fetcher_config(&hosts, "").replace("grant = { http", "grant = { kv-quota-kib = 1, http");
    let host = Host::start_resolving(
        &[FETCHER],
        &config,
        |dir| std::fs::write(dir.join("fetcher.toml"), manifest).unwrap(),
        &[],
    )
    .await;
    db.set(host.app.db.clone()).unwrap();
    let stored = |key: &'static str| panjereh_host::store::kv::get(&host.app.db, "fetcher", key);

    let url = format!("http://{addr}/look");
    let answer = inquire(&host, "fetcher", "fetch", json!({"url": url, "remember": "before the request"})).await;
    assert_eq!(answer["body"], "before the request", "{answer:?}");

    let input = json!({"input": {"url": url, "remember": "kept", "then-fail": "yes"}});
    let (status, body) = host.post_lang("/api/v1/services/fetcher/fetch/inquiries", input, "en").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(stored("remembered").await.unwrap().as_deref(), Some(&b"kept"[..]), "stored before the request");
    assert_eq!(stored("after").await.unwrap(), None, "stored by the failed call after its request");
}

/// An adapter's requests to one back-end go over one kept connection, for the same name
/// and checked address only; a connection whose answer was a redirect is not kept.
#[tokio::test]
async fn an_adapter_reuses_its_connection_to_a_back_end() {
    let backend = Backend::start().await;
    let port = backend.port();
    let hosts = vec![format!("127.0.0.1:{port}"), format!("agency.test:{port}")];
    let host = fetcher_host(&hosts, &hosts, "", &[("agency.test", LOCAL)]).await;
    let egress = || host.app.registry.get("fetcher").unwrap().adapter.capabilities().egress.idle_connections();

    for _ in 0..3 {
        assert_eq!(fetch(&host, &backend.url("/ok")).await["body"], "hello from the agency");
    }
    assert_eq!(backend.connections(), 1, "three calls, one connection");
    assert_eq!(egress(), 1);
    // The same address by a name is another route: a connection of its own.
    assert_eq!(fetch(&host, &format!("http://agency.test:{port}/ok")).await["outcome"], "ok");
    assert_eq!((backend.connections(), egress()), (2, 2));
    // A redirect's answer is not read to its end: that connection is dropped, and the hop
    // after it opens another, kept in its place.
    assert_eq!(fetch(&host, &backend.url("/redirect/same")).await["body"], "hello from the agency");
    assert_eq!(backend.hits().len(), 6);
    assert_eq!((backend.connections(), egress()), (3, 2));
}

#[tokio::test]
async fn destinations_that_were_not_granted_are_refused_before_any_connection() {
    let backend = Backend::start().await;
    let other = Backend::start().await;
    let port = backend.port();
    let granted = vec![format!("127.0.0.1:{port}"), format!("rebind.test:{port}")];
    // The manifest also asks for the other back-end; the operator did not approve it.
    let requested = [granted.clone(), vec![format!("127.0.0.1:{}", other.port())]].concat();
    let names = [("rebind.test", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))), ("unlisted.test", LOCAL)];
    let host = fetcher_host(&requested, &granted, "", &names).await;

    // Another loopback port, requested but not approved.
    let answer = fetch(&host, &other.url("/ok")).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(answer["detail"].contains(&format!("127.0.0.1:{}", other.port())), "{answer:?}");

    // A name that was not granted, even though it resolves to a granted address.
    let answer = fetch(&host, &format!("http://unlisted.test:{port}/ok")).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(answer["detail"].contains("unlisted.test"), "{answer:?}");

    // A granted name resolving to a loopback address that was not granted (DNS rebinding).
    let answer = fetch(&host, &format!("http://rebind.test:{port}/ok")).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(answer["detail"].contains("127.0.0.2") && answer["detail"].contains("loopback"), "{answer:?}");

    // The same port by another spelling of loopback, and IPv6 loopback.
    for url in
        [format!("http://127.0.0.2:{port}/ok"), format!("http://[::1]:{port}/ok"), format!("http://localhost:{port}/")]
    {
        let answer = fetch(&host, &url).await;
        assert_eq!(answer["outcome"], "not-granted", "{url}: {answer:?}");
    }

    // Not HTTP at all, or with credentials in the URL.
    let answer = fetch(&host, "file:///etc/passwd").await;
    assert_eq!(answer["outcome"], "invalid-request", "{answer:?}");
    let answer = fetch(&host, &format!("http://user:pw@127.0.0.1:{port}/ok")).await;
    assert_eq!(answer["outcome"], "invalid-request", "{answer:?}");

    assert!(backend.hits().is_empty(), "{:?}", backend.hits());
    assert!(other.hits().is_empty(), "{:?}", other.hits());
    let [_, _, ("http", refused), _] = denials(&host, "fetcher") else { unreachable!() };
    assert_eq!(refused, 6);
}

#[tokio::test]
async fn an_adapter_granted_nothing_reaches_nothing() {
    let backend = Backend::start().await;
    let requested = vec![format!("127.0.0.1:{}", backend.port())];
    let host = fetcher_host(&requested, &[], "", &[]).await;
    let answer = fetch(&host, &backend.url("/ok")).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(backend.hits().is_empty());
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    let backend = Backend::start().await;
    let other = Backend::start().await;
    let port = backend.port();
    let granted = vec![format!("127.0.0.1:{port}"), format!("rebind.test:{port}")];
    let host = fetcher_host(&granted, &granted, "", &[("rebind.test", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))]).await;

    // To a port that was not granted: refused, and the other back-end never sees a request.
    let to_other = backend.url(&format!("/redirect/to?{}", other.url("/ok")));
    let answer = fetch(&host, &to_other).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(other.hits().is_empty());

    // To a granted name that resolves to a refused address.
    let to_rebind = backend.url(&format!("/redirect/to?http://rebind.test:{port}/ok"));
    let answer = fetch(&host, &to_rebind).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(answer["detail"].contains("127.0.0.3"), "{answer:?}");

    // To a metadata service's URL: refused by the grant before any resolution.
    let to_metadata = backend.url("/redirect/to?http://169.254.169.254/latest/meta-data/");
    let answer = fetch(&host, &to_metadata).await;
    assert_eq!(answer["outcome"], "not-granted", "{answer:?}");
    assert!(answer["detail"].contains("169.254.169.254:80"), "{answer:?}");

    // Endless redirects stop after five.
    let answer = fetch(&host, &backend.url("/redirect/loop")).await;
    assert_eq!(answer["outcome"], "other", "{answer:?}");
    assert!(answer["detail"].contains("redirects"), "{answer:?}");
    let loops = backend.hits().iter().filter(|p| *p == "/redirect/loop").count();
    assert_eq!(loops, 6);
    assert!(!backend.hits().contains(&"/ok".to_owned()));
}

#[tokio::test]
async fn a_slow_back_end_hits_the_timeout() {
    let backend = Backend::start().await;
    let granted = vec![format!("127.0.0.1:{}", backend.port())];
    let host = fetcher_host(&granted, &granted, "[egress]\ntimeout-ms = 3000\n", &[]).await;

    // The request's own, shorter timeout.
    let started = Instant::now();
    let answer = inquire(&host, "fetcher", "fetch", json!({ "url": backend.url("/slow"), "timeout-ms": 300 })).await;
    assert_eq!(answer["outcome"], "timeout", "{answer:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(2500), "{elapsed:?}");

    // The host's total timeout; a request cannot raise it.
    let started = Instant::now();
    let answer = inquire(&host, "fetcher", "fetch", json!({ "url": backend.url("/slow"), "timeout-ms": 60000 })).await;
    assert_eq!(answer["outcome"], "timeout", "{answer:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(3000) && elapsed < Duration::from_millis(4900), "{elapsed:?}");
}

/// A citizen who gives up waiting does not cut a call short: it runs to its end and its
/// evidence is recorded (a handler dropped halfway could leave a transaction open).
#[tokio::test]
async fn a_call_abandoned_by_its_client_still_finishes() {
    use tokio::io::AsyncWriteExt as _;
    let backend = Backend::start().await;
    let granted = vec![format!("127.0.0.1:{}", backend.port())];
    let host = fetcher_host(&granted, &granted, "", &[]).await;
    // The request, then the connection closed while the adapter waits on the back-end.
    let body = json!({ "input": { "url": backend.url("/delay") } }).to_string();
    let request = format!(
        "POST /api/v1/services/fetcher/fetch/inquiries HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(host.addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(socket);

    let auditor = host.operator("auditor", panjereh_host::store::operators::Role::Auditor).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, audit) = host.admin(reqwest::Method::GET, "/admin/v1/audit", &auditor, None).await;
        let finished = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "call.inquire" && e["data"]["outcome"] == "ok");
        if finished {
            break;
        }
        assert!(Instant::now() < deadline, "the abandoned call left no evidence: {audit}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn outbound_requests_of_one_adapter_are_limited_in_number() {
    let backend = Backend::start().await;
    let granted = vec![format!("127.0.0.1:{}", backend.port())];
    let host = fetcher_host(&granted, &granted, "[egress]\nmax-concurrent = 1\n", &[]).await;
    let url = backend.url("/delay");
    let started = Instant::now();
    let (a, b) = tokio::join!(fetch(&host, &url), fetch(&host, &url));
    assert_eq!((a["outcome"].as_str(), b["outcome"].as_str()), ("ok", "ok"));
    // One after the other: 2 x 300 ms.
    assert!(started.elapsed() >= Duration::from_millis(590), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_huge_response_is_cut_at_the_cap() {
    let backend = Backend::start().await;
    // Chunked, without a length: the cap is found while reading.
    let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for _ in 0..64 {
        chunked.extend_from_slice(format!("{:x}\r\n", 16 << 10).as_bytes());
        chunked.extend(std::iter::repeat_n(b'z', 16 << 10));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let raw = raw_backend(chunked).await;
    let granted = vec![format!("127.0.0.1:{}", backend.port()), format!("127.0.0.1:{}", raw.port())];
    let host = fetcher_host(&granted, &granted, "[egress]\nmax-response-kib = 64\n", &[]).await;

    let answer = fetch(&host, &backend.url("/huge")).await;
    assert_eq!((answer["outcome"].as_str(), answer["detail"].as_str()), ("too-large", "65536"));
    let answer = fetch(&host, &format!("http://{raw}/stream")).await;
    assert_eq!((answer["outcome"].as_str(), answer["detail"].as_str()), ("too-large", "65536"));
    let answer = fetch(&host, &backend.url("/ok")).await;
    assert_eq!(answer["outcome"], "ok");
}

const TLS_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tls");

/// A TLS back-end on 127.0.0.1 presenting the fixture certificate for `agency.test` and
/// `127.0.0.1`, issued by the fixture CA.
async fn tls_backend() -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let read = |file: &str| std::fs::read(format!("{TLS_FIXTURES}/{file}")).unwrap();
    let certs = CertificateDer::pem_slice_iter(&read("agency.crt")).collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(&read("agency.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else { return };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let body = "hello over TLS";
                let answer =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_back_ends_are_verified_against_the_trusted_roots() {
    let port = tls_backend().await.port();
    let hosts = vec![format!("agency.test:{port}"), format!("127.0.0.1:{port}"), format!("wrong.test:{port}")];
    let names = [("agency.test", LOCAL), ("wrong.test", LOCAL)];
    let trusting = format!("[egress]\nca-file = {:?}\n", format!("{TLS_FIXTURES}/ca.crt"));
    let host = fetcher_host(&hosts, &hosts, &trusting, &names).await;

    for url in [format!("https://agency.test:{port}/status"), format!("https://127.0.0.1:{port}/status")] {
        let answer = fetch(&host, &url).await;
        assert_eq!(
            (answer["outcome"].as_str(), answer["body"].as_str()),
            ("ok", "hello over TLS"),
            "{url}: {answer:?}"
        );
    }
    // The certificate is not valid for this name.
    let answer = fetch(&host, &format!("https://wrong.test:{port}/status")).await;
    assert_eq!(answer["outcome"], "connection-failed", "{answer:?}");
    assert!(answer["detail"].contains("TLS"), "{answer:?}");

    // Without the agency's CA, its certificate is not trusted.
    let host = fetcher_host(&hosts, &hosts, "", &names).await;
    let answer = fetch(&host, &format!("https://agency.test:{port}/status")).await;
    assert_eq!(answer["outcome"], "connection-failed", "{answer:?}");
}

async fn keep(host: &Host, agency: &str, input: Value) -> (String, String) {
    let items = inquire(host, agency, "store", input).await;
    (items["outcome"].clone(), items["value"].clone())
}

fn ok(value: &str) -> (String, String) {
    ("ok".to_owned(), value.to_owned())
}

#[tokio::test]
async fn adapters_keep_private_state_within_their_quota() {
    let grant =
        "[adapters.keeper]\ngrant = { kv-quota-kib = 1 }\n[adapters.keeper-two]\ngrant = { kv-quota-kib = 1 }\n";
    let host = Host::start(&[KEEPER, KEEPER_TWO, READER], grant).await;

    // The same key in two adapters: two values, each visible only to its owner.
    assert_eq!(keep(&host, "keeper", json!({"op": "set", "key": "note", "value": "alpha"})).await, ok(""));
    assert_eq!(keep(&host, "keeper-two", json!({"op": "set", "key": "note", "value": "beta"})).await, ok(""));
    assert_eq!(keep(&host, "keeper", json!({"op": "set", "key": "only-one", "value": "mine"})).await, ok(""));
    assert_eq!(keep(&host, "keeper", json!({"op": "get", "key": "note"})).await, ok("alpha"));
    assert_eq!(keep(&host, "keeper-two", json!({"op": "get", "key": "note"})).await, ok("beta"));
    assert_eq!(keep(&host, "keeper-two", json!({"op": "get", "key": "only-one"})).await, ok("<none>"));
    assert_eq!(keep(&host, "keeper", json!({"op": "list", "key": ""})).await, ok("note,only-one"));
    assert_eq!(keep(&host, "keeper-two", json!({"op": "list"})).await, ok("note"));
    // Deleting in one adapter leaves the other's key alone.
    assert_eq!(keep(&host, "keeper-two", json!({"op": "delete", "key": "only-one"})).await, ok(""));
    assert_eq!(keep(&host, "keeper", json!({"op": "get", "key": "only-one"})).await, ok("mine"));

    // The quota (1 KiB of keys and values): a write past it changes nothing.
    let (outcome, detail) = keep(&host, "keeper-two", json!({"op": "set", "key": "note", "size": 2000})).await;
    assert_eq!(outcome, "quota-exceeded", "{detail}");
    assert_eq!(keep(&host, "keeper-two", json!({"op": "get", "key": "note"})).await, ok("beta"));
    assert_eq!(keep(&host, "keeper-two", json!({"op": "set", "key": "fill", "size": 900})).await, ok(""));
    let (outcome, _) = keep(&host, "keeper-two", json!({"op": "set", "key": "more", "size": 200})).await;
    assert_eq!(outcome, "quota-exceeded");
    assert_eq!(keep(&host, "keeper-two", json!({"op": "delete", "key": "fill"})).await, ok(""));
    assert_eq!(keep(&host, "keeper-two", json!({"op": "set", "key": "more", "size": 200})).await, ok(""));

    // Keys are 1 to 256 bytes.
    let (outcome, _) = keep(&host, "keeper", json!({"op": "get", "key": ""})).await;
    assert_eq!(outcome, "invalid-key");
    let long = "ک".repeat(129);
    let (outcome, _) = keep(&host, "keeper", json!({"op": "set", "key": long, "value": "v"})).await;
    assert_eq!(outcome, "invalid-key");

    // Stored in the host's database, namespaced by adapter id.
    let db = host.app.db.clone();
    let stored = panjereh_host::store::kv::get(&db, "keeper-two", "note").await.unwrap();
    assert_eq!(stored.as_deref(), Some(&b"beta"[..]));
    assert_eq!(denials(&host, "keeper"), [("config", 0), ("kv", 0), ("http", 0), ("notify", 0)]);
}

#[tokio::test]
async fn storage_that_was_not_granted_is_refused() {
    // The manifest asks for storage; the operator approved none.
    let host = Host::start(&[KEEPER], "").await;
    let (outcome, detail) = keep(&host, "keeper", json!({"op": "set", "key": "k", "value": "v"})).await;
    assert_eq!(outcome, "not-granted");
    assert!(detail.contains("storage"), "{detail}");
    let (outcome, _) = keep(&host, "keeper", json!({"op": "list"})).await;
    assert_eq!(outcome, "not-granted");
    assert_eq!(denials(&host, "keeper")[1], ("kv", 2));
}

/// Captures what the host logs on this thread (the tests' runtime is single-threaded, so
/// adapter calls run here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn secrets_never_reach_the_log() {
    let (logs, _guard) = capture_logs();
    let backend = Backend::start().await;
    let granted = vec![format!("127.0.0.1:{}", backend.port())];
    let config = format!(
        "{}[adapters.reader.config]\napi-key = {{ secret = \"{SECRET}\" }}\nbase-url = \"http://agency\"\n\
         [adapters.reader]\ngrant = {{ config = [\"api-key\", \"base-url\"] }}\n",
        fetcher_config(&granted, "")
    );
    let manifest = fetcher_manifest(&granted);
    let host = Host::start_resolving(
        &[FETCHER, READER],
        &config,
        |dir| std::fs::write(dir.join("fetcher.toml"), manifest).unwrap(),
        &[],
    )
    .await;

    // The adapter uses the key (and logs it, which it should not), succeeds and fails.
    let answer = inquire(&host, "fetcher", "fetch", json!({ "url": backend.url("/key"), "log-key": "yes" })).await;
    assert_eq!(answer["body"], "key accepted");
    let answer =
        inquire(&host, "fetcher", "fetch", json!({ "url": backend.url("/slow?key=x"), "timeout-ms": 100 })).await;
    assert_eq!(answer["outcome"], "timeout");
    let answer = fetch(&host, "http://127.0.0.1:9/not-granted").await;
    assert_eq!(answer["outcome"], "not-granted");
    let answer = inquire(&host, "reader", "read", json!({ "key": "base-url" })).await;
    assert_eq!(answer["value"], "http://agency");
    let answer = inquire(&host, "reader", "read", json!({ "key": "database-password" })).await;
    assert_eq!(answer["outcome"], "not-granted");
    assert!(answer["value"].contains("database-password"));

    // Secrets are redacted wherever the operator may see configuration.
    let reader = host.app.registry.get("reader").unwrap().adapter;
    assert_eq!(reader.capabilities().redacted_config()["api-key"], "[redacted]");
    assert_eq!(reader.capabilities().redacted_config()["base-url"], "http://agency");
    assert!(!format!("{:?}", host.app.config).contains(SECRET));
    assert!(!format!("{:?}", reader.capabilities()).contains(SECRET));

    let text = logs.text();
    assert!(text.contains("outbound request"), "nothing captured: {text}");
    assert!(text.contains("calling the back-end with key [redacted]"), "{text}");
    assert!(!text.contains(SECRET), "a secret reached the log:\n{text}");
    // Outbound calls are logged with host, status, bytes and duration, never the query.
    let line = text.lines().find(|l| l.contains("outbound request") && l.contains("status=200")).unwrap();
    for field in ["adapter=\"fetcher\"", "version=\"0.1.0\"", "request_id=", "bytes=12", "ms="] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    assert!(line.contains(&format!("host=127.0.0.1:{}", backend.port())), "{line}");
    assert!(!text.contains("key=x"), "{text}");
}

#[tokio::test]
async fn adapter_log_lines_are_tagged_and_rate_limited() {
    let (logs, _guard) = capture_logs();
    let host = Host::start(&[READER], "").await;
    let (status, body) = host
        .post_lang("/api/v1/services/reader/read/inquiries", json!({"input": {"key": "x", "lines": 150}}), "en")
        .await;
    assert_eq!(status, 200, "{body}");
    let request_id = body["request_id"].as_str().unwrap();
    let text = logs.text();
    let lines: Vec<_> = text.lines().filter(|l| l.contains("reader line")).collect();
    assert_eq!(lines.len(), 100, "{text}");
    assert!(lines.iter().all(|l| l.contains("adapter=\"reader\"") && l.contains("version=\"0.1.0\"")), "{text}");
    assert!(lines.iter().all(|l| l.contains(request_id)), "{text}");
    assert_eq!(text.matches("adapter log rate limit reached").count(), 1, "{text}");
}
