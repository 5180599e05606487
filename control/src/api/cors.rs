//! CORS (the Fetch standard's CORS protocol) for the web-tier origins in
//! [`ApiConfig::cors_origins`](super::ApiConfig::cors_origins).
//!
//! [`Cors`] wraps the router. A preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`, on any path) is answered here: 204 with the allowed
//! methods and headers for a listed origin, a 403 problem `origin_not_allowed` for any
//! other. Other responses to a listed origin carry `Access-Control-Allow-Origin` (the
//! origin itself, never `*`) and expose `Location`, `ETag` and `Link`, which the WHIP and
//! WHEP clients read. Origins match exactly, byte for byte. Credentials are bearer
//! tokens in `Authorization`, not cookies, so `Access-Control-Allow-Credentials` is never
//! sent. Every response to a request with an `Origin` carries `Vary: Origin`.

use std::future::Future;

use hyper::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use hyper::{Method, StatusCode};

use crate::http::{Handler, Problem, Request, Response};

/// Methods a listed origin may use.
const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
/// Request headers a listed origin may send.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-Match";
/// Response headers a listed origin's scripts may read (besides the safelisted ones).
const EXPOSE_HEADERS: &str = "Location, ETag, Link";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// A handler behind the CORS protocol for a fixed list of origins.
#[derive(Debug)]
pub struct Cors<H> {
    inner: H,
    origins: Vec<HeaderValue>,
}

impl<H: Handler> Cors<H> {
    /// Wraps `inner` for `origins` (`https://support.example.com`); an origin that is not
    /// a valid header value can never match and is left out.
    pub fn new(inner: H, origins: &[String]) -> Self {
        let origins = origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        Self { inner, origins }
    }

    /// The request's `Origin` if it is listed.
    fn listed<'a>(&self, origin: &'a HeaderValue) -> Option<&'a HeaderValue> {
        self.origins.contains(origin).then_some(origin)
    }

    async fn serve(&self, request: Request) -> Response {
        let Some(origin) = request.headers().get(ORIGIN).cloned() else {
            return self.inner.handle(request).await;
        };
        if is_preflight(&request) {
            return self.preflight(&origin);
        }
        let mut response = self.inner.handle(request).await;
        let headers = response.headers_mut();
        if let Some(origin) = self.listed(&origin) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            let expose = HeaderValue::from_static(EXPOSE_HEADERS);
            headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose);
        }
        add_vary_origin(headers);
        response
    }

    fn preflight(&self, origin: &HeaderValue) -> Response {
        let Some(origin) = self.listed(origin) else {
            tracing::debug!(target: "api", "CORS preflight from an origin not listed");
            let mut response = Problem::forbidden("origin_not_allowed")
                .with_detail("This origin is not among the daemon's allowed CORS origins.")
                .into_response();
            add_vary_origin(response.headers_mut());
            return response;
        };
        let mut response = Response::default();
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        let methods = HeaderValue::from_static(ALLOW_METHODS);
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        let allowed = HeaderValue::from_static(ALLOW_HEADERS);
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        let max_age = HeaderValue::from_static(MAX_AGE_SECS);
        headers.insert(ACCESS_CONTROL_MAX_AGE, max_age);
        add_vary_origin(headers);
        response
    }
}

impl<H: Handler> Handler for Cors<H> {
    fn handle(&self, request: Request) -> impl Future<Output = Response> + Send {
        self.serve(request)
    }
}

/// A CORS preflight: `OPTIONS` naming the method the real request will use.
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD)
}

/// Adds `Origin` to `Vary` (responses differ by origin), next to any other `Vary`.
fn add_vary_origin(headers: &mut HeaderMap) {
    headers.append(VARY, HeaderValue::from_static("Origin"));
}
