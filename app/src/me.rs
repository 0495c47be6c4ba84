//! Who is signed in, for the header and for what the pages offer. The
//! server puts the request's identity in context; it is carried into the
//! page as a `SharedValue`, so the rendered HTML and the hydrated view
//! agree. The server decides every request by role on its own; the pages
//! only hide or disable what the role cannot do, and say why.

use leptos::prelude::*;

use crate::model::{Me, Role};

#[derive(Clone)]
pub struct Signed(pub Option<Me>);

pub fn provide() {
    let me = leptos::server::SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<regatlas_domain::Identity>().map(Me::of))
        }
        #[cfg(not(feature = "ssr"))]
        {
            None::<Me>
        }
    })
    .into_inner();
    provide_context(Signed(me));
}

pub fn use_me() -> Option<Me> {
    use_context::<Signed>().and_then(|s| s.0)
}

/// Whether the signed-in role includes `need`.
pub fn can(need: Role) -> bool {
    use_me().is_some_and(|m| m.allows(need))
}

/// Why a control is disabled, for its `title`.
pub fn needs(need: Role) -> String {
    let role = use_me().map(|m| m.role.title()).unwrap_or("signed out");
    format!("Needs the {} role (you are {role})", need.title())
}

/// The signed-in person, their role and Sign out, in the header.
#[component]
pub fn MeBadge() -> impl IntoView {
    use leptos::either::Either;
    match use_me() {
        Some(me) => Either::Left({
            let role = me.role.title();
            view! {
                <div class="me" id="me" data-role=me.role.as_str()>
                    <span class="me-name">{me.name.clone()}</span>
                    <span class="me-role">{role}</span>
                    {me.can_sign_out.then(|| view! {
                        <form method="post" action="/auth/sign-out" class="sign-out">
                            <button type="submit" id="sign-out">"Sign out"</button>
                        </form>
                    })}
                </div>
            }
        }),
        None => Either::Right(view! { <a class="me" href="/auth/sign-in">"Sign in"</a> }),
    }
}
