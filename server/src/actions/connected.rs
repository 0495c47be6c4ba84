//! Connected registries behind the `Backend`: each one's mode, parent,
//! activation, connection, sync settings, repositories (from its sync
//! token's scope map), client tokens, logging and status details; create
//! one (scope map, sync token, then the connected registry, as
//! `az acr connected-registry create` does), change its schedule, window,
//! message TTL or repositories, deactivate it.
//!
//! `attention` decides, from ARM's document alone, whether a connected
//! registry needs attention: offline or unhealthy while active, never
//! synced, or no sync for longer than its schedule and window allow. The
//! registry list and the map use it through `views.rs`.

use std::{collections::HashMap, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use croner::Cron;
use regatlas_app::model::{ApiError, ConnectedFlag, ConnectedRegistryRequest, ConnectedRegistryView, StatusDetailView, SyncView};
use regatlas_domain::{ErrorKind, EventKind, Identity, Repository, Role};
use reqwest::Method;
use serde_json::{json, Value};

use super::checks::{invalid, text};
use super::{ActionError, Console};
use crate::outbound::clean_text;

/// At most this many connected registries, tokens and scope maps are read.
const MAX_LIST: usize = 200;
/// How long a step of a create (scope map, token) may take in ARM.
/// (Each step is quick in ARM; both fit in the request's time limit.)
const STEP_LIMIT: Duration = Duration::from_secs(10);
/// A sync may start this late before it counts as missed.
const GRACE: chrono::Duration = chrono::Duration::minutes(15);
/// The continuous schedule.
pub const CONTINUOUS: &str = "* * * * *";

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

/// The last segment of an ARM id.
fn id_name(id: &str) -> String {
    clean_text(id.rsplit('/').next().unwrap_or_default(), 100)
}

/// Seconds in an ISO 8601 duration of days, hours, minutes and seconds
/// (`P2D`, `PT3H`, `P1DT12H`, `PT90M`); weeks as `PnW`.
pub fn iso_duration_secs(s: &str) -> Option<i64> {
    let rest = s.trim().strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, clock) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (rest, ""),
    };
    let mut total: i64 = 0;
    for (part, units) in [(date, &[('W', 604_800), ('D', 86_400)][..]), (clock, &[('H', 3600), ('M', 60), ('S', 1)][..])] {
        let mut num = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().ok()?;
            num.clear();
            // Units in order, each at most once.
            let (_, secs) = allowed.by_ref().find(|(u, _)| *u == c)?;
            total = total.checked_add(n.checked_mul(*secs)?)?;
        }
        if !num.is_empty() {
            return None;
        }
    }
    Some(total)
}

/// A five-field cron schedule (minute hour day month weekday), in UTC.
pub fn parse_schedule(s: &str) -> Result<Cron, ApiError> {
    let s = s.trim();
    if s.split_whitespace().count() != 5 || s.len() > 100 {
        return Err(invalid("InvalidSchedule", "schedule is a five-field cron expression (minute hour day month weekday), e.g. 0 */2 * * *."));
    }
    Cron::from_str(s).map_err(|e| invalid("InvalidSchedule", format!("schedule: {}", clean_text(&e.to_string(), 200))))
}

/// The next sync the schedule allows after `after`.
pub fn next_sync(schedule: &str, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Cron::from_str(schedule.trim()).ok()?.find_next_occurrence(&after, false).ok()
}

