//! The world map: the land layer, one focusable hexagon per Azure region
//! (home, replica by state, can host, cannot host; routing off hatched and
//! dashed), leader lines for spread hexagons, connected registries as
//! on-premises nodes tied to their parent's home region, zoom and pan.
//!
//! Hexagons are rendered once; their classes and names follow the
//! registry reactively, so live updates never rebuild the map (keyboard
//! focus and zoom survive).

use crate::Erase;
use leptos::prelude::*;

use super::geo::{self, Spot, ViewBox};
use crate::model::{ChildKind, Health, OperationKind, OperationView, RegistryView};

/// What one hexagon shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub class: String,
    pub label: String,
}

/// Decides a region's hexagon from the registry, its in-flight operations
/// and this browser's own just-sent requests.
pub fn cell(spot: &Spot, reg: Option<&RegistryView>, ops: &[OperationView], pending: &[String], selected: bool) -> Cell {
    let r = spot.region;
    let title = format!("{} ({})", r.display_name, r.name);
    let mut class = String::from("region");
    if selected {
        class.push_str(" selected");
    }
    let in_flight = |kind: OperationKind| ops.iter().any(|o| o.kind == kind && o.target.eq_ignore_ascii_case(&r.name) && o.state.is_open());
    let label = match reg.and_then(|g| g.replica_in(&r.name).map(|p| (g, p))) {
        Some((g, p)) => {
            let stale = matches!(g.health, Health::Stale);
            let state = if in_flight(OperationKind::ReplicaDelete) && !p.home { "deleting" } else { p.state.as_str() };
            class.push_str(&format!(" kind-replica state-{state}"));
            if stale {
                class.push_str(" stale");
            }
            if p.home {
                class.push_str(" home");
            }
            if p.routing == Some(false) {
                class.push_str(" routing-off");
            }
            format!(
                "{title}: {}replica, {state}{}, routing {}",
                if p.home { "home " } else { "" },
                if stale { " (stale)" } else { "" },
                match p.routing {
                    Some(false) => "off",
                    Some(true) => "on",
                    None => "unknown",
                }
            )
        }
        None if in_flight(OperationKind::ReplicaCreate) || pending.iter().any(|p| p.eq_ignore_ascii_case(&r.name)) => {
            class.push_str(" kind-replica state-provisioning pending");
            format!("{title}: replica requested, provisioning")
        }
        None if r.can_host() => {
            class.push_str(" kind-empty");
            format!("{title}: no replica, can host one")
        }
        None => {
            class.push_str(" kind-unavailable");
            format!("{title}: cannot host a replica")
        }
    };
    Cell { class, label }
}

#[component]
pub fn WorldMap(
    reg: Memo<Option<RegistryView>>,
    ops: Memo<Vec<OperationView>>,
    pending: RwSignal<Vec<String>>,
    selected: Memo<Option<String>>,
    on_select: Callback<String>,
) -> impl IntoView {
    let view_box = RwSignal::new(geo::WORLD);
    let spots = geo::spots();
    let leaders = spots.iter().filter(|s| s.displaced()).map(leader).collect_view();
    let hexes = spots.iter().map(|s| hexagon(s, reg, ops, pending, selected, on_select)).collect_view();
    let connected = move || reg.with(|r| r.as_ref().map(connected_registries).unwrap_or_default());

    view! {
        <div class="map-wrap">
            {controls(view_box)}
            <svg
                class="worldmap"
                viewBox=move || view_box.get().attr()
                role="group"
                aria-label="World map of Azure regions: one hexagon per region"
                preserveAspectRatio="xMidYMid meet"
            >
                <defs>
                    <pattern id="hatch" width="3" height="3" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
                        <line x1="0" y1="0" x2="0" y2="3" class="hatch-line"></line>
                    </pattern>
                </defs>
                <image href="/map/land-110m.svg" x="0" y="0" width="1000" height="500"></image>
                <g class="leaders">{leaders}</g>
                <g class="hexes">{hexes}</g>
                <g class="onprems">{connected}</g>
            </svg>
        </div>
    }
    .erased()
}

/// A spread hexagon's line back to the region's true position.
fn leader(s: &Spot) -> impl IntoView {
    view! {
        <line class="leader" x1=format!("{:.1}", s.true_x) y1=format!("{:.1}", s.true_y) x2=format!("{:.1}", s.x) y2=format!("{:.1}", s.y)></line>
        <circle class="anchor" cx=format!("{:.1}", s.true_x) cy=format!("{:.1}", s.true_y) r="1.2"></circle>
    }
}

/// One region's hexagon: rendered once, its class and name following the
/// registry, the operations and the selection.
fn hexagon(
    s: &'static Spot,
    reg: Memo<Option<RegistryView>>,
    ops: Memo<Vec<OperationView>>,
    pending: RwSignal<Vec<String>>,
    selected: Memo<Option<String>>,
    on_select: Callback<String>,
) -> impl IntoView {
    let name = s.region.name.clone();
    let key = name.clone();
    let c = Memo::new(move |_| {
        let sel = selected.with(|x| x.as_deref() == Some(key.as_str()));
        reg.with(|r| ops.with(|o| pending.with(|p| cell(s, r.as_ref(), o, p, sel))))
    });
    let points = geo::hex_points(s.x, s.y, geo::HEX_R);
    let (click_name, key_name) = (name.clone(), name.clone());
    view! {
        <g
            class=move || c.with(|c| c.class.clone())
            data-region=name
            tabindex="0"
            role="button"
            aria-label=move || c.with(|c| c.label.clone())
            on:click=move |_| on_select.run(click_name.clone())
            on:keydown=move |ev| {
                let k = ev.key();
                if k == "Enter" || k == " " {
                    ev.prevent_default();
                    on_select.run(key_name.clone());
                }
            }
        >
            <title>{move || c.with(|c| c.label.clone())}</title>
            <polygon class="hex" points=points.clone()></polygon>
            <polygon class="hatch" points=points></polygon>
            <text class="home-mark" x=format!("{:.1}", s.x) y=format!("{:.1}", s.y + 2.6)>"H"</text>
        </g>
    }
}

