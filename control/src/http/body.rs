//! Reading request bodies within the body limit, and what the server tells handlers about
//! a request besides its headers.
//!
//! The server puts a [`BodyLimit`] and a [`ClientAddr`] into every request's extensions.
//! [`read_body`] reads at most the limit and answers 413 beyond it, whether the client
//! announced the length (`Content-Length`) or streams the body (chunked, HTTP/2 DATA);
//! [`read_json`] adds the media type check (415) and the parse (400, 422).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use tokio::time::timeout;

use super::{Problem, Request};

/// Largest request body, in bytes, when the server has not set one.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The largest request body the server accepts for this request, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// The address of the TCP peer that sent the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Reads the body of a request as it arrived, within `limit` bytes and `deadline`, before
/// any handler runs.
///
/// Answering while the client still sends its body makes hyper reset the HTTP/2 stream
/// (`RST_STREAM` with `NO_ERROR`, RFC 9113 section 8.1), which some clients (curl 7.88)
/// report as a failure instead of the answer; a 401 or a 415 must reach them. So the
/// server reads every body first (at most `limit`, the same bound handlers had) and hands
/// handlers a complete one. A body over the limit is a 413, a body that stalls past
/// `deadline` a 408; both are answered at once.
pub(super) async fn buffer(
    request: hyper::Request<Incoming>,
    limit: usize,
    deadline: Duration,
) -> Result<Request, Problem> {
    let (parts, body) = request.into_parts();
    if declared_length(&parts).is_some_and(|length| length > limit) {
        return Err(Problem::payload_too_large(limit));
    }
    match timeout(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, Full::new(collected.to_bytes()))),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(Problem::payload_too_large(limit)),
        Ok(Err(_)) => Err(incomplete()),
        Err(_) => Err(Problem::new(StatusCode::REQUEST_TIMEOUT, "body_timeout")
            .with_detail("The request body did not arrive in time.")),
    }
}

fn incomplete() -> Problem {
    Problem::bad_request("body_incomplete")
        .with_detail("The request body ended before it was complete.")
}

/// Reads the whole body of `request`, up to its [`BodyLimit`].
///
/// A body over the limit is a 413 problem; one that breaks off before its end is a 400.
pub async fn read_body(request: Request) -> Result<(Parts, Bytes), Problem> {
    let (parts, body) = request.into_parts();
    let limit = parts
        .extensions
        .get::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |limit| limit.0);

    if declared_length(&parts).is_some_and(|length| length > limit) {
        return Err(Problem::payload_too_large(limit));
    }

    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok((parts, collected.to_bytes())),
        Err(error) if error.is::<LengthLimitError>() => Err(Problem::payload_too_large(limit)),
        Err(_) => Err(incomplete()),
    }
}

/// Reads the body of `request` as JSON into a `T`.
///
/// The body must be `application/json` (415 otherwise); malformed JSON is a 400 and JSON of
/// the wrong shape (a missing field, a string for a number) a 422. The detail names the line
/// and column, never the submitted value.
pub async fn read_json<T: DeserializeOwned>(request: Request) -> Result<(Parts, T), Problem> {
    if !is_json(&request) {
        return Err(Problem::unsupported_media_type("application/json"));
    }
    let (parts, bytes) = read_body(request).await?;

    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok((parts, value)),
        Err(error) => Err(json_problem(&error)),
    }
}

/// The `Content-Length` the client announced, if any and if it parses.
fn declared_length(parts: &Parts) -> Option<usize> {
    let value = parts.headers.get(CONTENT_LENGTH)?.to_str().ok()?;
    value.trim().parse().ok()
}

/// Whether the request's `Content-Type` is `application/json`, parameters aside.
fn is_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Maps a JSON parse error to 400 (not JSON) or 422 (JSON of the wrong shape).
fn json_problem(error: &serde_json::Error) -> Problem {
    let at = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        serde_json::error::Category::Data => Problem::unprocessable("invalid_body").with_detail(
            format!("The JSON body does not have the expected fields ({at})."),
        ),
        _ => Problem::bad_request("malformed_json")
            .with_detail(format!("The request body is not valid JSON ({at}).")),
    }
}
