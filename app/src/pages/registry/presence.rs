//! The presence page (`/registries/{name}/presence`): is each tag in every
//! region yet? Per region: what it serves, sync progress, lag against the
//! team's objective (as a chart), its webhook. Then the stragglers, and a
//! page of tags × regions, each cell present, missing or diverged. Filters
//! and the page cursor are the query string, so the server renders them
//! too; live events refetch the view.

use crate::pages::encode_query as urlencode;
use crate::Erase;
use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::{
    api::{get_presence, set_tracking, split_error},
    live::use_live,
    model::{CellState, PresenceQuery, PresenceRow, PresenceView, RegionPresenceView, Role, TrackingRequest},
    time::{ago, parse_ms},
};

/// `3 m 10 s`, `12 s`, `1 h 5 m`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as i64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} m {} s", s / 60, s % 60),
        _ => format!("{} h {} m", s / 3600, (s % 3600) / 60),
    }
}

/// `12.4 MB`, `830 KB`, `512 B`.
fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        x if x >= 1e9 => format!("{:.1} GB", x / 1e9),
        x if x >= 1e6 => format!("{:.1} MB", x / 1e6),
        x if x >= 1e3 => format!("{:.0} KB", x / 1e3),
        x => format!("{x} B"),
    }
}

fn percent(x: f64) -> String {
    format!("{:.0} %", (x * 100.0).clamp(0.0, 100.0))
}

/// "web/frontend:1.2 — in 4 of 5 regions; canadacentral missing for 3 m 10 s".
fn row_summary(r: &PresenceRow, now_ms: i64) -> String {
    let total = r.cells.len();
    let mut s = format!("{}:{} — in {} of {} regions", r.repository, r.tag, r.present_in, total);
    let pushed = parse_ms(&r.pushed_at).unwrap_or(now_ms);
    let waiting = duration(((now_ms - pushed) / 1000) as f64);
    for c in r.cells.iter().filter(|c| c.state != CellState::Present) {
        let what = if c.state == CellState::Diverged { "diverged" } else { "missing" };
        s.push_str(&format!("; {} {what} for {waiting}", c.region));
    }
    s
}

#[component]
pub fn PresencePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let live = use_live();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let q = Memo::new(move |_| {
        let qm = query.read();
        let get = |k: &str| qm.get(k).filter(|v| !v.is_empty());
        PresenceQuery {
            repository: get("repository"),
            q: get("q"),
            incomplete: get("incomplete").is_some_and(|v| v == "on" || v == "true"),
            after: get("after"),
            limit: get("limit").and_then(|l| l.parse().ok()),
            window: get("window").and_then(|w| w.parse().ok()),
        }
    });
    let refresh = RwSignal::new(0u32);
    let view_res = Resource::new_blocking(move || (name.get(), q.get(), live.version.get(), refresh.get()), |(n, q, _, _)| get_presence(n, q));
    let error = RwSignal::new(None::<(String, String)>);
    let apply = move |request: TrackingRequest| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match set_tracking(registry, request).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };

    view! {
        <Title text=format!("{} — presence", name.get_untracked())/>
        <section class="page page-presence">
            <super::Crumbs name page="Presence"/>
            <h1>"Is it everywhere yet?"</h1>
            {move || error.get().map(|(code, message)| view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading presence…"</p> }>
                {move || view_res.get().map(|r| match r {
                    Ok(v) => Either::Left(body(v, q.get_untracked(), apply, live.now)),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })
                    }
                })}
            </Transition>
        </section>
    }
    .erased()
}

fn switch(enabled: bool) -> TrackingRequest {
    TrackingRequest { enabled, objective_share: None, objective_secs: None, hot_last: None, hot_repositories: None }
}

