//! The outbound HTTP client of adapters: one buffered request in, one response out.
//!
//! The host resolves names itself (through an injectable [`Resolve`]), checks every
//! resolved address against the [`EgressPolicy`](super::policy::EgressPolicy) and connects
//! to exactly the addresses it checked, so a name cannot be re-resolved to somewhere else
//! between the check and the connection. Redirects are followed by hand, each hop checked
//! again. Every request runs under a connect timeout, a total timeout, a response size cap
//! and a per-adapter limit on concurrent requests, and is logged without body, query or
//! header values.
//!
//! After a complete answer the connection is kept, for a short while, for the same
//! adapter's next request to the same name and checked address: each adapter has its own
//! idle connections, and a request uses one only after its own checks.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::rustls;

use super::policy::{Destination, EgressPolicy, Refused};
use super::resolve::{Resolve, SystemResolver};
use crate::capabilities::Capabilities;
use crate::runtime::bindings::http::{Header, HttpError, Method, Request, Response};

/// Host-wide settings of adapters' outbound HTTP (`[egress]` in the configuration).
#[derive(Debug, Clone)]
pub struct EgressOptions {
    /// Time to establish one TCP connection (and TLS session).
    pub connect_timeout: Duration,
    /// Time for a whole request, redirects and body included; a request may lower it.
    pub timeout: Duration,
    /// Largest response body read; a larger one fails with `too-large`.
    pub max_response_bytes: u64,
    /// Outbound requests one adapter may have in flight at once.
    pub max_concurrent: u32,
    /// Redirects followed before giving up.
    pub max_redirects: u8,
    /// Turns names into addresses.
    pub resolver: Arc<dyn Resolve>,
    /// Certificate authorities trusted besides the Mozilla roots, for agencies whose
    /// back-ends use a private CA (`[egress] ca-file`).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for EgressOptions {
    fn default() -> Self {
        EgressOptions {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            max_response_bytes: 4 << 20,
            max_concurrent: 8,
            max_redirects: 5,
            resolver: Arc::new(SystemResolver),
            extra_roots: Vec::new(),
        }
    }
}

/// One adapter's outbound HTTP: what it may reach, the host's settings and its own limit
/// on concurrent requests.
#[derive(Debug)]
pub struct Egress {
    pub(crate) policy: EgressPolicy,
    options: EgressOptions,
    permits: Arc<Semaphore>,
    /// TLS settings, built on the first `https` request.
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    /// Connections kept open after a complete exchange, for this adapter's next requests.
    idle: Mutex<Vec<Kept>>,
    /// Counters for metrics.
    pub stats: EgressStats,
}

/// Idle connections one adapter keeps, at most.
const IDLE_MAX: usize = 8;
/// How long an idle connection may wait for its next request: below the shortest
/// keep-alive time of common servers (5 s for Apache httpd and Node.js), so the host seldom
/// writes to a connection the back-end is closing.
const IDLE_FOR: Duration = Duration::from_secs(4);
/// How long one connection serves at most, however busy: a new one is made (and its TLS
/// session verified again) after that.
const MAX_AGE: Duration = Duration::from_secs(300);

/// Where a connection leads: the scheme, the name it was made for (TLS verified that
/// name) and the address it was made to, one the grant allowed when it was opened. A kept
/// connection is used again only for the same scheme and name, and only while that address
/// is still among the checked answers for the name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    https: bool,
    destination: Destination,
    addr: SocketAddr,
}

/// An open HTTP/1.1 connection and the task that drives it (aborted with it).
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    _driver: AbortOnDrop,
    opened: Instant,
}

/// An idle connection and when it was put back.
struct Kept {
    route: Route,
    connection: Connection,
    since: Instant,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept").field("route", &self.route).field("since", &self.since).finish()
    }
}

/// Outbound requests of one adapter, for metrics.
#[derive(Debug, Default)]
pub struct EgressStats {
    /// Requests answered by the back-end (any status).
    pub completed: AtomicU64,
    /// Requests that failed (refused, timed out, too large, connection failed, ...).
    pub failed: AtomicU64,
    /// Response body bytes received.
    pub bytes: AtomicU64,
}

impl Default for Egress {
    fn default() -> Self {
        Egress::new(EgressPolicy::default(), EgressOptions::default())
    }
}

/// Why one request failed, before it becomes the WIT `http-error`.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Refused(Refused),
    #[error("{0}")]
    Invalid(String),
    #[error("the back-end did not answer in time")]
    Timeout,
    #[error("the response is larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

