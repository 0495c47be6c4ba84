//! One migration: phase, progress, rate and ETA (live), per-repository
//! progress, failed items with their ARM errors and a retry, conflicts, the
//! verification result, the cut-over checklist, and the report to download.
//! At 100,000 artifacts it stays a page: repositories and artifacts come a
//! page at a time, the artifacts filtered by state, action, repository or text.

/// Failed, mismatched and conflicting items the detail carries (the server's `DETAIL_ITEMS`).
const DETAIL_ITEMS: i64 = 50;

use crate::pages::encode_query as encode;
use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_params_map, use_query_map},
};

use super::migrations::{eta, Progress};
use crate::{
    api::{act_on_migration, get_migration, migration_items_page, migration_repositories_page, split_error, tick_checklist, ITEM_PAGE},
    live::use_live,
    model::{
        ChecklistItem, ChecklistKind, ChecklistStatus, ItemAction, ItemPage, ItemQuery, ItemState, MigrationAction, MigrationDetail, MigrationItemView,
        MigrationState, RepositoryPage,
    },
    Erase,
};

/// The artifact list's filters and cursors, from the page's query string
/// (`state`, `action`, `repository`, `q`, `after`; `repos_after` pages the
/// repositories): links and a plain GET form, readable without JavaScript.
#[derive(Clone, Debug, Default, PartialEq)]
struct Browse {
    state: String,
    action: String,
    repository: String,
    text: String,
    after: Option<i64>,
    repos_after: Option<String>,
}

impl Browse {
    fn query(&self) -> ItemQuery {
        let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        ItemQuery {
            state: ItemState::parse(&self.state),
            action: ItemAction::parse(&self.action),
            repository: opt(&self.repository),
            text: opt(&self.text),
            limit: ITEM_PAGE,
            after: self.after,
        }
    }

    /// This page's query string with the filters kept and the cursors given.
    fn href(&self, after: Option<i64>, repos_after: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [("state", &self.state), ("action", &self.action), ("repository", &self.repository), ("q", &self.text)] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", encode(v)));
            }
        }
        if let Some(a) = after {
            parts.push(format!("after={a}"));
        }
        if let Some(r) = repos_after {
            parts.push(format!("repos_after={}", encode(r)));
        }
        format!("?{}", parts.join("&"))
    }
}

