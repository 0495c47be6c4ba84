//! Presence: tracking settings, the regional webhooks Regatlas keeps, every
//! push's arrival per region, and what each region serves per tag.
//!
//! Recording is idempotent: the same arrival from a webhook, from
//! `listEvents` and from a probe is one row, and the earliest time wins; a
//! region's digest for a tag is the newest event there (events carry the
//! time they happened in that region), so a late delivery of an older push
//! cannot move a tag back, and a re-push after a delete or a rollback can.

use std::collections::BTreeMap;

use async_trait::async_trait;
use regatlas_domain::{
    presence::{Arrival, LagSample, PresenceAction, PresenceFilter, PresenceHook, PresenceSource, RegionCounts, RegionHas, TagPresence, Tracking},
    Actor, Digest, Principal, Region, Repository, Tag,
};

use super::{parsed, PgStore, SqliteStore, StorageError};

/// Presence tracking and its data.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    async fn tracking(&self, registry_id: &str) -> Result<Option<Tracking>, StorageError>;
    /// Every tracked registry.
    async fn tracked(&self) -> Result<Vec<Tracking>, StorageError>;
    /// Starts tracking (or changes the settings of a tracked registry).
    async fn set_tracking(&self, t: &Tracking, by: &Principal) -> Result<(), StorageError>;
    /// Stops tracking; the data recorded so far stays. `false` if it was not tracked.
    async fn stop_tracking(&self, registry_id: &str) -> Result<bool, StorageError>;
    async fn presence_hooks(&self, registry_id: &str) -> Result<Vec<PresenceHook>, StorageError>;
    async fn presence_hook(&self, registry_id: &str, region: &str) -> Result<Option<PresenceHook>, StorageError>;
    /// Adds or replaces the hook of a region.
    async fn put_presence_hook(&self, h: &PresenceHook) -> Result<(), StorageError>;
    async fn delete_presence_hook(&self, registry_id: &str, region: &str) -> Result<(), StorageError>;
    async fn presence_hook_used(&self, registry_id: &str, region: &str, at: &str) -> Result<(), StorageError>;
    /// Records arrivals in one transaction; returns those that told
    /// something new: their index, and their push's first arrival (time, region).
    async fn record_arrivals(&self, arrivals: &[Arrival]) -> Result<Vec<(usize, String, String)>, StorageError>;
    /// What a probe saw a region serve for a tag (`None`: nothing), when
    /// that is not the tag's newest push: the region's record only, never
    /// the tag's head. Newer observations win.
    async fn observe_region_tag(
        &self,
        registry_id: &str,
        repository: &Repository,
        tag: &Tag,
        region: &Region,
        digest: Option<&Digest>,
        at: &str,
    ) -> Result<bool, StorageError>;
    /// Tags (newest push per tag) with what each region serves, by repository and tag.
    async fn presence(&self, registry_id: &str, f: &PresenceFilter) -> Result<Vec<TagPresence>, StorageError>;
    /// How many tags are tracked, and per region what it serves of them.
    async fn presence_counts(&self, registry_id: &str, regions: &[Region], recent_since: &str) -> Result<(i64, BTreeMap<String, RegionCounts>), StorageError>;
    /// Arrivals since `since` in other regions than the receiving one,
    /// newest first; probes are left out (a probe says when it looked, not
    /// when the content arrived).
    async fn lag_samples(&self, registry_id: &str, since: &str, limit: i64) -> Result<Vec<LagSample>, StorageError>;
    /// One tag's newest push with what each region serves.
    async fn tag_presence(&self, registry_id: &str, repository: &Repository, tag: &Tag) -> Result<Option<TagPresence>, StorageError>;
    /// Every tracked `(repository, tag)` of a registry.
    async fn head_keys(&self, registry_id: &str) -> Result<std::collections::HashSet<(String, String)>, StorageError>;
    /// The `n` most recently pushed tags with what each region serves.
    async fn hot_set(&self, registry_id: &str, n: i64) -> Result<Vec<TagPresence>, StorageError>;
}

#[derive(sqlx::FromRow)]
struct TrackingRecord {
    registry_id: String,
    enabled_at: String,
    enabled_by: String,
    objective_share: f64,
    objective_secs: i64,
    hot_last: i64,
    hot_repositories: String,
}

