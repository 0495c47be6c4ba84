//! ARM throttling as token buckets per subscription and operation kind
//! (reads, writes, deletes), as ARM's regional throttling does.

use std::{collections::HashMap, sync::Mutex, time::Instant};

/// Operation kinds ARM counts separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Read,
    Write,
    Delete,
}

impl OpKind {
    pub fn header(self) -> &'static str {
        match self {
            OpKind::Read => "x-ms-ratelimit-remaining-subscription-reads",
            OpKind::Write => "x-ms-ratelimit-remaining-subscription-writes",
            OpKind::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Read => "reads",
            OpKind::Write => "writes",
            OpKind::Delete => "deletes",
        }
    }
}

/// Bucket size and refill rate (tokens per real second).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct BucketSpec {
    pub burst: f64,
    pub per_sec: f64,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ThrottleConfig {
    pub reads: BucketSpec,
    pub writes: BucketSpec,
    pub deletes: BucketSpec,
    /// Data-plane reads (GET and HEAD) per registry replica; none when absent.
    #[serde(default)]
    pub registry_reads: Option<BucketSpec>,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            reads: BucketSpec { burst: 250.0, per_sec: 25.0 },
            writes: BucketSpec { burst: 200.0, per_sec: 10.0 },
            deletes: BucketSpec { burst: 200.0, per_sec: 10.0 },
            registry_reads: None,
        }
    }
}

impl ThrottleConfig {
    fn spec(&self, k: OpKind) -> BucketSpec {
        match k {
            OpKind::Read => self.reads,
            OpKind::Write => self.writes,
            OpKind::Delete => self.deletes,
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Outcome of taking a token.
pub enum Take {
    Allowed { remaining: u64 },
    Throttled { retry_after_secs: u64 },
}

pub struct Throttle {
    config: Mutex<ThrottleConfig>,
    buckets: Mutex<HashMap<(String, OpKind), Bucket>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Throttle {
        Throttle { config: Mutex::new(config), buckets: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> ThrottleConfig {
        self.config.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Replaces the limits and refills every bucket.
    pub fn set_config(&self, config: ThrottleConfig) {
        if let Ok(mut c) = self.config.lock() {
            *c = config;
        }
        if let Ok(mut b) = self.buckets.lock() {
            b.clear();
        }
    }

    pub fn take(&self, subscription: &str, kind: OpKind) -> Take {
        let spec = self.config().spec(kind);
        self.take_from(subscription, kind, spec)
    }

    /// A data-plane read of one registry replica (`registry:region`); always
    /// allowed when no registry read limit is set.
    pub fn take_registry_read(&self, replica: &str) -> Take {
        match self.config().registry_reads {
            Some(spec) => self.take_from(&format!("registry:{replica}"), OpKind::Read, spec),
            None => Take::Allowed { remaining: u64::MAX },
        }
    }

    fn take_from(&self, key: &str, kind: OpKind, spec: BucketSpec) -> Take {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Take::Allowed { remaining: 0 };
        };
        let now = Instant::now();
        let b = buckets.entry((key.to_string(), kind)).or_insert(Bucket { tokens: spec.burst, last: now });
        let elapsed = now.duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * spec.per_sec).min(spec.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Take::Allowed { remaining: b.tokens.floor() as u64 }
        } else {
            let need = 1.0 - b.tokens;
            let secs = if spec.per_sec > 0.0 { (need / spec.per_sec).ceil() as u64 } else { 60 };
            Take::Throttled { retry_after_secs: secs.max(1) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_throttles_with_retry_after() {
        let t = Throttle::new(ThrottleConfig { reads: BucketSpec { burst: 2.0, per_sec: 0.5 }, ..Default::default() });
        assert!(matches!(t.take("s", OpKind::Read), Take::Allowed { remaining: 1 }));
        assert!(matches!(t.take("s", OpKind::Read), Take::Allowed { remaining: 0 }));
        match t.take("s", OpKind::Read) {
            Take::Throttled { retry_after_secs } => assert_eq!(retry_after_secs, 2),
            Take::Allowed { .. } => panic!("third read must be throttled"),
        }
        // Other kinds and subscriptions have their own buckets.
        assert!(matches!(t.take("s", OpKind::Write), Take::Allowed { .. }));
        assert!(matches!(t.take("other", OpKind::Read), Take::Allowed { .. }));
    }
}
