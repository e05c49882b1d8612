//! The HTTP server: HTTP/1.1 connections on a bound listener, with limits on what one
//! client may hold (`[server]` in the configuration), and a graceful shutdown.
//!
//! - At most `max-connections` connections are served at once. The host accepts the next
//!   one only when a slot is free, so further clients wait in the kernel's listen queue
//!   while the connections already open keep being served.
//! - A request's head must arrive within `header-timeout-secs` of the host starting to wait
//!   for it (hyper's header read timeout): a client that sends its headers a byte at a time,
//!   or keeps a connection open without sending anything, loses it.
//! - A request's body must arrive within `body-timeout-secs` of its head ([`body_deadline`]):
//!   a client that dribbles a body gets a 408 problem and the connection is closed.
//! - A connection on which no byte moves either way for `idle-timeout-secs` while no
//!   handler is working on one of its requests is closed: a client that stops reading its
//!   answers would otherwise hold its slot for as long as it likes.
//!
//! Handlers run on tasks of their own (see `run_to_completion` in [`super`]), so closing a
//! connection never cuts a handler short; only its answer is lost.

use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::problem::{Bilingual, Problem};
use crate::config::ServerSettings;

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// each connection finish the request it is on, and returns when all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = settings.max_connections.min(Semaphore::MAX_PERMITS) as u32;
    let slots = Arc::new(Semaphore::new(max as usize));
    let (closing, closed) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(stream, peer, router.clone(), settings, closed.clone(), slot));
    }
    drop(listener);
    let _ = closing.send(true);
    // Every connection gives its slot back when it ends.
    let _all = slots.acquire_many(max).await;
    Ok(())
}

/// A failed `accept`: a client that gave up before it was accepted is nothing to wait
/// for; anything else (out of file descriptors) gets a pause before trying again.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(error.kind(), ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused)
    {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; trying again in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection, holding its slot until it ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    settings: ServerSettings,
    mut closing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let handlers = activity.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        let working = Working::start(handlers.clone());
        async move {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let response = router.oneshot(request).await;
            drop(working);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(settings.header_timeout);
    let mut served = pin!(builder.serve_connection(io, service));
    let mut shutting_down = *closing.borrow();
    if shutting_down {
        served.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                served.as_mut().graceful_shutdown();
            }
            () = activity.idle(settings.idle_timeout) => {
                tracing::debug!(%peer, "closing a connection idle for idle-timeout-secs");
                return;
            }
        }
    }
}

/// When bytes last moved on a connection, and how many of its requests handlers are
/// working on.
#[derive(Debug)]
struct Activity {
    opened: Instant,
    /// Milliseconds after `opened`.
    last_ms: AtomicU64,
    working: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity { opened: Instant::now(), last_ms: AtomicU64::new(0), working: AtomicUsize::new(0) }
    }

    fn touch(&self) {
        self.last_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `limit` while no handler was working.
    async fn idle(&self, limit: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + limit;
            if self.working.load(Ordering::Relaxed) > 0 {
                // A handler's own limits bound its work; the clock starts again when it
                // answers (see `Working`).
                tokio::time::sleep(limit).await;
            } else if Instant::now() >= deadline {
                return;
            } else {
                tokio::time::sleep_until(deadline).await;
            }
        }
    }
}

/// A handler working on a request of the connection, from its head until its answer.
struct Working(Arc<Activity>);

impl Working {
    fn start(activity: Arc<Activity>) -> Self {
        activity.working.fetch_add(1, Ordering::Relaxed);
        Working(activity)
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.touch();
        self.0.working.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream that notes when bytes move through it.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    fn moved<T>(&self, result: Poll<std::io::Result<T>>, bytes: impl FnOnce(&T) -> usize) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Ok(value)) = &result
            && bytes(value) > 0
        {
            self.activity.touch();
        }
        result
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.moved(result, |()| read)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.moved(result, |n| *n)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.moved(result, |n| *n)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Gives a request's body `timeout` from now to arrive whole. A body still arriving after
/// it fails to read, whatever the handler then answers is replaced by a 408 problem, and
/// the connection is closed (what is left of the body is never read).
pub async fn body_deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let expired = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            expired: expired.clone(),
        })
    });
    let response = next.run(request).await;
    if !expired.load(Ordering::Relaxed) {
        return response;
    }
    tracing::info!("a request body took longer than body-timeout-secs");
    let mut response = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        Bilingual::new("ارسال درخواست بیش از حد طول کشید", "The request took too long to send"),
    )
    .detail(Bilingual::new(
        format!("بدنه درخواست باید در {} ثانیه برسد؛ دوباره بفرستید.", timeout.as_secs()),
        format!("the request body must arrive within {} seconds; send it again", timeout.as_secs()),
    ))
    .into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

/// The error a body past its deadline reads with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within body-timeout-secs")]
struct BodyTimedOut;

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
