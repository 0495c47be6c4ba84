//! Comparing what ARM returned with what the poller remembers, producing a
//! [`ChangeSet`] of rows and history events.

use std::collections::HashMap;

use regatlas_arm::{models::Registry, models::Replication, ArmClient};
use regatlas_domain::{provisioning_is_transitional, ChildKind, EventKind, ReplicaState};
use serde_json::json;

use regatlas_domain::{
    record::{ChangeSet, ChildRow, NewEvent, RegistryRow, ReplicaRow, Stored, StoredTopology},
    Region, RegistryName,
};

/// How a registry reads in "from → to" history summaries.
pub fn registry_label(r: &RegistryRow) -> String {
    format!("{} {}", r.sku, r.provisioning_state.as_deref().unwrap_or("?"))
}

pub fn replica_label(r: &ReplicaRow) -> String {
    format!(
        "{}/{}, routing {}",
        r.provisioning_state.as_deref().unwrap_or("?"),
        r.display_status.as_deref().unwrap_or("?"),
        match r.region_endpoint_enabled {
            Some(true) => "on",
            Some(false) => "off",
            None => "?",
        }
    )
}

pub fn child_label(c: &ChildRow) -> String {
    c.state.clone().unwrap_or_else(|| "?".into())
}

/// The compared fields of a registry.
pub fn registry_fingerprint(r: &RegistryRow) -> String {
    format!("{}|{}|{}|{:?}|{:?}|{:?}", r.name, r.location, r.sku, r.login_server, r.provisioning_state, r.zone_redundancy)
}

/// The compared fields of a replica (the status timestamp is not compared:
/// it says when ARM computed the status, not that anything changed).
pub fn replica_fingerprint(r: &ReplicaRow) -> String {
    format!("{}|{:?}|{:?}|{:?}|{:?}|{:?}", r.location, r.provisioning_state, r.display_status, r.status_message, r.region_endpoint_enabled, r.zone_redundancy)
}

pub fn child_fingerprint(c: &ChildRow) -> String {
    format!("{}|{}|{:?}", c.kind, c.name, c.state)
}

#[derive(Clone, Debug)]
struct Known {
    registry_id: String,
    fingerprint: String,
    label: String,
    gone: bool,
    transitional: bool,
    /// Registry rows only: subscription and ARM id.
    subscription: String,
    arm_id: String,
    name: String,
}

/// What the poller remembers of the stored topology.
#[derive(Debug, Default)]
pub struct Memo {
    registries: HashMap<String, Known>,
    replicas: HashMap<String, Known>,
    children: HashMap<String, Known>,
    /// What the current change set will make true once it is stored:
    /// applied by [`Memo::commit`], thrown away by [`Memo::discard`].
    pending: Vec<Pending>,
}

/// Which memory a pending update belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Registry,
    Replica,
    Child,
}

/// One remembered row as the change set being written will leave it.
#[derive(Clone, Debug)]
struct Pending {
    table: Table,
    id: String,
    known: Known,
}

fn known(registry_id: &str, fingerprint: String, label: String, gone: bool, transitional: bool) -> Known {
    Known {
        registry_id: registry_id.to_string(),
        fingerprint,
        label,
        gone,
        transitional: !gone && transitional,
        subscription: String::new(),
        arm_id: String::new(),
        name: String::new(),
    }
}

impl Memo {
    pub fn from_stored(t: StoredTopology) -> Memo {
        let mut m = Memo::default();
        for Stored { row: r, gone } in t.registries {
            let transitional = provisioning_is_transitional(r.provisioning_state.as_deref());
            let mut k = known(&r.id, registry_fingerprint(&r), registry_label(&r), gone, transitional);
            // The stored id is the lower-cased ARM id, which ARM accepts (paths are case-insensitive).
            k.arm_id = r.id.clone();
            k.subscription = regatlas_arm::models::id_segment(&r.id, "subscriptions").unwrap_or_default().to_string();
            k.name = r.name.to_string();
            m.registries.insert(r.id, k);
        }
        for Stored { row: r, gone } in t.replicas {
            let k = known(&r.registry_id, replica_fingerprint(&r), replica_label(&r), gone, r.state().is_transitional());
            m.replicas.insert(r.id, k);
        }
        for Stored { row: c, gone } in t.children {
            let k = known(&c.registry_id, child_fingerprint(&c), child_label(&c), gone, false);
            m.children.insert(c.id, k);
        }
        m
    }

