//! CORS over real HTTPS: preflights from a listed and an unlisted origin, the headers of
//! a normal response to a listed origin, and none without an `Origin`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Reply, TestDaemon};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};

const WEB: &str = "https://support.example.com";

async fn daemon() -> TestDaemon {
    TestDaemon::start_with(|config| config.cors_origins = vec![WEB.to_owned()]).await
}

async fn request(
    daemon: &TestDaemon,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    daemon.send(method, path, None, None, Vec::new(), map).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_from_a_listed_origin_is_allowed() {
    let daemon = daemon().await;
    let reply = request(
        &daemon,
        Method::OPTIONS,
        "/v1/sessions/6b1f6c59-1b9c-4c55-9d0e-0d3f3f6f0a11/whip",
        &[
            ("origin", WEB),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), Some(WEB));
    let methods = reply.header("access-control-allow-methods").unwrap();
    for method in ["GET", "POST", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = reply.header("access-control-allow-headers").unwrap();
    for header in ["Authorization", "Content-Type", "If-Match"] {
        assert!(headers.contains(header), "{headers}");
    }
    assert!(reply.header("access-control-max-age").is_some());
    assert_eq!(reply.header("vary"), Some("Origin"));
    assert!(reply.header("access-control-allow-credentials").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_from_another_origin_is_refused() {
    let daemon = daemon().await;
    for origin in [
        "https://evil.example.com",
        "https://support.example.com.evil.test",
        "null",
    ] {
        let reply = request(
            &daemon,
            Method::OPTIONS,
            "/v1/sessions",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.error(), "origin_not_allowed");
        assert!(reply.header("access-control-allow-origin").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_to_a_listed_origin_expose_the_media_headers() {
    let daemon = daemon().await;
    let reply = request(&daemon, Method::GET, "/healthz", &[("origin", WEB)]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), Some(WEB));
    assert_eq!(reply.header("vary"), Some("Origin"));
    let exposed = reply.header("access-control-expose-headers").unwrap();
    for header in ["Location", "ETag", "Link"] {
        assert!(exposed.contains(header), "{exposed}");
    }

    // Errors too, so that a web client can read the problem.
    let missing = request(&daemon, Method::GET, "/v1/nothing", &[("origin", WEB)]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("access-control-allow-origin"), Some(WEB));

    let other = request(
        &daemon,
        Method::GET,
        "/healthz",
        &[("origin", "https://x.test")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.header("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cors_headers_without_an_origin() {
    let daemon = daemon().await;
    let reply = request(&daemon, Method::GET, "/healthz", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let cors: Vec<_> = reply
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-") || *name == "vary")
        .collect();
    assert!(cors.is_empty(), "{cors:?}");
}