impl TryFrom<TrackingRecord> for Tracking {
    type Error = StorageError;
    fn try_from(r: TrackingRecord) -> Result<Tracking, StorageError> {
        let repos: Vec<String> = parsed("stored hot repositories", serde_json::from_str(&r.hot_repositories))?;
        let hot_repositories = repos.into_iter().map(|x| parsed("stored hot repository", Repository::parse(x))).collect::<Result<_, _>>()?;
        Ok(Tracking {
            registry_id: r.registry_id,
            enabled_at: r.enabled_at,
            enabled_by: Actor::from_stored(r.enabled_by),
            objective_share: r.objective_share,
            objective_secs: r.objective_secs,
            hot_last: r.hot_last,
            hot_repositories,
        })
    }
}

#[derive(sqlx::FromRow)]
struct HookRecord {
    registry_id: String,
    region: String,
    webhook: String,
    secret_sha256: String,
    receiver: String,
    created_at: String,
    last_event_at: Option<String>,
}

impl TryFrom<HookRecord> for PresenceHook {
    type Error = StorageError;
    fn try_from(r: HookRecord) -> Result<PresenceHook, StorageError> {
        Ok(PresenceHook {
            registry_id: r.registry_id,
            region: parsed("stored presence hook", Region::parse(r.region))?,
            webhook: r.webhook,
            secret_sha256: r.secret_sha256,
            receiver: r.receiver,
            created_at: r.created_at,
            last_event_at: r.last_event_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CellRecord {
    repository: String,
    tag: String,
    digest: String,
    size: Option<i64>,
    pushed_at: String,
    first_region: String,
    region: Option<String>,
    region_digest: Option<String>,
    region_at: Option<String>,
    region_source: Option<String>,
}

/// Rows of (tag, region) ordered by tag → one `TagPresence` per tag.
fn group(rows: Vec<CellRecord>) -> Result<Vec<TagPresence>, StorageError> {
    let mut out: Vec<TagPresence> = Vec::new();
    for r in rows {
        let same = out.last().is_some_and(|l| l.repository.as_str() == r.repository && l.tag.as_str() == r.tag);
        if !same {
            out.push(TagPresence {
                repository: parsed("stored presence", Repository::parse(r.repository.clone()))?,
                tag: parsed("stored presence", Tag::parse(r.tag.clone()))?,
                digest: parsed("stored presence", Digest::parse(r.digest.clone()))?,
                pushed_at: r.pushed_at.clone(),
                first_region: parsed("stored presence", Region::parse(r.first_region.clone()))?,
                size: r.size,
                regions: Vec::new(),
            });
        }
        if let (Some(region), Some(d), Some(at), Some(source), Some(last)) = (r.region, r.region_digest, r.region_at, r.region_source, out.last_mut()) {
            last.regions.push(RegionHas {
                region: parsed("stored presence", Region::parse(region))?,
                digest: if d.is_empty() { None } else { Some(parsed("stored presence", Digest::parse(d))?) },
                at,
                source: parsed("stored presence", source.parse::<PresenceSource>())?,
            });
        }
    }
    Ok(out)
}

const CELL_COLUMNS: &str = "h.repository, h.tag, h.digest, h.size, h.pushed_at, h.first_region, \
     t.region AS region, t.digest AS region_digest, t.at AS region_at, t.source AS region_source";

/// The trait's implementation, the same SQL for both stores (`$db` is the
/// store's sqlx database).
macro_rules! impl_presence_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl PresenceStore for $store {
            async fn tracking(&self, registry_id: &str) -> Result<Option<Tracking>, StorageError> {
                let r: Option<TrackingRecord> = sqlx::query_as(
                    "SELECT registry_id, enabled_at, enabled_by, objective_share, objective_secs, hot_last, hot_repositories FROM presence_tracking WHERE registry_id = $1",
                )
                .bind(registry_id)
                .fetch_optional(&self.pool)
                .await?;
                r.map(Tracking::try_from).transpose()
            }

            async fn tracked(&self) -> Result<Vec<Tracking>, StorageError> {
                let rows: Vec<TrackingRecord> =
                    sqlx::query_as("SELECT registry_id, enabled_at, enabled_by, objective_share, objective_secs, hot_last, hot_repositories FROM presence_tracking ORDER BY registry_id")
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(Tracking::try_from).collect()
            }

            async fn set_tracking(&self, t: &Tracking, by: &Principal) -> Result<(), StorageError> {
                sqlx::query(
                    "INSERT INTO presence_tracking (registry_id, enabled_at, enabled_by, enabled_by_key, objective_share, objective_secs, hot_last, hot_repositories)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (registry_id) DO UPDATE SET objective_share = excluded.objective_share,
                         objective_secs = excluded.objective_secs, hot_last = excluded.hot_last, hot_repositories = excluded.hot_repositories",
                )
                .bind(&t.registry_id)
                .bind(&t.enabled_at)
                .bind(t.enabled_by.as_str())
                .bind(by.key())
                .bind(t.objective_share)
                .bind(t.objective_secs)
                .bind(t.hot_last)
                .bind(serde_json::to_string(&t.hot_repositories.iter().map(|r| r.as_str()).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into()))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn stop_tracking(&self, registry_id: &str) -> Result<bool, StorageError> {
                let r = sqlx::query("DELETE FROM presence_tracking WHERE registry_id = $1").bind(registry_id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn presence_hooks(&self, registry_id: &str) -> Result<Vec<PresenceHook>, StorageError> {
                let rows: Vec<HookRecord> = sqlx::query_as(
                    "SELECT registry_id, region, webhook, secret_sha256, receiver, created_at, last_event_at FROM presence_hooks WHERE registry_id = $1 ORDER BY region",
                )
                .bind(registry_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(PresenceHook::try_from).collect()
            }

            async fn presence_hook(&self, registry_id: &str, region: &str) -> Result<Option<PresenceHook>, StorageError> {
                let r: Option<HookRecord> = sqlx::query_as(
                    "SELECT registry_id, region, webhook, secret_sha256, receiver, created_at, last_event_at FROM presence_hooks WHERE registry_id = $1 AND region = $2",
                )
                .bind(registry_id)
                .bind(region)
                .fetch_optional(&self.pool)
                .await?;
                r.map(PresenceHook::try_from).transpose()
            }

            async fn put_presence_hook(&self, h: &PresenceHook) -> Result<(), StorageError> {
                sqlx::query(
                    "INSERT INTO presence_hooks (registry_id, region, webhook, secret_sha256, receiver, created_at, last_event_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)
                     ON CONFLICT (registry_id, region) DO UPDATE SET webhook = excluded.webhook, secret_sha256 = excluded.secret_sha256,
                         receiver = excluded.receiver, created_at = excluded.created_at",
                )
                .bind(&h.registry_id)
                .bind(h.region.as_str())
                .bind(&h.webhook)
                .bind(&h.secret_sha256)
                .bind(&h.receiver)
                .bind(&h.created_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn delete_presence_hook(&self, registry_id: &str, region: &str) -> Result<(), StorageError> {
                sqlx::query("DELETE FROM presence_hooks WHERE registry_id = $1 AND region = $2").bind(registry_id).bind(region).execute(&self.pool).await?;
                Ok(())
            }

            async fn presence_hook_used(&self, registry_id: &str, region: &str, at: &str) -> Result<(), StorageError> {
                sqlx::query("UPDATE presence_hooks SET last_event_at = $1 WHERE registry_id = $2 AND region = $3 AND (last_event_at IS NULL OR last_event_at < $4)")
                    .bind(at)
                    .bind(registry_id)
                    .bind(region)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn record_arrivals(&self, arrivals: &[Arrival]) -> Result<Vec<(usize, String, String)>, StorageError> {
                let mut tx = self.pool.begin().await?;
                let mut news = Vec::new();
                for (i, a) in arrivals.iter().enumerate() {
                    let tag = a.tag.as_ref().map(|t| t.as_str()).unwrap_or("");
                    match a.action {
                        PresenceAction::Push => {
                            // The push, with its earliest arrival anywhere.
                            sqlx::query(
                                "INSERT INTO presence_pushes (registry_id, repository, tag, digest, size, first_at, first_region) VALUES ($1, $2, $3, $4, $5, $6, $7)
                                 ON CONFLICT (registry_id, repository, tag, digest) DO UPDATE SET first_at = excluded.first_at,
                                     first_region = excluded.first_region, size = COALESCE(presence_pushes.size, excluded.size)
                                 WHERE excluded.first_at < presence_pushes.first_at",
                            )
                            .bind(&a.registry_id)
                            .bind(a.repository.as_str())
                            .bind(tag)
                            .bind(a.digest.as_str())
                            .bind(a.size)
                            .bind(&a.at)
                            .bind(a.region.as_str())
                            .execute(&mut *tx)
                            .await?;
                            let (push_id, first_at, first_region): (i64, String, String) = sqlx::query_as(
                                "SELECT id, first_at, first_region FROM presence_pushes WHERE registry_id = $1 AND repository = $2 AND tag = $3 AND digest = $4",
                            )
                            .bind(&a.registry_id)
                            .bind(a.repository.as_str())
                            .bind(tag)
                            .bind(a.digest.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                            let r = sqlx::query(
                                "INSERT INTO presence_arrivals (push_id, registry_id, region, at, source) VALUES ($1, $2, $3, $4, $5)
                                 ON CONFLICT (push_id, region) DO UPDATE SET at = excluded.at, source = excluded.source WHERE excluded.at < presence_arrivals.at",
                            )
                            .bind(push_id)
                            .bind(&a.registry_id)
                            .bind(a.region.as_str())
                            .bind(&a.at)
                            .bind(a.source.as_str())
                            .execute(&mut *tx)
                            .await?;
                            if r.rows_affected() > 0 {
                                news.push((i, first_at.clone(), first_region.clone()));
                            }
                            if tag.is_empty() {
                                continue;
                            }
                            // The tag's newest push; the same push keeps its earliest time.
                            sqlx::query(
                                "INSERT INTO presence_heads (registry_id, repository, tag, digest, size, pushed_at, first_region) VALUES ($1, $2, $3, $4, $5, $6, $7)
                                 ON CONFLICT (registry_id, repository, tag) DO UPDATE SET digest = excluded.digest, size = excluded.size,
                                     pushed_at = CASE WHEN excluded.digest = presence_heads.digest THEN excluded.pushed_at ELSE $8 END,
                                     first_region = CASE WHEN excluded.digest = presence_heads.digest THEN excluded.first_region ELSE $9 END
                                 WHERE (excluded.digest <> presence_heads.digest AND $10 > presence_heads.pushed_at)
                                    OR (excluded.digest = presence_heads.digest AND excluded.pushed_at < presence_heads.pushed_at)",
                            )
                            .bind(&a.registry_id)
                            .bind(a.repository.as_str())
                            .bind(tag)
                            .bind(a.digest.as_str())
                            .bind(a.size)
                            .bind(&first_at)
                            .bind(&first_region)
                            // Another digest newer than the head (a new push, or a
                            // tag moved back to a digest seen before) takes over from
                            // this event's time; a late event of an older push does not.
                            .bind(&a.at)
                            .bind(a.region.as_str())
                            .bind(&a.at)
                            .execute(&mut *tx)
                            .await?;
                            // What the region serves: the newest push that arrived there.
                            sqlx::query(
                                "INSERT INTO presence_tags (registry_id, repository, tag, region, digest, pushed_at, at, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                                 ON CONFLICT (registry_id, repository, tag, region) DO UPDATE SET digest = excluded.digest,
                                     pushed_at = excluded.pushed_at, at = excluded.at, source = excluded.source
                                 WHERE (excluded.digest <> presence_tags.digest AND excluded.at > presence_tags.at)
                                    OR (excluded.digest = presence_tags.digest AND excluded.at < presence_tags.at)",
                            )
                            .bind(&a.registry_id)
                            .bind(a.repository.as_str())
                            .bind(tag)
                            .bind(a.region.as_str())
                            .bind(a.digest.as_str())
                            .bind(&first_at)
                            .bind(&a.at)
                            .bind(a.source.as_str())
                            .execute(&mut *tx)
                            .await?;
                        }
                        PresenceAction::Delete => {
                            // A tag deleted (or, without a tag, the manifest and every tag on it) in this region.
                            let r = sqlx::query(
                                "UPDATE presence_tags SET digest = '', at = $1, source = $2
                                 WHERE registry_id = $3 AND repository = $4 AND region = $5 AND digest = $6 AND ($7 = '' OR tag = $8) AND at <= $9",
                            )
                            .bind(&a.at)
                            .bind(a.source.as_str())
                            .bind(&a.registry_id)
                            .bind(a.repository.as_str())
                            .bind(a.region.as_str())
                            .bind(a.digest.as_str())
                            .bind(tag)
                            .bind(tag)
                            .bind(&a.at)
                            .execute(&mut *tx)
                            .await?;
                            if r.rows_affected() > 0 {
                                news.push((i, a.at.clone(), a.region.as_str().to_string()));
                            }
                            // Gone everywhere: the tag leaves the matrix.
                            sqlx::query(
                                "DELETE FROM presence_heads WHERE registry_id = $1 AND repository = $2 AND digest = $3 AND ($4 = '' OR tag = $5)
                                   AND NOT EXISTS (SELECT 1 FROM presence_tags t WHERE t.registry_id = presence_heads.registry_id
                                       AND t.repository = presence_heads.repository AND t.tag = presence_heads.tag AND t.digest <> '')",
                            )
                            .bind(&a.registry_id)
                            .bind(a.repository.as_str())
                            .bind(a.digest.as_str())
                            .bind(tag)
                            .bind(tag)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(news)
            }

            async fn observe_region_tag(
                &self,
                registry_id: &str,
                repository: &Repository,
                tag: &Tag,
                region: &Region,
                digest: Option<&Digest>,
                at: &str,
            ) -> Result<bool, StorageError> {
                let d = digest.map(|d| d.as_str()).unwrap_or("");
                let r = sqlx::query(
                    "INSERT INTO presence_tags (registry_id, repository, tag, region, digest, pushed_at, at, source)
                     VALUES ($1, $2, $3, $4, $5,
                             COALESCE((SELECT first_at FROM presence_pushes WHERE registry_id = $1 AND repository = $2 AND tag = $3 AND digest = $5), $6), $6, 'probe')
                     ON CONFLICT (registry_id, repository, tag, region) DO UPDATE SET digest = excluded.digest, pushed_at = excluded.pushed_at,
                         at = excluded.at, source = excluded.source
                     WHERE excluded.digest <> presence_tags.digest AND excluded.at > presence_tags.at",
                )
                .bind(registry_id)
                .bind(repository.as_str())
                .bind(tag.as_str())
                .bind(region.as_str())
                .bind(d)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn presence(&self, registry_id: &str, f: &PresenceFilter) -> Result<Vec<TagPresence>, StorageError> {
                // Regions as `,a,b,` (region names are lowercase letters and digits),
                // matched with LIKE: the same SQL on SQLite and PostgreSQL.
                let regions = f.incomplete_in.as_ref().map(|r| format!(",{},", r.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(",")));
                let wanted = f.incomplete_in.as_ref().map_or(0, |r| r.len() as i64);
                let (after_repo, after_tag) = f.after.clone().unwrap_or_default();
                // Both orders follow an index: (registry, repository, tag) or (registry, pushed_at).
                let like = <$db as crate::storage::Dialect>::LIKE_NOCASE;
                let order = if f.oldest_first { "h.pushed_at, h.repository, h.tag" } else { "h.repository, h.tag" };
                let sql = format!(
                    "WITH page AS (
                         SELECT * FROM presence_heads h
                         WHERE h.registry_id = $1
                           AND ($2 IS NULL OR h.repository = $2)
                           AND ($3 IS NULL OR (h.repository || ':' || h.tag) {like} '%' || $3 || '%' ESCAPE '\\')
                           AND ($4 = '' OR h.repository > $4 OR (h.repository = $4 AND h.tag > $5))
                           AND ($6 IS NULL OR (SELECT COUNT(*) FROM presence_tags t WHERE t.registry_id = h.registry_id AND t.repository = h.repository
                                  AND t.tag = h.tag AND t.digest = h.digest AND $6 LIKE '%,' || t.region || ',%') < $9)
                           AND ($8 IS NULL OR h.pushed_at < $8)
                         ORDER BY {order} LIMIT $7)
                     SELECT {CELL_COLUMNS} FROM page h
                     LEFT JOIN presence_tags t ON t.registry_id = h.registry_id AND t.repository = h.repository AND t.tag = h.tag
                     ORDER BY {order}, t.region"
                );
                let rows: Vec<CellRecord> = sqlx::query_as(&sql)
                    .bind(registry_id)
                    .bind(f.repository.as_deref())
                    .bind(f.text.as_deref().map(crate::storage::like_literal))
                    .bind(after_repo)
                    .bind(after_tag)
                    .bind(regions)
                    .bind(f.limit.clamp(1, 1000))
                    .bind(f.pushed_before.as_deref())
                    .bind(wanted)
                    .fetch_all(&self.pool)
                    .await?;
                group(rows)
            }

            async fn presence_counts(&self, registry_id: &str, regions: &[Region], recent_since: &str) -> Result<(i64, BTreeMap<String, RegionCounts>), StorageError> {
                let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM presence_heads WHERE registry_id = $1").bind(registry_id).fetch_one(&self.pool).await?;
                let present: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT t.region, COUNT(*), CAST(SUM(h.size) AS BIGINT) FROM presence_heads h
                     JOIN presence_tags t ON t.registry_id = h.registry_id AND t.repository = h.repository AND t.tag = h.tag AND t.digest = h.digest
                     WHERE h.registry_id = $1 GROUP BY t.region",
                )
                .bind(registry_id)
                .fetch_all(&self.pool)
                .await?;
                // Per region, by the (registry, region, at) index: recent arrivals and the last one.
                let mut arrivals: Vec<(String, i64, Option<String>)> = Vec::new();
                for region in regions {
                    let (recent, last): (i64, Option<String>) = sqlx::query_as(
                        "SELECT (SELECT COUNT(*) FROM presence_arrivals WHERE registry_id = $1 AND region = $2 AND at >= $3),
                                (SELECT MAX(at) FROM presence_arrivals WHERE registry_id = $1 AND region = $2)",
                    )
                    .bind(registry_id)
                    .bind(region.as_str())
                    .bind(recent_since)
                    .fetch_one(&self.pool)
                    .await?;
                    arrivals.push((region.as_str().to_string(), recent, last));
                }
                let mut out: BTreeMap<String, RegionCounts> = BTreeMap::new();
                for (region, n, bytes) in present {
                    let c = out.entry(region).or_default();
                    c.present = n;
                    c.present_bytes = bytes.unwrap_or(0);
                }
                for (region, recent, last) in arrivals {
                    let c = out.entry(region).or_default();
                    c.recent = recent;
                    c.last_arrival = last;
                }
                Ok((total, out))
            }

            async fn lag_samples(&self, registry_id: &str, since: &str, limit: i64) -> Result<Vec<LagSample>, StorageError> {
                // Times are RFC 3339 text in both stores; the lag is worked out here.
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT a.region, a.at, p.first_at FROM presence_arrivals a
                     JOIN presence_pushes p ON p.id = a.push_id
                     WHERE a.registry_id = $1 AND a.at >= $2 AND a.source <> 'probe' AND a.region <> p.first_region ORDER BY a.at DESC LIMIT $3",
                )
                .bind(registry_id)
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(region, at, first_at)| {
                        let at = parsed("stored arrival time", chrono::DateTime::parse_from_rfc3339(&at))?;
                        let first_at = parsed("stored push time", chrono::DateTime::parse_from_rfc3339(&first_at))?;
                        let lag_secs = ((at - first_at).num_milliseconds() as f64 / 1000.0).max(0.0);
                        Ok(LagSample { region: parsed("stored arrival", Region::parse(region))?, lag_secs: (lag_secs * 1000.0).round() / 1000.0 })
                    })
                    .collect()
            }

            async fn tag_presence(&self, registry_id: &str, repository: &Repository, tag: &Tag) -> Result<Option<TagPresence>, StorageError> {
                let sql = format!(
                    "SELECT {CELL_COLUMNS} FROM presence_heads h
                     LEFT JOIN presence_tags t ON t.registry_id = h.registry_id AND t.repository = h.repository AND t.tag = h.tag
                     WHERE h.registry_id = $1 AND h.repository = $2 AND h.tag = $3 ORDER BY t.region"
                );
                let rows: Vec<CellRecord> = sqlx::query_as(&sql).bind(registry_id).bind(repository.as_str()).bind(tag.as_str()).fetch_all(&self.pool).await?;
                Ok(group(rows)?.into_iter().next())
            }

            async fn head_keys(&self, registry_id: &str) -> Result<std::collections::HashSet<(String, String)>, StorageError> {
                let rows: Vec<(String, String)> =
                    sqlx::query_as("SELECT repository, tag FROM presence_heads WHERE registry_id = $1").bind(registry_id).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().collect())
            }

            async fn hot_set(&self, registry_id: &str, n: i64) -> Result<Vec<TagPresence>, StorageError> {
                let sql = format!(
                    "WITH page AS (SELECT * FROM presence_heads WHERE registry_id = $1 ORDER BY pushed_at DESC LIMIT $2)
                     SELECT {CELL_COLUMNS} FROM page h
                     LEFT JOIN presence_tags t ON t.registry_id = h.registry_id AND t.repository = h.repository AND t.tag = h.tag
                     ORDER BY h.repository, h.tag, t.region"
                );
                let rows: Vec<CellRecord> = sqlx::query_as(&sql).bind(registry_id).bind(n.clamp(0, 1000)).fetch_all(&self.pool).await?;
                group(rows)
            }
        }
    };
}

impl_presence_store!(SqliteStore, sqlx::Sqlite);
impl_presence_store!(PgStore, sqlx::Postgres);