    pub fn registry_count(&self) -> usize {
        self.registries.len()
    }

    /// Registries to poll: (id, ARM id), not gone.
    pub fn live_registries(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self.registries.iter().filter(|(_, k)| !k.gone).map(|(id, k)| (id.clone(), k.arm_id.clone())).collect();
        v.sort();
        v
    }

    pub fn any_transitional(&self) -> bool {
        self.replicas.values().chain(self.registries.values()).any(|k| !k.gone && k.transitional)
    }

    pub fn diff_registries(&mut self, subscription: &str, regs: &[Registry], cs: &mut ChangeSet) {
        let sub = subscription.to_ascii_lowercase();
        let mut seen = Vec::new();
        for r in regs {
            let id = r.id.to_ascii_lowercase();
            seen.push(id.clone());
            // ARM's names are checked like any input: a registry whose name
            // or region is malformed is left as it is, and logged.
            let (name, location) = match (RegistryName::parse(r.name.as_str()), Region::parse(r.location.as_str())) {
                (Ok(n), Ok(l)) => (n, l),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(registry = %crate::outbound::clean_text(&r.id, 300), error = %e, "ARM returned a registry this console cannot store; skipped");
                    continue;
                }
            };
            let row = RegistryRow {
                id: id.clone(),
                arm_id: r.id.clone(),
                subscription_id: r.subscription_id().unwrap_or(subscription).to_string(),
                resource_group: r.resource_group().unwrap_or_default().to_string(),
                name,
                location,
                sku: r.sku.name.to_string(),
                login_server: r.properties.login_server.clone(),
                provisioning_state: r.properties.provisioning_state.as_ref().map(|p| p.to_string()),
                zone_redundancy: r.properties.zone_redundancy.as_ref().map(|z| z.to_string()),
                doc: serde_json::to_string(r).unwrap_or_default(),
            };
            let fp = registry_fingerprint(&row);
            let label = registry_label(&row);
            let transitional = provisioning_is_transitional(row.provisioning_state.as_deref());
            let prev = self.registries.get(&id).cloned();
            let unchanged = prev.as_ref().is_some_and(|k| !k.gone && k.fingerprint == fp);
            let next = Known {
                registry_id: id.clone(),
                fingerprint: fp,
                label: label.clone(),
                gone: false,
                transitional,
                subscription: sub.clone(),
                arm_id: r.id.clone(),
                name: r.name.clone(),
            };
            if unchanged {
                // Keep the ARM id as ARM spells it, without a write.
                if let Some(k) = self.registries.get_mut(&id) {
                    k.arm_id = r.id.clone();
                    k.subscription = sub.clone();
                    k.transitional = transitional;
                }
                continue;
            }
            let (kind, summary) = match &prev {
                None => (EventKind::RegistryDiscovered, format!("{}: discovered ({label}, home {})", r.name, r.location)),
                Some(k) if k.gone => (EventKind::RegistryReturned, format!("{}: returned ({label})", r.name)),
                Some(k) => (EventKind::RegistryChanged, format!("{}: {} → {label}", r.name, k.label)),
            };
            cs.events.push(NewEvent {
                actor: None,
                kind,
                registry_id: Some(id.clone()),
                subject_id: Some(id.clone()),
                summary,
                data: json!({ "registry": r.name, "sku": row.sku, "location": row.location, "provisioningState": row.provisioning_state, "from": prev.as_ref().map(|k| k.label.clone()) }),
            });
            cs.registries.push(row);
            self.pending.push(Pending { table: Table::Registry, id, known: next });
        }
        let gone: Vec<(String, Known)> =
            self.registries.iter().filter(|(id, k)| !k.gone && k.subscription == sub && !seen.contains(id)).map(|(id, k)| (id.clone(), k.clone())).collect();
        for (id, k) in gone {
            cs.gone_registries.push(id.clone());
            cs.events.push(NewEvent {
                actor: None,
                kind: EventKind::RegistryGone,
                registry_id: Some(id.clone()),
                subject_id: Some(id.clone()),
                summary: format!("{}: no longer returned by ARM", k.name),
                data: json!({ "registry": k.name }),
            });
            self.pending.push(Pending { table: Table::Registry, id, known: Known { gone: true, transitional: false, ..k } });
        }
    }

    pub fn diff_replicas(&mut self, registry_id: &str, reps: &[Replication], cs: &mut ChangeSet) {
        let reg_name =
            self.registries.get(registry_id).map(|k| k.name.clone()).unwrap_or_else(|| registry_id.rsplit('/').next().unwrap_or_default().to_string());
        let mut seen = Vec::new();
        for r in reps {
            let id = r.id.to_ascii_lowercase();
            seen.push(id.clone());
            let status = r.properties.status.clone().unwrap_or_default();
            let location = match Region::parse(r.location.clone().unwrap_or_else(|| r.name.clone())) {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(replica = %crate::outbound::clean_text(&r.id, 300), error = %e, "ARM returned a replica this console cannot store; skipped");
                    continue;
                }
            };
            let row = ReplicaRow {
                id: id.clone(),
                registry_id: registry_id.to_string(),
                name: r.name.clone(),
                location,
                provisioning_state: r.properties.provisioning_state.as_ref().map(|p| p.to_string()),
                display_status: status.display_status.clone(),
                status_message: status.message.clone(),
                status_timestamp: status.timestamp.clone(),
                region_endpoint_enabled: r.properties.region_endpoint_enabled,
                zone_redundancy: r.properties.zone_redundancy.as_ref().map(|z| z.to_string()),
                doc: serde_json::to_string(r).unwrap_or_default(),
            };
            let fp = replica_fingerprint(&row);
            let label = replica_label(&row);
            let state = ReplicaState::derive(row.provisioning_state.as_deref(), row.display_status.as_deref());
            let prev = self.replicas.get(&id).cloned();
            if prev.as_ref().is_some_and(|k| !k.gone && k.fingerprint == fp) {
                continue;
            }
            let (kind, summary) = match &prev {
                None => (EventKind::ReplicaAppeared, format!("{reg_name}/{}: appeared ({label})", row.location)),
                Some(k) if k.gone => (EventKind::ReplicaReturned, format!("{reg_name}/{}: returned ({label})", row.location)),
                Some(k) => (EventKind::ReplicaChanged, format!("{reg_name}/{}: {} → {label}", row.location, k.label)),
            };
            cs.events.push(NewEvent {
                actor: None,
                kind,
                registry_id: Some(registry_id.to_string()),
                subject_id: Some(id.clone()),
                summary,
                data: json!({
                    "registry": reg_name, "region": row.location, "state": state.as_str(),
                    "provisioningState": row.provisioning_state, "displayStatus": row.display_status, "message": row.status_message,
                    "routing": row.region_endpoint_enabled, "from": prev.as_ref().map(|k| k.label.clone()),
                }),
            });
            let next = Known {
                registry_id: registry_id.to_string(),
                fingerprint: fp,
                label,
                gone: false,
                transitional: state.is_transitional(),
                subscription: String::new(),
                arm_id: String::new(),
                name: String::new(),
            };
            cs.replicas.push(row);
            self.pending.push(Pending { table: Table::Replica, id, known: next });
        }
        let gone: Vec<(String, Known)> = self
            .replicas
            .iter()
            .filter(|(id, k)| !k.gone && k.registry_id == registry_id && !seen.contains(id))
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect();
        for (id, k) in gone {
            let region = id.rsplit('/').next().unwrap_or_default().to_string();
            cs.gone_replicas.push(id.clone());
            cs.events.push(NewEvent {
                actor: None,
                kind: EventKind::ReplicaGone,
                registry_id: Some(registry_id.to_string()),
                subject_id: Some(id.clone()),
                summary: format!("{reg_name}/{region}: no longer returned by ARM (deleted)"),
                data: json!({ "registry": reg_name, "region": region, "from": k.label }),
            });
            self.pending.push(Pending { table: Table::Replica, id, known: Known { gone: true, transitional: false, ..k } });
        }
    }

    pub fn diff_children(&mut self, registry_id: &str, rows: &[ChildRow], errors: &[String], cs: &mut ChangeSet) {
        let mut seen = Vec::new();
        for c in rows {
            seen.push(c.id.clone());
            let fp = child_fingerprint(c);
            let label = child_label(c);
            let prev = self.children.get(&c.id).cloned();
            if prev.as_ref().is_some_and(|k| !k.gone && k.fingerprint == fp) {
                continue;
            }
            cs.events.push(NewEvent {
                actor: None,
                kind: if prev.is_none() { EventKind::ChildAppeared } else { EventKind::ChildChanged },
                registry_id: Some(registry_id.to_string()),
                subject_id: Some(c.id.clone()),
                summary: match &prev {
                    None => format!("{} {}: appeared ({label})", c.kind, c.name),
                    Some(k) => format!("{} {}: {} → {label}", c.kind, c.name, k.label),
                },
                data: json!({ "kind": c.kind.as_str(), "name": c.name, "state": c.state }),
            });
            cs.children.push(c.clone());
            self.pending.push(Pending {
                table: Table::Child,
                id: c.id.clone(),
                known: Known {
                    registry_id: registry_id.to_string(),
                    fingerprint: fp,
                    label,
                    gone: false,
                    transitional: false,
                    subscription: String::new(),
                    arm_id: String::new(),
                    name: c.name.clone(),
                },
            });
        }
        // A kind whose listing failed says nothing about its items being gone.
        if !errors.is_empty() {
            return;
        }
        let gone: Vec<(String, Known)> = self
            .children
            .iter()
            .filter(|(id, k)| !k.gone && k.registry_id == registry_id && !seen.contains(id))
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect();
        for (id, k) in gone {
            cs.gone_children.push(id.clone());
            cs.events.push(NewEvent {
                actor: None,
                kind: EventKind::ChildGone,
                registry_id: Some(registry_id.to_string()),
                subject_id: Some(id.clone()),
                summary: format!("{}: no longer returned by ARM", id.rsplit('/').take(2).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("/")),
                data: json!({ "from": k.label }),
            });
            self.pending.push(Pending { table: Table::Child, id, known: Known { gone: true, ..k } });
        }
    }

    /// Applies the pending updates once the change set is stored.
    pub fn commit(&mut self) {
        for Pending { table, id, known } in self.pending.drain(..) {
            match table {
                Table::Registry => self.registries.insert(id, known),
                Table::Replica => self.replicas.insert(id, known),
                Table::Child => self.children.insert(id, known),
            };
        }
    }

    /// Forgets the pending updates: their change set was not stored, so the
    /// memory stays as the database is, and the next cycle finds the same
    /// changes again.
    pub fn discard(&mut self) {
        self.pending.clear();
    }
}

