//! Azure regions, from `data/azure-specs/regions.json` (57 physical regions
//! with coordinates and pairs; see that folder's SOURCE.md and licences).

use std::sync::OnceLock;

use serde::Deserialize;

/// One Azure region.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub name: String,
    pub display_name: String,
    pub regional_display_name: String,
    pub geography_group: String,
    #[serde(default)]
    pub physical_location: Option<String>,
    pub latitude: f64,
    pub longitude: f64,
    pub latitude_raw: String,
    pub longitude_raw: String,
    #[serde(default)]
    pub availability_zones: Vec<String>,
    pub paired_region: Option<String>,
    pub restricted_or_internal: bool,
}

impl Region {
    /// Whether a registry or replica may be placed here. Restricted and
    /// internal regions (EUAP, staging) cannot host one.
    pub fn can_host(&self) -> bool {
        !self.restricted_or_internal
    }

    /// Whether zone-redundant replicas are possible here.
    pub fn has_zones(&self) -> bool {
        !self.availability_zones.is_empty()
    }
}

#[derive(Deserialize)]
struct File {
    regions: Vec<Region>,
}

static REGIONS: OnceLock<Vec<Region>> = OnceLock::new();

/// All regions, in file order.
pub fn all() -> &'static [Region] {
    REGIONS.get_or_init(|| {
        // The file is part of the binary; a parse failure is a build defect
        // caught by the unit test below, so an empty list is a safe fallback.
        serde_json::from_str::<File>(include_str!("../../data/azure-specs/regions.json")).map(|f| f.regions).unwrap_or_default()
    })
}

/// Looks a region up by its ARM name, case-insensitively and ignoring spaces
/// (ARM accepts "West Europe" for "westeurope").
pub fn find(name: &str) -> Option<&'static Region> {
    let key: String = name.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    all().iter().find(|r| r.name == key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_region_file_parses_with_57_regions() {
        assert_eq!(super::all().len(), 57);
        let w = super::find("West Europe").expect("westeurope");
        assert_eq!(w.name, "westeurope");
        assert!(w.can_host());
    }
}