fn body(v: PresenceView, q: PresenceQuery, apply: impl Fn(TrackingRequest) + Copy + Send + Sync + 'static, now: RwSignal<i64>) -> impl IntoView {
    let operator = crate::me::can(Role::Operator);
    let tracking = match v.tracking.clone() {
        None => Either::Left(view! {
            <div class="tracking tracking-off" id="tracking">
                <p>"Presence tracking is off. Turned on, Regatlas keeps one webhook per replica (push and delete) and records when each tag reaches each region."</p>
                {if operator {
                    Either::Left(view! { <button type="button" id="tracking-on" on:click=move |_| apply(switch(true))>"Turn tracking on"</button> })
                } else {
                    Either::Right(view! { <p class="role-note">{crate::me::needs(Role::Operator)}" to turn tracking on."</p> })
                }}
            </div>
        }),
        Some(t) => Either::Right(view! {
            <div class="tracking tracking-on" id="tracking">
                <dl class="facts inline">
                    <dt>"Tracking since"</dt><dd>{crate::time::short(&t.enabled_at)}" by "{t.enabled_by.clone()}</dd>
                    <dt>"Objective"</dt><dd id="objective">{format!("{:.1} % within {}", t.objective_share * 100.0, duration(t.objective_secs as f64))}</dd>
                    <dt>"Routing gate"</dt><dd id="hot-set">{match (t.hot_last, t.hot_repositories.is_empty()) {
                        (0, true) => "off".to_string(),
                        (n, true) => format!("the last {n} pushed tags"),
                        (n, false) => format!("the last {n} pushed tags and every tag of {}", t.hot_repositories.join(", ")),
                    }}</dd>
                    <dt>"Receiver"</dt><dd><code>{t.receiver.clone().unwrap_or_default()}"/hooks/acr/…"</code></dd>
                </dl>
                {operator.then(|| settings_form(&t, apply))}
                {operator.then(|| view! { <button type="button" class="danger" id="tracking-off" on:click=move |_| apply(switch(false))>"Turn tracking off"</button> })}
            </div>
        }),
    };
    let objective = v.tracking.as_ref().map(|t| t.objective_secs as f64).unwrap_or(300.0);
    view! {
        {tracking}
        <p class="presence-total" id="presence-total">{format!("{} tag{} tracked; lag over the last {} min.", v.total_tags, if v.total_tags == 1 { "" } else { "s" }, v.window_minutes)}</p>
        {regions_table(&v.regions, v.total_tags, now)}
        {lag_chart(&v.regions, objective)}
        {stragglers(&v.stragglers, now)}
        {filters(&q)}
        {matrix(&v, now)}
        {v.next.clone().map(|after| {
            let mut href = format!("?after={}", urlencode(&after));
            if let Some(r) = &q.repository { href.push_str(&format!("&repository={}", urlencode(r))); }
            if let Some(t) = &q.q { href.push_str(&format!("&q={}", urlencode(t))); }
            if q.incomplete { href.push_str("&incomplete=on"); }
            view! { <p class="pager"><a id="presence-next" href=href>"Next tags →"</a></p> }
        })}
    }
    .erased()
}

/// The team's objective and the routing gate's hot set (Operator).
fn settings_form(t: &crate::model::TrackingView, apply: impl Fn(TrackingRequest) + Copy + Send + Sync + 'static) -> impl IntoView {
    let share = RwSignal::new(format!("{}", (t.objective_share * 1000.0).round() / 10.0));
    let secs = RwSignal::new(t.objective_secs.to_string());
    let last = RwSignal::new(t.hot_last.to_string());
    let repos = RwSignal::new(t.hot_repositories.join(", "));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let num = |s: RwSignal<String>| s.get_untracked().trim().parse::<f64>().ok();
        apply(TrackingRequest {
            enabled: true,
            objective_share: num(share).map(|p| p / 100.0),
            objective_secs: num(secs).map(|x| x as i64),
            hot_last: num(last).map(|x| x as i64),
            hot_repositories: Some(repos.get_untracked().split(',').map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect()),
        });
    };
    view! {
        <form class="tracking-settings" id="tracking-settings" on:submit=submit>
            <label>"Objective " <input id="objective-share" type="number" min="50" max="99.99" step="0.01" prop:value=move || share.get() on:input=move |ev| share.set(event_target_value(&ev))/>" % within "</label>
            <label><input id="objective-secs" type="number" min="1" max="86400" prop:value=move || secs.get() on:input=move |ev| secs.set(event_target_value(&ev))/>" s"</label>
            <label>"Routing gate: the last " <input id="hot-last" type="number" min="0" max="500" prop:value=move || last.get() on:input=move |ev| last.set(event_target_value(&ev))/>" tags"</label>
            <label>" and every tag of " <input id="hot-repositories" type="text" placeholder="web/frontend, tools/base" prop:value=move || repos.get() on:input=move |ev| repos.set(event_target_value(&ev))/></label>
            <button type="submit" id="tracking-save">"Save"</button>
        </form>
    }
}

