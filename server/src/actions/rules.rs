//! The rules a replica action must pass before ARM is called: pure
//! functions of the registry as stored and what was asked, so every rule
//! is unit-tested without a server.

use regatlas_app::{
    model::{ErrorKind, RegistryView, ReplicaView},
    regions::{self, Region as RegionInfo},
};
use regatlas_domain::Region;

use super::ActionError;

/// A new replica in `region`: a Premium registry, a region Azure has and
/// that can host one, not the home region, not one it already has, and
/// zones only where the region has them.
pub fn create(reg: &RegistryView, region: &str, zone_redundancy: bool) -> Result<&'static RegionInfo, ActionError> {
    if !reg.is_premium() {
        return Err(ActionError::invalid(ErrorKind::Invalid, "SkuNotPremium", format!("{} is {}; geo-replication needs the Premium SKU.", reg.name, reg.sku)));
    }
    let wanted = Region::parse(region).map_err(|e| ActionError::invalid(ErrorKind::Invalid, "UnknownRegion", e.to_string()))?;
    let Some(info) = regions::find(wanted.as_str()) else {
        return Err(ActionError::invalid(
            ErrorKind::Invalid,
            "UnknownRegion",
            format!("'{}' is not an Azure region.", crate::outbound::clean_text(region, 64)),
        ));
    };
    if !info.can_host() {
        return Err(ActionError::invalid(
            ErrorKind::Invalid,
            "RegionUnavailable",
            format!("{} cannot host a replica (restricted or internal region).", info.display_name),
        ));
    }
    if info.name.eq_ignore_ascii_case(&reg.location) {
        return Err(ActionError::invalid(
            ErrorKind::Conflict,
            "HomeRegion",
            format!("{} is {}'s home region; its replica always exists.", info.display_name, reg.name),
        ));
    }
    if reg.replica_in(&info.name).is_some() {
        return Err(ActionError::invalid(ErrorKind::Conflict, "ReplicaExists", format!("{} already has a replica in {}.", reg.name, info.display_name)));
    }
    if zone_redundancy && !info.has_zones() {
        return Err(ActionError::invalid(
            ErrorKind::Invalid,
            "NoAvailabilityZones",
            format!("{} has no availability zones; zone redundancy is not possible there.", info.display_name),
        ));
    }
    Ok(info)
}

/// The live replica a request names, by region or replica name.
pub fn live_replica<'a>(reg: &'a RegistryView, region: &str) -> Result<&'a ReplicaView, ActionError> {
    let key: String = region.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    reg.replicas.iter().find(|r| !r.gone && (r.location.eq_ignore_ascii_case(&key) || r.name.eq_ignore_ascii_case(&key))).ok_or_else(|| {
        ActionError::invalid(ErrorKind::NotFound, "ReplicaNotFound", format!("{} has no replica in '{}'.", reg.name, crate::outbound::clean_text(region, 64)))
    })
}

/// A replica to delete: any but the home replica.
pub fn delete<'a>(reg: &'a RegistryView, region: &str) -> Result<&'a ReplicaView, ActionError> {
    let rep = live_replica(reg, region)?;
    if rep.home {
        return Err(ActionError::invalid(
            ErrorKind::Invalid,
            "HomeReplica",
            format!("{} is {}'s home region; the home replica cannot be deleted.", rep.location, reg.name),
        ));
    }
    Ok(rep)
}