impl SendError {
    fn kind(&self) -> &'static str {
        match self {
            SendError::Refused(_) => "not-granted",
            SendError::Invalid(_) => "invalid-request",
            SendError::Timeout => "timeout",
            SendError::TooLarge(_) => "too-large",
            SendError::Connect(_) => "connection-failed",
            SendError::Other(_) => "other",
        }
    }
}

impl From<SendError> for HttpError {
    fn from(error: SendError) -> HttpError {
        match error {
            SendError::Refused(refused) => HttpError::NotGranted(refused.to_string()),
            SendError::Invalid(message) => HttpError::InvalidRequest(message),
            SendError::Timeout => HttpError::Timeout,
            SendError::TooLarge(cap) => HttpError::TooLarge(cap),
            SendError::Connect(message) => HttpError::ConnectionFailed(message),
            SendError::Other(message) => HttpError::Other(message),
        }
    }
}

/// Request headers an adapter may not set: the host manages the connection and framing.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "http2-settings",
];

/// Headers dropped when a redirect leaves the original destination.
const CREDENTIAL_HEADERS: &[HeaderName] = &[header::AUTHORIZATION, header::COOKIE];

impl Egress {
    /// An adapter's client for the destinations its `policy` allows.
    pub fn new(policy: EgressPolicy, options: EgressOptions) -> Egress {
        let permits = Arc::new(Semaphore::new(options.max_concurrent.max(1) as usize));
        Egress { policy, options, permits, tls: OnceLock::new(), idle: Mutex::default(), stats: EgressStats::default() }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|kept| {
            kept.since.elapsed() < IDLE_FOR
                && kept.connection.opened.elapsed() < MAX_AGE
                && !kept.connection.sender.is_closed()
        });
        idle
    }

    /// An idle connection for `https` to `destination` at one of `addrs` (just checked).
    fn take_idle(&self, https: bool, destination: &Destination, addrs: &[SocketAddr]) -> Option<(Route, Connection)> {
        let mut idle = self.idle();
        let found = idle.iter().rposition(|kept| {
            let route = &kept.route;
            route.https == https && route.destination == *destination && addrs.contains(&route.addr)
        })?;
        let kept = idle.swap_remove(found);
        Some((kept.route, kept.connection))
    }

    /// Keeps `connection` for the next request to `route`, the oldest one giving way.
    fn keep(&self, route: Route, connection: Connection) {
        let mut idle = self.idle();
        if idle.len() >= IDLE_MAX {
            idle.remove(0);
        }
        idle.push(Kept { route, connection, since: Instant::now() });
    }

    /// Idle connections kept now.
    pub fn idle_connections(&self) -> usize {
        self.idle().len()
    }

    /// The TLS settings: the Mozilla roots and the operator's extra roots, HTTP/1.1 only.
    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, SendError> {
        self.tls
            .get_or_init(|| tls_config(&self.options.extra_roots))
            .clone()
            .map_err(|e| SendError::Other(format!("TLS is unavailable: {e}")))
    }

    /// The host-wide settings this client runs under.
    pub fn options(&self) -> &EgressOptions {
        &self.options
    }
}

/// Sends `request` for the adapter behind `caps`, checking every hop against its grant,
/// and logs the outcome.
pub(crate) async fn send(caps: &Capabilities, request_id: &str, request: Request) -> Result<Response, HttpError> {
    let egress = &caps.egress;
    let started = Instant::now();
    let method = method_name(request.method);
    let mut total = egress.options.timeout;
    if let Some(ms) = request.timeout_ms {
        total = total.min(Duration::from_millis(u64::from(ms)));
    }
    // What the log names: the first destination (never the path, query or headers).
    let mut target = String::from("-");
    let outcome = match tokio::time::timeout(total, exchange(caps, request, &mut target)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(SendError::Timeout),
    };
    let ms = started.elapsed().as_millis() as u64;
    let (adapter, version) = (caps.adapter.as_str(), caps.version.as_str());
    match &outcome {
        Ok((response, redirects)) => {
            let bytes = response.body.len() as u64;
            egress.stats.completed.fetch_add(1, Ordering::Relaxed);
            egress.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
            tracing::info!(
                target: "egress", adapter, version, request_id, method, host = %target,
                status = response.status, bytes, ms, redirects, "outbound request"
            );
        }
        Err(error) => {
            egress.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "egress", adapter, version, request_id, method, host = %target,
                error = error.kind(), reason = %error, ms, "outbound request failed"
            );
        }
    }
    outcome.map(|(response, _)| response).map_err(HttpError::from)
}

