//! Replication lag and sync progress from stored arrivals: pure functions.
//!
//! Lag of a region for one push = its arrival there − the push's first
//! arrival anywhere (the receiving replica). The receiving replica itself
//! is not a sample.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use regatlas_domain::presence::{LagSample, RegionCounts};

/// Lag of one region over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LagStats {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    /// Samples within the objective's time.
    pub within: usize,
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Seconds from `from` to `to` (0 if either does not parse or `to` is earlier).
pub fn seconds_between(from: &str, to: &str) -> f64 {
    match (parse_time(from), parse_time(to)) {
        (Some(a), Some(b)) => ((b - a).num_milliseconds().max(0) as f64) / 1000.0,
        _ => 0.0,
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Lag per region, in seconds.
pub fn lag_by_region(samples: &[LagSample], objective_secs: f64) -> BTreeMap<String, LagStats> {
    let mut by: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in samples {
        by.entry(s.region.as_str().to_string()).or_default().push(s.lag_secs.max(0.0));
    }
    by.into_iter()
        .map(|(region, mut v)| {
            v.sort_by(f64::total_cmp);
            let stats = LagStats {
                count: v.len(),
                p50: percentile(&v, 50.0),
                p95: percentile(&v, 95.0),
                max: v.last().copied().unwrap_or(0.0),
                within: v.iter().filter(|x| **x <= objective_secs).count(),
            };
            (region, stats)
        })
        .collect()
}

/// Of the error budget (the share of arrivals allowed to miss the
/// objective), how much is spent: 0 none, 1 all, above 1 overspent.
pub fn budget_spent(within: usize, count: usize, objective_share: f64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let missed = 1.0 - within as f64 / count as f64;
    let allowed = (1.0 - objective_share).max(1e-9);
    missed / allowed
}

/// A region catching up: share present, rate and ETA, or stalled.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub share: f64,
    /// Tags that arrived per minute over the last ten minutes.
    pub per_minute: f64,
    pub eta_secs: Option<f64>,
    /// Incomplete, and nothing arrived for this many minutes.
    pub stalled_minutes: Option<i64>,
}

/// After this long without an arrival, an incomplete region is flagged.
pub const STALL_MINUTES: i64 = 10;

pub fn progress(total: i64, c: &RegionCounts, now: DateTime<Utc>) -> Progress {
    let share = if total > 0 { c.present as f64 / total as f64 } else { 1.0 };
    let per_minute = c.recent as f64 / 10.0;
    let missing = (total - c.present).max(0) as f64;
    let eta_secs = (missing > 0.0 && per_minute > 0.0).then(|| missing / per_minute * 60.0);
    let idle = c.last_arrival.as_deref().and_then(parse_time).map(|t| (now - t).num_minutes());
    let stalled_minutes = match idle {
        Some(m) if missing > 0.0 && m >= STALL_MINUTES => Some(m),
        _ => None,
    };
    Progress { share, per_minute, eta_secs, stalled_minutes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regatlas_domain::Region;

    fn s(region: &str, lag_secs: f64) -> LagSample {
        LagSample { region: Region::parse(region).expect("r"), lag_secs }
    }

    #[test]
    fn lag_is_per_region() {
        let mut v = Vec::new();
        for i in 1..=20 {
            v.push(s("westeurope", i as f64));
        }
        v.push(s("canadacentral", 190.0));
        let lag = lag_by_region(&v, 10.0);
        let we = &lag["westeurope"];
        assert_eq!((we.count, we.p50, we.p95, we.max, we.within), (20, 10.0, 19.0, 20.0, 10));
        assert_eq!(lag["canadacentral"].max, 190.0);
        assert_eq!(lag["canadacentral"].within, 0);
    }

    #[test]
    fn budget_spent_compares_misses_with_what_the_objective_allows() {
        assert_eq!(budget_spent(0, 0, 0.95), 0.0);
        assert!((budget_spent(95, 100, 0.95) - 1.0).abs() < 1e-9);
        assert!((budget_spent(99, 100, 0.95) - 0.2).abs() < 1e-9);
        assert!(budget_spent(50, 100, 0.95) > 1.0);
    }

    #[test]
    fn progress_gives_rate_eta_and_stalls() {
        let now = parse_time("2026-01-01T01:00:00Z").expect("t");
        let moving = RegionCounts { present: 50, present_bytes: 0, recent: 20, last_arrival: Some("2026-01-01T00:59:00Z".into()) };
        let p = progress(100, &moving, now);
        assert_eq!((p.share, p.per_minute, p.eta_secs, p.stalled_minutes), (0.5, 2.0, Some(1500.0), None));
        let stuck = RegionCounts { present: 50, present_bytes: 0, recent: 0, last_arrival: Some("2026-01-01T00:30:00Z".into()) };
        assert_eq!(progress(100, &stuck, now).stalled_minutes, Some(30));
        let done = RegionCounts { present: 100, present_bytes: 0, recent: 0, last_arrival: Some("2026-01-01T00:00:00Z".into()) };
        assert_eq!(progress(100, &done, now).stalled_minutes, None);
    }
}
