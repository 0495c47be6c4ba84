//! Map geometry: the equirectangular projection shared with the land layer
//! (`public/map/land-110m.svg`, see `public/map/SOURCE.md`), hexagon
//! outlines, and the spread that keeps dense areas (Europe, the US east
//! coast) clickable: hexagons closer than [`MIN_GAP`] are pushed apart, and
//! each keeps a leader line to its true position.

use std::sync::OnceLock;

use crate::regions::{self, Region};

/// The map's coordinate box, the land layer's too.
pub const WIDTH: f64 = 1000.0;
pub const HEIGHT: f64 = 500.0;
/// Hexagon circumradius, in map units.
pub const HEX_R: f64 = 6.5;
/// Centre-to-centre distance the spread guarantees.
pub const MIN_GAP: f64 = 2.0 * HEX_R + 1.5;

/// The initial view: latitudes 81° N to 59° S (no region lies outside).
pub const WORLD: ViewBox = ViewBox { x: 0.0, y: 25.0, w: 1000.0, h: 390.0 };

pub fn project(lat: f64, lon: f64) -> (f64, f64) {
    ((lon + 180.0) / 360.0 * WIDTH, (90.0 - lat) / 180.0 * HEIGHT)
}

/// One region's place on the map.
#[derive(Clone, Debug)]
pub struct Spot {
    pub region: &'static Region,
    /// Where its hexagon is drawn (after the spread).
    pub x: f64,
    pub y: f64,
    /// Its true position.
    pub true_x: f64,
    pub true_y: f64,
}

impl Spot {
    /// Whether the spread moved it far enough to draw a leader line.
    pub fn displaced(&self) -> bool {
        (self.x - self.true_x).hypot(self.y - self.true_y) > 1.5
    }
}

/// Every region's spot, spread, computed once.
pub fn spots() -> &'static [Spot] {
    static SPOTS: OnceLock<Vec<Spot>> = OnceLock::new();
    SPOTS.get_or_init(|| spread(regions::all()))
}

pub fn spot(region: &str) -> Option<&'static Spot> {
    spots().iter().find(|s| s.region.name.eq_ignore_ascii_case(region))
}

/// Deterministic relaxation: pairs closer than [`MIN_GAP`] move apart
/// symmetrically; coincident ones split along a direction given by their
/// order, so server and browser draw the same map.
fn spread(regions: &'static [Region]) -> Vec<Spot> {
    let mut spots: Vec<Spot> = regions
        .iter()
        .map(|r| {
            let (x, y) = project(r.latitude, r.longitude);
            Spot { region: r, x, y, true_x: x, true_y: y }
        })
        .collect();
    for _ in 0..400 {
        let mut moved = false;
        for i in 0..spots.len() {
            for j in (i + 1)..spots.len() {
                let (dx, dy) = (spots[j].x - spots[i].x, spots[j].y - spots[i].y);
                let d = dx.hypot(dy);
                if d >= MIN_GAP {
                    continue;
                }
                moved = true;
                let (ux, uy) = if d < 1e-6 {
                    let a = (i * 7 + j * 13) as f64;
                    (a.cos(), a.sin())
                } else {
                    (dx / d, dy / d)
                };
                let push = (MIN_GAP - d) / 2.0 + 0.01;
                spots[i].x -= ux * push;
                spots[i].y -= uy * push;
                spots[j].x += ux * push;
                spots[j].y += uy * push;
            }
        }
        if !moved {
            break;
        }
    }
    spots
}

/// The six corners of a pointy-top hexagon, as an SVG `points` value.
pub fn hex_points(x: f64, y: f64, r: f64) -> String {
    (0..6)
        .map(|k| {
            let a = std::f64::consts::PI / 180.0 * (60.0 * k as f64 - 90.0);
            format!("{:.1},{:.1}", x + r * a.cos(), y + r * a.sin())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SVG `viewBox`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl ViewBox {
    pub fn attr(&self) -> String {
        format!("{:.1} {:.1} {:.1} {:.1}", self.x, self.y, self.w, self.h)
    }

    /// Zooms by `factor` (< 1 zooms in) around the centre, within the world.
    pub fn zoom(self, factor: f64) -> ViewBox {
        let w = (self.w * factor).clamp(80.0, WORLD.w);
        let h = w * WORLD.h / WORLD.w;
        let (cx, cy) = (self.x + self.w / 2.0, self.y + self.h / 2.0);
        ViewBox { x: cx - w / 2.0, y: cy - h / 2.0, w, h }.clamped()
    }

    /// Pans by a fraction of the view.
    pub fn pan(self, fx: f64, fy: f64) -> ViewBox {
        ViewBox { x: self.x + fx * self.w, y: self.y + fy * self.h, ..self }.clamped()
    }

    /// A view of the given area, with the world's aspect ratio.
    pub fn around(x0: f64, y0: f64, x1: f64, y1: f64) -> ViewBox {
        let w = (x1 - x0).max((y1 - y0) * WORLD.w / WORLD.h);
        let h = w * WORLD.h / WORLD.w;
        ViewBox { x: (x0 + x1) / 2.0 - w / 2.0, y: (y0 + y1) / 2.0 - h / 2.0, w, h }.clamped()
    }

    fn clamped(self) -> ViewBox {
        ViewBox { x: self.x.clamp(WORLD.x, WORLD.x + WORLD.w - self.w), y: self.y.clamp(WORLD.y, WORLD.y + WORLD.h - self.h), ..self }
    }
}

/// Named views for the dense areas.
/// A named view: label and the area (x0, y0, x1, y1) it shows.
pub type Preset = (&'static str, (f64, f64, f64, f64));

pub const PRESETS: &[Preset] =
    &[("Americas", (90.0, 60.0, 420.0, 400.0)), ("Europe", (455.0, 55.0, 590.0, 160.0)), ("Asia Pacific", (680.0, 90.0, 1000.0, 380.0))];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_gets_a_spot_and_none_overlap() {
        let s = spots();
        assert_eq!(s.len(), regions::all().len());
        for (i, a) in s.iter().enumerate() {
            for b in &s[i + 1..] {
                let d = (a.x - b.x).hypot(a.y - b.y);
                assert!(d >= MIN_GAP - 0.05, "{} and {} overlap ({d:.2})", a.region.name, b.region.name);
            }
            // The spread stays local: no hexagon wanders off its country.
            assert!((a.x - a.true_x).hypot(a.y - a.true_y) < 40.0, "{} moved too far", a.region.name);
        }
    }

    #[test]
    fn projection_matches_the_land_layer() {
        assert_eq!(project(0.0, 0.0), (500.0, 250.0));
        assert_eq!(project(90.0, -180.0), (0.0, 0.0));
    }

    #[test]
    fn zoom_and_pan_stay_inside_the_world() {
        let v = WORLD.zoom(0.5).pan(10.0, 10.0);
        assert!(v.x + v.w <= WORLD.x + WORLD.w + 1e-9 && v.y + v.h <= WORLD.y + WORLD.h + 1e-9);
        assert_eq!(WORLD.zoom(4.0), WORLD);
    }
}
