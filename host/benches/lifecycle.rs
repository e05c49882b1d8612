//! Operator-facing figures, printed as a table (not criterion: each is a one-shot timing):
//!
//! - upload to first successful call, cold (empty compiled-code cache) and cached;
//! - host start with N adapters, without and with the compiled-code cache;
//! - requests per second of a steady load, without swaps and while swapping versions.
//!
//! `cargo xtask bench` builds `plugins-dist/` and N generated adapters into
//! `target/bench-adapters/dist` (set `PANJEREH_BENCH_ADAPTERS` to use another folder).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use panjereh_host::app::App;
use panjereh_host::config::{Config, Overrides};
use panjereh_host::plugins::lifecycle::{Package, Source};
use tower::ServiceExt;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn start(plugins: &Path, data: &Path, cache: &Path) -> (Arc<App>, Duration) {
    let config = Config::load(Overrides {
        plugins_dir: Some(plugins.to_path_buf()),
        database_url: Some(format!("sqlite://{}", data.join("bench.db").display())),
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    let started = Instant::now();
    let app = App::start(config).await.unwrap();
    (app, started.elapsed())
}

async fn inquiry(router: &axum::Router) -> u16 {
    let request = Request::post("/api/v1/services/utility-bills/bill-details/inquiries")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"input":{"bill-id":"7748317800142","payment-id":"1770160"}}"#))
        .unwrap();
    router.clone().oneshot(request).await.unwrap().status().as_u16()
}

fn package(version: &str) -> Package {
    let dist = root().join("plugins-dist");
    let manifest = std::fs::read_to_string(dist.join("utility-bills.toml")).unwrap();
    Package {
        manifest: manifest.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")),
        wasm: std::fs::read(dist.join("utility-bills.wasm")).unwrap(),
        signature: None,
    }
}

async fn upload_to_first_call(cache: &Path) -> Duration {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (app, _) = start(empty.path(), data.path(), cache).await;
    let router = panjereh_host::api::router(app.clone());
    let started = Instant::now();
    app.plugins.install(package("0.1.0"), Source::Upload, "bench", true).await.unwrap();
    assert_eq!(inquiry(&router).await, 200);
    started.elapsed()
}

async fn load(router: &axum::Router, for_: Duration, swapping: Option<Arc<App>>) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (router, stop, ok, failed) = (router.clone(), stop.clone(), ok.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if inquiry(&router).await == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    if let Some(app) = swapping {
        let mut toggle = false;
        while started.elapsed() < for_ {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let version = if toggle { "0.1.0" } else { "0.2.0" };
            app.plugins.activate("utility-bills", Some(version), "bench").await.unwrap();
            toggle = !toggle;
        }
    } else {
        tokio::time::sleep(for_).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    (ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64(), failed.load(Ordering::Relaxed))
}

fn main() {
    assert!(
        root().join("plugins-dist/utility-bills.wasm").is_file(),
        "run `cargo xtask bench` (it builds plugins-dist/)"
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        println!("| figure | value |\n|---|---|");

        let cache = tempfile::tempdir().unwrap();
        let cold = upload_to_first_call(cache.path()).await;
        let cached = upload_to_first_call(cache.path()).await;
        println!("| upload to first call, cold compile | {:.1} ms |", cold.as_secs_f64() * 1e3);
        println!("| upload to first call, compiled-code cache | {:.1} ms |", cached.as_secs_f64() * 1e3);

        let many = std::env::var_os("PANJEREH_BENCH_ADAPTERS")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/bench-adapters/dist"));
        if many.is_dir() {
            let n = std::fs::read_dir(&many)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "wasm"))
                .count();
            let cache = tempfile::tempdir().unwrap();
            let (_, without) = start(&many, tempfile::tempdir().unwrap().path(), cache.path()).await;
            let (app, with) = start(&many, tempfile::tempdir().unwrap().path(), cache.path()).await;
            assert_eq!(app.registry.snapshot().len(), n);
            println!(
                "| host start with {n} adapters, no compiled-code cache | {:.0} ms |",
                without.as_secs_f64() * 1e3
            );
            println!("| host start with {n} adapters, compiled-code cache | {:.0} ms |", with.as_secs_f64() * 1e3);
        }

        let data = tempfile::tempdir().unwrap();
        let (app, _) = start(&root().join("plugins-dist"), data.path(), cache.path()).await;
        app.plugins.install(package("0.2.0"), Source::Upload, "bench", false).await.unwrap();
        let router = panjereh_host::api::router(app.clone());
        let (steady, failed_steady) = load(&router, Duration::from_secs(5), None).await;
        let (swapping, failed_swapping) = load(&router, Duration::from_secs(5), Some(app.clone())).await;
        println!("| steady load, in-process router, 8 workers | {steady:.0} req/s ({failed_steady} failed) |");
        println!("| same load while swapping versions every 250 ms | {swapping:.0} req/s ({failed_swapping} failed) |");
        println!("| ratio during swaps / steady | {:.2} |", swapping / steady);
    });
}