/// Lists a registry's child resources (webhooks, connected registries,
/// pipelines, pipeline runs). Returns rows and the errors of kinds that failed.
pub async fn fetch_children(arm: &ArmClient, arm_id: &str) -> (Vec<ChildRow>, Vec<String>) {
    let reg_id = arm_id.to_ascii_lowercase();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    match arm.list_webhooks(arm_id).await {
        Ok(v) => rows.extend(v.iter().map(|w| ChildRow {
            id: w.id.to_ascii_lowercase(),
            registry_id: reg_id.clone(),
            kind: ChildKind::Webhook,
            name: w.name.clone(),
            state: w.properties.status.clone(),
            doc: doc(w),
        })),
        Err(e) => errors.push(format!("webhooks: {e}")),
    }
    match arm.list_connected_registries(arm_id).await {
        Ok(v) => rows.extend(v.iter().map(|c| ChildRow {
            id: c.id.to_ascii_lowercase(),
            registry_id: reg_id.clone(),
            kind: ChildKind::ConnectedRegistry,
            name: c.name.clone(),
            state: c.properties.connection_state.clone().or_else(|| c.properties.provisioning_state.as_ref().map(|p| p.to_string())),
            doc: doc(c),
        })),
        Err(e) => errors.push(format!("connected registries: {e}")),
    }
    match arm.list_pipeline_runs(arm_id).await {
        Ok(v) => rows.extend(v.iter().map(|r| {
            let resp = r.properties.response.clone().unwrap_or_default();
            let state = match (resp.status.as_deref(), resp.percentage()) {
                (Some(s), Some(p)) => Some(format!("{s} {p:.0}%")),
                (Some(s), None) => Some(s.to_string()),
                _ => r.properties.provisioning_state.as_ref().map(|p| p.to_string()),
            };
            ChildRow { id: r.id.to_ascii_lowercase(), registry_id: reg_id.clone(), kind: ChildKind::PipelineRun, name: r.name.clone(), state, doc: doc(r) }
        })),
        Err(e) => errors.push(format!("pipeline runs: {e}")),
    }
    (rows, errors)
}