/// The request with its redirects; returns the final response and the redirects taken.
async fn exchange(caps: &Capabilities, request: Request, target: &mut String) -> Result<(Response, u8), SendError> {
    let egress = &caps.egress;
    let mut url = parse_url(&request.url)?;
    let mut destination = destination_of(&url)?;
    *target = destination.to_string();
    caps.check_http_destination(&destination).map_err(SendError::Refused)?;
    let mut headers = sanitize_headers(&request.headers)?;
    let mut method = to_http_method(request.method);
    let mut body = request.body.map(Bytes::from).unwrap_or_default();

    let _permit = egress
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| SendError::Other("the outbound HTTP client is shutting down".into()))?;

    let mut redirects = 0u8;
    let cap = egress.options.max_response_bytes;
    loop {
        let addrs = resolve_checked(caps, &url, &destination).await?;
        let https = url.scheme() == "https";
        // A kept connection first. If it turns out closed before the request went out on
        // it, or (for a method that may be repeated) the back-end closed it as the request
        // went out, a new one; a POST that went out is never sent twice.
        let mut kept = egress.take_idle(https, &destination, &addrs);
        let (route, connection, response) = loop {
            let reused = kept.is_some();
            let (route, mut connection) = match kept.take() {
                Some(kept) => kept,
                None => open(egress, &addrs, &destination, &url).await?,
            };
            let repeatable = reused && method.is_idempotent();
            match round_trip(&mut connection, &url, &method, &headers, body.clone(), cap, repeatable).await? {
                Sent::Answered(exchange) => break (route, connection, exchange),
                Sent::Unsent(_) if reused => continue,
                Sent::Unsent(reason) => return Err(SendError::Connect(reason)),
            }
        };
        // A complete answer leaves the connection ready for the next request; after a
        // redirect its body was not read, so it is closed.
        if matches!(response, Exchange::Done(_)) && !connection.sender.is_closed() {
            egress.keep(route, connection);
        }
        let (status, location) = match response {
            Exchange::Done(response) => return Ok((response, redirects)),
            Exchange::Redirect { status, location } => (status, location),
        };
        if redirects >= egress.options.max_redirects {
            return Err(SendError::Other(format!("more than {} redirects", egress.options.max_redirects)));
        }
        redirects += 1;
        let next = url.join(&location).map_err(|_| SendError::Other("the back-end sent an invalid redirect".into()))?;
        let next = parse_url(next.as_str())?;
        let next_destination = destination_of(&next)?;
        caps.check_http_destination(&next_destination).map_err(SendError::Refused)?;
        if next_destination != destination || next.scheme() != url.scheme() {
            for name in CREDENTIAL_HEADERS {
                headers.remove(name);
            }
        }
        // 303, and 301/302 after a POST, continue as GET without a body (as browsers do).
        if status == 303 || (matches!(status, 301 | 302) && method == http::Method::POST) {
            if method != http::Method::HEAD {
                method = http::Method::GET;
            }
            body = Bytes::new();
            headers.remove(header::CONTENT_TYPE);
        }
        url = next;
        destination = next_destination;
    }
}

fn parse_url(text: &str) -> Result<url::Url, SendError> {
    let url = url::Url::parse(text).map_err(|e| SendError::Invalid(format!("the URL is invalid: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SendError::Invalid(format!("scheme `{}` is not supported; use http or https", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SendError::Invalid("credentials in the URL are not allowed; send a header".into()));
    }
    Ok(url)
}

fn destination_of(url: &url::Url) -> Result<Destination, SendError> {
    let port = url.port_or_known_default().ok_or_else(|| SendError::Invalid("the URL has no port".into()))?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
        Some(url::Host::Ipv4(ip)) => return Ok(Destination::for_ip(IpAddr::V4(ip), port)),
        Some(url::Host::Ipv6(ip)) => return Ok(Destination::for_ip(IpAddr::V6(ip), port)),
        None => return Err(SendError::Invalid("the URL has no host".into())),
    };
    Ok(Destination { host, port })
}

/// The addresses to connect to, every one of them checked against the grant.
async fn resolve_checked(
    caps: &Capabilities,
    url: &url::Url,
    destination: &Destination,
) -> Result<Vec<SocketAddr>, SendError> {
    let ips = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(url::Host::Domain(name)) => caps
            .egress
            .options
            .resolver
            .resolve(name)
            .await
            .map_err(|e| SendError::Connect(format!("cannot resolve `{}`: {e}", destination.host)))?,
        None => return Err(SendError::Invalid("the URL has no host".into())),
    };
    if ips.is_empty() {
        return Err(SendError::Connect(format!("`{}` has no address", destination.host)));
    }
    // One refused address refuses the name: a rebinding answer may mix good and bad ones.
    let mut addrs = Vec::with_capacity(ips.len());
    for ip in ips {
        let addr = SocketAddr::new(ip.to_canonical(), destination.port);
        caps.check_http_address(destination, addr).map_err(SendError::Refused)?;
        addrs.push(addr);
    }
    Ok(addrs)
}

