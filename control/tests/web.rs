//! The web client's routes over real HTTPS: the redirect from `/`, the two pages, the
//! assets, the security headers on each, and every asset a page or a script refers to.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Reply, TestDaemon};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use serde_json::Value;
use sightline_control::web::{ASSETS, CONTENT_SECURITY_POLICY_VALUE, PERMISSIONS_POLICY_VALUE};

async fn get(daemon: &TestDaemon, path: &str) -> Reply {
    daemon.call(Method::GET, path, None, Value::Null).await
}

/// Asserts the headers every answer of the web client carries.
fn assert_secure(reply: &Reply, path: &str) {
    let expected = [
        ("cache-control", "no-cache"),
        ("content-security-policy", CONTENT_SECURITY_POLICY_VALUE),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("permissions-policy", PERMISSIONS_POLICY_VALUE),
    ];
    for (name, value) in expected {
        assert_eq!(reply.header(name), Some(value), "{path}: {name}");
    }
    let csp = reply.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"));
}

/// What follows each `prefix` in `text` up to the next double quote (a referenced file).
fn asset_references(text: &str, prefix: &str) -> Vec<String> {
    text.match_indices(prefix)
        .filter_map(|(start, _)| {
            let rest = &text[start + prefix.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_redirects_to_the_agent_console() {
    let daemon = TestDaemon::start().await;

    let reply = get(&daemon, "/").await;

    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), Some("/agent/"));
    assert_secure(&reply, "/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_html_with_the_security_headers_and_their_controls() {
    let daemon = TestDaemon::start().await;
    let pages: [(&str, &[&str]); 2] = [
        (
            "/agent/",
            &[
                "email",
                "password",
                "totp",
                "signin",
                "start",
                "pin-out",
                "join-link",
            ],
        ),
        (
            "/join",
            &[
                "pin",
                "join",
                "consent",
                "allow",
                "decline",
                "preview",
                "agent-audio",
                "end",
            ],
        ),
    ];
    for (path, ids) in pages {
        let reply = get(&daemon, path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(
            reply.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_secure(&reply, path);

        let html = std::str::from_utf8(&reply.body).unwrap();
        assert!(
            html.contains(r#"<meta name="viewport""#),
            "{path}: viewport"
        );
        assert!(html.contains(r#"id="status""#), "{path}: status element");
        for id in ids {
            assert!(html.contains(&format!(r#"id="{id}""#)), "{path}: no #{id}");
        }
        // The policy refuses inline code and style: the pages must not need any.
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{path}: inline"
        );
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{path}: other origin"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_asset_the_pages_and_scripts_refer_to_is_served() {
    let daemon = TestDaemon::start().await;
    let mut referenced = Vec::new();
    for page in ["/agent/", "/join"] {
        let html = get(&daemon, page).await.body;
        let html = std::str::from_utf8(&html).unwrap();
        referenced.extend(asset_references(html, "src=\"/assets/"));
        referenced.extend(asset_references(html, "href=\"/assets/"));
    }
    for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
        referenced.extend(asset_references(asset.body, "from \"./"));
    }
    for name in [
        "agent.js",
        "join.js",
        "client.js",
        "annotations.js",
        "style.css",
    ] {
        assert!(
            referenced.iter().any(|r| r == name),
            "nothing refers to {name}"
        );
    }

    for name in referenced {
        let path = format!("/assets/{name}");
        let reply = get(&daemon, &path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let expected = if name.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(reply.header("content-type"), Some(expected), "{path}");
        assert_secure(&reply, &path);
        assert!(!reply.body.is_empty(), "{path} is empty");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_assets_and_paths_are_404_and_other_methods_405() {
    let daemon = TestDaemon::start().await;

    for path in [
        "/assets/nope.js",
        "/assets/..%2fCargo.toml",
        "/assets/",
        "/agent",
        "/join/",
    ] {
        let reply = get(&daemon, path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.error(), "not_found", "{path}");
    }

    let reply = daemon
        .call(Method::POST, "/agent/", None, Value::Null)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);

    let head = daemon
        .send(
            Method::HEAD,
            "/join",
            None,
            None,
            Vec::new(),
            HeaderMap::new(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_secure(&head, "HEAD /join");
}
