//! Prometheus metrics (`/metrics`, the classic text format).
//!
//! Counters and histograms are recorded where things happen (the poller,
//! the migration engine, the webhook receiver, presence); gauges that are
//! a view of stored state (presence, replica states, migration items, ARM
//! quota) are set from storage when the metrics are scraped, so they are
//! never stale. One recorder per process, installed on first use.

use std::{sync::OnceLock, time::Duration};

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use regatlas_arm::ArmClient;
use regatlas_domain::{ItemState, ReplicaState};

use crate::storage::Storage;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Buckets of the lag histogram, in seconds (1 s to 2 h).
const LAG_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0];
const CYCLE_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

fn describe() {
    describe_histogram!(
        "regatlas_replication_lag_seconds",
        Unit::Seconds,
        "Time from a push's first arrival (the receiving replica) to its arrival in a region."
    );
    describe_gauge!("regatlas_leader", "1 while this instance leads (runs the poller, migrations and presence upkeep), else 0.");
    describe_gauge!("regatlas_presence_ratio", "Share of tracked tags whose newest digest a region serves (0 to 1).");
    describe_gauge!("regatlas_presence_missing_tags", "Tracked tags whose newest digest a region does not serve yet.");
    describe_gauge!("regatlas_presence_tags", "Tags tracked for presence in a registry.");
    describe_gauge!("regatlas_replica_state", "1 for a replica's current state, 0 for the others.");
    describe_histogram!("regatlas_poll_cycle_duration_seconds", Unit::Seconds, "Duration of one poll cycle over every registry.");
    describe_counter!("regatlas_poll_cycles_total", "Poll cycles run.");
    describe_counter!("regatlas_poll_errors_total", "Registries or subscriptions a poll cycle could not read.");
    describe_counter!("regatlas_arm_requests_total", "Requests sent to Azure Resource Manager, per subscription.");
    describe_counter!("regatlas_arm_throttled_total", "ARM responses that were 429 (throttled), per subscription.");
    describe_counter!("regatlas_arm_retries_total", "ARM requests sent again after a transient failure, per subscription.");
    describe_gauge!("regatlas_arm_remaining_requests", "ARM's x-ms-ratelimit-remaining-subscription-* header as last seen, per subscription and kind.");
    describe_gauge!("regatlas_migration_items", "Items of an active migration by state.");
    describe_counter!("regatlas_migration_imports_total", "importImage operations finished, by outcome.");
    describe_histogram!("regatlas_migration_item_batch_size", "Item writes per transaction of the migration engine's group commit.");
    describe_counter!("regatlas_registry_reads_throttled_total", "Data-plane reads a registry answered 429 (throttled) and the engine sent again.");
    describe_counter!("regatlas_webhook_events_total", "Webhook events recorded, by whether they told something new.");
    describe_counter!("regatlas_presence_webhooks_created_total", "Regional webhooks Regatlas created for presence tracking.");
    describe_counter!("regatlas_webhook_events_refused_total", "Webhook deliveries refused, by reason.");
}