async fn connect(
    addrs: &[SocketAddr],
    destination: &Destination,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), SendError> {
    let mut last = String::new();
    for &addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(error)) => last = error.to_string(),
            Err(_) => last = format!("no connection within {timeout:?}"),
        }
    }
    Err(SendError::Connect(format!("cannot connect to `{destination}`: {last}")))
}

/// TLS client settings trusting the Mozilla roots and `extra` roots, HTTP/1.1 only.
fn tls_config(extra: &[rustls::pki_types::CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let (_, refused) = roots.add_parsable_certificates(extra.iter().cloned());
    if refused > 0 {
        return Err(format!("{refused} of the extra root certificates cannot be used"));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn tls_connect(
    egress: &Egress,
    stream: TcpStream,
    url: &url::Url,
    destination: &Destination,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SendError> {
    let timeout = egress.options.connect_timeout;
    let name = match url.host() {
        Some(url::Host::Domain(name)) => rustls::pki_types::ServerName::try_from(name.to_owned())
            .map_err(|_| SendError::Invalid(format!("`{name}` is not a valid TLS server name")))?,
        Some(url::Host::Ipv4(ip)) => rustls::pki_types::ServerName::IpAddress(IpAddr::V4(ip).into()),
        Some(url::Host::Ipv6(ip)) => rustls::pki_types::ServerName::IpAddress(IpAddr::V6(ip).into()),
        None => return Err(SendError::Invalid("the URL has no host".into())),
    };
    let connector = tokio_rustls::TlsConnector::from(egress.tls()?);
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(error)) => Err(SendError::Connect(format!("TLS with `{destination}` failed: {error}"))),
        Err(_) => Err(SendError::Connect(format!("TLS with `{destination}` took longer than {timeout:?}"))),
    }
}

/// What one hop produced.
enum Exchange {
    Done(Response),
    Redirect { status: u16, location: String },
}

/// Aborts the connection task when the connection is dropped, however its exchange ended.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens a connection to the first of `addrs` that answers (TLS for `https`).
async fn open(
    egress: &Egress,
    addrs: &[SocketAddr],
    destination: &Destination,
    url: &url::Url,
) -> Result<(Route, Connection), SendError> {
    let (stream, addr) = connect(addrs, destination, egress.options.connect_timeout).await?;
    let https = url.scheme() == "https";
    let connection = if https {
        handshake(tls_connect(egress, stream, url, destination).await?).await?
    } else {
        handshake(stream).await?
    };
    Ok((Route { https, destination: destination.clone(), addr }, connection))
}

async fn handshake<S>(stream: S) -> Result<Connection, SendError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Connect(format!("HTTP handshake failed: {e}")))?;
    let driver = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    Ok(Connection { sender, _driver: driver, opened: Instant::now() })
}

/// How one request on a connection went.
enum Sent {
    Answered(Exchange),
    /// The connection was closed before the request went out on it, or, when the request
    /// may be repeated, as it went out (why).
    Unsent(String),
}

