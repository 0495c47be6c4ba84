//! The settings page (`/registries/{name}/settings`): what a relocation
//! must carry and an operator checks (network, endpoints, zones,
//! encryption, access, policies), read from ARM when the page is shown, and
//! the doctor's findings with their remedies. An Admin applies a fix by
//! typing the region (or the registry's name) it touches.

use crate::Erase;
use leptos::{either::Either, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::error_view;
use crate::{
    api::{doctor_fix, registry_settings, split_error},
    live::use_live,
    model::{DoctorFixRequest, EndpointView, FindingView, RegistrySettingsView, Role},
};

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn list_or_none(items: Vec<String>) -> impl IntoView {
    if items.is_empty() {
        Either::Left(view! { <span class="none">"none"</span> })
    } else {
        Either::Right(view! { <ul class="plain">{items.into_iter().map(|i| view! { <li><code>{i}</code></li> }).collect_view()}</ul> })
    }
}

fn endpoints(list: Vec<EndpointView>) -> impl IntoView {
    list_or_none(
        list.into_iter()
            .map(|e| match e.region {
                Some(r) => format!("{} ({r})", e.host),
                None => e.host,
            })
            .collect(),
    )
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let params = use_params_map();
    let live = use_live();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let refresh = RwSignal::new(0u32);
    let settings = Resource::new_blocking(move || (name.get(), live.version.get(), refresh.get()), |(n, _, _)| registry_settings(n));
    let error = RwSignal::new(None::<(String, String)>);
    let done = RwSignal::new(None::<String>);
    let fix = move |request: DoctorFixRequest| {
        let registry = name.get_untracked();
        spawn_local(async move {
            match doctor_fix(registry, request).await {
                Ok(op) => {
                    error.set(None);
                    done.set(Some(match op {
                        Some(op) => format!("Accepted: {} {} (operation {}); the replica is created again when the delete ends.", op.kind, op.target, op.id),
                        None => "Accepted by ARM.".to_string(),
                    }));
                }
                Err(e) => error.set(Some(split_error(&e))),
            }
            refresh.update(|v| *v += 1);
        });
    };
    view! {
        <Title text=format!("{} — settings", name.get_untracked())/>
        <section class="page page-settings">
            <super::Crumbs name page="Settings and doctor"/>
            <h1>"Settings and doctor"</h1>
            {move || error.get().map(|(code, message)| error_view(code, message))}
            {move || done.get().map(|m| view! { <p class="notice" role="status" id="fix-accepted">{m}</p> })}
            <Transition fallback=|| view! { <p class="loading">"Reading the registry from ARM…"</p> }>
                {move || settings.get().map(|r| match r {
                    Ok(s) => Either::Left(page(s, fix)),
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

fn page(s: RegistrySettingsView, fix: impl Fn(DoctorFixRequest) + Copy + Send + Sync + 'static) -> impl IntoView {
    let findings = s.findings.clone();
    let zones = s
        .replicas
        .iter()
        .map(|r| {
            view! {
                <tr data-zone-region=r.region.clone()>
                    <th scope="row">{r.region.clone()}{r.home.then_some(" (home)")}</th>
                    <td>{r.state.as_str()}</td>
                    <td class=if r.zone_redundancy { "zr-on" } else { "zr-off" }>{yes_no(r.zone_redundancy)}</td>
                    <td>{if r.region_has_zones { "yes" } else { "no zones in this region" }}</td>
                </tr>
            }
        })
        .collect_view();
    let pes = s
        .private_endpoints
        .iter()
        .map(|p| {
            view! {
                <tr data-pe=p.name.clone()>
                    <th scope="row">{p.name.clone()}</th>
                    <td class=format!("pe-{}", p.status.to_ascii_lowercase())>{p.status.clone()}</td>
                    <td><code>{p.endpoint.clone()}</code></td>
                    <td>{p.description.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let retention = s.retention_days.map(|d| format!("{d} days")).unwrap_or_else(|| "off".into());
    let soft_delete = s.soft_delete_days.map(|d| format!("{d} days")).unwrap_or_else(|| "off".into());
    view! {
        <Doctor findings fix/>
        <div class="settings-grid" id="settings" data-read-at=s.read_at.clone()>
            <section class="settings-block" id="network">
                <h2>"Network"</h2>
                <dl class="facts">
                    <dt>"Public network access"</dt><dd id="public-access">{s.public_network_access.clone()}</dd>
                    <dt>"Firewall default action"</dt><dd id="default-action">{s.default_action.clone()}</dd>
                    <dt>"IP rules"</dt><dd id="ip-rules">{list_or_none(s.ip_rules.clone())}</dd>
                    <dt>"Virtual network rules"</dt><dd id="vnet-rules">{list_or_none(s.virtual_network_rules.clone())}</dd>
                    <dt>"Trusted Azure services"</dt><dd id="bypass">{s.network_rule_bypass.clone()}</dd>
                    <dt>"Tasks through the firewall"</dt><dd>{yes_no(s.bypass_for_tasks)}</dd>
                </dl>
                <h3>"Private endpoint connections"</h3>
                {if s.private_endpoints.is_empty() {
                    Either::Left(view! { <p class="empty" id="no-private-endpoints">"None."</p> })
                } else {
                    Either::Right(view! {
                        <table class="private-endpoints" id="private-endpoints" aria-label="Private endpoint connections">
                            <thead><tr><th scope="col">"Name"</th><th scope="col">"State"</th><th scope="col">"Private endpoint"</th><th scope="col">"Description"</th></tr></thead>
                            <tbody>{pes}</tbody>
                        </table>
                    })
                }}
            </section>
            <section class="settings-block" id="endpoints">
                <h2>"Endpoints"</h2>
                <dl class="facts">
                    <dt>"Dedicated data endpoints"</dt><dd id="data-endpoint-enabled">{yes_no(s.data_endpoint_enabled)}</dd>
                    <dt>"Data endpoint host names"</dt><dd id="data-endpoints">{endpoints(s.data_endpoints.clone())}</dd>
                    <dt>"Regional endpoints"</dt><dd>{yes_no(s.regional_endpoints_enabled)}</dd>
                    <dt>"Regional endpoint host names"</dt><dd id="regional-endpoints">{endpoints(s.regional_endpoints.clone())}</dd>
                </dl>
            </section>
            <section class="settings-block" id="zones">
                <h2>"Zone redundancy"</h2>
                <table class="zones" aria-label="Zone redundancy per replica">
                    <thead><tr><th scope="col">"Replica"</th><th scope="col">"State"</th><th scope="col">"Zone redundant"</th><th scope="col">"Region has zones"</th></tr></thead>
                    <tbody>{zones}</tbody>
                </table>
            </section>
            <section class="settings-block" id="encryption">
                <h2>"Encryption and identity"</h2>
                <dl class="facts">
                    <dt>"Customer-managed key"</dt><dd id="cmk">{yes_no(s.encryption.customer_managed_key)}</dd>
                    <dt>"Key"</dt><dd><code>{s.encryption.key_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
                    <dt>"Key read by (client id)"</dt><dd><code>{s.encryption.identity_client_id.clone().unwrap_or_else(|| "—".into())}</code></dd>
                    <dt>"Key rotation"</dt><dd>{yes_no(s.encryption.key_rotation)}</dd>
                    <dt>"Identity"</dt><dd id="identity-type">{s.identity_type.clone()}</dd>
                    <dt>"User-assigned identities"</dt><dd>{list_or_none(s.user_identities.clone())}</dd>
                </dl>
            </section>
            <section class="settings-block" id="access">
                <h2>"Access and policies"</h2>
                <dl class="facts">
                    <dt>"SKU"</dt><dd>{s.sku.clone()}</dd>
                    <dt>"Admin user"</dt><dd id="admin-user">{yes_no(s.admin_user_enabled)}</dd>
                    <dt>"Anonymous pull"</dt><dd>{yes_no(s.anonymous_pull_enabled)}</dd>
                    <dt>"Retention of untagged manifests"</dt><dd id="retention">{retention}</dd>
                    <dt>"Soft delete"</dt><dd id="soft-delete">{soft_delete}</dd>
                    <dt>"Quarantine"</dt><dd>{yes_no(s.quarantine_enabled)}</dd>
                    <dt>"Content trust"</dt><dd>{yes_no(s.trust_enabled)}</dd>
                    <dt>"Export allowed"</dt><dd>{yes_no(s.export_enabled)}</dd>
                    <dt>"Role assignments"</dt><dd>{s.role_assignment_mode.clone()}</dd>
                </dl>
            </section>
        </div>
    }
}

#[component]
fn Doctor<F>(findings: Vec<FindingView>, fix: F) -> impl IntoView
where
    F: Fn(DoctorFixRequest) + Copy + Send + Sync + 'static,
{
    let admin = crate::me::can(Role::Admin);
    if findings.is_empty() {
        return Either::Left(view! { <section class="doctor" id="doctor"><h2>"Doctor"</h2><p class="empty" id="doctor-clean">"Nothing found."</p></section> });
    }
    let items = findings
        .into_iter()
        .map(|f| {
            let confirm = RwSignal::new(String::new());
            let action = f.fix.map(|kind| {
                let region = f.region.clone();
                let label = match kind {
                    crate::model::DoctorFix::RecreateWithZones => "Delete and recreate with zones",
                    crate::model::DoctorFix::RecreateStuck => "Delete and recreate",
                    crate::model::DoctorFix::EnableDataEndpoints => "Turn on data endpoints",
                };
                let prompt = match &region {
                    Some(r) => format!("Type {r} to confirm"),
                    None => "Type the registry's name to confirm".to_string(),
                };
                if admin {
                    let submit = move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        fix(DoctorFixRequest { fix: kind, region: region.clone(), confirm: confirm.get_untracked() });
                    };
                    Either::Left(view! {
                        <form class="fix" on:submit=submit data-fix=kind.as_str()>
                            <label>{prompt}" "<input class="fix-confirm" type="text" prop:value=move || confirm.get() on:input=move |ev| confirm.set(event_target_value(&ev))/></label>
                            <button type="submit" class="danger fix-apply">{label}</button>
                        </form>
                    })
                } else {
                    Either::Right(view! { <p class="role-note">{crate::me::needs(Role::Admin)}" to apply this fix."</p> })
                }
            });
            view! {
                <li class=format!("finding severity-{}", f.severity.as_str()) data-finding=f.code.clone() data-region=f.region.clone().unwrap_or_default()>
                    <p class="finding-title"><span class=format!("badge severity-{}", f.severity.as_str())>{f.severity.as_str()}</span>" "<strong>{f.title.clone()}</strong></p>
                    <p class="finding-detail">{f.detail.clone()}</p>
                    <p class="finding-remedy">{f.remedy.clone()}</p>
                    {action}
                </li>
            }
            .erased()
        })
        .collect_view();
    Either::Right(view! {
        <section class="doctor" id="doctor">
            <h2>"Doctor"</h2>
            <ul class="findings">{items}</ul>
        </section>
    })
}
