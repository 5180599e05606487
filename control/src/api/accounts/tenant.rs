//! The caller's tenant and its settings.

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::api::caller::staff;
use crate::api::App;
use crate::http::router::HandlerResult;
use crate::http::{json_response, read_json, Problem, Request, Router};
use crate::store::TenantSettings;

/// Shortest and longest validity of a session's PIN and join link, in seconds.
const KEY_VALIDITY_SECS: std::ops::RangeInclusive<u32> = 60..=86_400;

/// Adds the tenant routes.
pub(super) fn routes(router: Router, app: &Arc<App>) -> Router {
    let a = Arc::clone(app);
    let router = router.route(Method::GET, "/v1/tenant", move |r| get(Arc::clone(&a), r));
    let a = Arc::clone(app);
    router.route(Method::PATCH, "/v1/tenant/settings", move |r| {
        update_settings(Arc::clone(&a), r)
    })
}

#[derive(Serialize)]
struct Settings {
    require_2fa: bool,
    support_key_validity_secs: u32,
}

impl From<&TenantSettings> for Settings {
    fn from(settings: &TenantSettings) -> Self {
        Self {
            require_2fa: settings.require_2fa,
            support_key_validity_secs: settings.support_key_validity_secs,
        }
    }
}

#[derive(Serialize)]
struct TenantView {
    id: String,
    name: String,
    settings: Settings,
}

/// `GET /v1/tenant`: any administrator or agent of the tenant.
async fn get(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, _) = request.into_parts();
    let caller = staff(&app, &parts).await?;
    let tenant = app.store.tenant(caller.tenant).get().await?;
    let view = TenantView {
        id: tenant.id.to_string(),
        name: tenant.name,
        settings: Settings::from(&tenant.settings),
    };
    Ok(json_response(StatusCode::OK, &view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    #[serde(default)]
    require_2fa: Option<bool>,
    #[serde(default)]
    support_key_validity_secs: Option<u32>,
}

/// `PATCH /v1/tenant/settings`: administrators only; answers the settings now in force.
async fn update_settings(app: Arc<App>, request: Request) -> HandlerResult {
    let (parts, raw) = request.into_parts();
    let caller = staff(&app, &parts).await?;
    let (_, change) = read_json::<SettingsChange>(Request::from_parts(parts, raw)).await?;
    caller.require_admin()?;
    if let Some(secs) = change.support_key_validity_secs {
        if !KEY_VALIDITY_SECS.contains(&secs) {
            return Err(Problem::unprocessable("invalid_settings")
                .with_detail("support_key_validity_secs must be between 60 and 86400 seconds."));
        }
    }

    // Read, change, write: two administrators changing different settings at the same
    // moment may lose one change (rare; they see the result in the answer).
    let scope = app.store.tenant(caller.tenant);
    let mut settings = scope.get().await?.settings;
    settings.require_2fa = change.require_2fa.unwrap_or(settings.require_2fa);
    settings.support_key_validity_secs = change
        .support_key_validity_secs
        .unwrap_or(settings.support_key_validity_secs);
    scope.set_settings(&settings).await?;
    Ok(json_response(StatusCode::OK, &Settings::from(&settings)))
}
