//! An ACR webhook event, checked: the payload (`id`, `timestamp`, `action`,
//! `target{repository, tag, digest, size}`) becomes an [`Arrival`] or a
//! reason it was refused. Events carry no region and no signature: the
//! region comes from the webhook's own receiver path, the trust from its
//! secret header.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use regatlas_domain::{
    presence::{Arrival, PresenceAction, PresenceSource},
    Digest, Region, Repository, Tag,
};
use serde_json::Value;

/// The most a webhook body may hold (ACR's are well under 2 KiB).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// An event's timestamp may be this far ahead of our clock (clock skew).
const MAX_SKEW: i64 = 60;

/// Why an event was not taken.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("the event is not a JSON object")]
    NotJson,
    #[error("the event's {field} is missing or malformed: {why}")]
    Field { field: &'static str, why: String },
}

fn field(field: &'static str, why: impl ToString) -> EventError {
    EventError::Field { field, why: why.to_string().chars().take(120).collect() }
}

/// Stored form of a time: RFC 3339, milliseconds, UTC.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads one event. `Ok(None)`: a valid event of an action presence does not
/// follow (ping, quarantine, chart events).
pub fn arrival(content: &Value, registry_id: &str, region: &Region, source: PresenceSource, received: DateTime<Utc>) -> Result<Option<Arrival>, EventError> {
    let obj = content.as_object().ok_or(EventError::NotJson)?;
    let action = match obj.get("action").and_then(Value::as_str) {
        Some("push") => PresenceAction::Push,
        Some("delete") => PresenceAction::Delete,
        Some(_) => return Ok(None),
        None => return Err(field("action", "missing")),
    };
    let target = obj.get("target").and_then(Value::as_object).ok_or_else(|| field("target", "missing"))?;
    let text = |k: &'static str| target.get(k).and_then(Value::as_str);
    let repository = Repository::parse(text("repository").ok_or_else(|| field("target.repository", "missing"))?).map_err(|e| field("target.repository", e))?;
    let digest = Digest::parse(text("digest").ok_or_else(|| field("target.digest", "missing"))?).map_err(|e| field("target.digest", e))?;
    let tag = match target.get("tag") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.is_empty() => None,
        Some(Value::String(t)) => Some(Tag::parse(t.as_str()).map_err(|e| field("target.tag", e))?),
        Some(_) => return Err(field("target.tag", "not a string")),
    };
    let size = match target.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| field("target.size", "not a byte count"))?),
    };
    // When it happened there: the event's time, never after we heard of it.
    let at = match obj.get("timestamp").and_then(Value::as_str) {
        Some(t) => {
            let t = DateTime::parse_from_rfc3339(t).map_err(|e| field("timestamp", e))?.with_timezone(&Utc);
            if t > received + Duration::seconds(MAX_SKEW) {
                return Err(field("timestamp", "in the future"));
            }
            t.min(received)
        }
        None => received,
    };
    Ok(Some(Arrival { registry_id: registry_id.to_string(), region: region.clone(), action, repository, tag, digest, size, at: stamp(at), source }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn region() -> Region {
        Region::parse("westeurope").expect("region")
    }

    fn push(target: Value) -> Value {
        json!({ "id": "1", "timestamp": "2026-11-23T10:00:00.5Z", "action": "push", "target": target })
    }

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn a_push_becomes_an_arrival_at_the_events_time() {
        let now = Utc::now();
        let a = arrival(&push(json!({ "repository": "web/frontend", "tag": "1.2", "digest": D, "size": 525 })), "r", &region(), PresenceSource::Webhook, now)
            .expect("valid")
            .expect("followed");
        assert_eq!(a.action, PresenceAction::Push);
        assert_eq!(a.tag.as_ref().map(|t| t.as_str()), Some("1.2"));
        assert_eq!(a.size, Some(525));
        assert_eq!(a.at, "2026-11-23T10:00:00.500Z");
    }

    #[test]
    fn untagged_pushes_and_deletes_are_kept_other_actions_ignored() {
        let now = Utc::now();
        let a = arrival(&push(json!({ "repository": "r", "digest": D })), "r", &region(), PresenceSource::Webhook, now).expect("ok").expect("some");
        assert!(a.tag.is_none());
        let del = json!({ "action": "delete", "target": { "repository": "r", "digest": D, "tag": "v1" } });
        assert_eq!(arrival(&del, "r", &region(), PresenceSource::Webhook, now).expect("ok").expect("some").action, PresenceAction::Delete);
        for other in ["ping", "quarantine", "chart_push"] {
            assert_eq!(arrival(&json!({ "action": other }), "r", &region(), PresenceSource::Webhook, now), Ok(None));
        }
    }

    #[test]
    fn malformed_events_are_refused_with_the_field() {
        let now = Utc::now();
        let bad = [
            (json!([]), "JSON object"),
            (json!({ "target": {} }), "action"),
            (json!({ "action": "push" }), "target"),
            (push(json!({ "repository": "Bad Repo", "digest": D })), "target.repository"),
            (push(json!({ "repository": "r", "digest": "md5:abc" })), "target.digest"),
            (push(json!({ "repository": "r", "digest": D, "tag": "bad tag" })), "target.tag"),
            (push(json!({ "repository": "r", "digest": D, "tag": 5 })), "target.tag"),
            (push(json!({ "repository": "r", "digest": D, "size": -1 })), "target.size"),
            (json!({ "action": "push", "timestamp": "yesterday", "target": { "repository": "r", "digest": D } }), "timestamp"),
            (json!({ "action": "push", "timestamp": "2999-01-01T00:00:00Z", "target": { "repository": "r", "digest": D } }), "timestamp"),
        ];
        for (event, what) in bad {
            let e = arrival(&event, "r", &region(), PresenceSource::Webhook, now).expect_err("refused");
            assert!(e.to_string().contains(what), "{e} should name {what}");
        }
    }

    #[test]
    fn a_late_timestamp_is_clamped_to_when_it_was_received() {
        let received = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").expect("t").with_timezone(&Utc);
        let e = json!({ "action": "push", "timestamp": "2026-11-23T10:00:30Z", "target": { "repository": "r", "digest": D } });
        let a = arrival(&e, "r", &region(), PresenceSource::Webhook, received).expect("ok").expect("some");
        assert_eq!(a.at, "2026-11-23T10:00:00.000Z");
    }
}