fn regions_table(regions: &[RegionPresenceView], total: i64, now: RwSignal<i64>) -> impl IntoView {
    let rows = regions
        .iter()
        .map(|r| {
            let progress = match (r.stalled_minutes, r.eta_secs) {
                (Some(m), _) => format!("no progress for {m} min"),
                (None, Some(eta)) => format!("{:.1}/min, about {} left", r.per_minute, duration(eta)),
                (None, None) if r.present < total => "waiting".to_string(),
                _ => "complete".to_string(),
            };
            let last = r.last_event_at.clone();
            view! {
                <tr data-region=r.region.clone() class:stalled=r.stalled_minutes.is_some()>
                    <th scope="row">{r.display_name.clone()}{r.home.then_some(" (home)")}</th>
                    <td><span class=format!("replica state-{}", r.replica_state.as_str())>{r.replica_state.as_str()}</span></td>
                    <td class="routing" class:drift=r.routing_drift>{match r.routing { Some(true) => "on", Some(false) => "off", None => "unknown" }}
                        {r.routing_drift.then(|| view! { <span class="drift-note">{format!(" (set {} through Regatlas: changed elsewhere)", if r.routing_set == Some(true) { "on" } else { "off" })}</span> })}
                    </td>
                    <td class="present">{format!("{} of {} ({})", r.present, total, percent(r.ratio))}
                        {(r.present_bytes > 0).then(|| view! { <span class="bytes">{format!(", {}", bytes(r.present_bytes))}</span> })}</td>
                    <td class="progress">{progress}</td>
                    <td class="lag">{if r.lag_count == 0 { "—".to_string() } else { format!("{} / {} / {}", duration(r.lag_p50), duration(r.lag_p95), duration(r.lag_max)) }}</td>
                    <td class="objective">{r.within_objective.map(|w| format!("{} met, {} of budget", percent(w), percent(r.budget_spent.min(9.99)))).unwrap_or_else(|| "—".into())}</td>
                    <td class="probes">{if r.probe_budget_per_hour == 0 { "off".to_string() } else {
                        format!("{} of {}/h{}", r.probe_reads_last_hour, r.probe_budget_per_hour, if r.probe_backlog > 0 { format!(", {} to look at", r.probe_backlog) } else { String::new() })
                    }}</td>
                    <td class="webhook">{match r.webhook.clone() {
                        Some(w) => format!("{w}, {}", last.as_deref().map(|l| ago(l, now.get_untracked())).unwrap_or_else(|| "no delivery yet".into())),
                        None => "none".into(),
                    }}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    view! {
        <table class="presence-regions" aria-label="Regions">
            <thead><tr>
                <th scope="col">"Region"</th><th scope="col">"Replica"</th><th scope="col">"Routing"</th><th scope="col">"Present"</th>
                <th scope="col">"Sync progress"</th><th scope="col">"Lag p50 / p95 / max"</th><th scope="col">"Objective"</th><th scope="col">"Probes"</th><th scope="col">"Webhook"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// Lag per region as bars: p50 and p95 filled, max as a tick, the objective as a line.
fn lag_chart(regions: &[RegionPresenceView], objective: f64) -> impl IntoView {
    let with: Vec<&RegionPresenceView> = regions.iter().filter(|r| r.lag_count > 0).collect();
    if with.is_empty() {
        return Either::Left(view! { <p class="empty" id="lag-chart-empty">"No replication measured in this window yet."</p> });
    }
    let scale = with.iter().map(|r| r.lag_max).fold(objective, f64::max).max(1.0);
    let (label_w, width, bar_h) = (140.0, 600.0, 22.0);
    let x = move |v: f64| label_w + (v / scale) * (width - label_w - 70.0);
    let height = bar_h * with.len() as f64 + 24.0;
    let bars = with
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let y = 4.0 + i as f64 * bar_h;
            view! {
                <g class="lag-bar" data-region=r.region.clone()>
                    <text x="0" y=y + 14.0>{r.display_name.clone()}</text>
                    <rect class="p95" x=label_w y=y width=(x(r.lag_p95) - label_w).max(1.0) height=bar_h - 6.0><title>{format!("p95 {}", duration(r.lag_p95))}</title></rect>
                    <rect class="p50" x=label_w y=y width=(x(r.lag_p50) - label_w).max(1.0) height=bar_h - 6.0><title>{format!("p50 {}", duration(r.lag_p50))}</title></rect>
                    <line class="max" x1=x(r.lag_max) x2=x(r.lag_max) y1=y y2=y + bar_h - 6.0><title>{format!("max {}", duration(r.lag_max))}</title></line>
                </g>
            }
            .erased()
        })
        .collect_view();
    let ox = x(objective);
    Either::Right(view! {
        <figure class="lag-chart" id="lag-chart">
            <svg viewBox=format!("0 0 {width} {height}") role="img" aria-label="Replication lag per region: p50, p95 and max against the objective">
                {bars}
                <line class="objective" x1=ox x2=ox y1="0" y2=height - 18.0/>
                <text class="objective-label" x=ox y=height - 4.0 text-anchor="middle">{format!("objective {}", duration(objective))}</text>
            </svg>
            <figcaption>"Lag from the receiving replica: dark p50, light p95, tick max."</figcaption>
        </figure>
    })
}

fn stragglers(rows: &[PresenceRow], now: RwSignal<i64>) -> impl IntoView {
    if rows.is_empty() {
        return Either::Left(());
    }
    let items = rows.iter().map(|r| view! { <li>{row_summary(r, now.get_untracked())}</li> }).collect_view();
    Either::Right(view! {
        <section class="stragglers" id="stragglers">
            <h2>"Stragglers"</h2>
            <p>"Pushed longer ago than the objective allows, and still not everywhere:"</p>
            <ul>{items}</ul>
        </section>
    })
}

fn filters(q: &PresenceQuery) -> impl IntoView {
    view! {
        <form class="filters presence-filters" method="get" action="">
            <label>"Repository " <input type="text" name="repository" value=q.repository.clone().unwrap_or_default()/></label>
            <label>"Search " <input type="search" name="q" id="presence-search" placeholder="repository:tag" value=q.q.clone().unwrap_or_default()/></label>
            <label><input type="checkbox" name="incomplete" id="presence-incomplete" checked=q.incomplete/>" only incomplete"</label>
            <button type="submit">"Show"</button>
        </form>
    }
}

fn matrix(v: &PresenceView, now: RwSignal<i64>) -> impl IntoView {
    if v.rows.is_empty() {
        return Either::Left(view! { <p class="empty" id="presence-empty">"No tags to show."</p> });
    }
    let heads = v.regions.iter().map(|r| view! { <th scope="col">{r.display_name.clone()}</th> }).collect_view();
    let rows = v
        .rows
        .iter()
        .map(|r| {
            let summary = row_summary(r, now.get_untracked());
            let cells = r
                .cells
                .iter()
                .map(|c| {
                    let text = match c.state {
                        CellState::Present => match c.lag_secs {
                            Some(l) if c.region != r.first_region => format!("✓ {}", duration(l)),
                            _ => "✓".to_string(),
                        },
                        CellState::Missing => "missing".to_string(),
                        CellState::Diverged => format!("diverged {}", c.digest.as_deref().map(regatlas_domain::name::short_digest).unwrap_or_default()),
                    };
                    let title = match (&c.at, &c.source) {
                        (Some(at), Some(src)) => format!("{} since {} ({})", c.state.as_str(), crate::time::short(at), src.as_str()),
                        _ => c.state.as_str().to_string(),
                    };
                    view! { <td class=format!("cell cell-{}", c.state.as_str()) data-region=c.region.clone() title=title>{text}</td> }
                })
                .collect_view();
            view! {
                <tr data-tag=format!("{}:{}", r.repository, r.tag) class:complete=r.present_in as usize == r.cells.len()>
                    <th scope="row" title=summary><span class="repo">{r.repository.clone()}</span>":"<span class="tag">{r.tag.clone()}</span>
                        <span class="digest">{regatlas_domain::name::short_digest(&r.digest)}</span></th>
                    {cells}
                </tr>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <table class="presence-matrix" id="presence-matrix" aria-label="Tags by region">
            <thead><tr><th scope="col">"Tag"</th>{heads}</tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}
