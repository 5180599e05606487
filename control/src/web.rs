//! The reference web client that the daemon serves: the agent console (`/agent/`), the
//! customer's page (`/join`) and their scripts and style sheet (`/assets/{name}`).
//!
//! The files live in `control/web/` and are compiled into the binary (`include_str!`): plain
//! HTML, CSS and JavaScript modules, no build step and nothing loaded from another origin.
//! Every answer carries a strict `Content-Security-Policy` (scripts and styles of this
//! origin only, no framing), `nosniff`, `no-referrer` (the join link's fragment never leaves
//! the page anyway) and a `Permissions-Policy` that gives camera and microphone to this
//! origin only. `Cache-Control: no-cache` makes browsers revalidate, so an upgraded daemon
//! never runs with a stale script.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, StatusCode};

use crate::http::{PathParams, Problem, Request, Response, Router};

/// What pages may load and where they may connect: this origin only.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Which powerful features the pages may ask for: camera and microphone, this origin only.
pub const PERMISSIONS_POLICY_VALUE: &str = "camera=(self), microphone=(self)";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The agent console.
pub const AGENT_PAGE: &str = include_str!("../web/agent.html");
/// The customer's page.
pub const JOIN_PAGE: &str = include_str!("../web/join.html");

/// A file under `/assets/`: its name, media type and content.
#[derive(Debug)]
pub struct Asset {
    /// The last segment of its path (`agent.js`).
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its text.
    pub body: &'static str,
}

/// Every file served under `/assets/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: CSS,
        body: include_str!("../web/style.css"),
    },
    Asset {
        name: "client.js",
        content_type: JAVASCRIPT,
        body: include_str!("../web/client.js"),
    },
    Asset {
        name: "agent.js",
        content_type: JAVASCRIPT,
        body: include_str!("../web/agent.js"),
    },
    Asset {
        name: "annotations.js",
        content_type: JAVASCRIPT,
        body: include_str!("../web/annotations.js"),
    },
    Asset {
        name: "join.js",
        content_type: JAVASCRIPT,
        body: include_str!("../web/join.js"),
    },
];

/// Adds the web client's routes to `router`.
pub fn routes(router: Router) -> Router {
    router
        .route(Method::GET, "/", |_| async { Ok(redirect("/agent/")) })
        .route(Method::GET, "/agent/", |_| async {
            Ok(file(HTML, AGENT_PAGE))
        })
        .route(Method::GET, "/join", |_| async {
            Ok(file(HTML, JOIN_PAGE))
        })
        .route(Method::GET, "/assets/{name}", |request| async move {
            asset(&request)
        })
}

/// `GET /assets/{name}`: the asset, or 404 for a name we do not have.
fn asset(request: &Request) -> Result<Response, Problem> {
    let name = request
        .extensions()
        .get::<PathParams>()
        .and_then(|params| params.get("name"));
    ASSETS
        .iter()
        .find(|asset| Some(asset.name) == name)
        .map(|asset| file(asset.content_type, asset.body))
        .ok_or_else(Problem::not_found)
}

/// A 200 with `body` of `content_type` and the security headers.
fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure(response)
}

/// A 303 See Other to `location` (RFC 9110 section 15.4.4), with the security headers.
fn redirect(location: &'static str) -> Response {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static(location));
    secure(response)
}

/// Adds the headers every answer of the web client carries.
fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY_VALUE),
    );
    response
}
