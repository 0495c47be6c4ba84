//! The Activity page: operations (who asked for what, and how it ended) and
//! state changes the poller saw, across registries, newest first. Filters
//! (`?registry=&kind=&outcome=&person=`) live in the query string; a
//! person's view lists what they did, sign-ins and refusals included.

use crate::Erase;
use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_query_map};

use crate::{
    api::{list_history, list_operations, list_people, list_registries, split_error},
    live::use_live,
    model::{ApiError, EventFamily, EventKind, EventView, OperationKind, OperationState, OperationView, PersonView},
    pages::registry::panel::OperationItem,
    time::short,
};

/// The families of state changes the filter offers (operators' actions are listed by `OperationKind`).
const CHANGE_FAMILIES: &[EventFamily] =
    &[EventFamily::Registry, EventFamily::Replica, EventFamily::Child, EventFamily::Poll, EventFamily::Migration, EventFamily::Auth, EventFamily::Presence];

#[derive(Clone, Debug, Default, PartialEq)]
struct Filter {
    registry: String,
    kind: String,
    outcome: String,
    /// A principal key: what that person did.
    person: String,
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Op(OperationView),
    Change(EventView),
}

impl Entry {
    fn at(&self) -> &str {
        match self {
            Entry::Op(o) => &o.created_at,
            Entry::Change(e) => &e.at,
        }
    }
}

#[component]
pub fn ActivityPage() -> impl IntoView {
    let live = use_live();
    let query = use_query_map();
    let f = Memo::new(move |_| {
        let m = query.read();
        Filter {
            registry: m.get("registry").unwrap_or_default(),
            kind: m.get("kind").unwrap_or_default(),
            outcome: m.get("outcome").unwrap_or_default(),
            person: m.get("person").unwrap_or_default(),
        }
    });
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let registries = Resource::new_blocking(move || live.version.get(), |_| list_registries());
    let people = Resource::new_blocking(move || live.version.get(), |_| list_people());
    let ops = Resource::new_blocking(
        move || (f.get(), live.version.get()),
        move |(f, _)| list_operations(opt(f.registry), OperationKind::parse(&f.kind), OperationState::parse(&f.outcome)),
    );
    let changes = Resource::new_blocking(
        move || (f.get(), live.version.get()),
        move |(f, _)| {
            let family = EventFamily::parse(&f.kind).filter(|k| CHANGE_FAMILIES.contains(k));
            list_history(opt(f.registry), family, None, opt(f.person))
        },
    );

    view! {
        <Title text="Activity"/>
        <section class="page page-activity">
            <h1>"Activity"</h1>
            <p class="lede">"Every operation and state change across registries, newest first, with who asked for it."</p>
            <Transition fallback=|| view! { <p class="loading">"Loading activity…"</p> }>
                // Awaiting the resources makes the server render this in
                // place (readable without JavaScript) instead of streaming it.
                {move || Suspend::new(async move {
                    let _ = (registries.await, people.await, ops.await, changes.await);
                })}
                {move || {
                    let names = registries.get()?.map(|l| l.into_iter().map(|r| r.name).collect()).unwrap_or_default();
                    Some(filter_form(names, people.get()?.unwrap_or_default(), &f.get()))
                }}
                {move || {
                    let (o, c) = (ops.get()?, changes.get()?);
                    let (entries, failure) = merged(&f.get(), o, c);
                    Some(timeline(entries, failure))
                }}
            </Transition>
        </section>
    }
    .erased()
}