/// The process's recorder (installed once). `None` if another recorder
/// was installed first (then metrics are not served).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("regatlas_replication_lag_seconds".into()), LAG_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("regatlas_poll_cycle_duration_seconds".into()), CYCLE_BUCKETS))
                .map(|b| b.idle_timeout(metrics_util::MetricKindMask::GAUGE, Some(Duration::from_secs(600))));
            match builder.and_then(|b| b.install_recorder()) {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

pub fn webhook_events(received: u64, new: u64) {
    counter!("regatlas_webhook_events_total", "outcome" => "new").increment(new);
    counter!("regatlas_webhook_events_total", "outcome" => "duplicate").increment(received.saturating_sub(new));
}

pub fn webhook_refused(reason: &'static str) {
    counter!("regatlas_webhook_events_refused_total", "reason" => reason).increment(1);
}

pub fn presence_hook_created() {
    counter!("regatlas_presence_webhooks_created_total").increment(1);
}

pub fn lag(registry: &str, region: &str, secs: f64) {
    histogram!("regatlas_replication_lag_seconds", "registry" => registry.to_string(), "region" => region.to_string()).record(secs);
}

pub fn poll_cycle(elapsed: Duration, errors: usize) {
    histogram!("regatlas_poll_cycle_duration_seconds").record(elapsed.as_secs_f64());
    counter!("regatlas_poll_cycles_total").increment(1);
    counter!("regatlas_poll_errors_total").increment(errors as u64);
}

pub fn import_finished(outcome: &'static str) {
    counter!("regatlas_migration_imports_total", "outcome" => outcome).increment(1);
}

pub fn item_batch(writes: usize) {
    histogram!("regatlas_migration_item_batch_size").record(writes as f64);
}

pub fn registry_read_throttled() {
    counter!("regatlas_registry_reads_throttled_total").increment(1);
}

/// What `/metrics` reads at scrape time.
#[derive(Clone)]
pub struct Scrape {
    pub storage: Storage,
    pub arm: ArmClient,
}

impl Scrape {
    /// Sets the gauges from stored state, then renders every metric.
    pub async fn render(&self) -> Option<String> {
        let handle = handle()?;
        self.refresh().await;
        handle.run_upkeep();
        Some(handle.render())
    }

    async fn refresh(&self) {
        for (sub, s) in self.arm.stats() {
            counter!("regatlas_arm_requests_total", "subscription" => sub.clone()).absolute(s.requests);
            counter!("regatlas_arm_throttled_total", "subscription" => sub.clone()).absolute(s.throttled);
            counter!("regatlas_arm_retries_total", "subscription" => sub.clone()).absolute(s.retries);
            for (kind, v) in [("reads", s.remaining_reads), ("writes", s.remaining_writes), ("deletes", s.remaining_deletes)] {
                if let Some(v) = v {
                    gauge!("regatlas_arm_remaining_requests", "subscription" => sub.clone(), "kind" => kind).set(v as f64);
                }
            }
        }
        match self.storage.topology().await {
            Ok(topology) => {
                let since = crate::storage::now();
                for t in topology {
                    // Lower case, as in the lag histogram (which has the ARM id's name).
                    let registry = t.registry.name.as_str().to_ascii_lowercase();
                    for (r, seen) in t.replicas.iter().filter(|(_, s)| !s.gone) {
                        let _ = seen;
                        let now = r.state();
                        for st in ReplicaState::ALL {
                            gauge!("regatlas_replica_state", "registry" => registry.clone(), "region" => r.location.as_str().to_string(), "state" => st.as_str())
                                .set(if *st == now { 1.0 } else { 0.0 });
                        }
                    }
                    if let Ok(Some(_)) = self.storage.tracking(&t.registry.id).await {
                        let regions: Vec<regatlas_domain::Region> = t.replicas.iter().filter(|(_, s)| !s.gone).map(|(r, _)| r.location.clone()).collect();
                        if let Ok((total, per_region)) = self.storage.presence_counts(&t.registry.id, &regions, &since).await {
                            gauge!("regatlas_presence_tags", "registry" => registry.clone()).set(total as f64);
                            for (r, _) in t.replicas.iter().filter(|(_, s)| !s.gone) {
                                let present = per_region.get(r.location.as_str()).map(|c| c.present).unwrap_or(0);
                                let labels = [("registry", registry.clone()), ("region", r.location.as_str().to_string())];
                                gauge!("regatlas_presence_ratio", &labels).set(if total > 0 { present as f64 / total as f64 } else { 1.0 });
                                gauge!("regatlas_presence_missing_tags", &labels).set((total - present).max(0) as f64);
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read the topology"),
        }
        if let Ok(active) = self.storage.active_migrations().await {
            for id in active {
                if let Ok(Some(m)) = self.storage.migration(&id).await {
                    let c = &m.counts;
                    for (state, n) in [
                        (ItemState::Pending, c.to_copy - c.imported - c.failed - c.in_flight),
                        (ItemState::Importing, c.in_flight),
                        (ItemState::Imported, c.imported),
                        (ItemState::Failed, c.failed),
                    ] {
                        gauge!("regatlas_migration_items", "migration" => id.clone(), "state" => state.as_str()).set(n.max(0) as f64);
                    }
                }
            }
        }
    }
}
