//! The daemon's HTTPS transport: TLS, HTTP/1.1 and HTTP/2, limits, routing and error bodies.
//!
//! [`tls`] builds the rustls configuration (TLS 1.3 and TLS 1.2 with ECDHE and AEAD suites
//! only) and makes the self-signed trial certificate. [`server`] accepts TCP connections,
//! caps them per source address, runs the TLS handshake and serves HTTP/1.1 or HTTP/2 by
//! ALPN with hyper, under the [`Limits`]. [`router`] maps a method and a path to a handler,
//! [`body`] reads request bodies within the body limit, and [`problem`] renders every error
//! as RFC 9457 problem details. [`health`] answers `/healthz` and `/readyz`.
//!
//! Handlers take a [`Request`] and return a [`Response`] or a [`Problem`]; they never see
//! the socket, the TLS session or the limits, which the server enforces around them.

pub mod body;
pub mod health;
pub mod problem;
pub mod router;
pub mod server;
pub mod tls;

mod source_limit;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::StatusCode;
use serde::Serialize;

pub use body::{read_body, read_json, BodyLimit, ClientAddr};
pub use health::Readiness;
pub use problem::Problem;
pub use router::{PathParams, Router};
pub use server::{Handler, Limits, Server, ServerError, ShutdownSummary};
pub use tls::{load_or_generate, server_config, TlsError, TrialCertificate};

/// Body of every response the API sends: the whole payload in one buffer.
pub type Body = Full<Bytes>;

/// A request as handlers receive it: the server has read its whole body (within the body
/// limit) before calling the handler; [`read_body`] and [`read_json`] take it from there.
pub type Request = hyper::Request<Body>;

/// A response as handlers return it.
pub type Response = hyper::Response<Body>;

/// Serializes `value` as the JSON body of a response with `status`.
///
/// API responses are never cached by intermediaries (`Cache-Control: no-store`): they carry
/// account and session state.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(json) => with_content_type(status, json, "application/json"),
        Err(_) => Problem::internal().into_response(),
    }
}

/// A 201 with `value` as its JSON body and `Location: location` (RFC 9110 section 15.3.2).
pub fn created_response(location: &str, value: &impl Serialize) -> Response {
    let mut response = json_response(StatusCode::CREATED, value);
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// Builds a response with `status`, `body` and a `Content-Type`, not cacheable.
fn with_content_type(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;

    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
