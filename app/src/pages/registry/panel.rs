//! The side panel for the selected region: a replica's status, routing
//! toggle, delete (typed confirmation; never for the home replica), history
//! and operations; or the create-replica dialog for an empty region; or why
//! a region cannot host one. Errors from validation or ARM show with their
//! code. Every text from ARM is rendered as text, never as markup.

use crate::Erase;
use leptos::{
    either::{Either, EitherOf4},
    prelude::*,
    task::spawn_local,
};
use leptos_router::components::A;

use crate::{
    api::{create_replica, delete_replica, list_history, set_routing, split_error},
    live::{use_live, Live},
    model::{ApiError, EventView, OperationView, RegistryView, ReplicaView},
    regions,
    time::{ago, short},
};

/// An action's outcome as the panel shows it.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Idle,
    Busy,
    Done(String),
    Failed(String, String),
}

#[component]
pub fn Panel(
    name: Memo<String>,
    reg: Memo<Option<RegistryView>>,
    ops: Memo<Vec<OperationView>>,
    selected: Memo<Option<String>>,
    pending: RwSignal<Vec<String>>,
    history: Resource<Result<Vec<EventView>, ApiError>>,
) -> impl IntoView {
    let outcome = RwSignal::new(Outcome::Idle);
    // A new selection starts clean.
    // Effects run only in the browser.
    Effect::new(move |prev: Option<Option<String>>| {
        let now = selected.get();
        if prev.is_some_and(|p| p != now) {
            outcome.set(Outcome::Idle);
        }
        now
    });
    let replica = Memo::new(move |_| {
        let sel = selected.get()?;
        reg.with(|r| r.as_ref().and_then(|r| r.replica_in(&sel).cloned()))
    });
    // What kind of panel: re-rendered only when that changes.
    let mode = Memo::new(move |_| match (selected.get(), replica.with(|r| r.as_ref().map(|r| (r.id.clone(), r.home)))) {
        (None, _) => None,
        (Some(s), Some((id, home))) => Some(Mode::Replica(s, id, home)),
        (Some(s), None) => match regions::find(&s) {
            Some(r) if r.can_host() => Some(Mode::Empty(s)),
            Some(_) => Some(Mode::Unavailable(s)),
            None => Some(Mode::Unknown(s)),
        },
    });

    let body = move || {
        mode.get().map(|m| match m {
            Mode::Replica(region, _id, home) => EitherOf4::A(view! { <ReplicaPanel name reg replica ops region home outcome history/> }),
            Mode::Empty(region) => EitherOf4::B(view! { <CreatePanel name region pending outcome reg/> }),
            Mode::Unavailable(region) => {
                let r = regions::find(&region);
                EitherOf4::C(view! {
                    <h2 id="panel-title">{r.map(|r| r.display_name.clone()).unwrap_or(region.clone())}</h2>
                    <p>"This region is restricted or internal: it cannot host a replica of this registry."</p>
                })
            }
            Mode::Unknown(region) => EitherOf4::D(view! { <h2 id="panel-title">{region}</h2><p class="error">"There is no Azure region by this name."</p> }),
        })
    };

    view! {
        <aside class="side-panel" aria-labelledby="panel-title" data-open=move || mode.with(|m| m.is_some().to_string())>
            {move || if mode.with(|m| m.is_none()) {
                Either::Left(view! { <p class="hint">"Select a region on the map or in the table: a replica for its status and actions, an empty region to create one."</p> })
            } else {
                Either::Right(view! {
                    <A href="?" attr:class="panel-close" attr:aria-label="Close the panel">"×"</A>
                })
            }}
            {body}
            {move || match outcome.get() {
                Outcome::Idle => EitherOf4::A(()),
                Outcome::Busy => EitherOf4::B(view! { <p class="busy" role="status">"Sending…"</p> }),
                Outcome::Done(msg) => EitherOf4::C(view! { <p class="done" role="status">{msg}</p> }),
                Outcome::Failed(code, message) => EitherOf4::D(view! {
                    <p class="error panel-error" role="alert"><code class="error-code">{code}</code>" "<span class="error-message">{message}</span></p>
                }),
            }}
        </aside>
    }
    .erased()
}