/// Routing on or off. Turning off the last replica that receives traffic
/// stops the global endpoint, so it needs `force`.
pub fn routing<'a>(reg: &'a RegistryView, region: &str, enabled: bool, force: bool) -> Result<&'a ReplicaView, ActionError> {
    let rep = live_replica(reg, region)?;
    if !enabled && !force {
        let others = reg.replicas.iter().filter(|r| !r.gone && r.id != rep.id && r.routing != Some(false)).count();
        if others == 0 && rep.routing != Some(false) {
            return Err(ActionError::invalid(
                ErrorKind::Conflict,
                "LastRoutedReplica",
                format!(
                    "{} is the last replica of {} that receives traffic; disabling it stops the global endpoint from serving. Pass force to do it anyway.",
                    rep.location, reg.name
                ),
            ));
        }
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use regatlas_app::model::{Health, ReplicaState};

    use super::*;

    fn replica(location: &str, home: bool, routing: Option<bool>, gone: bool) -> ReplicaView {
        ReplicaView {
            id: format!("/r/contoso/replications/{location}"),
            name: location.into(),
            location: location.into(),
            home,
            state: ReplicaState::Ready,
            provisioning_state: Some("Succeeded".into()),
            display_status: Some("Ready".into()),
            status_message: None,
            status_timestamp: None,
            routing,
            zone_redundancy: false,
            first_seen: String::new(),
            changed_at: String::new(),
            confirmed_at: String::new(),
            gone,
        }
    }

    fn registry(sku: &str, replicas: Vec<ReplicaView>) -> RegistryView {
        RegistryView {
            id: "/r/contoso".into(),
            name: "contoso".into(),
            subscription_id: "s".into(),
            resource_group: "g".into(),
            location: "westus".into(),
            sku: sku.into(),
            login_server: Some("contoso.azurecr.io".into()),
            provisioning_state: Some("Succeeded".into()),
            zone_redundancy: false,
            health: Health::Healthy,
            replicas,
            children: Vec::new(),
            changed_at: String::new(),
            confirmed_at: String::new(),
            gone: false,
            poll_error: None,
        }
    }

    fn code<T: std::fmt::Debug>(r: Result<T, ActionError>) -> String {
        match r.expect_err("refused") {
            ActionError::Invalid { code, .. } => code.to_string(),
            other => panic!("not a rule: {other:?}"),
        }
    }

    #[test]
    fn a_replica_is_created_only_where_it_can_be() {
        let reg = registry("Premium", vec![replica("westus", true, Some(true), false), replica("eastus", false, Some(true), false)]);
        assert_eq!(create(&reg, "West Europe", false).expect("allowed").name, "westeurope");
        assert_eq!(code(create(&registry("Standard", vec![]), "westeurope", false)), "SkuNotPremium");
        assert_eq!(code(create(&reg, "atlantis", false)), "UnknownRegion");
        assert_eq!(code(create(&reg, "east\u{202e}us", false)), "UnknownRegion");
        assert_eq!(code(create(&reg, "westus", false)), "HomeRegion");
        assert_eq!(code(create(&reg, "eastus", false)), "ReplicaExists");
        // A replica that is gone does not block a new one.
        let gone = registry("Premium", vec![replica("westus", true, Some(true), false), replica("eastus", false, Some(true), true)]);
        assert!(create(&gone, "eastus", false).is_ok());
        let no_zones = regions::all().iter().find(|r| r.can_host() && !r.has_zones()).expect("a region without zones");
        assert_eq!(code(create(&reg, &no_zones.name, true)), "NoAvailabilityZones");
        let restricted = regions::all().iter().find(|r| !r.can_host()).expect("a restricted region");
        assert_eq!(code(create(&reg, &restricted.name, false)), "RegionUnavailable");
    }

    #[test]
    fn the_home_replica_is_never_deleted() {
        let reg = registry("Premium", vec![replica("westus", true, Some(true), false), replica("eastus", false, Some(true), false)]);
        assert_eq!(code(delete(&reg, "westus")), "HomeReplica");
        assert_eq!(delete(&reg, "East US").expect("allowed").location, "eastus");
        assert_eq!(code(delete(&reg, "japaneast")), "ReplicaNotFound");
    }

    #[test]
    fn the_last_routed_replica_keeps_routing_unless_forced() {
        let reg = registry("Premium", vec![replica("westus", true, Some(false), false), replica("eastus", false, Some(true), false)]);
        assert_eq!(code(routing(&reg, "eastus", false, false)), "LastRoutedReplica");
        assert!(routing(&reg, "eastus", false, true).is_ok(), "force overrides");
        assert!(routing(&reg, "eastus", true, false).is_ok(), "turning on is always allowed");
        assert!(routing(&reg, "westus", false, false).is_ok(), "already off");
        let two = registry("Premium", vec![replica("westus", true, Some(true), false), replica("eastus", false, Some(true), false)]);
        assert!(routing(&two, "eastus", false, false).is_ok(), "another replica still routes");
        // A gone replica routes nothing.
        let gone = registry("Premium", vec![replica("westus", true, Some(true), true), replica("eastus", false, Some(true), false)]);
        assert_eq!(code(routing(&gone, "eastus", false, false)), "LastRoutedReplica");
    }
}
