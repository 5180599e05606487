//! The API description `docs/openapi.json` (OpenAPI 3.1) against the router: the same
//! routes, an operationId and responses for each operation, and every `$ref` resolving.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::TestDaemon;
use hyper::Method;
use serde_json::Value;
use sightline_control::api;

/// Every route of the API as the issue lists them (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/logout"),
    ("GET", "/v1/me"),
    ("POST", "/v1/auth/password"),
    ("POST", "/v1/auth/totp/enrol"),
    ("POST", "/v1/auth/totp/confirm"),
    ("POST", "/v1/auth/totp/disable"),
    ("POST", "/v1/auth/recovery-codes"),
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{id}"),
    ("PATCH", "/v1/agents/{id}"),
    ("POST", "/v1/agents/{id}/password"),
    ("POST", "/v1/agents/{id}/unlock"),
    ("GET", "/v1/tenant"),
    ("PATCH", "/v1/tenant/settings"),
    ("POST", "/v1/sessions"),
    ("GET", "/v1/sessions"),
    ("GET", "/v1/sessions/{id}"),
    ("DELETE", "/v1/sessions/{id}"),
    ("POST", "/v1/join"),
    ("POST", "/v1/sessions/{id}/consent"),
    ("DELETE", "/v1/sessions/{id}/consent"),
    ("POST", "/v1/sessions/{id}/hold"),
    ("POST", "/v1/sessions/{id}/resume"),
    ("POST", "/v1/sessions/{id}/transfer"),
    ("POST", "/v1/sessions/{id}/invite"),
    ("POST", "/v1/sessions/{id}/whip"),
    ("POST", "/v1/sessions/{id}/whep"),
    ("PATCH", "/v1/sessions/{id}/resources/{rid}"),
    ("DELETE", "/v1/sessions/{id}/resources/{rid}"),
    ("GET", "/v1/sessions/{id}/events"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/"),
    ("GET", "/agent/"),
    ("GET", "/join"),
    ("GET", "/assets/{name}"),
];

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

type RouteSet = BTreeSet<(String, String)>;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The operations of the document: (METHOD, path) with the operation object.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, operation) in item.as_object().unwrap() {
            if HTTP_METHODS.contains(&key.as_str()) {
                found.push((key.to_uppercase(), path.clone(), operation));
            }
        }
    }
    found
}

fn documented(doc: &Value) -> RouteSet {
    operations(doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// Asserts that two route sets are equal, printing what each lacks.
fn assert_same(documented: &RouteSet, expected: &RouteSet, what: &str) {
    let missing: Vec<_> = expected.difference(documented).collect();
    let extra: Vec<_> = documented.difference(expected).collect();
    if !missing.is_empty() || !extra.is_empty() {
        println!("routes of {what} missing from docs/openapi.json: {missing:?}");
        println!("routes in docs/openapi.json that {what} lacks: {extra:?}");
    }
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/openapi.json and {what} differ: missing {missing:?}, extra {extra:?}"
    );
}

#[test]
fn document_is_openapi_3_1_with_ids_responses_and_resolving_refs() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));

    let mut ids = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"].as_str();
        assert!(
            id.is_some_and(|id| !id.is_empty()),
            "{method} {path}: no operationId"
        );
        assert!(
            ids.insert(id.unwrap().to_owned()),
            "{method} {path}: operationId reused"
        );
        let responses = operation["responses"].as_object();
        assert!(
            responses.is_some_and(|r| !r.is_empty()),
            "{method} {path}: no responses"
        );
    }

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "the document uses its components");
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                match (key.as_str(), member) {
                    ("$ref", Value::String(target)) => refs.push(target.clone()),
                    _ => collect_refs(member, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[test]
fn document_has_every_route_of_the_list() {
    let expected: RouteSet = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_same(&documented(&document()), &expected, "the route list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_has_exactly_the_routes_of_the_router() {
    let daemon = TestDaemon::start().await;
    let routed: RouteSet = api::router(&daemon.app)
        .routes()
        .into_iter()
        .filter(|(method, _)| *method != Method::HEAD)
        .map(|(method, path)| (method.to_string(), path))
        .collect();
    assert_same(&documented(&document()), &routed, "the router");
}

/// Every string in the document, for searching codes in.
fn strings<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => found.push(text),
        Value::Object(members) => members.values().for_each(|member| strings(member, found)),
        Value::Array(items) => items.iter().for_each(|item| strings(item, found)),
        _ => {}
    }
}

/// The `error` codes of the source: the first string literal inside the parentheses of
/// each `Problem::...(` call (`Problem::conflict("last_admin")`,
/// `Problem::new(StatusCode::GONE, "key_used")`), test modules left out.
fn problem_codes(source: &str) -> BTreeSet<String> {
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut codes = BTreeSet::new();
    for (start, _) in source.match_indices("Problem::") {
        let rest = &source[start + "Problem::".len()..];
        let Some(open) = rest.find('(') else { continue };
        if !rest[..open]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let mut depth = 0usize;
        let mut inside = String::new();
        for c in rest[open..].chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            inside.push(c);
        }
        let mut literal = inside.split('"');
        if let (Some(_), Some(code)) = (literal.next(), literal.next()) {
            if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                codes.insert(code.to_owned());
            }
        }
    }
    codes
}

fn rust_files(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn document_names_every_error_code_of_the_handlers() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root.join("api"), &mut files);
    files.push(root.join("http/body.rs"));
    files.push(root.join("http/health.rs"));
    let mut codes = BTreeSet::new();
    for file in &files {
        codes.extend(problem_codes(&std::fs::read_to_string(file).unwrap()));
    }
    assert!(codes.len() > 30, "the scan finds the codes: {codes:?}");

    let doc = document();
    let mut texts = Vec::new();
    strings(&doc, &mut texts);
    let missing: Vec<_> = codes
        .iter()
        .filter(|code| {
            let quoted = format!("`{code}`");
            !texts
                .iter()
                .any(|text| *text == code.as_str() || text.contains(&quoted))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "error codes of control/src/api missing from docs/openapi.json: {missing:?}"
    );
}