#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Replica(String, String, bool),
    Empty(String),
    Unavailable(String),
    Unknown(String),
}

/// Shows an action's result and refetches what the page shows.
fn settle(outcome: RwSignal<Outcome>, live: Live, r: Result<OperationView, ApiError>, ok: impl FnOnce(&OperationView) -> String) {
    match r {
        Ok(op) => outcome.set(Outcome::Done(ok(&op))),
        Err(e) => {
            let (code, message) = split_error(&e);
            outcome.set(Outcome::Failed(code, message));
        }
    }
    live.bump();
}

#[component]
fn ReplicaPanel(
    name: Memo<String>,
    reg: Memo<Option<RegistryView>>,
    replica: Memo<Option<ReplicaView>>,
    ops: Memo<Vec<OperationView>>,
    region: String,
    home: bool,
    outcome: RwSignal<Outcome>,
    history: Resource<Result<Vec<EventView>, ApiError>>,
) -> impl IntoView {
    let live = use_live();
    let operator = crate::me::can(crate::model::Role::Operator);
    let admin = crate::me::can(crate::model::Role::Admin);
    let display = regions::find(&region).map(|r| r.display_name.clone()).unwrap_or_else(|| region.clone());
    let force = RwSignal::new(false);
    let confirm = RwSignal::new(String::new());
    let routing_on = move || replica.with(|r| r.as_ref().and_then(|r| r.routing) != Some(false));
    // An operation on this replica still running (ours or a colleague's):
    // ARM would refuse a second one, so the controls wait for it.
    let running_region = region.clone();
    let in_flight = Memo::new(move |_| {
        ops.with(|o| {
            o.iter().find(|o| o.target.eq_ignore_ascii_case(&running_region) && o.state.is_open()).map(|o| format!("{} by {} is in progress.", o.kind, o.actor))
        })
    });
    let busy = move || outcome.with(|o| *o == Outcome::Busy) || in_flight.with(Option::is_some);

    let toggle_region = region.clone();
    let toggle = move |_| {
        let enabled = !routing_on();
        let (reg_name, region, force) = (name.get_untracked(), toggle_region.clone(), force.get_untracked() && !enabled);
        outcome.set(Outcome::Busy);
        spawn_local(async move {
            let r = set_routing(reg_name, region.clone(), enabled, force).await;
            settle(outcome, live, r, |_| format!("Routing {} for {region}: accepted by ARM.", if enabled { "enable" } else { "disable" }));
        });
    };
    let delete_region = region.clone();
    let region_for_check = region.clone();
    let can_delete = move || confirm.with(|c| c.trim() == region_for_check) && !busy();
    let delete = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (reg_name, region) = (name.get_untracked(), delete_region.clone());
        outcome.set(Outcome::Busy);
        confirm.set(String::new());
        spawn_local(async move {
            let r = delete_replica(reg_name, region.clone()).await;
            settle(outcome, live, r, |_| format!("Delete of the {region} replica: accepted by ARM."));
        });
    };

    let _ = reg;

    view! {
        <h2 id="panel-title">{display}" "<small>{region.clone()}</small>{home.then(|| view! { " " <span class="badge home-badge">"home"</span> })}</h2>
        {facts(replica, live)}
        {move || in_flight.get().map(|t| view! { <p class="busy in-flight" role="status">{t}</p> })}
        <div class="actions">
            <button type="button" id="routing-toggle" on:click=toggle disabled=move || busy() || !operator title=(!operator).then(|| crate::me::needs(crate::model::Role::Operator))>
                {move || if routing_on() { "Disable routing" } else { "Enable routing" }}
            </button>
            <Show when=routing_on>
                <label class="force" title=(!admin).then(|| crate::me::needs(crate::model::Role::Admin))>
                    <input type="checkbox" disabled=!admin prop:checked=move || force.get() on:change=move |ev| force.set(event_target_checked(&ev))/>" Allow turning off the last routed replica"
                </label>
            </Show>
        </div>
        {(!home && !admin).then(|| view! { <p class="role-note" id="delete-role-note">{crate::me::needs(crate::model::Role::Admin)}" to delete a replica."</p> })}
        {(!home && admin).then(|| view! {
            <form class="delete-form" on:submit=delete>
                <label>"Type " <code>{region.clone()}</code> " to delete this replica"
                    <input type="text" id="delete-confirm" autocomplete="off" prop:value=move || confirm.get() on:input=move |ev| confirm.set(event_target_value(&ev))/>
                </label>
                <button type="submit" class="danger" id="delete-replica" disabled=move || !can_delete()>"Delete replica"</button>
            </form>
        })}
        {home.then(|| view! { <p class="hint">"The home replica cannot be deleted: it goes with the registry."</p> })}
        <h3>"Operations"</h3>
        <ul class="operations">{operations_on(ops, region.clone())}</ul>
        <h3>"History"</h3>
        <ul class="history">{replica_history(replica, history)}</ul>
    }
    .erased()
}

