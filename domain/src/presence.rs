//! Presence: which digest each region serves for each tag, when it arrived,
//! and how far behind the receiving replica each region was (replication
//! lag). Arrivals come from regional webhooks (live), from a webhook's
//! `listEvents` (catch-up after downtime) and from HEAD probes of regional
//! endpoints (confirmation and backfill).
//!
//! Times are RFC 3339 strings with milliseconds (UTC), as everywhere in
//! storage; the arithmetic on them lives in the server.

use crate::{Digest, Region, Repository, Tag};

string_enum! {
    /// How an arrival became known.
    pub enum PresenceSource {
        /// The region's own webhook called the receiver.
        Webhook => "webhook",
        /// Read back from the region's webhook `listEvents` (after downtime).
        CatchUp => "catch-up",
        /// A HEAD of the manifest on the region's endpoint.
        Probe => "probe",
    }
}

string_enum! {
    /// What an event says happened to the content.
    pub enum PresenceAction {
        Push => "push",
        Delete => "delete",
    }
}

string_enum! {
    /// One cell of the presence matrix: a tag in a region.
    pub enum CellState {
        /// The region serves the tag's newest digest.
        Present => "present",
        /// The region has not received the tag yet (or it was deleted there).
        Missing => "missing",
        /// The region serves another digest for the tag (an older push, or a
        /// tag overwritten while replication was under way).
        Diverged => "diverged",
    }
}

/// One checked arrival: `digest` (and `tag`, when the event names one) is
/// in `region` since `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrival {
    pub registry_id: String,
    pub region: Region,
    pub action: PresenceAction,
    pub repository: Repository,
    pub tag: Option<Tag>,
    pub digest: Digest,
    /// Bytes of the manifest, when the event says.
    pub size: Option<i64>,
    pub at: String,
    pub source: PresenceSource,
}

/// What each region serves for one tag, with the tag's newest push.
#[derive(Clone, Debug, PartialEq)]
pub struct TagPresence {
    pub repository: Repository,
    pub tag: Tag,
    /// The digest of the newest push (what every region should serve).
    pub digest: Digest,
    pub pushed_at: String,
    /// The region that received it first (the receiving replica, as far as we know).
    pub first_region: Region,
    pub size: Option<i64>,
    /// Per region that has any record for the tag: the digest it serves
    /// (`None`: deleted there) and since when.
    pub regions: Vec<RegionHas>,
}

/// What one region serves for a tag.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionHas {
    pub region: Region,
    pub digest: Option<Digest>,
    pub at: String,
    pub source: PresenceSource,
}

impl TagPresence {
    /// The cell of `region` in the matrix.
    pub fn cell(&self, region: &Region) -> (CellState, Option<&RegionHas>) {
        match self.regions.iter().find(|r| &r.region == region) {
            Some(h) if h.digest.as_ref() == Some(&self.digest) => (CellState::Present, Some(h)),
            Some(h) if h.digest.is_some() => (CellState::Diverged, Some(h)),
            Some(h) => (CellState::Missing, Some(h)),
            None => (CellState::Missing, None),
        }
    }
}

/// A page of the matrix: which tags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PresenceFilter {
    /// Only this repository.
    pub repository: Option<String>,
    /// Tags (or `repository:tag`) containing this text.
    pub text: Option<String>,
    /// Only tags not present everywhere in `regions`.
    pub incomplete_in: Option<Vec<Region>>,
    /// After this `(repository, tag)` (cursor).
    pub after: Option<(String, String)>,
    /// Only tags pushed before this time (stragglers).
    pub pushed_before: Option<String>,
    /// Oldest push first instead of by repository and tag.
    pub oldest_first: bool,
    pub limit: i64,
}

/// One region's arrival of one push, after the receiving replica's: the
/// raw material of lag.
#[derive(Clone, Debug, PartialEq)]
pub struct LagSample {
    pub region: Region,
    /// Seconds from the push's first arrival anywhere to this one.
    pub lag_secs: f64,
}

/// The per-registry tracking settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracking {
    pub registry_id: String,
    pub enabled_at: String,
    pub enabled_by: crate::Actor,
    /// Objective: `share` of arrivals within `within_secs`.
    pub objective_share: f64,
    pub objective_secs: i64,
    /// Hot set for the routing readiness gate: the last N pushed tags,
    pub hot_last: i64,
    /// and every tag of these repositories.
    pub hot_repositories: Vec<Repository>,
}

/// One regional webhook Regatlas made for a tracked registry.
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceHook {
    pub registry_id: String,
    pub region: Region,
    /// The webhook's ARM name.
    pub webhook: String,
    /// SHA-256 of the secret header's value (hex); the secret itself is never stored.
    pub secret_sha256: String,
    /// The receiver URL it delivers to.
    pub receiver: String,
    pub created_at: String,
    pub last_event_at: Option<String>,
}

/// Per region: how much of the tracked content it serves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RegionCounts {
    /// Tags whose newest digest the region serves.
    pub present: i64,
    /// Bytes of those manifests, when known.
    pub present_bytes: i64,
    /// Arrivals in the last ten minutes (rate).
    pub recent: i64,
    pub last_arrival: Option<String>,
}