#[component]
pub fn MigrationPage() -> impl IntoView {
    let live = use_live();
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let browse = Memo::new(move |_| {
        let m = query.read();
        Browse {
            state: m.get("state").unwrap_or_default(),
            action: m.get("action").unwrap_or_default(),
            repository: m.get("repository").unwrap_or_default(),
            text: m.get("q").unwrap_or_default(),
            after: m.get("after").and_then(|a| a.parse().ok()),
            repos_after: m.get("repos_after").filter(|r| !r.is_empty()),
        }
    });
    let detail = Resource::new_blocking(move || (id.get(), live.version.get()), |(id, _)| get_migration(id));
    let items = Resource::new_blocking(move || (id.get(), browse.get(), live.version.get()), |(id, b, _)| migration_items_page(id, b.query()));
    let repos = Resource::new_blocking(
        move || (id.get(), browse.get().repos_after, live.version.get()),
        |(id, after, _)| async move {
            match after {
                Some(a) => migration_repositories_page(id, Some(a)).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let error = RwSignal::new(None::<(String, String)>);
    view! {
        <Title text="Migration"/>
        <section class="page page-migration">
            <p class="crumbs"><A href="/migrations">"Migrations"</A></p>
            <Transition fallback=|| view! { <p class="loading">"Loading the migration…"</p> }>
                {move || Suspend::new(async move {
                    let (d, items, repos) = (detail.await, items.await, repos.await);
                    match (d, items, repos) {
                        (Ok(d), Ok(items), Ok(repos)) => leptos::either::Either::Left(view! { <Detail d items repos browse=browse.get() error/> }),
                        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                            let (code, message) = split_error(&e);
                            leptos::either::Either::Right(view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })
                        }
                    }
                })}
            </Transition>
        </section>
    }
    .erased()
}

#[component]
fn Detail(d: MigrationDetail, items: ItemPage, repos: Option<RepositoryPage>, browse: Browse, error: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let live = use_live();
    let operator = crate::me::can(crate::model::Role::Operator);
    let m = d.migration.clone();
    let id = m.id.clone();
    let act = move |action: MigrationAction| {
        let id = id.clone();
        move |_| {
            let id = id.clone();
            spawn_local(async move {
                match act_on_migration(id, action).await {
                    Ok(_) => error.set(None),
                    Err(e) => error.set(Some(split_error(&e))),
                }
                live.bump();
            });
        }
    };
    let state = m.state;
    let can_start = operator && state.can_start();
    let can_pause = operator && state == MigrationState::InProgress;
    let can_cancel = operator && state.can_cancel();
    let can_retry = operator && m.failed > 0 && !m.is_active();
    let start_label = if state == MigrationState::Planned { "Start copying" } else { "Resume" };
    let (json_href, csv_href) = (format!("/live/migrations/{}/report.json", m.id), format!("/live/migrations/{}/report.csv", m.id));
    let verification = if m.verified + m.mismatched == 0 {
        "Not verified yet.".to_string()
    } else if m.mismatched == 0 {
        format!("{} artifacts verified: every planned tag resolves to the same digest in {}.", m.verified, m.target)
    } else {
        format!("{} verified, {} findings (see below).", m.verified, m.mismatched)
    };
    view! {
        <header class="migration-head" data-state=m.state.as_str()>
            <h1>{m.name.clone()}</h1>
            <span class=format!("badge mstate mstate-{}", m.state.as_str().to_ascii_lowercase()) id="migration-state">{m.state.as_str()}</span>
        </header>
        {m.error.clone().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <Progress m=m.clone()/>
        <dl class="facts inline">
            <dt>"Source"</dt><dd>{m.source.clone()}</dd>
            <dt>"Target"</dt><dd>{m.target.clone()}</dd>
            <dt>"Planned"</dt><dd>{format!("{} artifacts: {} to copy, {} present, {} conflicts", m.planned, m.to_copy, m.present, m.conflicts)}</dd>
            <dt>"Bytes"</dt><dd>{format!("{} of {} to copy", m.bytes_done, m.bytes_to_copy)}</dd>
            <dt>"Rate"</dt><dd>{m.rate_per_min.map(|r| format!("{r:.0} imports/min")).unwrap_or_else(|| "—".into())}</dd>
            <dt>"ETA"</dt><dd>{m.eta_secs.map(eta).unwrap_or_else(|| "—".into())}</dd>
            <dt>"In flight"</dt><dd>{format!("{} (window {})", m.in_flight, m.concurrency.unwrap_or(0))}</dd>
            <dt>"Throttled (429)"</dt><dd>{m.throttled}</dd>
            <dt>"Mode"</dt><dd>{if m.force { "Force" } else { "NoForce" }}</dd>
            <dt>"Created by"</dt><dd>{m.actor.clone()}</dd>
        </dl>
        <div class="actions row">
            {can_start.then(|| view! { <button type="button" id="m-start" on:click=act(MigrationAction::Start)>{start_label}</button> })}
            {can_pause.then(|| view! { <button type="button" id="m-pause" on:click=act(MigrationAction::Pause)>"Pause"</button> })}
            {can_cancel.then(|| view! { <button type="button" id="m-cancel" class="danger" on:click=act(MigrationAction::Cancel)>"Cancel"</button> })}
            {can_retry.then(|| view! { <button type="button" id="m-retry" on:click=act(MigrationAction::RetryFailed)>"Retry failed items"</button> })}
            {(!operator).then(|| view! { <span class="role-note">{crate::me::needs(crate::model::Role::Operator)}" to start, pause, cancel or retry."</span> })}
            <a href=json_href download="">"Report (JSON)"</a>
            <a href=csv_href download="">"Report (CSV)"</a>
        </div>
        {move || error.get().map(|(code, message)| view! { <p class="error panel-error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })}
        <h2>"Repositories"</h2>
        <Repositories d=&d repos browse=browse.clone()/>
        <h2>"Failures and findings"</h2>
        <ItemTable items=d.problems empty="None."/>
        {(m.failed > DETAIL_ITEMS || m.mismatched > DETAIL_ITEMS).then(|| view! {
            <p class="more"><a href=format!("{}#artifacts", Browse { state: "failed".into(), ..Default::default() }.href(None, None))>{format!("All {} failed", m.failed)}</a>" · "
            <a href=format!("{}#artifacts", Browse { state: "mismatch".into(), ..Default::default() }.href(None, None))>{format!("all {} findings", m.mismatched)}</a>" in the artifact list"</p>
        })}
        {(!d.findings.is_empty()).then(|| view! {
            <h3>"Inventory findings (not planned)"</h3>
            <ul class="findings">{d.findings.into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
        })}
        <h2>"Conflicts (target tags pointing elsewhere; NoForce leaves them)"</h2>
        <ItemTable items=d.conflicts empty="None."/>
        {(m.conflicts > DETAIL_ITEMS).then(|| view! {
            <p class="more"><a href=format!("{}#artifacts", Browse { action: "conflict".into(), ..Default::default() }.href(None, None))>{format!("All {} conflicts in the artifact list", m.conflicts)}</a></p>
        })}
        <h2 id="artifacts">"Artifacts"</h2>
        <Artifacts page=items browse planned=m.planned/>
        <h2>"Verification"</h2>
        <p class="verification">{verification}</p>
        <h2>"Cut-over checklist"</h2>
        {d.checklist_evaluated_at.clone().map(|t| view! { <p class="evaluated" id="checklist-evaluated">"Settings compared with ARM at "{crate::time::short(&t)}" (again whenever this page is read, at most every 30 s)."</p> })}
        <Checklist id=m.id.clone() items=d.checklist safe=d.source_delete_safe error/>
    }
    .erased()
}

/// Per-repository progress: the detail's first page, or the page after
/// `repos_after`, with a link to the next.
#[component]
fn Repositories<'a>(d: &'a MigrationDetail, repos: Option<RepositoryPage>, browse: Browse) -> impl IntoView {
    let (rows, next) = match repos {
        Some(p) => (p.repositories, p.next),
        None => (d.repositories.clone(), if d.more_repositories { d.repositories.last().map(|r| r.repository.clone()) } else { None }),
    };
    let paged = browse.repos_after.is_some();
    view! {
        <table class="repositories" aria-label="Progress per repository">
            <thead><tr><th scope="col">"Repository"</th><th scope="col">"Copied"</th><th scope="col">"Failed"</th><th scope="col">"Conflicts"</th><th scope="col">"Artifacts"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let href = format!("{}#artifacts", Browse { repository: r.repository.clone(), ..Default::default() }.href(None, None));
                    view! {
                        <tr data-repository=r.repository.clone()><th scope="row"><a href=href>{r.repository.clone()}</a></th><td>{format!("{} / {}", r.done, r.to_copy)}</td><td>{r.failed}</td><td>{r.conflicts}</td><td>{r.artifacts}</td></tr>
                    }.erased()
                }).collect_view()}
            </tbody>
        </table>
        <p class="pager">
            {paged.then(|| view! { <a href=browse.href(browse.after, None) class="first-repositories">"First repositories"</a>" " })}
            {next.map(|n| view! { <a href=browse.href(browse.after, Some(&n)) id="next-repositories">"Next repositories →"</a> })}
        </p>
    }
    .erased()
}

/// Every artifact of the plan, a page at a time, filtered by state, action,
/// repository or text (a plain GET form: works without JavaScript).
#[component]
fn Artifacts(page: ItemPage, browse: Browse, planned: i64) -> impl IntoView {
    let filtered = browse.query() != ItemQuery { limit: ITEM_PAGE, ..Default::default() };
    let summary = match (page.items.is_empty(), filtered) {
        (true, true) => "No artifact matches.".to_string(),
        (true, false) => "No artifact planned.".to_string(),
        (false, _) => format!("{} shown{}", page.items.len(), if filtered { String::new() } else { format!(" of {planned}") }),
    };
    let first = browse.after.map(|_| browse.href(None, browse.repos_after.as_deref()));
    let next = page.next.map(|n| browse.href(Some(n), browse.repos_after.as_deref()));
    view! {
        <form method="get" class="filters" role="search" id="artifact-filters" action="#artifacts">
            <label>"State "
                <select name="state">
                    <option value="" selected=browse.state.is_empty()>"any"</option>
                    {ItemState::ALL.iter().map(|s| s.as_str()).map(|s| view! { <option value=s selected=browse.state == s>{s}</option> }).collect_view()}
                </select>
            </label>
            <label>"Action "
                <select name="action">
                    <option value="" selected=browse.action.is_empty()>"any"</option>
                    {ItemAction::ALL.iter().map(|a| a.as_str()).map(|a| view! { <option value=a selected=browse.action == a>{a}</option> }).collect_view()}
                </select>
            </label>
            <label>"Repository "<input type="text" name="repository" maxlength="256" value=browse.repository.clone() placeholder="exact name"/></label>
            <label>"Text "<input type="search" name="q" maxlength="128" value=browse.text.clone() placeholder="repository, digest or tag"/></label>
            <button type="submit">"Filter"</button>
            <a href="?#artifacts">"Clear"</a>
        </form>
        <p class="summary" id="artifacts-summary">{summary}</p>
        <ItemTable items=page.items empty=""/>
        <p class="pager">
            {first.map(|f| view! { <a href=format!("{f}#artifacts") class="first-page">"First page"</a>" " })}
            {next.map(|n| view! { <a href=format!("{n}#artifacts") id="next-artifacts">"Next page →"</a> })}
        </p>
    }
    .erased()
}

#[component]
fn ItemTable(items: Vec<MigrationItemView>, empty: &'static str) -> impl IntoView {
    if items.is_empty() {
        return leptos::either::Either::Left((!empty.is_empty()).then(|| view! { <p class="empty">{empty}</p> }));
    }
    leptos::either::Either::Right(view! {
        <table class="items">
            <thead><tr><th scope="col">"Artifact"</th><th scope="col">"Tags"</th><th scope="col">"State"</th><th scope="col">"Attempts"</th><th scope="col">"Error or detail"</th></tr></thead>
            <tbody>
                {items.into_iter().map(|i| {
                    let err = match (i.error_code.clone(), i.error_message.clone(), i.detail.clone()) {
                        (Some(c), m, _) => format!("{c}: {}", m.unwrap_or_default()),
                        (None, _, Some(d)) => d,
                        _ => String::new(),
                    };
                    view! {
                        <tr class=format!("item item-{}", i.state)>
                            <td><code>{format!("{}@{}", i.repository, i.digest.chars().take(19).collect::<String>())}</code></td>
                            <td>{i.tags.join(", ")}</td>
                            <td>{i.state.as_str()}</td>
                            <td>{i.attempts}</td>
                            <td class="item-error">{err}</td>
                        </tr>
                    }.erased()
                }).collect_view()}
            </tbody>
        </table>
    })
}

#[component]
fn Checklist(id: String, items: Vec<ChecklistItem>, safe: bool, error: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let live = use_live();
    let operator = crate::me::can(crate::model::Role::Operator);
    view! {
        <table class="checklist" aria-label="Cut-over checklist">
            <thead><tr><th scope="col">"Item"</th><th scope="col">"Source"</th><th scope="col">"Target"</th><th scope="col">"Status"</th></tr></thead>
            <tbody>
                {items.into_iter().map(|c| {
                    let manual = c.kind == ChecklistKind::Manual;
                    let done = c.status == ChecklistStatus::Done;
                    let blocked = c.key == "delete-source" && !safe && !done;
                    let (id, key) = (id.clone(), c.key.clone());
                    let toggle = move |ev: leptos::ev::Event| {
                        let checked = event_target_checked(&ev);
                        let (id, key) = (id.clone(), key.clone());
                        spawn_local(async move {
                            match tick_checklist(id, key, checked).await {
                                Ok(_) => error.set(None),
                                Err(e) => error.set(Some(split_error(&e))),
                            }
                            live.bump();
                        });
                    };
                    let who = c.done_by.clone().map(|b| format!(" by {b} at {}", crate::time::short(&c.done_at.clone().unwrap_or_default()))).unwrap_or_default();
                    view! {
                        <tr class=format!("check check-{}", c.status) data-key=c.key.clone()>
                            <th scope="row">
                                {manual.then(|| view! { <input type="checkbox" prop:checked=done disabled=blocked || !operator on:change=toggle.clone() aria-label=c.title.clone()/> })}
                                " " {c.title.clone()}
                            </th>
                            <td>{c.source_value.clone().unwrap_or_default()}</td>
                            <td>{c.target_value.clone().unwrap_or_default()}</td>
                            <td class="check-status">{format!("{}{who}", c.status)}</td>
                        </tr>
                    }.erased()
                }).collect_view()}
            </tbody>
        </table>
    }
    .erased()
}
