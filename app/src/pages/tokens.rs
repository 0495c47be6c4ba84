//! The API tokens page (Admin): tokens the console issued for scripts and
//! pipelines that have no identity-provider token at hand. A new token's
//! secret is shown once, here, and never again; a token can be revoked.

use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;

use crate::{
    api::{create_api_token, list_api_tokens, revoke_api_token, split_error},
    model::{ApiTokenRequest, ApiTokenView, Role},
    time::short,
    Erase,
};

#[component]
pub fn TokensPage() -> impl IntoView {
    if !crate::me::can(Role::Admin) {
        return Either::Left(view! {
            <Title text="API tokens"/>
            <section class="page page-tokens">
                <h1>"API tokens"</h1>
                <p class="role-note" id="tokens-role-note">{crate::me::needs(Role::Admin)}" to see and manage API tokens."</p>
            </section>
        });
    }
    let version = RwSignal::new(0u32);
    let tokens = Resource::new_blocking(move || version.get(), |_| list_api_tokens());
    let error = RwSignal::new(None::<(String, String)>);
    let secret = RwSignal::new(None::<String>);
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let days = RwSignal::new(90u32);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = ApiTokenRequest { name: name.get_untracked(), role: role.get_untracked(), expires_in_days: Some(days.get_untracked()) };
        spawn_local(async move {
            match create_api_token(request).await {
                Ok(t) => {
                    secret.set(Some(t.secret));
                    error.set(None);
                    name.set(String::new());
                }
                Err(e) => error.set(Some(split_error(&e))),
            }
            version.update(|v| *v += 1);
        });
    };
    let revoke = move |id: String| {
        spawn_local(async move {
            if let Err(e) = revoke_api_token(id).await {
                error.set(Some(split_error(&e)));
            }
            version.update(|v| *v += 1);
        });
    };
    let page = view! {
        <Title text="API tokens"/>
        <section class="page page-tokens">
            <h1>"API tokens"</h1>
            <p class="lede">"For scripts and pipelines without an Entra token: each carries a role, expires, and can be revoked. The console keeps only a hash."</p>
            <form class="new-token" on:submit=create>
                <label>"Name " <input id="token-name" type="text" maxlength="64" required prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/></label>
                <label>"Role "
                    <select id="token-role" on:change=move |ev| role.set(Role::parse(&event_target_value(&ev)).unwrap_or(Role::Viewer))>
                        {Role::ALL.iter().map(|r| view! { <option value=r.as_str()>{r.title()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Expires in (days) " <input id="token-days" type="number" min="1" max="365" prop:value=move || days.get().to_string() on:input=move |ev| days.set(event_target_value(&ev).parse().unwrap_or(90))/></label>
                <button type="submit" id="token-create">"Create token"</button>
            </form>
            {move || secret.get().map(|s| view! {
                <div class="new-token-secret" role="status">
                    <p>"Copy it now: this is the only time it is shown."</p>
                    <code id="new-token-secret">{s}</code>
                </div>
            })}
            {move || error.get().map(|(code, message)| view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                {move || tokens.get().map(|r| match r {
                    Ok(list) => Either::Left(table(list, revoke)),
                    Err(e) => {
                        let (code, message) = split_error(&e);
                        Either::Right(view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })
                    }
                })}
            </Transition>
        </section>
    }
    .erased();
    Either::Right(page)
}

fn table(list: Vec<ApiTokenView>, revoke: impl Fn(String) + Copy + 'static) -> impl IntoView {
    if list.is_empty() {
        return Either::Left(view! { <p class="empty">"No API tokens yet."</p> });
    }
    Either::Right(view! {
        <table class="tokens" aria-label="API tokens">
            <thead><tr>
                <th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Token"</th><th scope="col">"Created"</th>
                <th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col">"State"</th>
            </tr></thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let id = t.id.clone();
                    let revoked = t.revoked_at.is_some();
                    view! {
                        <tr data-token=t.id.clone() class=if revoked { "token revoked" } else { "token" }>
                            <th scope="row">{t.name.clone()}</th>
                            <td>{t.role.title()}</td>
                            <td><code>{format!("{}…", t.hint)}</code></td>
                            <td>{format!("{} by {}", short(&t.created_at), t.created_by)}</td>
                            <td>{short(&t.expires_at)}</td>
                            <td>{t.last_used_at.as_deref().map(short).unwrap_or_else(|| "never".into())}</td>
                            <td>{match t.revoked_at.clone() {
                                Some(at) => Either::Left(view! { <span>{format!("revoked {}", short(&at))}</span> }),
                                None => Either::Right(view! { <button type="button" class="danger revoke" on:click=move |_| revoke(id.clone())>"Revoke"</button> }),
                            }}</td>
                        </tr>
                    }.erased()
                }).collect_view()}
            </tbody>
        </table>
    }
    .erased())
}
