//! The Migrations page: every migration with its state, progress, rate, ETA
//! and failures (live), and the form that plans or starts a new one.

use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_navigate};

use crate::{
    api::{create_migration, list_migrations, list_registries, split_error},
    live::use_live,
    model::{MigrationRequest, MigrationView},
    time::short,
    Erase,
};

/// "2 min 5 s" from seconds.
pub fn eta(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The progress bar (accessible: a real `<progress>` with its value in words).
#[component]
pub fn Progress(m: MigrationView) -> impl IntoView {
    let pct = m.percent();
    let label = format!("{} of {} copied ({pct:.0} %)", m.imported, m.to_copy);
    view! {
        <div class="progress-cell">
            <progress max="100" value=format!("{pct:.1}") aria-label=label.clone()></progress>
            <span class="progress-label">{label}</span>
        </div>
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([',', ' ', '\n']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
}

#[component]
pub fn MigrationsPage() -> impl IntoView {
    let live = use_live();
    let migrations = Resource::new_blocking(move || live.version.get(), |_| list_migrations());
    let registries = Resource::new_blocking(|| (), |_| list_registries());
    view! {
        <Title text="Migrations"/>
        <section class="page page-migrations">
            <h1>"Migrations"</h1>
            <p class="lede">"Relocations and consolidations of registries: inventory, plan, copy, verify and cut-over, with progress visible to the whole team."</p>
            <Transition fallback=|| view! { <p class="loading">"Loading migrations…"</p> }>
                {move || Suspend::new(async move {
                    let list = migrations.await;
                    let regs = registries.await.unwrap_or_default();
                    let names: Vec<String> = regs.into_iter().filter(|r| !r.gone).map(|r| r.name).collect();
                    view! {
                        {match list {
                            Ok(list) if list.is_empty() => leptos::either::EitherOf3::A(view! { <p class="empty">"No migrations yet. Plan one below."</p> }),
                            Ok(list) => leptos::either::EitherOf3::B(view! { <MigrationTable list/> }),
                            Err(e) => {
                                let (code, message) = split_error(&e);
                                leptos::either::EitherOf3::C(view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })
                            }
                        }}
                        <NewMigration names/>
                    }
                })}
            </Transition>
        </section>
    }
    .erased()
}

#[component]
fn MigrationTable(list: Vec<MigrationView>) -> impl IntoView {
    view! {
        <table class="migrations" aria-label="Migrations">
            <thead><tr><th scope="col">"Migration"</th><th scope="col">"State"</th><th scope="col">"Progress"</th><th scope="col">"Rate"</th><th scope="col">"ETA"</th><th scope="col">"Failures"</th><th scope="col">"Started by"</th><th scope="col">"Created"</th></tr></thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|m| {
                        let (id, href, name) = (m.id.clone(), format!("/migrations/{}", m.id), m.name.clone());
                        let fail_class = if m.failed > 0 { "failures bad" } else { "failures" };
                        view! {
                            <tr data-migration=id>
                                <th scope="row"><A href=href>{name}</A>{m.dry_run.then_some(" (plan)")}</th>
                                <td><span class=format!("badge mstate mstate-{}", m.state.as_str().to_ascii_lowercase())>{m.state.as_str()}</span></td>
                                <td><Progress m=m.clone()/></td>
                                <td>{m.rate_per_min.map(|r| format!("{r:.0}/min")).unwrap_or_default()}</td>
                                <td>{m.eta_secs.map(eta).unwrap_or_default()}</td>
                                <td class=fail_class>{m.failed}</td>
                                <td>{m.actor.clone()}</td>
                                <td><time datetime=m.created_at.clone()>{short(&m.created_at)}</time></td>
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

#[component]
fn NewMigration(names: Vec<String>) -> impl IntoView {
    use crate::model::Role;
    if !crate::me::can(Role::Operator) {
        return leptos::either::Either::Left(
            view! { <h2>"New migration"</h2><p class="role-note" id="m-role-note">{crate::me::needs(Role::Operator)}" to plan a migration."</p> },
        );
    }
    let admin = crate::me::can(Role::Admin);
    let force_title = if admin { String::new() } else { crate::me::needs(Role::Admin) };
    let navigate = use_navigate();
    let source = RwSignal::new(String::new());
    let source_url = RwSignal::new(String::new());
    let credential_set = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let include = RwSignal::new(String::new());
    let tags = RwSignal::new(String::new());
    let latest = RwSignal::new(String::new());
    let force = RwSignal::new(false);
    let untagged = RwSignal::new(false);
    let dry_run = RwSignal::new(true);
    let error = RwSignal::new(None::<(String, String)>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let s = source.get_untracked();
        let u = source_url.get_untracked();
        let set = credential_set.get_untracked();
        let req = MigrationRequest {
            source_credential_set: (!set.trim().is_empty()).then(|| set.trim().to_string()),
            source_registry: (!s.is_empty()).then_some(s),
            source_url: (!u.trim().is_empty()).then(|| u.trim().to_string()),
            target_registry: target.get_untracked(),
            include: split_list(&include.get_untracked()),
            tags: split_list(&tags.get_untracked()),
            latest: latest.get_untracked().trim().parse().ok(),
            force: force.get_untracked(),
            untagged: untagged.get_untracked(),
            dry_run: dry_run.get_untracked(),
            ..Default::default()
        };
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match create_migration(req).await {
                Ok(m) => navigate(&format!("/migrations/{}", m.id), Default::default()),
                Err(e) => error.set(Some(split_error(&e))),
            }
            busy.set(false);
        });
    };
    let options = move || names.iter().map(|n| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view();
    let options2 = options.clone();
    let form = view! {
        <h2>"New migration"</h2>
        <form class="new-migration" on:submit=submit>
            <label>"Source registry "
                <select id="m-source" on:change=move |ev| source.set(event_target_value(&ev))>
                    <option value="">"— or give a URL —"</option>
                    {options}
                </select>
            </label>
            <label>"Source URL (any OCI registry) "<input id="m-source-url" type="text" placeholder="http://127.0.0.1:5000" on:input=move |ev| source_url.set(event_target_value(&ev))/></label>
            <label>"Credential set for the URL (configured by an administrator; empty: anonymous) "<input id="m-credential-set" type="text" maxlength="64" on:input=move |ev| credential_set.set(event_target_value(&ev))/></label>
            <label>"Target registry "
                <select id="m-target" on:change=move |ev| target.set(event_target_value(&ev))>
                    <option value="">"—"</option>
                    {options2}
                </select>
            </label>
            <label>"Repositories (patterns, e.g. payments/*) "<input id="m-include" type="text" on:input=move |ev| include.set(event_target_value(&ev))/></label>
            <label>"Tags (patterns) "<input id="m-tags" type="text" on:input=move |ev| tags.set(event_target_value(&ev))/></label>
            <label>"Latest N tags per repository "<input id="m-latest" type="number" min="1" on:input=move |ev| latest.set(event_target_value(&ev))/></label>
            <label title=force_title><input id="m-force" type="checkbox" disabled=!admin on:change=move |ev| force.set(event_target_checked(&ev))/>" Force (overwrite target tags)"</label>
            <label><input id="m-untagged" type="checkbox" on:change=move |ev| untagged.set(event_target_checked(&ev))/>" Also untagged manifests (ACR sources)"</label>
            <label><input id="m-dry-run" type="checkbox" prop:checked=move || dry_run.get() on:change=move |ev| dry_run.set(event_target_checked(&ev))/>" Plan only (dry run); start it from its page"</label>
            <button type="submit" id="m-create" disabled=move || busy.get()>{move || if dry_run.get() { "Plan migration" } else { "Start migration" }}</button>
            {move || error.get().map(|(code, message)| view! { <p class="error" role="alert"><code class="error-code">{code}</code>" "{message}</p> })}
        </form>
    }
    .erased();
    leptos::either::Either::Right(form)
}

#[cfg(test)]
mod tests {
    #[test]
    fn etas_and_lists_read_naturally() {
        assert_eq!(super::eta(42), "42 s");
        assert_eq!(super::eta(125), "2 min 5 s");
        assert_eq!(super::eta(7260), "2 h 1 min");
        assert_eq!(super::split_list("a/*, b  c"), vec!["a/*", "b", "c"]);
    }
}
