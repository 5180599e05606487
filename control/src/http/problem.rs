//! Error responses as problem details (RFC 9457).
//!
//! Every error the API returns is a JSON object served as `application/problem+json`
//! (RFC 9457 section 3). The `type` member is left out, which means `about:blank`
//! (section 4.2.1): the status code says what kind of problem it is and `title` is its
//! reason phrase. The extension member `error` (section 3.2) is a stable, machine-readable
//! code such as `"not_found"` that clients switch on; `detail` is a sentence for people and
//! never repeats what the client submitted, so a mistyped password cannot come back in it.

use std::fmt;
use std::time::Duration;

use hyper::header::{HeaderValue, ALLOW, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, StatusCode};
use serde::Serialize;

use super::{with_content_type, Response};

/// Media type of a problem details body (RFC 9457 section 3).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response: a status, a machine-readable code and a human-readable explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    error: &'static str,
    title: &'static str,
    detail: Option<String>,
    retry_after: Option<Duration>,
    allow: Option<String>,
}

/// The JSON members of a problem, in the order RFC 9457 section 3.1 lists them.
#[derive(Serialize)]
struct ProblemBody<'a> {
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    error: &'a str,
}

impl Problem {
    /// A problem with `status` and the machine-readable code `error`; the title is the
    /// status's reason phrase.
    pub fn new(status: StatusCode, error: &'static str) -> Self {
        Self {
            status,
            error,
            title: status.canonical_reason().unwrap_or("Error"),
            detail: None,
            retry_after: None,
            allow: None,
        }
    }

    /// Replaces the title (RFC 9457 section 3.1.4): a short summary that does not change
    /// from one occurrence of the problem to the next.
    pub fn with_title(mut self, title: &'static str) -> Self {
        self.title = title;
        self
    }

    /// Adds a sentence explaining this occurrence (RFC 9457 section 3.1.4).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a `Retry-After` header: how long the client should wait before trying again.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code, the `error` member.
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// The title.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The explanation of this occurrence, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Renders the JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let body = ProblemBody {
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail.as_deref(),
            error: self.error,
        };
        // Serializing a struct of strings and an integer into a Vec cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Builds the HTTP response: the JSON body, its media type and the headers that the
    /// status requires (`Allow` for 405, `WWW-Authenticate` for 401, `Retry-After`).
    pub fn into_response(self) -> Response {
        let mut response = with_content_type(self.status, self.to_json(), PROBLEM_JSON);
        let headers = response.headers_mut();

        if let Some(delay) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_seconds(delay)));
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(ALLOW, allow);
        }
        // RFC 9110 section 15.5.2: a 401 response MUST carry a WWW-Authenticate challenge.
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Whole seconds for `Retry-After` (RFC 9110 section 10.2.3), rounded up so that a client
/// that waits exactly that long is not turned away again; at least one second.
fn retry_after_seconds(delay: Duration) -> u64 {
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    seconds.max(1)
}

/// Helpers for the statuses the API uses.
impl Problem {
    /// 400: the request is malformed (bad syntax, missing header).
    pub fn bad_request(error: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    /// 401: no credentials, or credentials that are not valid.
    pub fn unauthorized(error: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, error)
    }

    /// 403: the credentials are valid but do not allow this.
    pub fn forbidden(error: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, error)
    }

    /// 404: nothing at this path, or nothing the caller may know about.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }

    /// 405: the path exists but not with this method; `allowed` becomes the `Allow` header
    /// (RFC 9110 section 15.5.6).
    pub fn method_not_allowed(allowed: &[Method]) -> Self {
        let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        let mut problem = Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        problem.allow = Some(allow.join(", "));
        problem
    }

    /// 409: the request conflicts with the current state (a name already taken).
    pub fn conflict(error: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, error)
    }

    /// 410: the thing existed and is gone for good (an ended session, a used join link).
    pub fn gone(error: &'static str) -> Self {
        Self::new(StatusCode::GONE, error)
    }

    /// 413: the request body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            .with_detail(format!("The request body is larger than {limit} bytes."))
    }

    /// 415: the body is not of the media type `expected`.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            .with_detail(format!("The request body must be {expected}."))
    }

    /// 422: the body is well-formed but its content is not acceptable.
    pub fn unprocessable(error: &'static str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, error)
    }

    /// 423: the resource (an account after failed sign-ins) is locked for `retry_after`.
    pub fn locked(error: &'static str, retry_after: Duration) -> Self {
        Self::new(StatusCode::LOCKED, error).with_retry_after(retry_after)
    }

    /// 429: the client sent too many requests; it may try again after `retry_after`.
    pub fn too_many_requests(retry_after: Duration) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests").with_retry_after(retry_after)
    }

    /// 500: our own fault; the detail stays generic and the cause goes to the log.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal")
    }

    /// 503: the daemon cannot serve this now (starting, stopping, overloaded).
    pub fn service_unavailable(error: &'static str, retry_after: Option<Duration>) -> Self {
        let problem = Self::new(StatusCode::SERVICE_UNAVAILABLE, error);
        match retry_after {
            Some(delay) => problem.with_retry_after(delay),
            None => problem,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.error)
    }
}

impl std::error::Error for Problem {}

impl From<Problem> for Response {
    fn from(problem: Problem) -> Self {
        problem.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::CONTENT_TYPE;

    fn json(problem: &Problem) -> serde_json::Value {
        serde_json::from_slice(&problem.to_json()).unwrap()
    }

    #[test]
    fn body_has_rfc9457_members_and_error_code() {
        let problem = Problem::conflict("email_taken").with_detail("Pick another address.");
        let value = json(&problem);

        assert_eq!(value["title"], "Conflict");
        assert_eq!(value["status"], 409);
        assert_eq!(value["detail"], "Pick another address.");
        assert_eq!(value["error"], "email_taken");
        assert!(value.get("type").is_none(), "absent type means about:blank");
    }

    #[test]
    fn response_is_problem_json_and_not_cached() {
        let response = Problem::not_found().into_response();

        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()["cache-control"], "no-store");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let locked = Problem::locked("account_locked", Duration::from_millis(1500));
        assert_eq!(locked.into_response().headers()[RETRY_AFTER], "2");

        let limited = Problem::too_many_requests(Duration::ZERO).into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[RETRY_AFTER], "1");

        let unavailable = Problem::service_unavailable("starting", None).into_response();
        assert!(unavailable.headers().get(RETRY_AFTER).is_none());
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let response = Problem::method_not_allowed(&[Method::GET, Method::HEAD]).into_response();
        assert_eq!(response.headers()[ALLOW], "GET, HEAD");
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let response = Problem::unauthorized("token_expired").into_response();
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn every_helper_has_its_status() {
        let cases = [
            (Problem::bad_request("x"), 400),
            (Problem::unauthorized("x"), 401),
            (Problem::forbidden("x"), 403),
            (Problem::not_found(), 404),
            (Problem::method_not_allowed(&[]), 405),
            (Problem::conflict("x"), 409),
            (Problem::gone("x"), 410),
            (Problem::payload_too_large(1), 413),
            (Problem::unsupported_media_type("JSON"), 415),
            (Problem::unprocessable("x"), 422),
            (Problem::locked("x", Duration::from_secs(1)), 423),
            (Problem::too_many_requests(Duration::from_secs(1)), 429),
            (Problem::internal(), 500),
            (Problem::service_unavailable("x", None), 503),
        ];
        for (problem, status) in cases {
            assert_eq!(problem.status().as_u16(), status, "{problem}");
            assert_eq!(json(&problem)["status"], status);
        }
    }
}