/// One request on `connection`; `repeatable`: a request the back-end's closing cut off
/// (before any answer) may be sent again.
async fn round_trip(
    connection: &mut Connection,
    url: &url::Url,
    method: &http::Method,
    headers: &HeaderMap,
    body: Bytes,
    cap: u64,
    repeatable: bool,
) -> Result<Sent, SendError> {
    if let Err(error) = connection.sender.ready().await {
        return Ok(Sent::Unsent(format!("{error}")));
    }
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    let authority = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return Err(SendError::Invalid("the URL has no host".into())),
    };
    let mut builder = http::Request::builder().method(method.clone()).uri(path).header(header::HOST, authority);
    if !headers.contains_key(header::USER_AGENT) {
        builder = builder.header(header::USER_AGENT, "panjereh");
    }
    let mut request = builder.body(Full::new(body)).map_err(|e| SendError::Invalid(e.to_string()))?;
    request.headers_mut().extend(headers.clone());

    let response = match connection.sender.try_send_request(request).await {
        Ok(response) => response,
        Err(mut error) => {
            let unsent = error.take_message().is_some();
            let error = error.into_error();
            let cut_off = repeatable && error.is_incomplete_message();
            let reason = format!("{error}");
            return if unsent || cut_off { Ok(Sent::Unsent(reason)) } else { Err(SendError::Connect(reason)) };
        }
    };
    let status = response.status().as_u16();
    if response.status().is_redirection()
        && let Some(location) = response.headers().get(header::LOCATION)
    {
        let location =
            location.to_str().map_err(|_| SendError::Other("the back-end sent an invalid redirect".into()))?.to_owned();
        return Ok(Sent::Answered(Exchange::Redirect { status, location }));
    }
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // A HEAD answer declares the length of a body it does not send.
    if *method != http::Method::HEAD && declared.is_some_and(|n| n > cap) {
        return Err(SendError::TooLarge(cap));
    }
    let headers = response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some(Header { name: name.as_str().to_owned(), value: value.to_str().ok()?.to_owned() })
        })
        .collect();
    let mut incoming = response.into_body();
    let mut body = Vec::new();
    while let Some(frame) = incoming.frame().await {
        let frame = frame.map_err(|e| SendError::Connect(format!("reading the response failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if body.len() as u64 + data.len() as u64 > cap {
                return Err(SendError::TooLarge(cap));
            }
            body.extend_from_slice(&data);
        }
    }
    Ok(Sent::Answered(Exchange::Done(Response { status, headers, body })))
}

/// Checks and copies the adapter's headers, dropping those the host manages.
fn sanitize_headers(headers: &[Header]) -> Result<HeaderMap, SendError> {
    let mut map = HeaderMap::new();
    for h in headers {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| SendError::Invalid(format!("`{}` is not a valid header name", h.name.escape_debug())))?;
        if FORBIDDEN_HEADERS.contains(&name.as_str()) {
            continue;
        }
        // The value may be a credential: never repeat it.
        let value = HeaderValue::from_str(&h.value)
            .map_err(|_| SendError::Invalid(format!("the value of header `{name}` is not valid")))?;
        map.append(name, value);
    }
    Ok(map)
}

