//! The transfer page (`/registries/{name}/transfer`): the registry's export
//! and import pipelines (storage and Key Vault without query or secrets,
//! identity, options, trigger), the transfers started here with their
//! combined progress, and every pipeline run as ARM reports it. An Operator
//! starts a transfer (artifacts for an export, more than 50 become several
//! runs; blobs for an import), runs a run again, deletes one.

use crate::Erase;
use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::error_view;
use crate::{
    api::{delete_pipeline_run, rerun_pipeline_run, split_error, start_transfer, transfers},
    live::use_live,
    model::{PipelineKind, PipelineRunView, PipelineView, Role, TransferOverview, TransferRequest, TransferView},
};

fn lines(s: &str) -> Vec<String> {
    s.split(['\n', ',']).map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

#[component]
pub fn TransferPage() -> impl IntoView {
    let params = use_params_map();
    let live = use_live();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let overview = Resource::new_blocking(move || (name.get(), live.version.get(), refresh.get()), |(n, _, _)| transfers(n));
    // Runs move in ARM between the poller's reads of child resources: while
    // one is running, the page reads again every few seconds (in the browser).
    // Every 3 s while a run started in the last 15 minutes is running, every
    // minute while an older one is (each read is three ARM reads).
    // One timer at a time: a new read replaces the pending one.
    let timer = StoredValue::new(None::<TimeoutHandle>);
    on_cleanup(move || {
        if let Some(h) = timer.get_value() {
            h.clear();
        }
    });
    Effect::new(move |_| {
        let now = crate::time::now_ms();
        let wait = overview.with(|o| {
            let runs = o.as_ref().and_then(|r| r.as_ref().ok()).map(|o| o.runs.as_slice()).unwrap_or_default();
            let running = runs.iter().filter(|r| r.state == crate::model::RunState::Running);
            running
                .map(|r| {
                    let recent = r.started.as_deref().and_then(crate::time::parse_ms).is_some_and(|t| now - t < 15 * 60 * 1000);
                    if recent {
                        3
                    } else {
                        60
                    }
                })
                .min()
        });
        if let Some(h) = timer.get_value() {
            h.clear();
        }
        let next = wait.and_then(|secs| set_timeout_with_handle(move || refresh.update(|v| *v += 1), std::time::Duration::from_secs(secs)).ok());
        timer.set_value(next);
    });
    let error = RwSignal::new(None::<(String, String)>);
    let notice = RwSignal::new(None::<String>);
    let done = move |r: Result<String, crate::model::ApiError>| {
        match r {
            Ok(m) => {
                error.set(None);
                notice.set(Some(m));
            }
            Err(e) => error.set(Some(split_error(&e))),
        }
        refresh.update(|v| *v += 1);
    };
    let start = move |request: TransferRequest| {
        let registry = name.get_untracked();
        spawn_local(async move {
            done(start_transfer(registry, request).await.map(|t| format!("Transfer {} started: {} runs.", t.id, t.runs.len())));
        });
    };
    let rerun = move |run: String| {
        let registry = name.get_untracked();
        spawn_local(async move { done(rerun_pipeline_run(registry, run.clone()).await.map(|()| format!("{run} runs again."))) });
    };
    let remove = move |run: String| {
        let registry = name.get_untracked();
        spawn_local(async move { done(delete_pipeline_run(registry, run.clone()).await.map(|()| format!("{run} is being deleted."))) });
    };
    view! {
        <Title text=format!("{} — transfer", name.get_untracked())/>
        <section class="page page-transfer">
            <super::Crumbs name page="Transfer"/>
            <h1>"Transfer pipelines"</h1>
            {move || error.get().map(|(code, message)| error_view(code, message))}
            {move || notice.get().map(|m| view! { <p class="notice" role="status" id="transfer-notice">{m}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Reading pipelines from ARM…"</p> }>
                {move || overview.get().map(|r| match r {
                    Ok(o) => Either::Left(page(o, start, rerun, remove)),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(error_view(code, message))
                    }
                })}
            </Transition>
        </section>
    }
    .erased()
}

fn page(
    o: TransferOverview,
    start: impl Fn(TransferRequest) + Copy + Send + Sync + 'static,
    rerun: impl Fn(String) + Copy + Send + Sync + 'static,
    remove: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let operator = crate::me::can(Role::Operator);
    let per_run = o.artifacts_per_run;
    let form = (operator && !o.pipelines.is_empty()).then(|| new_transfer(o.pipelines.clone(), per_run, start));
    view! {
        {pipelines(o.pipelines)}
        {transfer_table(o.transfers, operator, rerun)}
        {runs(o.runs, operator, rerun, remove)}
        {form}
    }
}

fn pipelines(list: Vec<PipelineView>) -> impl IntoView {
    if list.is_empty() {
        return Either::Left(view! { <p class="empty" id="pipelines-empty">"This registry has no export or import pipelines."</p> });
    }
    let rows = list
        .into_iter()
        .map(|p| {
            view! {
                <tr data-pipeline=p.name.clone()>
                    <th scope="row">{p.name.clone()}</th>
                    <td>{p.kind.as_str()}</td>
                    <td><code>{p.storage_uri.clone().unwrap_or_else(|| "—".into())}</code></td>
                    <td><code>{p.key_vault_uri.clone().unwrap_or_else(|| "—".into())}</code></td>
                    <td>{p.storage_access.clone()}</td>
                    <td>{p.identity.clone()}</td>
                    <td class="options">{if p.options.is_empty() { "—".to_string() } else { p.options.join(", ") }}</td>
                    <td>{p.source_trigger.clone().unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <table class="pipelines" id="pipelines" aria-label="Pipelines">
            <thead><tr>
                <th scope="col">"Pipeline"</th><th scope="col">"Kind"</th><th scope="col">"Storage container"</th><th scope="col">"Key Vault secret"</th>
                <th scope="col">"Access"</th><th scope="col">"Identity"</th><th scope="col">"Options"</th><th scope="col">"Source trigger"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}

fn transfer_table(list: Vec<TransferView>, operator: bool, rerun: impl Fn(String) + Copy + Send + Sync + 'static) -> impl IntoView {
    if list.is_empty() {
        return Either::Left(view! { <p class="empty" id="transfers-empty">"No transfer has been started here."</p> });
    }
    let rows = list
        .into_iter()
        .map(|t| {
            let parts = t
                .runs
                .iter()
                .map(|r| {
                    let missing = r.state == crate::model::RunState::Missing;
                    let run = r.run.clone();
                    view! {
                        <span class=format!("part part-{}", r.state.as_str())>{format!("{} {}", r.run, r.state.as_str())}
                            {(operator && missing).then(|| view! { " "<button type="button" class="run-again missing-run" on:click=move |_| rerun(run.clone())>"Start again"</button> })}
                        </span>" "
                    }
                })
                .collect_view();
            view! {
                <tr data-transfer=t.id.clone() class=format!("transfer-{}", t.state.as_str())>
                    <th scope="row">{t.id.clone()}</th>
                    <td>{t.pipeline.clone()}" ("{t.kind.as_str()}")"</td>
                    <td class="state">{t.state.as_str()}</td>
                    <td><progress max="100" value=t.percent></progress>" "<span class="percent">{format!("{:.0}%", t.percent)}</span></td>
                    <td class="count">{t.artifacts}</td>
                    <td class="runs-count">{t.runs.len()}</td>
                    <td class="parts">{parts}</td>
                    <td>{t.created_by.clone()}" · "{crate::time::short(&t.created_at)}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <h2>"Transfers"</h2>
        <table class="transfers" id="transfers" aria-label="Transfers">
            <thead><tr>
                <th scope="col">"Transfer"</th><th scope="col">"Pipeline"</th><th scope="col">"State"</th><th scope="col">"Progress"</th>
                <th scope="col">"Artifacts"</th><th scope="col">"Runs"</th><th scope="col">"Each run"</th><th scope="col">"Started by"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}

fn runs(
    list: Vec<PipelineRunView>,
    operator: bool,
    rerun: impl Fn(String) + Copy + Send + Sync + 'static,
    remove: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    if list.is_empty() {
        return Either::Left(view! { <p class="empty" id="runs-empty">"No pipeline runs."</p> });
    }
    let rows = list
        .into_iter()
        .map(|r| {
            let (a, b) = (r.name.clone(), r.name.clone());
            let what = match r.kind {
                Some(PipelineKind::Import) => format!("{} imported", r.imported.len()),
                _ => format!("{} of {} exported", r.imported.len(), r.artifacts.len()),
            };
            view! {
                <tr data-run=r.name.clone() class=format!("run-{}", r.state.as_str())>
                    <th scope="row">{r.name.clone()}</th>
                    <td>{r.pipeline.clone()}</td>
                    <td class="state" title=r.status.clone()>{r.state.as_str()}</td>
                    <td class="percent">{r.percent.map(|p| format!("{p:.0}%")).unwrap_or_default()}</td>
                    <td title=r.artifacts.join("\n")>{what}</td>
                    <td><code>{r.blob.clone().unwrap_or_default()}</code></td>
                    <td>{r.started.as_deref().map(crate::time::short).unwrap_or_default()}</td>
                    <td>{r.finished.as_deref().map(crate::time::short).unwrap_or_default()}</td>
                    <td class="run-error">{r.error.clone().unwrap_or_default()}
                        {(!r.failed.is_empty()).then(|| view! { <br/><span class="not-transferred">{format!("not transferred: {}", r.failed.join(", "))}</span> })}</td>
                    <td>{operator.then(|| view! {
                        <button type="button" class="run-again" on:click=move |_| rerun(a.clone())>"Run again"</button>
                        " "<button type="button" class="danger run-delete" on:click=move |_| remove(b.clone())>"Delete"</button>
                    })}</td>
                </tr>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <h2>"Pipeline runs"</h2>
        <table class="runs" id="runs" aria-label="Pipeline runs">
            <thead><tr>
                <th scope="col">"Run"</th><th scope="col">"Pipeline"</th><th scope="col">"State"</th><th scope="col">"Progress"</th><th scope="col">"Artifacts"</th>
                <th scope="col">"Blob"</th><th scope="col">"Started"</th><th scope="col">"Finished"</th><th scope="col">"Error"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    })
}

/// Start a transfer (Operator): a pipeline, then artifacts (export) or blobs (import), one per line.
fn new_transfer(pipelines: Vec<PipelineView>, per_run: usize, start: impl Fn(TransferRequest) + Copy + Send + Sync + 'static) -> impl IntoView {
    let first = pipelines.first().map(|p| p.name.clone()).unwrap_or_default();
    let kinds: Vec<(String, PipelineKind)> = pipelines.iter().map(|p| (p.name.clone(), p.kind)).collect();
    let pipeline = RwSignal::new(first);
    let items = RwSignal::new(String::new());
    let prefix = RwSignal::new(String::new());
    let kind_of = {
        let kinds = kinds.clone();
        move |name: &str| kinds.iter().find(|(n, _)| n == name).map(|(_, k)| *k).unwrap_or(PipelineKind::Export)
    };
    let kind_label = kind_of.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let p = pipeline.get_untracked();
        let list = lines(&items.get_untracked());
        let request = match kind_of(&p) {
            PipelineKind::Export => {
                TransferRequest { pipeline: p, artifacts: list, blobs: vec![], blob_prefix: Some(prefix.get_untracked()).filter(|s| !s.trim().is_empty()) }
            }
            PipelineKind::Import => TransferRequest { pipeline: p, artifacts: vec![], blobs: list, blob_prefix: None },
        };
        start(request);
    };
    let options = pipelines.into_iter().map(|p| view! { <option value=p.name.clone()>{format!("{} ({})", p.name, p.kind.as_str())}</option> }).collect_view();
    view! {
        <form class="new-transfer" id="new-transfer" on:submit=submit>
            <h2>"Start a transfer"</h2>
            <label>"Pipeline "<select id="transfer-pipeline" on:change=move |ev| pipeline.set(event_target_value(&ev))>{options}</select></label>
            <label class="items">{move || match kind_label(&pipeline.get()) {
                PipelineKind::Export => format!("Artifacts, one per line (repository, repository:tag or repository@digest; over {per_run} become several runs)"),
                PipelineKind::Import => "Blobs to import, one per line".to_string(),
            }}
                <textarea id="transfer-items" rows="6" prop:value=move || items.get() on:input=move |ev| items.set(event_target_value(&ev))></textarea></label>
            <label>"Blob name prefix (export) "<input id="transfer-prefix" type="text" prop:value=move || prefix.get() on:input=move |ev| prefix.set(event_target_value(&ev))/></label>
            <button type="submit" id="transfer-start">"Start"</button>
        </form>
    }
}