/// What ARM says of the replica, following it live.
fn facts(replica: Memo<Option<ReplicaView>>, live: crate::live::Live) -> impl IntoView {
    let field = move |f: fn(&ReplicaView) -> String| move || replica.with(|r| r.as_ref().map(f).unwrap_or_default());
    let routing_on = move || replica.with(|r| r.as_ref().and_then(|r| r.routing) != Some(false));
    view! {
        <dl class="facts">
            <dt>"State"</dt><dd class="replica-state">{field(|r| r.state.as_str().to_string())}</dd>
            <dt>"Provisioning"</dt><dd>{field(|r| r.provisioning_state.clone().unwrap_or_default())}</dd>
            <dt>"Status"</dt><dd>{field(|r| r.display_status.clone().unwrap_or_default())}</dd>
            <dt>"Message"</dt><dd class="status-message">{field(|r| r.status_message.clone().unwrap_or_default())}</dd>
            <dt>"Status time"</dt><dd>{field(|r| r.status_timestamp.as_deref().map(short).unwrap_or_default())}</dd>
            <dt>"Routing"</dt><dd class="routing-state">{move || if routing_on() { "on: the global endpoint routes traffic here" } else { "off: no traffic from the global endpoint" }}</dd>
            <dt>"Zone redundancy"</dt><dd>{field(|r| if r.zone_redundancy { "enabled".into() } else { "disabled".into() })}</dd>
            <dt>"First seen"</dt><dd>{field(|r| short(&r.first_seen))}</dd>
            <dt>"Last change"</dt><dd>{field(|r| short(&r.changed_at))}</dd>
            <dt>"Last confirmed"</dt><dd>{move || { let now = live.now.get(); replica.with(|r| r.as_ref().map(|r| format!("{} ({})", short(&r.confirmed_at), ago(&r.confirmed_at, now))).unwrap_or_default()) }}</dd>
        </dl>
    }
}

/// The last twenty operations on the replica in `region`.
fn operations_on(ops: Memo<Vec<OperationView>>, region: String) -> impl IntoView {
    move || {
        ops.with(|o| o.iter().filter(|o| o.target.eq_ignore_ascii_case(&region)).take(20).map(|o| view! { <OperationItem op=o.clone()/> }).collect::<Vec<_>>())
    }
}

/// The replica's own history, newest first.
fn replica_history(replica: Memo<Option<ReplicaView>>, history: Resource<Result<Vec<EventView>, ApiError>>) -> impl IntoView {
    move || {
        let id = replica.with(|r| r.as_ref().map(|r| r.id.clone())).unwrap_or_default();
        history.get().and_then(Result::ok).map(|list| {
            list.into_iter()
                .filter(|e| e.subject_id.as_deref() == Some(id.as_str()))
                .take(30)
                .map(|e| view! { <li><time datetime=e.at.clone()>{short(&e.at)}</time>" "<span class="summary">{e.summary}</span></li> })
                .collect::<Vec<_>>()
        })
    }
}

