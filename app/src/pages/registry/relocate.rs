//! The relocation page (`/registries/{name}/relocate`): the registry's
//! configuration as an ARM template (`exportTemplate`), and a target made
//! from it in a chosen region: a preview of what will be created and what
//! cannot be carried as is (named), then, for an Admin who types the new
//! name again, the creation as a `registry.relocate` operation. Copying
//! the images is a migration (the Migrations page), whose cut-over
//! checklist compares the two registries live.

use crate::Erase;
use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::error_view;
use crate::{
    api::{relocate, relocation_preview, relocation_template, split_error},
    model::{RelocationPreview, RelocationRequest, Role},
};

#[component]
pub fn RelocatePage() -> impl IntoView {
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let template = Resource::new_blocking(move || name.get(), relocation_template);
    let target = RwSignal::new(String::new());
    let location = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let preview = RwSignal::new(None::<RelocationPreview>);
    let error = RwSignal::new(None::<(String, String)>);
    let started = RwSignal::new(None::<String>);
    let request = move || RelocationRequest {
        target_name: target.get_untracked().trim().to_string(),
        location: location.get_untracked().trim().to_string(),
        confirm: None,
    };
    let ask = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let registry = name.get_untracked();
        let req = request();
        spawn_local(async move {
            match relocation_preview(registry, req).await {
                Ok(p) => {
                    error.set(None);
                    preview.set(Some(p));
                }
                Err(e) => error.set(Some(split_error(&e))),
            }
        });
    };
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let registry = name.get_untracked();
        let mut req = request();
        req.confirm = Some(confirm.get_untracked());
        spawn_local(async move {
            match relocate(registry, req).await {
                Ok(op) => {
                    error.set(None);
                    started.set(Some(format!("Creating {} (operation {}): follow it on the Activity page.", op.target, op.id)));
                }
                Err(e) => error.set(Some(split_error(&e))),
            }
        });
    };
    view! {
        <Title text=format!("{} — relocate", name.get_untracked())/>
        <section class="page page-relocate">
            <super::Crumbs name page="Relocate"/>
            <h1>"Relocate"</h1>
            <p class="lead">"Export this registry's configuration, create a registry from it in another region, then copy the images with a migration; the migration's cut-over checklist compares both registries as they are."</p>
            {move || error.get().map(|(code, message)| error_view(code, message))}
            {move || started.get().map(|m| view! { <p class="notice" role="status" id="relocation-started">{m}</p> })}
            <form class="relocation-target" id="relocation-target" on:submit=ask>
                <label>"New registry name "<input id="relocation-name" type="text" prop:value=move || target.get() on:input=move |ev| target.set(event_target_value(&ev))/></label>
                <label>"Region "<input id="relocation-location" type="text" placeholder="e.g. northeurope" prop:value=move || location.get() on:input=move |ev| location.set(event_target_value(&ev))/></label>
                <button type="submit" id="relocation-preview">"Preview"</button>
            </form>
            {move || preview.get().map(|p| view! {
                {preview_view(p)}
                {if crate::me::can(Role::Admin) {
                    Either::Left(view! {
                        <form class="relocation-create" id="relocation-create" on:submit=create>
                            <label>"Type the new name to create it "<input id="relocation-confirm" type="text" prop:value=move || confirm.get() on:input=move |ev| confirm.set(event_target_value(&ev))/></label>
                            <button type="submit" class="danger" id="relocation-go">"Create the target"</button>
                        </form>
                    })
                } else {
                    Either::Right(view! { <p class="role-note">{crate::me::needs(Role::Admin)}" to create the target."</p> })
                }}
            })}
            <Transition fallback=|| view! { <p class="loading">"Exporting the template…"</p> }>
                {move || template.get().map(|r| match r {
                    Ok(t) => {
                        let rows = t.resources.iter().map(|r| view! { <li><code>{r.kind.clone()}</code>" "{r.name.clone()}{r.location.clone().map(|l| format!(" ({l})"))}</li> }).collect_view();
                        let errors = t.errors.iter().map(|e| view! { <li>{e.clone()}</li> }).collect_view();
                        Either::Left(view! {
                            <section class="template" id="template">
                                <h2>"Exported template"</h2>
                                <ul class="template-resources">{rows}</ul>
                                {(!t.errors.is_empty()).then(|| view! { <h3>"Not exported"</h3><ul class="template-errors">{errors}</ul> })}
                                <details><summary>"Template JSON"</summary><pre id="template-json">{t.template.clone()}</pre></details>
                            </section>
                        })
                    }
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

fn preview_view(p: RelocationPreview) -> impl IntoView {
    let creates = p
        .creates
        .iter()
        .map(|c| view! { <tr data-create=format!("{}:{}", c.kind, c.name)><td>{c.kind.clone()}</td><th scope="row">{c.name.clone()}</th><td>{c.location.clone().unwrap_or_default()}</td><td>{c.detail.clone()}</td></tr> })
        .collect_view();
    let cannot = p
        .cannot_carry
        .iter()
        .map(|c| view! { <tr data-cannot=format!("{}:{}", c.what, c.name)><td>{c.what.clone()}</td><th scope="row">{c.name.clone()}</th><td>{c.reason.clone()}</td></tr> })
        .collect_view();
    view! {
        <section class="relocation-preview" id="relocation-preview-result">
            <h2>{format!("{} → {} in {}", p.source, p.target_name, p.location)}</h2>
            {(!p.name_available).then(|| view! { <p class="error" id="name-taken">{p.name_message.clone().unwrap_or_else(|| "That name is taken.".into())}</p> })}
            <h3>"Will be created"</h3>
            <table class="creates" aria-label="Will be created"><thead><tr><th scope="col">"Kind"</th><th scope="col">"Name"</th><th scope="col">"Region"</th><th scope="col">"Detail"</th></tr></thead><tbody>{creates}</tbody></table>
            <h3>"Cannot be carried as is"</h3>
            <table class="cannot" aria-label="Cannot be carried as is"><thead><tr><th scope="col">"What"</th><th scope="col">"Name"</th><th scope="col">"Why, and what to do"</th></tr></thead><tbody>{cannot}</tbody></table>
        </section>
    }
}
