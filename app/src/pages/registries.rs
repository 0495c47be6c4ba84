//! The Registries page: every registry across the watched subscriptions with
//! its replicas by state, zone redundancy, last poll and health. Sorting and
//! filters live in the query string (`?q=&sku=&health=&sort=&dir=`), so a
//! view is a link and works without JavaScript too.

use crate::pages::encode_query as encode;
use crate::Erase;
use leptos::{either::EitherOf3, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    api::{list_registries, split_error},
    live::use_live,
    model::{ChildKind, RegistryView, ReplicaState},
    time::{ago, parse_ms},
};

/// The list's query: filters and sort order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    pub q: String,
    pub sku: String,
    pub health: String,
    pub sort: String,
    pub desc: bool,
}

/// Replica counts for the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ready: usize,
    pub syncing: usize,
    pub failed: usize,
    pub other: usize,
    pub routing_off: usize,
}

pub fn counts(r: &RegistryView) -> Counts {
    let mut c = Counts::default();
    for p in r.replicas.iter().filter(|p| !p.gone) {
        match p.state {
            ReplicaState::Ready => c.ready += 1,
            ReplicaState::Syncing => c.syncing += 1,
            ReplicaState::Failed => c.failed += 1,
            _ => c.other += 1,
        }
        if p.routing == Some(false) {
            c.routing_off += 1;
        }
    }
    c
}

/// Filters and sorts (pure, unit-tested).
pub fn apply(list: &[RegistryView], q: &ListQuery) -> Vec<RegistryView> {
    let needle = q.q.trim().to_ascii_lowercase();
    let mut out: Vec<RegistryView> = list
        .iter()
        .filter(|r| !r.gone)
        .filter(|r| needle.is_empty() || r.name.to_ascii_lowercase().contains(&needle))
        .filter(|r| q.sku.is_empty() || r.sku.eq_ignore_ascii_case(&q.sku))
        .filter(|r| q.health.is_empty() || r.health.as_str() == q.health)
        .cloned()
        .collect();
    let key = q.sort.as_str();
    out.sort_by(|a, b| {
        let o = match key {
            "sku" => a.sku.cmp(&b.sku),
            "home" => a.location.cmp(&b.location),
            "group" => (&a.subscription_id, &a.resource_group).cmp(&(&b.subscription_id, &b.resource_group)),
            "replicas" => a.replicas.iter().filter(|p| !p.gone).count().cmp(&b.replicas.iter().filter(|p| !p.gone).count()),
            "health" => a.health.as_str().cmp(b.health.as_str()),
            "poll" => parse_ms(&a.confirmed_at).cmp(&parse_ms(&b.confirmed_at)),
            _ => std::cmp::Ordering::Equal,
        };
        o.then_with(|| a.name.cmp(&b.name))
    });
    if q.desc {
        out.reverse();
    }
    out
}

#[component]
pub fn RegistriesPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let q = Memo::new(move |_| {
        let m = query.read();
        ListQuery {
            q: m.get("q").unwrap_or_default(),
            sku: m.get("sku").unwrap_or_default(),
            health: m.get("health").unwrap_or_default(),
            sort: m.get("sort").unwrap_or_else(|| "name".into()),
            desc: m.get("dir").as_deref() == Some("desc"),
        }
    });
    let registries = Resource::new_blocking(move || live.version.get(), |_| list_registries());
    view! {
        <Title text="Registries"/>
        <section class="page page-registries">
            <h1>"Registries"</h1>
            <p class="lede">"Every registry across the watched subscriptions: home region, replicas by state, and whether the global endpoint routes traffic to each. Select a registry for its world map."</p>
            <form method="get" class="filters" role="search">
                <label>"Name " <input type="search" name="q" prop:value=move || q.with(|q| q.q.clone()) placeholder="contains…"/></label>
                <label>"SKU "
                    <select name="sku" prop:value=move || q.with(|q| q.sku.clone())>
                        <option value="">"any"</option><option value="Premium">"Premium"</option><option value="Standard">"Standard"</option><option value="Basic">"Basic"</option>
                    </select>
                </label>
                <label>"Health "
                    <select name="health" prop:value=move || q.with(|q| q.health.clone())>
                        <option value="">"any"</option><option value="healthy">"healthy"</option><option value="changing">"changing"</option><option value="degraded">"degraded"</option><option value="stale">"stale"</option>
                    </select>
                </label>
                <input type="hidden" name="sort" prop:value=move || q.with(|q| q.sort.clone())/>
                <input type="hidden" name="dir" prop:value=move || if q.with(|q| q.desc) { "desc" } else { "asc" }/>
                <button type="submit">"Filter"</button>
                <A href="?">"Clear"</A>
            </form>
            <Transition fallback=|| view! { <p class="loading">"Loading registries…"</p> }>
                // Awaiting the resource makes the server render this in place
                // (readable without JavaScript) instead of streaming it.
                {move || Suspend::new(async move { match registries.await {
                    Ok(list) if list.is_empty() => EitherOf3::A(view! { <p class="empty">"No registries yet: the poller has not discovered any."</p> }),
                    Ok(list) => {
                        let shown = apply(&list, &q.get());
                        let total = list.iter().filter(|r| !r.gone).count();
                        EitherOf3::B(view! { <RegistryTable registries=shown total q=q.get()/> })
                    }
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        EitherOf3::C(view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })
                    }
                }})}
            </Transition>
        </section>
    }
    .erased()
}

