//! The durable job queue, end to end, printed as a table (not criterion: each figure is one
//! run of the whole path): status changes recorded through `background::status_changed`
//! (the inbox message and its SMS job), the host's own worker claiming and running the jobs,
//! and the `mock-agencies` SMS gateway taking each SMS over loopback HTTP.
//!
//! - jobs per second: a backlog of changes recorded while the gateway held its sends, from
//!   the gateway taking sends again to the last SMS taken;
//! - lag: from a change being recorded to the gateway taking its SMS, p50 and p99, for
//!   changes at a steady rate the worker keeps up with (the worker's half-second tick is
//!   most of it).
//!
//! On a SQLite file, and on PostgreSQL at `PANJEREH_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`; the bench creates and drops its own
//! database, `panjereh_bench_queue`) when it answers. `PANJEREH_BENCH_JOBS` (2000) and
//! `PANJEREH_BENCH_WORKERS` (the default of `[notifications] workers`) change the run.
//!
//!     cargo bench -p panjereh-host --bench queue

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_agencies::sms;
use panjereh_host::app::App;
use panjereh_host::config::{Config, Overrides};
use panjereh_host::store::{citizens, now_ms};

const DATABASE: &str = "panjereh_bench_queue";
/// Changes per second in the steady run.
const STEADY_RATE: u64 = 100;
const STEADY_FOR: Duration = Duration::from_secs(5);

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is not a number: {v}")))
}

async fn start(database_url: &str, gateway: SocketAddr, dir: &Path) -> Arc<App> {
    let workers = env_number("PANJEREH_BENCH_WORKERS").map_or(String::new(), |n| format!("workers = {n}\n"));
    let config_file = dir.join("panjereh.toml");
    std::fs::write(
        &config_file,
        format!(
            "[auth.sms]\nurl = \"http://{gateway}\"\napi-key = {{ secret = \"bench-key\" }}\nsender = \"10004346\"\n\
             [notifications]\ndelivery-check-secs = 3600\n{workers}"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    let config = Config::load(Overrides {
        plugins_dir: Some(dir.join("plugins")),
        database_url: Some(database_url.to_owned()),
        config_file: Some(config_file),
        cache_dir: Some(dir.join("cache")),
        ..Default::default()
    })
    .unwrap();
    App::start(config).await.unwrap()
}

/// Lags in milliseconds, sorted.
struct Run {
    jobs: usize,
    elapsed: Duration,
    lags: Vec<u64>,
}

impl Run {
    fn percentile(&self, p: f64) -> u64 {
        let index = ((self.lags.len() as f64 * p).ceil() as usize).clamp(1, self.lags.len()) - 1;
        self.lags[index]
    }
}

/// Records `count` status changes, one citizen (and mobile) each, `every` apart (none: as
/// fast as they go, with the gateway holding every send until all are recorded), and waits
/// until the gateway took every SMS.
async fn changes(app: &App, gateway: &sms::Handle, prefix: &str, count: usize, every: Option<Duration>) -> Run {
    let mut who = Vec::with_capacity(count);
    for i in 0..count {
        let mobile = format!("{prefix}{i:07}");
        let citizen = citizens::upsert(&app.db, &format!("{prefix}{i:06}"), &mobile).await.unwrap();
        who.push((citizen.id, mobile));
    }
    let mut recorded = HashMap::with_capacity(count);
    gateway.set_paused(every.is_none());
    let mut pace = every.map(tokio::time::interval);
    for (i, (citizen, mobile)) in who.iter().enumerate() {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let code = format!("BENCH{i:06}");
        panjereh_host::background::status_changed(app, citizen, &code, "approved", "تأیید شد", "approved")
            .await
            .unwrap();
        recorded.insert(mobile.clone(), now_ms());
    }
    let first = now_ms();
    gateway.set_paused(false);
    let deadline = Instant::now() + Duration::from_secs(300);
    let taken = loop {
        let taken: Vec<_> = gateway.sent().into_iter().filter(|m| m.receptor.starts_with(prefix)).collect();
        if taken.len() >= count || Instant::now() > deadline {
            break taken;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(taken.len(), count, "the gateway took every SMS once");
    let last = taken.iter().map(|m| m.received_ms).max().unwrap_or_default();
    let mut lags: Vec<u64> = taken.iter().map(|m| m.received_ms.saturating_sub(recorded[&m.receptor] as u64)).collect();
    lags.sort_unstable();
    Run { jobs: count, elapsed: Duration::from_millis(last.saturating_sub(first as u64).max(1)), lags }
}

async fn bench(name: &str, database_url: &str, jobs: usize) {
    let gateway = sms::Handle::keeping("bench-key", 4 * jobs + 1000);
    let (addr, _served) = mock_agencies::serve(SocketAddr::from(([127, 0, 0, 1], 0)), gateway.router()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = start(database_url, addr, dir.path()).await;
    let workers = app.config.notifications.workers;
    let burst = changes(&app, &gateway, "0912", jobs, None).await;
    let steady_count = (STEADY_RATE * STEADY_FOR.as_secs()) as usize;
    let steady = changes(&app, &gateway, "0913", steady_count, Some(Duration::from_millis(1000 / STEADY_RATE))).await;
    println!(
        "| {name} | {workers} | {} | {:.0} | {STEADY_RATE}/s × {} | {} / {} ms |",
        burst.jobs,
        burst.jobs as f64 / burst.elapsed.as_secs_f64(),
        steady.jobs,
        steady.percentile(0.5),
        steady.percentile(0.99),
    );
}

async fn postgres(sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let admin = std::env::var("PANJEREH_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut conn = sqlx::PgConnection::connect(&admin).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await
}

fn postgres_url() -> String {
    let admin = std::env::var("PANJEREH_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{DATABASE}")
}

fn main() {
    let jobs = env_number("PANJEREH_BENCH_JOBS").unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        println!("| database | workers | backlog | jobs/s | steady changes | lag p50 / p99 |");
        println!("|---|---|---|---|---|---|");
        let dir = tempfile::tempdir().unwrap();
        bench("SQLite", &format!("sqlite://{}", dir.path().join("queue.db").display()), jobs).await;
        let drop = format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)");
        let created = match postgres(&drop).await {
            Ok(()) => postgres(&format!("CREATE DATABASE {DATABASE}")).await,
            Err(error) => Err(error),
        };
        match created {
            Ok(()) => {
                bench("PostgreSQL", &postgres_url(), jobs).await;
                postgres(&drop).await.unwrap();
            }
            Err(error) => println!("| PostgreSQL | skipped: {error} | | | | |"),
        }
    });
}
