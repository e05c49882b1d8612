//! One adapter call (fresh store + instantiate from `InstancePre` + `describe` + drop) and
//! the whole HTTP inquiry path through the router (no TCP), for the utility-bills adapter.
//!
//! Run with `cargo xtask bench`, which builds the adapters into `plugins-dist/` first.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use panjereh_host::app::App;
use panjereh_host::config::{Config, Overrides};
use tower::ServiceExt;

fn plugins_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins-dist");
    assert!(dir.join("utility-bills.wasm").is_file(), "run `cargo xtask plugins` (or `cargo xtask bench`) first");
    dir
}

fn start(rt: &tokio::runtime::Runtime) -> (Arc<App>, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let config = Config::load(Overrides {
        plugins_dir: Some(plugins_dir()),
        database_url: Some(format!("sqlite://{}", data.path().join("bench.db").display())),
        ..Default::default()
    })
    .unwrap();
    (rt.block_on(App::start(config)).unwrap(), data)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, _data) = start(&rt);
    let adapter = app.registry.get("utility-bills").unwrap().adapter;

    c.bench_function("adapter call: instantiate + describe + drop", |b| {
        b.to_async(&rt).iter(|| async { adapter.describe().await.unwrap() })
    });

    let router = panjereh_host::api::router(app.clone());
    let body = r#"{"input":{"bill-id":"7748317800142","payment-id":"1770160"}}"#;
    c.bench_function("HTTP inquiry through the router", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::post("/api/v1/services/utility-bills/bill-details/inquiries")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
