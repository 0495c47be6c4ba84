//! Azure regions for the console (map positions, create-replica checks),
//! from `data/azure-specs/regions.json`: 57 regions with coordinates, pairs
//! and whether they can host a registry. See that folder's SOURCE.md.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub name: String,
    pub display_name: String,
    pub geography_group: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub availability_zones: Vec<String>,
    pub paired_region: Option<String>,
    pub restricted_or_internal: bool,
}

impl Region {
    /// Restricted and internal regions cannot host a replica.
    pub fn can_host(&self) -> bool {
        !self.restricted_or_internal
    }
    pub fn has_zones(&self) -> bool {
        !self.availability_zones.is_empty()
    }
}

#[derive(Deserialize)]
struct File {
    regions: Vec<Region>,
}

static REGIONS: OnceLock<Vec<Region>> = OnceLock::new();

/// All regions in file order (empty only if the embedded file were broken,
/// which the unit test below rules out).
pub fn all() -> &'static [Region] {
    REGIONS.get_or_init(|| serde_json::from_str::<File>(include_str!("../../data/azure-specs/regions.json")).map(|f| f.regions).unwrap_or_default())
}

/// By ARM name, case-insensitive, spaces ignored ("West Europe" = "westeurope").
pub fn find(name: &str) -> Option<&'static Region> {
    let key: String = name.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    all().iter().find(|r| r.name == key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_region_file_parses() {
        assert_eq!(super::all().len(), 57);
        assert_eq!(super::find("West Europe").map(|r| r.name.as_str()), Some("westeurope"));
    }
}
