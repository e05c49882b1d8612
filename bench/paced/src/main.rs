//! Open-loop load at a fixed rate: requests go out on a schedule, whether or not the
//! answers keep up. A request held back because the answer before it on its connection
//! came late is counted from the moment it was due, so a server that falls behind shows
//! it in the percentiles (wrk counts from the moment it actually sent, and sends the next
//! request only after an answer: a stall hides in the requests never sent).
//!
//! ```text
//! paced --rate 5000 --duration 10 --connections 16 [--header 'name: value']... [--body JSON] URL
//! ```
//!
//! Prints one line: `rate=<answered per second> p50_ms=… p99_ms=… max_ms=… non2xx=… errors=…`.
//! With a body the requests are POSTs (`content-type: application/json`), otherwise GETs.
//!
//! tokio's timers tick in milliseconds: above about `connections` × 1000 requests a second
//! (the `/healthz` row), a connection's requests leave in bunches at each tick and the later
//! ones of a bunch count from when they were due, so such a p99 is an upper bound.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// What to send, how often, and for how long.
#[derive(Debug, Clone)]
struct Plan {
    rate: f64,
    duration: Duration,
    connections: usize,
    headers: Vec<(String, String)>,
    body: Option<String>,
    host: String,
    path: String,
}

/// What one connection saw.
#[derive(Debug, Default)]
struct Seen {
    latencies_us: Vec<u64>,
    non_2xx: u64,
    errors: u64,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Plan, String> {
    let (mut rate, mut duration, mut connections) = (None, 10.0, 16);
    let (mut headers, mut body, mut url) = (Vec::new(), None, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--rate" => rate = Some(value()?.parse::<f64>().map_err(|e| format!("--rate: {e}"))?),
            "--duration" => duration = value()?.parse::<f64>().map_err(|e| format!("--duration: {e}"))?,
            "--connections" => connections = value()?.parse().map_err(|e| format!("--connections: {e}"))?,
            "--header" => {
                let header = value()?;
                let (name, v) = header.split_once(':').ok_or(format!("--header {header}: expected 'name: value'"))?;
                headers.push((name.trim().to_owned(), v.trim().to_owned()));
            }
            "--body" => body = Some(value()?),
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    let rate = rate.filter(|r| *r > 0.0).ok_or("--rate must be given, above 0")?;
    let url = url.ok_or("the URL must be given")?;
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(at) => (rest[..at].to_owned(), rest[at..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    };
    if connections == 0 || duration <= 0.0 {
        return Err("--connections and --duration must be above 0".into());
    }
    Ok(Plan { rate, duration: Duration::from_secs_f64(duration), connections, headers, body, host, path })
}

/// Connection `index` sends every `connections`-th request of the schedule.
async fn connection(plan: &Plan, index: usize, start: Instant) -> Seen {
    let mut seen = Seen::default();
    let mut sender = None;
    let period = Duration::from_secs_f64(plan.connections as f64 / plan.rate);
    let mut due = start + Duration::from_secs_f64(index as f64 / plan.rate);
    let end = start + plan.duration;
    let mut answered_at = start;
    while due < end {
        tokio::time::sleep_until(due).await;
        // A request is late by the server's fault when the answer before it came after it
        // was due: its latency then counts from when it was due. Otherwise it counts from
        // when it left, so the timer's own lateness (tokio's timers tick in milliseconds)
        // is not charged to the server.
        let from = if answered_at > due { due } else { Instant::now() };
        if sender.is_none() {
            sender = connect(&plan.host).await.ok();
        }
        let answered = match sender.as_mut() {
            Some(s) => send(s, plan).await,
            None => Err(()),
        };
        match answered {
            Ok(status) => {
                answered_at = Instant::now();
                seen.latencies_us.push((answered_at - from).as_micros() as u64);
                if !(200..300).contains(&status) {
                    seen.non_2xx += 1;
                }
            }
            Err(()) => {
                answered_at = Instant::now();
                seen.errors += 1;
                sender = None;
            }
        }
        due += period;
    }
    seen
}

async fn connect(host: &str) -> Result<http1::SendRequest<Full<Bytes>>, ()> {
    let stream = TcpStream::connect(host).await.map_err(drop)?;
    stream.set_nodelay(true).map_err(drop)?;
    let (sender, driver) = http1::handshake(TokioIo::new(stream)).await.map_err(drop)?;
    tokio::spawn(driver);
    Ok(sender)
}

/// One request, its whole answer read: the status.
async fn send(sender: &mut http1::SendRequest<Full<Bytes>>, plan: &Plan) -> Result<u16, ()> {
    sender.ready().await.map_err(drop)?;
    let mut request = Request::builder().uri(&plan.path).header("host", &plan.host);
    for (name, value) in &plan.headers {
        request = request.header(name, value);
    }
    let request = match &plan.body {
        Some(body) => {
            request.method("POST").header("content-type", "application/json").body(Full::new(Bytes::from(body.clone())))
        }
        None => request.body(Full::new(Bytes::new())),
    }
    .map_err(drop)?;
    let response = sender.send_request(request).await.map_err(drop)?;
    let status = response.status().as_u16();
    response.into_body().collect().await.map_err(drop)?;
    Ok(status)
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[at] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let plan = match parse(std::env::args().skip(1)) {
        Ok(plan) => plan,
        Err(why) => {
            eprintln!("paced: {why}");
            eprintln!("usage: paced --rate R [--duration S] [--connections N] [--header 'k: v']... [--body JSON] URL");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = (0..plan.connections)
        .map(|i| {
            let plan = plan.clone();
            tokio::spawn(async move { connection(&plan, i, start).await })
        })
        .collect();
    let mut all = Seen::default();
    for task in tasks {
        let Ok(seen) = task.await else { continue };
        all.latencies_us.extend(seen.latencies_us);
        all.non_2xx += seen.non_2xx;
        all.errors += seen.errors;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    println!(
        "rate={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} non2xx={} errors={}",
        all.latencies_us.len() as f64 / elapsed,
        percentile_ms(&all.latencies_us, 0.50),
        percentile_ms(&all.latencies_us, 0.99),
        percentile_ms(&all.latencies_us, 1.0),
        all.non_2xx,
        all.errors
    );
    ExitCode::SUCCESS
}