/// Connected (on-premises) registries, hung below their parent's home region.
fn connected_registries(r: &RegistryView) -> Vec<impl IntoView> {
    let Some(home) = geo::spot(&r.location) else { return Vec::new() };
    r.children
        .iter()
        .filter(|c| c.kind == ChildKind::ConnectedRegistry && !c.gone)
        .enumerate()
        .map(|(i, c)| {
            let (x, y) = (home.x - 14.0 + 16.0 * i as f64, home.y + 30.0);
            let flag = c.flag.map(|f| format!(", needs attention: {}", f.as_str())).unwrap_or_default();
            let label = format!("On-premises connected registry {} ({}), parent {}{flag}", c.name, c.state.clone().unwrap_or_else(|| "unknown".into()), r.name);
            let (aria, cname) = (label.clone(), c.name.clone());
            view! {
                <g class="onprem" class:flagged=c.flag.is_some() role="img" aria-label=aria data-connected=cname data-flag=c.flag.map(|f| f.as_str())>
                    <title>{label}</title>
                    <line class="onprem-link" x1=format!("{:.1}", home.x) y1=format!("{:.1}", home.y + geo::HEX_R) x2=format!("{:.1}", x) y2=format!("{:.1}", y - 4.0)></line>
                    <rect x=format!("{:.1}", x - 4.0) y=format!("{:.1}", y - 4.0) width="8" height="8"></rect>
                    <text x=format!("{:.1}", x) y=format!("{:.1}", y + 10.0)>{c.name.clone()}</text>
                </g>
            }
        })
        .collect()
}

/// Zoom, pan and the region presets.
fn controls(view_box: RwSignal<ViewBox>) -> impl IntoView {
    let set = move |v: ViewBox| view_box.set(v);
    let presets = geo::PRESETS
        .iter()
        .map(|(label, (x0, y0, x1, y1))| {
            let v = ViewBox::around(*x0, *y0, *x1, *y1);
            view! { <button type="button" class="map-preset" on:click=move |_| set(v)>{*label}</button> }
        })
        .collect_view();
    view! {
        <div class="map-controls" role="toolbar" aria-label="Map view">
            <button type="button" aria-label="Zoom in" on:click=move |_| view_box.update(|v| *v = v.zoom(0.6))>"+"</button>
            <button type="button" aria-label="Zoom out" on:click=move |_| view_box.update(|v| *v = v.zoom(1.0 / 0.6))>"−"</button>
            <button type="button" aria-label="Pan left" on:click=move |_| view_box.update(|v| *v = v.pan(-0.25, 0.0))>"←"</button>
            <button type="button" aria-label="Pan right" on:click=move |_| view_box.update(|v| *v = v.pan(0.25, 0.0))>"→"</button>
            <button type="button" aria-label="Pan up" on:click=move |_| view_box.update(|v| *v = v.pan(0.0, -0.25))>"↑"</button>
            <button type="button" aria-label="Pan down" on:click=move |_| view_box.update(|v| *v = v.pan(0.0, 0.25))>"↓"</button>
            <button type="button" class="map-preset" on:click=move |_| set(geo::WORLD)>"World"</button>
            {presets}
        </div>
    }
}

/// The legend: every symbol the map uses, in words.
#[component]
pub fn Legend() -> impl IntoView {
    let item = |class: &'static str, text: &'static str| {
        let pts = geo::hex_points(8.0, 8.0, 7.0);
        view! {
            <li>
                <svg class="swatch" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">
                    <g class=format!("region {class}")>
                        <polygon class="hex" points=pts.clone()></polygon>
                        <polygon class="hatch" points=pts></polygon>
                        <text class="home-mark" x="8" y="10.6">"H"</text>
                    </g>
                </svg>
                {text}
            </li>
        }
    };
    view! {
        <ul class="legend" aria-label="Map legend">
            {item("kind-replica state-ready home", "Home region")}
            {item("kind-replica state-ready", "Ready")}
            {item("kind-replica state-syncing", "Syncing")}
            {item("kind-replica state-provisioning", "Provisioning / updating")}
            {item("kind-replica state-deleting", "Deleting")}
            {item("kind-replica state-failed", "Failed")}
            {item("kind-replica state-unknown", "Unknown / stale")}
            {item("kind-replica state-ready routing-off", "Routing off (hatched, dashed)")}
            {item("kind-empty", "Can host a replica")}
            {item("kind-unavailable", "Cannot host a replica")}
            <li><svg class="swatch" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true"><g class="onprem"><rect x="4" y="4" width="8" height="8"></rect></g></svg>"On-premises connected registry"</li>
        </ul>
    }
    .erased()
}