fn doc<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use regatlas_domain::EventKind;
    use serde_json::json;

    use super::*;

    const SUB: &str = "00000000-0000-4000-8000-000000000001";

    fn registry(name: &str, state: &str) -> Registry {
        serde_json::from_value(json!({
            "id": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{name}"),
            "name": name,
            "location": "westus",
            "sku": { "name": "Premium" },
            "properties": { "loginServer": format!("{}.azurecr.io", name.to_lowercase()), "provisioningState": state },
        }))
        .expect("registry json")
    }

    fn replica(reg: &Registry, location: &str, state: &str, display: &str) -> Replication {
        serde_json::from_value(json!({
            "id": format!("{}/replications/{location}", reg.id),
            "name": location,
            "location": location,
            "properties": { "provisioningState": state, "status": { "displayStatus": display }, "regionEndpointEnabled": true },
        }))
        .expect("replication json")
    }

    fn kinds(cs: &ChangeSet) -> Vec<EventKind> {
        cs.events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_registry_is_discovered_changed_and_gone_and_nothing_is_written_while_it_stays() {
        let mut memo = Memo::default();
        let mut cs = ChangeSet::default();
        memo.diff_registries(SUB, &[registry("contoso", "Succeeded")], &mut cs);
        assert_eq!(kinds(&cs), [EventKind::RegistryDiscovered]);
        assert_eq!(cs.registries.len(), 1);
        memo.commit();

        let mut quiet = ChangeSet::default();
        memo.diff_registries(SUB, &[registry("contoso", "Succeeded")], &mut quiet);
        assert!(quiet.is_empty(), "the same registry again writes nothing: {quiet:?}");

        let mut changed = ChangeSet::default();
        memo.diff_registries(SUB, &[registry("contoso", "Updating")], &mut changed);
        assert_eq!(kinds(&changed), [EventKind::RegistryChanged]);
        assert!(changed.events[0].summary.contains("Premium Succeeded → Premium Updating"), "{}", changed.events[0].summary);
        memo.commit();
        assert!(memo.any_transitional(), "an updating registry makes the poller go fast");

        let mut gone = ChangeSet::default();
        memo.diff_registries(SUB, &[], &mut gone);
        assert_eq!(kinds(&gone), [EventKind::RegistryGone]);
        assert_eq!(gone.gone_registries.len(), 1);
        memo.commit();
        assert!(memo.live_registries().is_empty());
        assert!(!memo.any_transitional(), "a gone registry is not changing");
    }

    #[test]
    fn a_discarded_change_set_is_found_again() {
        let mut memo = Memo::default();
        let mut cs = ChangeSet::default();
        memo.diff_registries(SUB, &[registry("contoso", "Succeeded")], &mut cs);
        memo.discard();
        let mut again = ChangeSet::default();
        memo.diff_registries(SUB, &[registry("contoso", "Succeeded")], &mut again);
        assert_eq!(kinds(&again), [EventKind::RegistryDiscovered], "the write failed, so the registry is still new");
    }

    #[test]
    fn a_registry_arm_names_badly_is_skipped_and_not_taken_for_gone() {
        let mut memo = Memo::default();
        let mut cs = ChangeSet::default();
        memo.diff_registries(SUB, &[registry("contoso", "Succeeded")], &mut cs);
        memo.commit();
        let mut odd = registry("contoso", "Succeeded");
        odd.name = "con-toso".into();
        let mut cs = ChangeSet::default();
        memo.diff_registries(SUB, &[odd], &mut cs);
        assert!(cs.is_empty(), "skipped, and the stored one is not marked gone: {cs:?}");
    }

    #[test]
    fn replicas_appear_change_and_go() {
        let reg = registry("contoso", "Succeeded");
        let mut memo = Memo::default();
        let mut cs = ChangeSet::default();
        memo.diff_registries(SUB, std::slice::from_ref(&reg), &mut cs);
        memo.commit();
        let id = reg.id.to_ascii_lowercase();

        let mut cs = ChangeSet::default();
        memo.diff_replicas(&id, &[replica(&reg, "westus", "Succeeded", "Ready"), replica(&reg, "eastus", "Creating", "Provisioning")], &mut cs);
        assert_eq!(kinds(&cs), [EventKind::ReplicaAppeared, EventKind::ReplicaAppeared]);
        memo.commit();
        assert!(memo.any_transitional(), "a replica being created makes the poller go fast");

        let mut cs = ChangeSet::default();
        memo.diff_replicas(&id, &[replica(&reg, "westus", "Succeeded", "Ready"), replica(&reg, "eastus", "Succeeded", "Ready")], &mut cs);
        assert_eq!(kinds(&cs), [EventKind::ReplicaChanged]);
        memo.commit();
        assert!(!memo.any_transitional());

        let mut cs = ChangeSet::default();
        memo.diff_replicas(&id, &[replica(&reg, "westus", "Succeeded", "Ready")], &mut cs);
        assert_eq!(kinds(&cs), [EventKind::ReplicaGone]);
        assert_eq!(cs.gone_replicas, [format!("{id}/replications/eastus")]);
    }

    #[test]
    fn the_memory_loads_transitional_state_from_stored_fields() {
        let reg = registry("contoso", "Succeeded");
        let mut memo = Memo::default();
        let mut cs = ChangeSet::default();
        memo.diff_registries(SUB, std::slice::from_ref(&reg), &mut cs);
        memo.diff_replicas(&reg.id.to_ascii_lowercase(), &[replica(&reg, "eastus", "Succeeded", "Syncing")], &mut cs);
        let stored = StoredTopology {
            registries: cs.registries.iter().cloned().map(|row| Stored { row, gone: false }).collect(),
            replicas: cs.replicas.iter().cloned().map(|row| Stored { row, gone: false }).collect(),
            children: Vec::new(),
        };
        assert!(Memo::from_stored(stored).any_transitional(), "a syncing replica, as stored, is transitional after a restart");
    }
}
