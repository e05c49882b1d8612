//! Prometheus metrics: calls by adapter, service and outcome, call latency, CPU-budget and
//! memory-limit kills, capability denials, outbound requests and bytes, instances in use and
//! the versions loaded on this replica.

use std::sync::OnceLock;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::plugins::{Operation, Registry};
use crate::runtime::{CallError, Runtime};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .expect("static bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (embedding); then we only render ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The outcome label of a call: `ok`, `adapter_error`, or why it was stopped (one of
/// [`CallError::REASONS`]).
pub fn outcome<T, E>(result: &Result<Result<T, E>, CallError>) -> &'static str {
    match result {
        Ok(Ok(_)) => "ok",
        Ok(Err(_)) => "adapter_error",
        Err(stopped) => stopped.reason(),
    }
}

/// Records one adapter call.
pub fn record_call<T, E>(
    adapter: &str,
    service: &str,
    operation: Operation,
    result: &Result<Result<T, E>, CallError>,
    elapsed: Duration,
) {
    let labels = [
        ("adapter", adapter.to_owned()),
        ("service", service.to_owned()),
        ("operation", operation.as_str().to_owned()),
    ];
    metrics::histogram!("panjereh_adapter_call_seconds", &labels).record(elapsed.as_secs_f64());
    let mut labels = labels.to_vec();
    labels.push(("outcome", outcome(result).to_owned()));
    metrics::counter!("panjereh_adapter_calls_total", &labels).increment(1);
}

/// Renders the exposition text, refreshing the gauges that describe this replica.
pub fn render(registry: &Registry, runtime: &Runtime, db: &crate::store::Db) -> String {
    let handle = handle();
    metrics::counter!("panjereh_catalogue_builds_total").absolute(registry.catalogue_builds());
    // On SQLite: the group commits of durable writes, and the writes they held.
    if let Some((commits, writes)) = db.group_commits() {
        metrics::counter!("panjereh_db_group_commits_total").absolute(commits);
        metrics::counter!("panjereh_db_group_writes_total").absolute(writes);
    }
    let in_use = runtime.instances_in_use();
    metrics::gauge!("panjereh_instances_in_use").set(in_use as f64);
    let pools = runtime.pools();
    let (used, capacity) = (pools.in_use(), pools.capacity());
    for (kind, used, capacity) in [
        ("component_instances", used.component_instances, capacity.component_instances),
        ("core_instances", used.core_instances, capacity.core_instances),
        ("memories", used.memories, capacity.memories),
        ("tables", used.tables, capacity.tables),
        ("stacks", used.stacks, capacity.stacks),
    ] {
        metrics::gauge!("panjereh_pool_slots_in_use", "kind" => kind).set(f64::from(used));
        metrics::gauge!("panjereh_pool_slots", "kind" => kind).set(f64::from(capacity));
    }
    for slot in registry.snapshot().values() {
        let a = &slot.adapter;
        let labels = [
            ("adapter", a.manifest.id.clone()),
            ("version", a.manifest.version.to_string()),
            ("agency", a.agency.id.clone()),
            ("enabled", slot.enabled.to_string()),
        ];
        metrics::gauge!("panjereh_adapter_loaded", &labels).set(1.0);
        let id = [("adapter", a.manifest.id.clone())];
        // A busy refusal is back-pressure, not a kill: it is counted in the calls' outcomes.
        for (reason, value) in a.kill_counters().stopped().filter(|(reason, _)| *reason != "busy") {
            let mut labels = id.to_vec();
            labels.push(("reason", reason.to_owned()));
            metrics::counter!("panjereh_adapter_kills_total", &labels).absolute(value);
        }
        for (capability, value) in a.denials() {
            let mut labels = id.to_vec();
            labels.push(("capability", capability.to_owned()));
            metrics::counter!("panjereh_capability_denials_total", &labels).absolute(value);
        }
        let egress = &a.capabilities().egress.stats;
        for (outcome, value) in [("completed", &egress.completed), ("failed", &egress.failed)] {
            let mut labels = id.to_vec();
            labels.push(("outcome", outcome.to_owned()));
            metrics::counter!("panjereh_egress_requests_total", &labels).absolute(value.load(Relaxed));
        }
        metrics::counter!("panjereh_egress_response_bytes_total", &id).absolute(egress.bytes.load(Relaxed));
        let log = &a.capabilities().log;
        for (outcome, value) in [("written", &log.written), ("dropped", &log.dropped)] {
            let mut labels = id.to_vec();
            labels.push(("outcome", outcome.to_owned()));
            metrics::counter!("panjereh_adapter_log_lines_total", &labels).absolute(value.load(Relaxed));
        }
        let demand = a.pool_demand();
        for (kind, value) in
            [("core_instances", demand.core_instances), ("memories", demand.memories), ("tables", demand.tables)]
        {
            let mut labels = id.to_vec();
            labels.push(("kind", kind.to_owned()));
            metrics::gauge!("panjereh_adapter_pool_slots_per_call", &labels).set(f64::from(value));
        }
    }
    handle.render()
}