#[component]
fn CreatePanel(
    name: Memo<String>,
    region: String,
    pending: RwSignal<Vec<String>>,
    outcome: RwSignal<Outcome>,
    reg: Memo<Option<RegistryView>>,
) -> impl IntoView {
    let live = use_live();
    let operator = crate::me::can(crate::model::Role::Operator);
    let r = regions::find(&region);
    let display = r.map(|r| r.display_name.clone()).unwrap_or_else(|| region.clone());
    let zones = r.is_some_and(|r| r.has_zones());
    let pair = r.and_then(|r| r.paired_region.clone());
    let zone = RwSignal::new(false);
    let routing = RwSignal::new(true);
    let premium = move || reg.with(|r| r.as_ref().is_none_or(|r| r.is_premium()));
    let submit_region = region.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (reg_name, region) = (name.get_untracked(), submit_region.clone());
        let (zr, rt) = (zone.get_untracked(), routing.get_untracked());
        outcome.set(Outcome::Busy);
        // Show the pending hexagon at once.
        pending.update(|p| p.push(region.clone()));
        spawn_local(async move {
            let r = create_replica(reg_name, region.clone(), zr, rt).await;
            if r.is_err() {
                pending.update(|p| p.retain(|x| x != &region));
            }
            settle(outcome, live, r, |_| format!("Replica in {region}: accepted by ARM; provisioning."));
        });
    };
    view! {
        <div role="dialog" aria-labelledby="panel-title" class="create-dialog">
            <h2 id="panel-title">"Create a replica in " {display}</h2>
            <p class="hint">{format!("Region {region}{}.", pair.map(|p| format!(", paired with {p}")).unwrap_or_default())}</p>
            {move || (!premium()).then(|| view! { <p class="warn">"Geo-replication needs the Premium SKU; ARM will refuse this registry."</p> })}
            <form on:submit=submit class="create-form">
                <label>
                    <input type="checkbox" id="create-zone" disabled=!zones prop:checked=move || zone.get() on:change=move |ev| zone.set(event_target_checked(&ev))/>
                    " Zone redundancy" {(!zones).then_some(" (this region has no availability zones)")}
                </label>
                <label>
                    <input type="checkbox" id="create-routing" prop:checked=move || routing.get() on:change=move |ev| routing.set(event_target_checked(&ev))/>
                    " Route traffic from the global endpoint here"
                </label>
                <button type="submit" id="create-confirm" disabled=move || !operator || outcome.with(|o| *o == Outcome::Busy)>"Create replica"</button>
                {(!operator).then(|| view! { <p class="role-note">{crate::me::needs(crate::model::Role::Operator)}" to create a replica."</p> })}
            </form>
        </div>
    }
    .erased()
}

#[component]
pub fn OperationItem(op: OperationView) -> impl IntoView {
    let err =
        op.error_code.clone().map(|c| view! { <div class="error"><code class="error-code">{c}</code>" "{op.error_message.clone().unwrap_or_default()}</div> });
    view! {
        <li class=format!("op op-{}", op.state) data-op=op.id.clone()>
            <span class="op-kind">{op.kind.as_str()}</span>" "
            <span class="op-target">{op.target.clone()}</span>" "
            <span class=format!("badge op-state-{}", op.state)>{op.state.as_str()}</span>" by "
            <span class="op-actor">{op.actor.clone()}</span>" "
            <time datetime=op.created_at.clone()>{short(&op.created_at)}</time>
            {err}
        </li>
    }
    .erased()
}

/// The history resource for a registry (the panel filters it to the replica).
pub fn history_resource(name: Memo<String>, version: RwSignal<u64>) -> Resource<Result<Vec<EventView>, ApiError>> {
    Resource::new_blocking(move || (name.get(), version.get()), |(n, _)| list_history(Some(n), None, None, None))
}
