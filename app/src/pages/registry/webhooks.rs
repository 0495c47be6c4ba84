//! The webhooks page (`/registries/{name}/webhooks`): each webhook's
//! location (the replica whose events it sends), actions, scope, status,
//! where it delivers (no credentials, no query) and its header names (never
//! their values); `?webhook=` shows that webhook's recent deliveries. An
//! Operator can ping one, create one, and delete one (the presence webhooks
//! belong to tracking).

use crate::Erase;
use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::error_view;
use crate::{
    api::{delete_webhook, list_webhooks, ping_webhook, put_webhook, split_error, webhook_deliveries},
    live::use_live,
    model::{Role, WebhookDeliveryView, WebhookRequest, WebhookView},
};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let live = use_live();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let selected = Memo::new(move |_| query.read().get("webhook").filter(|w| !w.is_empty()));
    let refresh = RwSignal::new(0u32);
    let hooks = Resource::new_blocking(move || (name.get(), live.version.get(), refresh.get()), |(n, _, _)| list_webhooks(n));
    let deliveries = Resource::new_blocking(
        move || (name.get(), selected.get(), refresh.get()),
        |(n, w, _)| async move {
            match w {
                Some(w) => webhook_deliveries(n, w).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let error = RwSignal::new(None::<(String, String)>);
    let ping = move |webhook: String| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match ping_webhook(registry, webhook).await {
                Ok(()) => error.set(None),
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };
    let remove = move |webhook: String| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match delete_webhook(registry, webhook).await {
                Ok(()) => error.set(None),
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };
    let create = move |hook: String, request: WebhookRequest| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match put_webhook(registry, hook, request).await {
                Ok(()) => error.set(None),
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };
    view! {
        <Title text=format!("{} — webhooks", name.get_untracked())/>
        <section class="page page-webhooks">
            <super::Crumbs name page="Webhooks"/>
            <h1>"Webhooks"</h1>
            {move || error.get().map(|(code, message)| error_view(code, message))}
            <Transition fallback=|| view! { <p class="loading">"Loading webhooks…"</p> }>
                {move || hooks.get().map(|r| match r {
                    Ok(list) => Either::Left(table(list, selected.get_untracked(), remove)),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(error_view(code, message))
                    }
                })}
                {move || deliveries.get().map(|r| match r {
                    Ok(Some(list)) => Either::Left(Either::Left(log(selected.get_untracked().unwrap_or_default(), list, ping))),
                    Ok(None) => Either::Left(Either::Right(())),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(error_view(code, message))
                    }
                })}
            </Transition>
            {crate::me::can(Role::Operator).then(|| new_webhook(create))}
        </section>
    }
    .erased()
}

/// A new webhook (Operator): where it delivers, for which replica, which actions, one optional header.
fn new_webhook(create: impl Fn(String, WebhookRequest) + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let location = RwSignal::new(String::new());
    let uri = RwSignal::new(String::new());
    let actions = RwSignal::new("push".to_string());
    let header = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let headers =
            (!header.get_untracked().trim().is_empty()).then(|| [(header.get_untracked().trim().to_string(), value.get_untracked())].into_iter().collect());
        create(
            name.get_untracked().trim().to_string(),
            WebhookRequest {
                location: Some(location.get_untracked()),
                service_uri: Some(uri.get_untracked()),
                actions: Some(actions.get_untracked().split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect()),
                scope: None,
                enabled: Some(true),
                custom_headers: headers,
            },
        );
        value.set(String::new());
    };
    let field = |id: &'static str, label: &'static str, sig: RwSignal<String>, kind: &'static str| {
        view! { <label>{label}" "<input id=id type=kind prop:value=move || sig.get() on:input=move |ev| sig.set(event_target_value(&ev))/></label> }
    };
    view! {
        <form class="new-webhook" id="new-webhook" on:submit=submit>
            <h2>"New webhook"</h2>
            {field("webhook-name", "Name", name, "text")}
            {field("webhook-location", "Replica region", location, "text")}
            {field("webhook-uri", "Delivers to (https)", uri, "url")}
            {field("webhook-actions", "Actions", actions, "text")}
            {field("webhook-header", "Header name", header, "text")}
            {field("webhook-header-value", "Header value (secret)", value, "password")}
            <button type="submit" id="webhook-create">"Create"</button>
        </form>
    }
}

fn table(list: Vec<WebhookView>, selected: Option<String>, remove: impl Fn(String) + Copy + Send + Sync + 'static) -> impl IntoView {
    let operator = crate::me::can(Role::Operator);
    if list.is_empty() {
        return Either::Left(view! { <p class="empty" id="webhooks-empty">"This registry has no webhooks."</p> });
    }
    let rows = list
        .into_iter()
        .map(|w| {
            let current = selected.as_deref() == Some(w.name.as_str());
            view! {
                <tr data-webhook=w.name.clone() class:selected=current>
                    <th scope="row"><a href=format!("?webhook={}", w.name)>{w.name.clone()}</a>
                        {w.managed_by_regatlas.then_some(view! { <span class="badge managed">"presence"</span> })}</th>
                    <td>{w.location.clone()}</td>
                    <td>{w.actions.join(", ")}</td>
                    <td>{if w.scope.is_empty() { "all repositories".to_string() } else { w.scope.clone() }}</td>
                    <td>{w.status.clone()}{w.provisioning_state.clone().map(|p| format!(" ({p})"))}</td>
                    <td class="uri"><code>{w.service_uri.clone().unwrap_or_else(|| "—".into())}</code></td>
                    <td class="headers">{if w.header_names.is_empty() { "—".to_string() } else { w.header_names.join(", ") }}</td>
                    <td>{(operator && !w.managed_by_regatlas && w.provisioning_state.as_deref() != Some("Deleting")).then(|| {
                        let n = w.name.clone();
                        view! { <button type="button" class="danger webhook-delete" on:click=move |_| remove(n.clone())>"Delete"</button> }
                    })}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <table class="webhooks" id="webhooks" aria-label="Webhooks">
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"Location"</th><th scope="col">"Actions"</th><th scope="col">"Scope"</th>
                <th scope="col">"Status"</th><th scope="col">"Delivers to"</th><th scope="col">"Header names"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}

fn log(webhook: String, list: Vec<WebhookDeliveryView>, ping: impl Fn(String) + Copy + Send + Sync + 'static) -> impl IntoView {
    let operator = crate::me::can(Role::Operator);
    let hook = webhook.clone();
    let rows = list
        .into_iter()
        .map(|d| {
            let ok = (200..300).contains(&d.status);
            view! {
                <tr data-delivery=d.id.clone() class:failed=!ok>
                    <td>{d.timestamp.as_deref().map(crate::time::short).unwrap_or_default()}</td>
                    <td>{d.action.clone()}</td>
                    <td>{d.target.clone().unwrap_or_default()}</td>
                    <td class="status">{if d.status == 0 { "no answer".to_string() } else { d.status.to_string() }}" "{d.reason.clone()}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    view! {
        <section class="deliveries" id="deliveries">
            <h2>{format!("Deliveries of {webhook}")}</h2>
            {if operator {
                Either::Left(view! { <button type="button" id="webhook-ping" on:click=move |_| ping(hook.clone())>"Ping"</button> })
            } else {
                Either::Right(view! { <p class="role-note">{crate::me::needs(Role::Operator)}" to ping a webhook."</p> })
            }}
            <table class="deliveries-log" aria-label="Deliveries">
                <thead><tr><th scope="col">"When"</th><th scope="col">"Action"</th><th scope="col">"Target"</th><th scope="col">"Response"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}
