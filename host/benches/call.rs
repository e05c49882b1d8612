//! One adapter call (fresh store + instantiate from `InstancePre` + `describe` or a typical
//! `inquire` + drop) and the whole HTTP inquiry path through the router (no TCP), one at a
//! time and 16 at once, for the utility-bills adapter.
//!
//! Run with `cargo xtask bench`, which builds the adapters into `plugins-dist/` first.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use panjereh_host::app::App;
use panjereh_host::config::{Config, Overrides};
use panjereh_host::runtime::bindings::{CallContext, Value};
use tower::ServiceExt;

// The allocator of the `panjereh` binary (host/src/main.rs), so the figures are the host's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn plugins_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins-dist");
    assert!(dir.join("utility-bills.wasm").is_file(), "run `cargo xtask plugins` (or `cargo xtask bench`) first");
    dir
}

fn start(rt: &tokio::runtime::Runtime) -> (Arc<App>, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::load(Overrides {
        plugins_dir: Some(plugins_dir()),
        database_url: Some(format!("sqlite://{}", data.path().join("bench.db").display())),
        ..Default::default()
    })
    .unwrap();
    // Every request of the bench comes from one client, without an address.
    config.server.anonymous_inquiries_per_minute = None;
    (rt.block_on(App::start(config)).unwrap(), data)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, _data) = start(&rt);
    let adapter = app.registry.get("utility-bills").unwrap().adapter;

    c.bench_function("adapter call: instantiate + describe + drop", |b| {
        b.to_async(&rt).iter(|| async { adapter.describe().await.unwrap() })
    });

    c.bench_function("adapter call: instantiate + inquire + drop", |b| {
        b.to_async(&rt).iter(|| async {
            let ctx = CallContext {
                request_id: "0123456789abcdef".into(),
                service: "bill-details".into(),
                citizen: None,
                locale: "fa".into(),
            };
            let input = vec![
                Value { name: "bill-id".into(), value: "7748317800142".into() },
                Value { name: "payment-id".into(), value: "1770160".into() },
            ];
            adapter.inquire(ctx, input).await.unwrap().unwrap()
        })
    });

    let router = panjereh_host::api::router(app.clone());
    // One request at a time: each waits for its own evidence commit (one fsync).
    c.bench_function("HTTP inquiry through the router", |b| b.to_async(&rt).iter(|| inquiry(router.clone())));
    // As under load: 16 at once, whose evidence shares commits. Criterion's time is for
    // the 16; its throughput line is inquiries a second.
    let mut group = c.benchmark_group("HTTP inquiries through the router");
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function("16 at once", |b| {
        b.to_async(&rt).iter(|| async {
            let all: Vec<_> = (0..CONCURRENT).map(|_| tokio::spawn(inquiry(router.clone()))).collect();
            for one in all {
                one.await.unwrap();
            }
        })
    });
    group.finish();
}

/// The anonymous bills inquiry, answered 200.
async fn inquiry(router: axum::Router) {
    let body = r#"{"input":{"bill-id":"7748317800142","payment-id":"1770160"}}"#;
    let request = Request::post("/api/v1/services/utility-bills/bill-details/inquiries")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
}

/// Inquiries in flight at once in the concurrent case, as `scripts/load.sh`'s wrk runs.
const CONCURRENT: usize = 16;

criterion_group!(benches, bench);
criterion_main!(benches);