/// Whether a connected registry (its `properties`) needs attention, and why.
pub fn attention(p: &Value, now: DateTime<Utc>) -> Option<(ConnectedFlag, String)> {
    if !p["activation"]["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("active")) {
        return None;
    }
    let state = p["connectionState"].as_str().unwrap_or_default();
    let last_activity = p["lastActivityTime"].as_str().map(|t| format!(" since {}", clean_text(t, 40))).unwrap_or_default();
    if state.eq_ignore_ascii_case("unhealthy") {
        return Some((ConnectedFlag::Unhealthy, "The connected registry reports itself unhealthy.".into()));
    }
    if state.eq_ignore_ascii_case("offline") {
        return Some((ConnectedFlag::Offline, format!("Activated but offline{last_activity}.")));
    }
    let sync = &p["parent"]["syncProperties"];
    let Some(last) = time(&sync["lastSyncTime"]) else {
        return Some((ConnectedFlag::NeverSynced, "Activated and never synced.".into()));
    };
    let schedule = sync["schedule"].as_str().unwrap_or(CONTINUOUS);
    // A window that cannot be read counts as the longest one allowed: never flagged too early.
    let window = match sync["syncWindow"].as_str() {
        None => chrono::Duration::zero(),
        Some(w) => chrono::Duration::seconds(iso_duration_secs(w).unwrap_or(7 * 86_400)),
    };
    let next = next_sync(schedule, last)?;
    let due = next + window + GRACE;
    (now > due).then(|| {
        (
            ConnectedFlag::SyncOverdue,
            format!("Last synced {}; the schedule {} expected a sync by {}.", last.to_rfc3339(), clean_text(schedule, 100), due.to_rfc3339()),
        )
    })
}