fn sort_link(q: &ListQuery, key: &str, label: &'static str) -> impl IntoView {
    let active = q.sort == key;
    let desc = active && !q.desc;
    let mut params = vec![];
    for (k, v) in [("q", &q.q), ("sku", &q.sku), ("health", &q.health)] {
        if !v.is_empty() {
            params.push(format!("{k}={}", encode(v)));
        }
    }
    params.push(format!("sort={key}"));
    params.push(format!("dir={}", if desc { "desc" } else { "asc" }));
    let aria = if active {
        if q.desc {
            "descending"
        } else {
            "ascending"
        }
    } else {
        "none"
    };
    let arrow = if active {
        if q.desc {
            " ▼"
        } else {
            " ▲"
        }
    } else {
        ""
    };
    view! { <th scope="col" aria-sort=aria><A href=format!("?{}", params.join("&"))>{label}{arrow}</A></th> }
}

#[component]
fn RegistryTable(registries: Vec<RegistryView>, total: usize, q: ListQuery) -> impl IntoView {
    let live = use_live();
    let shown = registries.len();
    view! {
        <p class="count">{format!("{shown} of {total} registries")}</p>
        <table class="registries" aria-label="Registries and their replicas">
            <thead>
                <tr>
                    {sort_link(&q, "name", "Registry")}
                    {sort_link(&q, "group", "Subscription / resource group")}
                    {sort_link(&q, "sku", "SKU")}
                    {sort_link(&q, "home", "Home")}
                    {sort_link(&q, "replicas", "Replicas")}
                    <th scope="col">"Zone redundancy"</th>
                    {sort_link(&q, "poll", "Last poll")}
                    {sort_link(&q, "health", "Health")}
                </tr>
            </thead>
            <tbody>
                {registries
                    .into_iter()
                    .map(|r| {
                        let health = r.health.as_str();
                        let c = counts(&r);
                        let replicas = r
                            .replicas
                            .iter()
                            .filter(|p| !p.gone)
                            .map(|p| {
                                let routing = if p.routing == Some(false) { " routing-off" } else { "" };
                                let title = format!("{}: {}{}{}", p.location, p.state.as_str(), if p.home { ", home" } else { "" }, if p.routing == Some(false) { ", routing off" } else { "" });
                                view! {
                                    <li class=format!("replica state-{}{routing}", p.state.as_str()) title=title.clone() aria-label=title>
                                        {p.location.clone()}
                                        {p.home.then(|| view! { <span class="home-mark">" ⌂"</span> })}
                                    </li>
                                }
                                .erased()
                            })
                            .collect_view();
                        let connected = r
                            .children
                            .iter()
                            .filter(|c| c.kind == ChildKind::ConnectedRegistry && !c.gone)
                            .map(|c| {
                                let flag = c.flag.map(|f| f.as_str());
                                view! {
                                    <li class="connected" class:flagged=flag.is_some() data-connected=c.name.clone()>
                                        {format!("on-prem: {} ({})", c.name, c.state.clone().unwrap_or_default())}
                                        {flag.map(|f| view! { " "<span class="badge flag">{f}</span> })}
                                    </li>
                                }
                            })
                            .collect_view();
                        let confirmed = r.confirmed_at.clone();
                        let summary = format!("{} ready · {} syncing · {} failed{} · {} routing off", c.ready, c.syncing, c.failed, if c.other > 0 { format!(" · {} changing", c.other) } else { String::new() }, c.routing_off);
                        let (name, row_name, href) = (r.name.clone(), r.name.clone(), format!("/registries/{}", r.name));
                        view! {
                            <tr data-registry=row_name>
                                <th scope="row"><A href=href>{name}</A></th>
                                <td><span class="sub">{r.subscription_id.clone()}</span>" / "{r.resource_group.clone()}</td>
                                <td>{r.sku.clone()}</td>
                                <td>{r.location.clone()}</td>
                                <td><div class="counts">{summary}</div><ul class="replicas">{replicas}{connected}</ul></td>
                                <td>{if r.zone_redundancy { "enabled" } else { "disabled" }}</td>
                                <td><time datetime=r.confirmed_at.clone() title=r.confirmed_at.clone()>{move || ago(&confirmed, live.now.get())}</time></td>
                                <td><span class=format!("badge health-{health}")>{health}</span>{r.poll_error.clone().map(|e| view! { <div class="poll-error">{e}</div> })}</td>
                            </tr>
                        }
                        .erased()
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .erased()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Health;

    fn reg(name: &str, sku: &str, health: Health) -> RegistryView {
        RegistryView {
            id: name.into(),
            name: name.into(),
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            location: "westeurope".into(),
            sku: sku.into(),
            login_server: None,
            provisioning_state: None,
            zone_redundancy: false,
            health,
            replicas: vec![],
            children: vec![],
            changed_at: String::new(),
            confirmed_at: String::new(),
            gone: false,
            poll_error: None,
        }
    }

    #[test]
    fn filters_and_sorts() {
        let list = vec![reg("beta", "Premium", Health::Healthy), reg("alpha", "Standard", Health::Stale), reg("gamma", "Premium", Health::Degraded)];
        let names = |v: Vec<RegistryView>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(apply(&list, &ListQuery::default())), ["alpha", "beta", "gamma"]);
        assert_eq!(names(apply(&list, &ListQuery { sku: "premium".into(), desc: true, ..Default::default() })), ["gamma", "beta"]);
        assert_eq!(names(apply(&list, &ListQuery { health: "stale".into(), ..Default::default() })), ["alpha"]);
        assert_eq!(names(apply(&list, &ListQuery { q: "MM".into(), ..Default::default() })), ["gamma"]);
        assert_eq!(names(apply(&list, &ListQuery { sort: "sku".into(), ..Default::default() })), ["beta", "gamma", "alpha"]);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
