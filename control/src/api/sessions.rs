//! Placeholder: routes of this module are being written.

use std::sync::Arc;

use super::App;
use crate::http::Router;

/// Adds this module's routes.
pub(super) fn routes(router: Router, _app: &Arc<App>) -> Router {
    router
}