/// The filters, as a GET form (works without JavaScript).
fn filter_form(names: Vec<String>, people: Vec<PersonView>, cur: &Filter) -> impl IntoView {
    view! {
        <form method="get" class="filters" role="search">
            <label>"Registry "
                <select name="registry">
                    <option value="" selected=cur.registry.is_empty()>"all"</option>
                    {names.into_iter().map(|n| { let sel = n == cur.registry; view! { <option value=n.clone() selected=sel>{n.clone()}</option> } }).collect_view()}
                </select>
            </label>
            <label>"Kind "
                <select name="kind">
                    <option value="" selected=cur.kind.is_empty()>"all"</option>
                    {OperationKind::ALL.iter().map(|k| k.as_str()).chain(CHANGE_FAMILIES.iter().map(|f| f.as_str())).map(|k| view! { <option value=k selected=cur.kind == k>{k}</option> }).collect_view()}
                </select>
            </label>
            <label>"Outcome "
                <select name="outcome">
                    <option value="" selected=cur.outcome.is_empty()>"any"</option>
                    {OperationState::ALL.iter().map(|k| k.as_str()).map(|k| view! { <option value=k selected=cur.outcome == k>{k}</option> }).collect_view()}
                </select>
            </label>
            <label>"Person "
                <select name="person" id="filter-person">
                    <option value="" selected=cur.person.is_empty()>"anyone"</option>
                    {people.into_iter().map(|p| { let sel = p.key == cur.person; view! { <option value=p.key.clone() selected=sel>{format!("{} ({})", p.name, p.role.title())}</option> } }).collect_view()}
                </select>
            </label>
            <button type="submit">"Filter"</button>
            <A href="?">"Clear"</A>
        </form>
    }
}

/// Operations and state changes the filter selects, newest first, and the
/// error of either list.
fn merged(cur: &Filter, ops: Result<Vec<OperationView>, ApiError>, changes: Result<Vec<EventView>, ApiError>) -> (Vec<Entry>, Option<(String, String)>) {
    let mut entries: Vec<Entry> = Vec::new();
    let mut failure = None;
    // A person's view comes from the history (which names who caused what).
    let person = !cur.person.is_empty();
    let show_ops = !person && (cur.kind.is_empty() || OperationKind::parse(&cur.kind).is_some());
    // An outcome belongs to operations only.
    let show_changes = cur.outcome.is_empty() && (cur.kind.is_empty() || EventFamily::parse(&cur.kind).is_some_and(|k| CHANGE_FAMILIES.contains(&k)));
    match ops {
        Ok(list) if show_ops => entries.extend(list.into_iter().map(Entry::Op)),
        Ok(_) => {}
        Err(e) => failure = Some(split_error(&e)),
    }
    match changes {
        Ok(list) if show_changes => {
            entries.extend(list.into_iter().filter(|e| if person { e.kind != EventKind::MigrationProgress } else { !e.kind.is_progress() }).map(Entry::Change))
        }
        Ok(_) => {}
        Err(e) => failure = Some(split_error(&e)),
    }
    entries.sort_by(|a, b| b.at().cmp(a.at()));
    (entries, failure)
}

/// The timeline: one line per operation or state change.
fn timeline(entries: Vec<Entry>, failure: Option<(String, String)>) -> impl IntoView {
    view! {
        {failure.map(|(code, message)| view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })}
        <p class="count">{format!("{} entries", entries.len())}</p>
        <ol class="activity">
            {entries.into_iter().map(|e| match e {
                Entry::Op(op) => Either::Left({
                    let (reg, kind, target) = (op.registry_name.clone(), op.kind.as_str(), op.target.clone());
                    view! {
                        <li class="entry entry-op" data-kind=kind>
                            <A href=format!("/registries/{reg}?region={target}")>{reg.clone()}</A>
                            <ul class="plain"><OperationItem op/></ul>
                        </li>
                    }
                }),
                Entry::Change(e) => {
                    // A migration's steps link to its page.
                    let link = (e.kind.family() == EventFamily::Migration).then(|| e.subject_id.clone()).flatten().map(|id| format!("/migrations/{id}"));
                    Either::Right(view! {
                        <li class="entry entry-change" data-kind=e.kind.as_str()>
                            <time datetime=e.at.clone()>{short(&e.at)}</time>" "
                            <span class="kind">{e.kind.as_str()}</span>" "
                            <span class="summary">{e.summary.clone()}</span>
                            {link.map(|href| view! { " " <A href=href>"open"</A> })}
                        </li>
                    })
                }
            }).collect_view()}
        </ol>
    }
}