/// A connected registry's repositories from its sync scope map's actions
/// (`repositories/{name}/content/read`, …).
pub fn repositories(actions: &[String]) -> Vec<String> {
    let mut out: Vec<String> = actions
        .iter()
        .filter_map(|a| a.strip_prefix("repositories/"))
        .filter_map(|a| a.rsplit_once('/').and_then(|(rest, _)| rest.rsplit_once('/')).map(|(repo, _)| repo.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The sync scope map's actions for `repos` in `mode`, with the gateway's.
pub fn sync_actions(name: &str, mode: &str, repos: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in repos {
        out.push(format!("repositories/{r}/content/read"));
        out.push(format!("repositories/{r}/metadata/read"));
        if writes(mode) {
            out.push(format!("repositories/{r}/content/write"));
            out.push(format!("repositories/{r}/metadata/write"));
            out.push(format!("repositories/{r}/content/delete"));
        }
    }
    for a in ["config/read", "config/write", "message/read", "message/write"] {
        out.push(format!("gateway/{name}/{a}"));
    }
    out
}

fn checked_name(name: &str) -> Result<(), ApiError> {
    // 35 so that `{name}-sync-scope-map` stays within ARM's 50 characters.
    if (5..=35).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(invalid("InvalidConnectedRegistryName", "A connected registry's name is 5 to 35 letters and digits."))
    }
}

/// The name of a child resource an ARM id points at, only when the id is
/// under this registry's `kind` and the name is one ARM allows: a name from
/// ARM never reaches a URL unchecked.
fn child_name(arm_id: &str, kind: &str, id: &str) -> Option<String> {
    let prefix = format!("{arm_id}/{kind}/").to_ascii_lowercase();
    if !id.to_ascii_lowercase().starts_with(&prefix) {
        return None;
    }
    let name = &id[prefix.len()..];
    ((5..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')).then(|| name.to_string())
}

/// A connected registry's mode, as its sync scope map needs it (the older
/// `Registry` mode reads and writes, `Mirror` only reads).
fn writes(mode: &str) -> bool {
    mode.eq_ignore_ascii_case("ReadWrite") || mode.eq_ignore_ascii_case("Registry")
}

fn checked_repositories(repos: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for r in repos {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        let repo = Repository::parse(r).map_err(|e| invalid("InvalidRepository", format!("repositories: {e}")))?;
        out.push(repo.as_str().to_string());
    }
    out.sort();
    out.dedup();
    if out.is_empty() || out.len() > 100 {
        return Err(invalid("InvalidRepositories", "A connected registry syncs 1 to 100 repositories."));
    }
    Ok(out)
}

/// Checked sync settings: schedule, window (1 h to 7 d, required unless
/// continuous) and message TTL (1 to 90 days).
fn checked_sync(schedule: &str, window: Option<&str>, ttl: &str) -> Result<Value, ApiError> {
    parse_schedule(schedule)?;
    let mut sync = json!({ "schedule": schedule.trim(), "messageTtl": ttl.trim() });
    match window.map(str::trim).filter(|w| !w.is_empty()) {
        Some(w) => {
            let secs = iso_duration_secs(w).ok_or_else(|| invalid("InvalidSyncWindow", "sync_window is an ISO 8601 duration, e.g. PT3H."))?;
            if !(3600..=7 * 86_400).contains(&secs) {
                return Err(invalid("InvalidSyncWindow", "sync_window is between 1 hour (PT1H) and 7 days (P7D)."));
            }
            sync["syncWindow"] = json!(w);
        }
        None if schedule.trim() != CONTINUOUS => {
            return Err(invalid(
                "InvalidSyncWindow",
                "A scheduled sync needs a sync_window (PT1H to P7D); only the continuous schedule * * * * * goes without.",
            ));
        }
        None => {}
    }
    let ttl_secs = iso_duration_secs(ttl).ok_or_else(|| invalid("InvalidMessageTtl", "message_ttl is an ISO 8601 duration, e.g. P2D."))?;
    if !(86_400..=90 * 86_400).contains(&ttl_secs) {
        return Err(invalid("InvalidMessageTtl", "message_ttl is between 1 day (P1D) and 90 days (P90D)."));
    }
    Ok(sync)
}

/// The view of one connected registry from ARM's document and the
/// repositories of its sync scope map.
pub fn view(doc: &Value, repos: Vec<String>, now: DateTime<Utc>) -> ConnectedRegistryView {
    let p = &doc["properties"];
    let sync = &p["parent"]["syncProperties"];
    let schedule = sync["schedule"].as_str().map(|s| clean_text(s, 100)).unwrap_or_else(|| CONTINUOUS.into());
    let flag = attention(p, now);
    ConnectedRegistryView {
        name: text(&doc["name"], 60),
        mode: text(&p["mode"], 20),
        parent: p["parent"]["id"].as_str().filter(|s| !s.is_empty()).map(id_name),
        activation: p["activation"]["status"].as_str().map(|s| clean_text(s, 20)).unwrap_or_else(|| "Inactive".into()),
        connection_state: p["connectionState"].as_str().map(|s| clean_text(s, 20)).unwrap_or_else(|| "Offline".into()),
        provisioning_state: p["provisioningState"].as_str().map(|s| clean_text(s, 30)),
        version: p["version"].as_str().map(|s| clean_text(s, 40)),
        last_activity: p["lastActivityTime"].as_str().map(|s| clean_text(s, 40)),
        login_server: p["loginServer"]["host"].as_str().map(|s| clean_text(s, 255)),
        sync: SyncView {
            next_sync: next_sync(&schedule, now).map(|t| t.to_rfc3339()),
            schedule,
            window: sync["syncWindow"].as_str().map(|s| clean_text(s, 30)),
            message_ttl: text(&sync["messageTtl"], 30),
            last_sync: sync["lastSyncTime"].as_str().map(|s| clean_text(s, 40)),
            token: sync["tokenId"].as_str().map(id_name),
        },
        repositories: repos,
        client_tokens: p["clientTokenIds"].as_array().into_iter().flatten().take(MAX_LIST).filter_map(Value::as_str).map(id_name).collect(),
        notifications: p["notificationsList"].as_array().into_iter().flatten().take(MAX_LIST).filter_map(Value::as_str).map(|s| clean_text(s, 200)).collect(),
        log_level: p["logging"]["logLevel"].as_str().map(|s| clean_text(s, 20)).unwrap_or_else(|| "Information".into()),
        audit_log: p["logging"]["auditLogStatus"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("enabled")),
        status_details: p["statusDetails"]
            .as_array()
            .into_iter()
            .flatten()
            .take(50)
            .map(|d| StatusDetailView {
                kind: text(&d["type"], 60),
                code: text(&d["code"], 60),
                description: text(&d["description"], 500),
                timestamp: d["timestamp"].as_str().map(|s| clean_text(s, 40)),
            })
            .collect(),
        flag_reason: flag.as_ref().map(|(_, r)| r.clone()),
        flag: flag.map(|(f, _)| f),
    }
}

impl Console {
    fn connected_url(&self, arm_id: &str, name: Option<&str>, action: Option<&str>) -> String {
        self.arm.child_url(arm_id, "connectedRegistries", name, action)
    }

    /// Every scope map's actions by lower-case id, and every token's scope map id by lower-case id.
    async fn scopes_and_tokens(&self, arm_id: &str) -> Result<(HashMap<String, Vec<String>>, HashMap<String, String>), ActionError> {
        let maps: Vec<Value> = self.arm.list(&self.arm.child_url(arm_id, "scopeMaps", None, None)).await?;
        let tokens: Vec<Value> = self.arm.list(&self.arm.child_url(arm_id, "tokens", None, None)).await?;
        let maps = maps
            .iter()
            .take(MAX_LIST * 5)
            .map(|m| {
                let actions =
                    m["properties"]["actions"].as_array().into_iter().flatten().take(2000).filter_map(Value::as_str).map(|a| clean_text(a, 300)).collect();
                (text(&m["id"], 600).to_ascii_lowercase(), actions)
            })
            .collect();
        let tokens = tokens
            .iter()
            .take(MAX_LIST * 5)
            .map(|t| (text(&t["id"], 600).to_ascii_lowercase(), text(&t["properties"]["scopeMapId"], 600).to_ascii_lowercase()))
            .collect();
        Ok((maps, tokens))
    }

    pub(super) async fn connected_list(&self, who: &Identity, registry: &str) -> Result<Vec<ConnectedRegistryView>, ApiError> {
        self.require(who, Role::Viewer, "read connected registries").await?;
        let reg = self.find(registry).await?;
        let arm_id = Console::arm_id(&reg);
        let list: Vec<Value> = self.arm.list(&self.connected_url(&arm_id, None, None)).await.map_err(ActionError::from)?;
        let (maps, tokens) = if list.is_empty() { Default::default() } else { self.scopes_and_tokens(&arm_id).await? };
        let now = Utc::now();
        let mut out: Vec<ConnectedRegistryView> = list
            .iter()
            .take(MAX_LIST)
            .map(|c| {
                let token = c["properties"]["parent"]["syncProperties"]["tokenId"].as_str().unwrap_or_default().to_ascii_lowercase();
                let repos = tokens.get(&token).and_then(|m| maps.get(m)).map(|a| repositories(a)).unwrap_or_default();
                view(c, repos, now)
            })
            .collect();
        out.sort_by_key(|c| c.name.to_ascii_lowercase());
        Ok(out)
    }

    pub(super) async fn connected_put(&self, who: &Identity, registry: &str, name: &str, req: ConnectedRegistryRequest) -> Result<(), ApiError> {
        self.require(who, Role::Operator, "create or change a connected registry").await?;
        checked_name(name)?;
        let reg = self.find(registry).await?;
        let arm_id = Console::arm_id(&reg);
        let url = self.connected_url(&arm_id, Some(name), None);
        let existing = match self.arm.send(Method::GET, &url, None).await {
            Ok(r) => Some(r.json::<Value>().map_err(ActionError::from)?),
            Err(regatlas_arm::ArmError::Api { status: 404, .. }) => None,
            Err(e) => return Err(ActionError::from(e).into()),
        };
        let what = match existing {
            None => {
                let mode = req.mode.as_deref().map(str::trim).unwrap_or_default();
                if mode != "ReadOnly" && mode != "ReadWrite" {
                    return Err(invalid("InvalidMode", "mode is ReadOnly or ReadWrite."));
                }
                let repos = checked_repositories(req.repositories.as_deref().unwrap_or_default())?;
                let schedule = req.schedule.as_deref().unwrap_or(CONTINUOUS);
                let mut sync = checked_sync(schedule, req.sync_window.as_deref(), req.message_ttl.as_deref().unwrap_or("P1D"))?;
                // What ARM would refuse last, checked first: nothing is made for a registry that cannot have one.
                let doc = self.arm.registry_document(&arm_id).await.map_err(ActionError::from)?;
                if !doc["sku"]["name"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("premium")) {
                    return Err(ApiError::new(
                        ErrorKind::Conflict,
                        "PremiumRequired",
                        format!("{} is not Premium; connected registries need the Premium SKU.", reg.name),
                    ));
                }
                if doc["properties"]["dataEndpointEnabled"] != json!(true) {
                    return Err(ApiError::new(
                        ErrorKind::Conflict,
                        "DataEndpointRequired",
                        format!("{} has no dedicated data endpoints; connected registries need them (the settings page's doctor can turn them on).", reg.name),
                    ));
                }
                // As `az acr connected-registry create`: a scope map, a sync token, then the connected registry.
                let scope = format!("{name}-sync-scope-map");
                let token = format!("{name}-sync-token");
                let scope_url = self.arm.child_url(&arm_id, "scopeMaps", Some(&scope), None);
                let token_url = self.arm.child_url(&arm_id, "tokens", Some(&token), None);
                for (what, u) in [("scope map", &scope_url), ("token", &token_url)] {
                    match self.arm.send(Method::GET, u, None).await {
                        Err(regatlas_arm::ArmError::Api { status: 404, .. }) => {}
                        Ok(_) => {
                            return Err(ApiError::new(
                                ErrorKind::Conflict,
                                "SyncResourceExists",
                                format!("The {what} this connected registry's sync needs already exists; Regatlas does not take over an existing one."),
                            ))
                        }
                        Err(e) => return Err(ActionError::from(e).into()),
                    }
                }
                let actions = sync_actions(name, mode, &repos);
                let acc = self
                    .arm
                    .begin_at(
                        Method::PUT,
                        &scope_url,
                        Some(json!({ "properties": { "description": format!("Sync scope map of {name}, made by Regatlas"), "actions": actions } })),
                    )
                    .await
                    .map_err(ActionError::from)?;
                self.arm.settle(acc, STEP_LIMIT).await.map_err(ActionError::from)?;
                let acc = self
                    .arm
                    .begin_at(
                        Method::PUT,
                        &token_url,
                        Some(json!({ "properties": { "scopeMapId": format!("{arm_id}/scopeMaps/{scope}"), "status": "enabled" } })),
                    )
                    .await
                    .map_err(ActionError::from)?;
                self.arm.settle(acc, STEP_LIMIT).await.map_err(ActionError::from)?;
                sync["tokenId"] = json!(format!("{arm_id}/tokens/{token}"));
                let body = json!({ "properties": {
                    "mode": mode,
                    "parent": { "syncProperties": sync },
                    "clientTokenIds": [],
                    "notificationsList": repos.iter().map(|r| format!("{r}:*:*")).collect::<Vec<_>>(),
                    "logging": { "logLevel": "Information", "auditLogStatus": "Disabled" },
                }});
                if let Err(e) = self.arm.begin_at(Method::PUT, &url, Some(body)).await {
                    // Nothing left behind: the token and scope map made for it go too.
                    for u in [&token_url, &scope_url] {
                        if let Err(d) = self.arm.send(Method::DELETE, u, None).await {
                            tracing::warn!(error = %d, "a connected registry's sync resource could not be removed after ARM refused the registry");
                        }
                    }
                    return Err(ActionError::from(e).into());
                }
                "created"
            }
            Some(doc) => {
                if req.mode.is_some() {
                    return Err(invalid("ModeFixed", "A connected registry's mode is fixed once it is created."));
                }
                let p = &doc["properties"];
                let current = &p["parent"]["syncProperties"];
                // Everything is checked before anything is written.
                let sync = if req.schedule.is_some() || req.sync_window.is_some() || req.message_ttl.is_some() {
                    let schedule = req.schedule.clone().unwrap_or_else(|| current["schedule"].as_str().unwrap_or(CONTINUOUS).to_string());
                    let window = req.sync_window.clone().or_else(|| current["syncWindow"].as_str().map(str::to_string));
                    let ttl = req.message_ttl.clone().unwrap_or_else(|| current["messageTtl"].as_str().unwrap_or("P1D").to_string());
                    Some(checked_sync(&schedule, window.as_deref(), &ttl)?)
                } else {
                    None
                };
                let scope_change = match &req.repositories {
                    None => None,
                    Some(r) => {
                        let repos = checked_repositories(r)?;
                        let mode = p["mode"].as_str().unwrap_or("ReadOnly").to_string();
                        let token_id = current["tokenId"].as_str().unwrap_or_default().to_string();
                        let conflict = |m: String| ApiError::new(ErrorKind::Conflict, "SyncScopeMapUnusable", m);
                        let token =
                            child_name(&arm_id, "tokens", &token_id).ok_or_else(|| conflict(format!("{name}'s sync token is not a token of {}.", reg.name)))?;
                        let token_doc: Value = self.arm.get(&self.arm.child_url(&arm_id, "tokens", Some(&token), None)).await.map_err(ActionError::from)?;
                        let scope_id = token_doc["properties"]["scopeMapId"].as_str().unwrap_or_default().to_string();
                        let scope = child_name(&arm_id, "scopeMaps", &scope_id)
                            .ok_or_else(|| conflict(format!("{name}'s sync token has no scope map of {}.", reg.name)))?;
                        // A scope map other tokens use is not rewritten for one connected registry.
                        let (_, tokens) = self.scopes_and_tokens(&arm_id).await?;
                        if tokens.iter().any(|(t, m)| *m == scope_id.to_ascii_lowercase() && *t != token_id.to_ascii_lowercase()) {
                            return Err(conflict(format!("{scope} is shared with other tokens; give {name} a scope map of its own.")));
                        }
                        let scope_url = self.arm.child_url(&arm_id, "scopeMaps", Some(&scope), None);
                        let map: Value = self.arm.get(&scope_url).await.map_err(ActionError::from)?;
                        let old: Vec<String> =
                            map["properties"]["actions"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
                        if repositories(&old) == repos {
                            None
                        } else {
                            let gateway = format!("gateway/{}/", name.to_ascii_lowercase());
                            let mut actions: Vec<String> =
                                old.into_iter().filter(|a| !a.starts_with("repositories/") && !a.to_ascii_lowercase().starts_with(&gateway)).collect();
                            actions.extend(sync_actions(name, &mode, &repos));
                            Some((scope_url, actions))
                        }
                    }
                };
                if let Some(sync) = sync {
                    self.arm.begin_at(Method::PATCH, &url, Some(json!({ "properties": { "syncProperties": sync } }))).await.map_err(ActionError::from)?;
                }
                if let Some((scope_url, actions)) = scope_change {
                    self.arm.begin_at(Method::PATCH, &scope_url, Some(json!({ "properties": { "actions": actions } }))).await.map_err(ActionError::from)?;
                }
                "changed"
            }
        };
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} {what} connected registry {name} of {}", who.principal.name, reg.name),
            json!({ "registry": reg.name, "connected_registry": name, "what": what, "request": req }),
        )
        .await;
        self.poller.nudge();
        Ok(())
    }

    pub(super) async fn connected_deactivate(&self, who: &Identity, registry: &str, name: &str) -> Result<(), ApiError> {
        self.require(who, Role::Admin, "deactivate a connected registry").await?;
        checked_name(name)?;
        let reg = self.find(registry).await?;
        self.arm.begin_at(Method::POST, &self.connected_url(&Console::arm_id(&reg), Some(name), Some("deactivate")), None).await.map_err(ActionError::from)?;
        self.audit(
            who,
            EventKind::ChildAction,
            format!("{} deactivated connected registry {name} of {}", who.principal.name, reg.name),
            json!({ "registry": reg.name, "connected_registry": name, "what": "deactivated" }),
        )
        .await;
        self.poller.nudge();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration_secs("PT1H"), Some(3600));
        assert_eq!(iso_duration_secs("P2D"), Some(172_800));
        assert_eq!(iso_duration_secs("P1DT12H"), Some(129_600));
        assert_eq!(iso_duration_secs("PT90M"), Some(5400));
        assert_eq!(iso_duration_secs("P1W"), Some(604_800));
        for bad in ["", "P", "PT", "1H", "PT1", "PTH", "P1H", "PT1H1H", "PT1M1H", "P99999999999999999999D"] {
            assert_eq!(iso_duration_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn schedules_are_five_field_cron() {
        assert!(parse_schedule("0 */2 * * *").is_ok());
        assert!(parse_schedule(CONTINUOUS).is_ok());
        for bad in ["", "0 * * *", "0 0 * * * *", "61 * * * *", "every hour"] {
            assert!(parse_schedule(bad).is_err(), "{bad}");
        }
        assert_eq!(next_sync("0 */2 * * *", at("2026-11-23T09:10:00Z")), Some(at("2026-11-23T10:00:00Z")));
    }

    #[test]
    fn sync_settings_are_checked() {
        assert!(checked_sync(CONTINUOUS, None, "P1D").is_ok());
        assert_eq!(checked_sync("0 9 * * *", None, "P1D").map_err(|e| e.code).err().as_deref(), Some("InvalidSyncWindow"));
        assert!(checked_sync("0 9 * * *", Some("PT3H"), "P2D").is_ok());
        assert!(checked_sync("0 9 * * *", Some("PT30M"), "P2D").is_err(), "under an hour");
        assert!(checked_sync("0 9 * * *", Some("PT3H"), "P91D").is_err());
        assert!(checked_repositories(&["hello-world".into(), " hello-world ".into()]).is_ok_and(|r| r == vec!["hello-world"]));
        assert!(checked_repositories(&["Bad Repo".into()]).is_err());
        assert!(checked_repositories(&[]).is_err());
    }

    #[test]
    fn attention_follows_activation_connection_and_schedule() {
        let now = at("2026-11-23T12:00:00Z");
        let doc = |state: &str, active: &str, last: Option<&str>, schedule: &str, window: Option<&str>| {
            let mut sync = json!({ "schedule": schedule });
            if let Some(l) = last {
                sync["lastSyncTime"] = json!(l);
            }
            if let Some(w) = window {
                sync["syncWindow"] = json!(w);
            }
            json!({ "activation": { "status": active }, "connectionState": state, "parent": { "syncProperties": sync } })
        };
        assert_eq!(attention(&doc("Offline", "Inactive", None, CONTINUOUS, None), now), None, "not deployed yet");
        assert_eq!(attention(&doc("Offline", "Active", Some("2026-11-23T11:59:00Z"), CONTINUOUS, None), now).map(|a| a.0), Some(ConnectedFlag::Offline));
        assert_eq!(attention(&doc("Unhealthy", "Active", None, CONTINUOUS, None), now).map(|a| a.0), Some(ConnectedFlag::Unhealthy));
        assert_eq!(attention(&doc("Online", "Active", None, CONTINUOUS, None), now).map(|a| a.0), Some(ConnectedFlag::NeverSynced));
        // Every two hours with a one-hour window: a sync at 09:10 is followed by 10:00 (+1 h window, +15 min grace).
        assert_eq!(attention(&doc("Online", "Active", Some("2026-11-23T09:10:00Z"), "0 */2 * * *", Some("PT1H")), at("2026-11-23T11:14:00Z")), None);
        let late = attention(&doc("Online", "Active", Some("2026-11-23T09:10:00Z"), "0 */2 * * *", Some("PT1H")), at("2026-11-23T11:16:00Z"));
        assert_eq!(late.as_ref().map(|a| a.0), Some(ConnectedFlag::SyncOverdue));
        assert!(late.is_some_and(|a| a.1.contains("2026-11-23T11:15:00")));
        assert_eq!(attention(&doc("Syncing", "Active", Some("2026-11-23T11:58:00Z"), CONTINUOUS, None), now), None);
    }

    #[test]
    fn names_from_arm_ids_are_checked_before_they_reach_a_url() {
        let reg = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/contoso";
        assert_eq!(child_name(reg, "tokens", &format!("{reg}/tokens/edge01-sync-token")).as_deref(), Some("edge01-sync-token"));
        assert_eq!(child_name(reg, "tokens", &format!("{}/TOKENS/edge01-sync-token", reg.to_uppercase())).as_deref(), Some("edge01-sync-token"));
        for bad in [
            format!("{reg}/tokens/../scopeMaps/x"),
            format!("{reg}/tokens/abc?api-version=1"),
            format!("{reg}/tokens/a%2Fb12"),
            format!("{reg}x/tokens/other-token"),
            format!("{reg}/scopeMaps/edge01-sync-token"),
            "/other/tokens/edge01-sync-token".to_string(),
        ] {
            assert_eq!(child_name(reg, "tokens", &bad), None, "{bad}");
        }
    }

    #[test]
    fn repositories_come_from_the_scope_maps_actions() {
        let actions = sync_actions("edge01", "ReadWrite", &["hello-world".into(), "web/frontend".into()]);
        assert!(actions.contains(&"repositories/web/frontend/content/delete".to_string()));
        assert!(actions.contains(&"gateway/edge01/message/write".to_string()));
        assert_eq!(repositories(&actions), vec!["hello-world", "web/frontend"]);
        assert_eq!(sync_actions("edge01", "ReadOnly", &["a1".into()]).iter().filter(|a| a.contains("write")).count(), 2, "only the gateway writes");
    }
}