fn to_http_method(method: Method) -> http::Method {
    match method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Patch => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
        Method::Head => http::Method::HEAD,
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kept_connection_serves_only_its_scheme_name_and_a_checked_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let name = Destination { host: "agency.test".into(), port: addr.port() };
        let elsewhere: SocketAddr = "127.0.0.2:80".parse().unwrap();
        let egress = Egress::default();
        let kept = |https| async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            (
                Route { https, destination: Destination { host: "agency.test".into(), port: addr.port() }, addr },
                handshake(stream).await.unwrap(),
            )
        };
        let (route, connection) = kept(false).await;
        egress.keep(route, connection);
        // The name now resolves elsewhere: the connection to the old address is not used.
        assert!(egress.take_idle(false, &name, &[elsewhere]).is_none());
        // Not for HTTPS, nor for another name of the same address.
        assert!(egress.take_idle(true, &name, &[addr]).is_none());
        assert!(egress.take_idle(false, &Destination::for_ip(addr.ip(), addr.port()), &[addr]).is_none());
        let (route, _) = egress.take_idle(false, &name, &[elsewhere, addr]).expect("still a checked address");
        assert_eq!(route.addr, addr);
        assert_eq!(egress.idle_connections(), 0, "taken, not shared");

        for _ in 0..IDLE_MAX + 2 {
            let (route, connection) = kept(false).await;
            egress.keep(route, connection);
        }
        assert_eq!(egress.idle_connections(), IDLE_MAX, "the oldest give way");
    }

    #[test]
    fn forbidden_headers_are_dropped_and_bad_ones_refused() {
        let h = |n: &str, v: &str| Header { name: n.into(), value: v.into() };
        let map = sanitize_headers(&[
            h("Host", "evil.example"),
            h("Transfer-Encoding", "chunked"),
            h("Connection", "upgrade"),
            h("X-Api-Key", "s3cret"),
            h("Accept", "application/json"),
        ])
        .unwrap();
        assert_eq!(map.len(), 2);
        assert!(map.contains_key("x-api-key") && map.contains_key("accept"));

        let error = sanitize_headers(&[h("X-Api-Key", "line\nbreak-s3cret")]).unwrap_err();
        assert!(!error.to_string().contains("s3cret"), "{error}");
        assert!(sanitize_headers(&[h("bad name", "v")]).is_err());
    }

    #[test]
    fn urls_are_parsed_into_destinations() {
        let d = |s: &str| destination_of(&parse_url(s).unwrap()).unwrap().to_string();
        assert_eq!(d("https://API.agency.ir/x?y"), "api.agency.ir:443");
        assert_eq!(d("http://127.0.0.1:8080/"), "127.0.0.1:8080");
        assert_eq!(d("http://[::1]:81/"), "[::1]:81");
        // Odd IPv4 spellings are normalized by the URL parser, not smuggled past the grant.
        assert_eq!(d("http://2130706433/"), "127.0.0.1:80");
        assert_eq!(d("http://0x7f.1/"), "127.0.0.1:80");
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("http://user:pw@example.org/").is_err());
        assert!(parse_url("not a url").is_err());
    }

    /// An adapter granted `granted`, resolving names only through `map` (never the network).
    fn caps_resolving(granted: &[&str], map: &[(&str, &[&str])]) -> Capabilities {
        let grant = crate::capabilities::Grant {
            http_hosts: granted.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        };
        let resolver = super::super::resolve::TestResolver::only(
            map.iter().map(|(name, ips)| (*name, ips.iter().map(|ip| ip.parse::<IpAddr>().unwrap()).collect())),
        );
        let services = crate::capabilities::HostServices {
            db: None,
            egress: EgressOptions { resolver: Arc::new(resolver), ..EgressOptions::default() },
        };
        Capabilities::new("probe", "probe", "1.0.0", grant, &Default::default(), &services)
    }

    async fn check(caps: &Capabilities, url: &str) -> Result<Vec<SocketAddr>, SendError> {
        let url = parse_url(url).unwrap();
        resolve_checked(caps, &url, &destination_of(&url).unwrap()).await
    }

    #[tokio::test]
    async fn a_granted_name_resolving_to_a_refused_address_is_refused_before_connecting() {
        let caps = caps_resolving(
            &["api.agency.test:443", "meta.agency.test:443", "public.agency.test:443"],
            &[
                ("api.agency.test", &["10.0.0.1"]),
                ("meta.agency.test", &["169.254.169.254"]),
                ("public.agency.test", &["185.143.232.10"]),
            ],
        );
        for (url, ip) in [("https://api.agency.test/x", "10.0.0.1"), ("https://meta.agency.test/", "169.254.169.254")] {
            match check(&caps, url).await {
                Err(SendError::Refused(Refused::Address { ip: refused, .. })) => assert_eq!(refused.to_string(), ip),
                other => panic!("{url}: {other:?}"),
            }
        }
        // A public answer is accepted, and the checked address is the one returned.
        let addrs = check(&caps, "https://public.agency.test/").await.unwrap();
        assert_eq!(addrs, ["185.143.232.10:443".parse::<SocketAddr>().unwrap()]);
        assert_eq!(caps.denials.http.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn one_refused_address_among_several_refuses_the_name() {
        let caps = caps_resolving(&["api.agency.test:80"], &[("api.agency.test", &["185.143.232.10", "fd00::1"])]);
        let error = check(&caps, "http://api.agency.test/").await.unwrap_err();
        assert!(error.to_string().contains("fd00::1"), "{error}");
    }

    #[tokio::test]
    async fn unknown_names_are_not_looked_up_by_the_test_resolver() {
        let caps = caps_resolving(&["nowhere.test:80"], &[]);
        let error = check(&caps, "http://nowhere.test/").await.unwrap_err();
        assert_eq!(error.kind(), "connection-failed");
    }

    #[test]
    fn tls_settings_build() {
        assert!(tls_config(&[]).is_ok());
        let junk = rustls::pki_types::CertificateDer::from(vec![1, 2, 3]);
        assert!(tls_config(&[junk]).is_err());
    }
}
