//! The connected registries page (`/registries/{name}/connected`): each
//! connected registry's mode, parent, activation, connection, last sync and
//! why it needs attention; `?connected=` shows one's sync settings, token,
//! repositories, client tokens, logging and status details. An Operator
//! creates one and changes its schedule, window or repositories; an Admin
//! deactivates one.

use crate::Erase;
use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::error_view;
use crate::{
    api::{connected_registries, deactivate_connected_registry, put_connected_registry, split_error},
    live::use_live,
    model::{ConnectedRegistryRequest, ConnectedRegistryView, Role},
};

fn csv(s: &str) -> Vec<String> {
    s.split([',', '\n']).map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

fn opt(s: String) -> Option<String> {
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

#[component]
pub fn ConnectedPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let live = use_live();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let selected = Memo::new(move |_| query.read().get("connected").filter(|w| !w.is_empty()));
    let refresh = RwSignal::new(0u32);
    let list = Resource::new_blocking(move || (name.get(), live.version.get(), refresh.get()), |(n, _, _)| connected_registries(n));
    let error = RwSignal::new(None::<(String, String)>);
    let notice = RwSignal::new(None::<String>);
    let put = move |connected: String, request: ConnectedRegistryRequest, what: &'static str| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match put_connected_registry(registry, connected.clone(), request).await {
                Ok(()) => {
                    error.set(None);
                    notice.set(Some(format!("{connected}: {what}; ARM accepted.")));
                }
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };
    let deactivate = move |connected: String| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match deactivate_connected_registry(registry, connected.clone()).await {
                Ok(()) => {
                    error.set(None);
                    notice.set(Some(format!("{connected}: deactivation accepted by ARM.")));
                }
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };
    view! {
        <Title text=format!("{} — connected registries", name.get_untracked())/>
        <section class="page page-connected">
            <super::Crumbs name page="Connected registries"/>
            <h1>"Connected registries"</h1>
            {move || error.get().map(|(code, message)| error_view(code, message))}
            {move || notice.get().map(|m| view! { <p class="notice" role="status" id="connected-notice">{m}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Reading connected registries from ARM…"</p> }>
                {move || list.get().map(|r| match r {
                    Ok(list) => Either::Left(table(list, selected.get())),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(error_view(code, message))
                    }
                })}
                {move || {
                    let wanted = selected.get()?;
                    let current = list.get()?.ok()?.into_iter().find(|c| c.name.eq_ignore_ascii_case(&wanted))?;
                    Some(detail(current, put, deactivate))
                }}
            </Transition>
            {crate::me::can(Role::Operator).then(|| new_connected(put))}
        </section>
    }
    .erased()
}

fn table(list: Vec<ConnectedRegistryView>, selected: Option<String>) -> impl IntoView {
    if list.is_empty() {
        return Either::Left(view! { <p class="empty" id="connected-empty">"This registry has no connected registries."</p> });
    }
    let rows = list
        .into_iter()
        .map(|c| {
            let current = selected.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(&c.name));
            let flag = c.flag.map(|f| f.as_str().to_string());
            let flagged = flag.is_some();
            view! {
                <tr data-connected=c.name.clone() class:selected=current class:flagged=flagged>
                    <th scope="row">{if c.name.chars().all(|x| x.is_ascii_alphanumeric()) {
                        Either::Left(view! { <a href=format!("?connected={}", c.name)>{c.name.clone()}</a> })
                    } else {
                        Either::Right(c.name.clone())
                    }}</th>
                    <td>{c.mode.clone()}</td>
                    <td>{c.parent.clone().unwrap_or_else(|| "the registry".into())}</td>
                    <td class="activation">{c.activation.clone()}</td>
                    <td class=format!("connection connection-{}", c.connection_state.to_ascii_lowercase())>{c.connection_state.clone()}</td>
                    <td>{c.sync.last_sync.as_deref().map(crate::time::short).unwrap_or_else(|| "never".into())}</td>
                    <td><code>{c.sync.schedule.clone()}</code>{c.sync.window.clone().map(|w| format!(" for {w}"))}</td>
                    <td class="flag">{flag.map(|f| view! { <span class="badge flag" title=c.flag_reason.clone().unwrap_or_default()>{f}</span> })}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <table class="connected" id="connected" aria-label="Connected registries">
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"Mode"</th><th scope="col">"Parent"</th><th scope="col">"Activation"</th>
                <th scope="col">"Connection"</th><th scope="col">"Last sync"</th><th scope="col">"Schedule (UTC)"</th><th scope="col">"Attention"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}

fn detail(
    c: ConnectedRegistryView,
    put: impl Fn(String, ConnectedRegistryRequest, &'static str) + Copy + Send + Sync + 'static,
    deactivate: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let operator = crate::me::can(Role::Operator);
    let admin = crate::me::can(Role::Admin);
    let schedule = RwSignal::new(c.sync.schedule.clone());
    let window = RwSignal::new(c.sync.window.clone().unwrap_or_default());
    let repos = RwSignal::new(c.repositories.join(", "));
    let name = c.name.clone();
    let change = {
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            put(
                name.clone(),
                ConnectedRegistryRequest {
                    mode: None,
                    repositories: Some(csv(&repos.get_untracked())),
                    schedule: opt(schedule.get_untracked()),
                    sync_window: opt(window.get_untracked()),
                    message_ttl: None,
                },
                "change",
            )
        }
    };
    let details = c
        .status_details
        .iter()
        .map(|d| view! { <li><code>{d.code.clone()}</code>" ("{d.kind.clone()}") "{d.description.clone()}{d.timestamp.as_deref().map(|t| format!(" — {}", crate::time::short(t)))}</li> })
        .collect_view();
    let active = c.activation.eq_ignore_ascii_case("active");
    view! {
        <section class="connected-detail" id="connected-detail" data-connected=c.name.clone()>
            <h2>{c.name.clone()}</h2>
            {c.flag_reason.clone().map(|r| view! { <p class="flag-reason" role="status">{r}</p> })}
            <dl class="facts">
                <dt>"Mode"</dt><dd>{c.mode.clone()}</dd>
                <dt>"Login server"</dt><dd><code>{c.login_server.clone().unwrap_or_else(|| "—".into())}</code></dd>
                <dt>"Version"</dt><dd>{c.version.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Last activity"</dt><dd>{c.last_activity.as_deref().map(crate::time::short).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Sync token"</dt><dd id="sync-token">{c.sync.token.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Next sync allowed"</dt><dd>{c.sync.next_sync.as_deref().map(crate::time::short).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Message TTL"</dt><dd>{c.sync.message_ttl.clone()}</dd>
                <dt>"Repositories"</dt><dd id="detail-repositories">{c.repositories.join(", ")}</dd>
                <dt>"Client tokens"</dt><dd id="client-tokens">{if c.client_tokens.is_empty() { "none".to_string() } else { c.client_tokens.join(", ") }}</dd>
                <dt>"Notifications"</dt><dd>{c.notifications.join(", ")}</dd>
                <dt>"Logging"</dt><dd>{c.log_level.clone()}{if c.audit_log { ", audit log on" } else { "" }}</dd>
            </dl>
            {(!c.status_details.is_empty()).then(|| view! { <h3>"Status details"</h3><ul class="status-details">{details}</ul> })}
            {operator.then(|| view! {
                <form class="connected-change" id="connected-change" on:submit=change>
                    <h3>"Change sync"</h3>
                    <label>"Schedule (cron, UTC) "<input id="change-schedule" type="text" prop:value=move || schedule.get() on:input=move |ev| schedule.set(event_target_value(&ev))/></label>
                    <label>"Window "<input id="change-window" type="text" placeholder="PT1H" prop:value=move || window.get() on:input=move |ev| window.set(event_target_value(&ev))/></label>
                    <label>"Repositories "<input id="change-repositories" type="text" prop:value=move || repos.get() on:input=move |ev| repos.set(event_target_value(&ev))/></label>
                    <button type="submit" id="connected-save">"Save"</button>
                </form>
            })}
            {(admin && active).then(|| {
                let n = name.clone();
                view! { <button type="button" class="danger" id="connected-deactivate" on:click=move |_| deactivate(n.clone())>"Deactivate"</button> }
            })}
        </section>
    }
}

/// A new connected registry (Operator): mode, repositories, schedule and window.
fn new_connected(put: impl Fn(String, ConnectedRegistryRequest, &'static str) + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let mode = RwSignal::new("ReadOnly".to_string());
    let repos = RwSignal::new(String::new());
    let schedule = RwSignal::new("* * * * *".to_string());
    let window = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        put(
            name.get_untracked().trim().to_string(),
            ConnectedRegistryRequest {
                mode: Some(mode.get_untracked()),
                repositories: Some(csv(&repos.get_untracked())),
                schedule: opt(schedule.get_untracked()),
                sync_window: opt(window.get_untracked()),
                message_ttl: None,
            },
            "create",
        );
    };
    let field = |id: &'static str, label: &'static str, sig: RwSignal<String>| {
        view! { <label>{label}" "<input id=id type="text" prop:value=move || sig.get() on:input=move |ev| sig.set(event_target_value(&ev))/></label> }
    };
    view! {
        <form class="new-connected" id="new-connected" on:submit=submit>
            <h2>"New connected registry"</h2>
            {field("connected-name", "Name", name)}
            <label>"Mode "<select id="connected-mode" on:change=move |ev| mode.set(event_target_value(&ev))>
                <option value="ReadOnly" selected=true>"ReadOnly (pull only)"</option>
                <option value="ReadWrite">"ReadWrite (pull and push)"</option>
            </select></label>
            {field("connected-repositories", "Repositories (comma-separated)", repos)}
            {field("connected-schedule", "Schedule (cron, UTC)", schedule)}
            {field("connected-window", "Window (e.g. PT3H)", window)}
            <button type="submit" id="connected-create">"Create"</button>
        </form>
    }
}
