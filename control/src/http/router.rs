//! Maps a method and a path to a handler.
//!
//! A route's path is literal segments and `{name}` parameters (`/api/sessions/{id}`); the
//! values of the parameters reach the handler as [`PathParams`] in the request's extensions,
//! as they appear in the path (not percent-decoded). Routes are tried in the order they were
//! added. A path no route has is a 404 problem; a path that exists under other methods is a
//! 405 problem with `Allow` (RFC 9110 section 15.5.6). `HEAD` is served by the `GET` handler
//! when no `HEAD` route exists; hyper leaves the body out.
//!
//! A router is small on purpose: the API has a few dozen JSON routes and every rejection must
//! be a problem body, which a hand-written table gives without a middleware stack.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use hyper::Method;

use super::server::Handler;
use super::{Problem, Request, Response};

/// What a route's handler returns: a response, or a problem rendered as one.
pub type HandlerResult = Result<Response, Problem>;

type BoxedFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send>>;
type BoxedHandler = Box<dyn Fn(Request) -> BoxedFuture + Send + Sync>;

/// A table of routes, the [`Handler`] that the server calls for every request.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

struct Route {
    method: Method,
    pattern: Vec<Segment>,
    handler: BoxedHandler,
}

#[derive(PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The values of a route's `{name}` parameters for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// The value of the parameter `name`, as it appears in the path.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Router {
    /// An empty router: every request is a 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route: requests with `method` whose path matches `path` go to `handler`.
    pub fn route<F, Fut>(mut self, method: Method, path: &str, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.routes.push(Route {
            method,
            pattern: parse_pattern(path),
            handler: Box::new(move |request| Box::pin(handler(request))),
        });
        self
    }

    /// Every route as its method and path pattern (`/v1/sessions/{id}`), in the order they
    /// were added: what the API description (`docs/openapi.json`) is checked against.
    pub fn routes(&self) -> Vec<(Method, String)> {
        self.routes
            .iter()
            .map(|route| (route.method.clone(), format!("/{}", route.pattern_text())))
            .collect()
    }

    /// Finds the handler for `request` and runs it, or answers 404 or 405.
    pub async fn dispatch(&self, mut request: Request) -> Response {
        let path: Vec<String> = split(request.uri().path()).map(str::to_owned).collect();
        let matching: Vec<(&Route, PathParams)> = self
            .routes
            .iter()
            .filter_map(|route| route.matches(&path).map(|params| (route, params)))
            .collect();

        if matching.is_empty() {
            return Problem::not_found().into_response();
        }
        let Some((route, params)) = pick(&matching, request.method()) else {
            return Problem::method_not_allowed(&allowed(&matching)).into_response();
        };

        request.extensions_mut().insert(params.clone());
        (route.handler)(request)
            .await
            .unwrap_or_else(Response::from)
    }
}

impl Handler for Router {
    fn handle(&self, request: Request) -> impl Future<Output = Response> + Send {
        self.dispatch(request)
    }
}

impl Route {
    /// The parameters of `path` if it matches this route's pattern.
    fn matches(&self, path: &[String]) -> Option<PathParams> {
        if path.len() != self.pattern.len() {
            return None;
        }
        let mut params = Vec::new();
        for (segment, actual) in self.pattern.iter().zip(path) {
            match segment {
                Segment::Literal(literal) if literal == actual => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if actual.is_empty() => return None,
                Segment::Param(name) => params.push((name.clone(), actual.clone())),
            }
        }
        Some(PathParams(params))
    }
}

/// The route among `matching` for `method`; `HEAD` falls back to `GET`.
fn pick<'a>(
    matching: &'a [(&'a Route, PathParams)],
    method: &Method,
) -> Option<&'a (&'a Route, PathParams)> {
    let exact = matching.iter().find(|(route, _)| route.method == *method);
    if exact.is_some() || *method != Method::HEAD {
        return exact;
    }
    matching
        .iter()
        .find(|(route, _)| route.method == Method::GET)
}

/// The methods the path allows, for the `Allow` header: each once, `HEAD` wherever `GET` is.
fn allowed(matching: &[(&Route, PathParams)]) -> Vec<Method> {
    let mut methods: Vec<Method> = Vec::new();
    for (route, _) in matching {
        let implied = (route.method == Method::GET).then_some(Method::HEAD);
        for method in std::iter::once(route.method.clone()).chain(implied) {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
    }
    methods
}

fn parse_pattern(path: &str) -> Vec<Segment> {
    split(path)
        .map(|segment| {
            match segment
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
            {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(segment.to_owned()),
            }
        })
        .collect()
}

/// The segments of a path: `/a/b` is `["a", "b"]`, `/` is `[""]`.
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes: Vec<String> = self
            .routes
            .iter()
            .map(|route| format!("{} /{}", route.method, route.pattern_text()))
            .collect();
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}

impl Route {
    fn pattern_text(&self) -> String {
        let segments: Vec<String> = self
            .pattern
            .iter()
            .map(|segment| match segment {
                Segment::Literal(literal) => literal.clone(),
                Segment::Param(name) => format!("{{{name}}}"),
            })
            .collect();
        segments.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Route {
        Route {
            method,
            pattern: parse_pattern(path),
            handler: Box::new(|_| Box::pin(async { Err(Problem::internal()) })),
        }
    }

    fn path(path: &str) -> Vec<String> {
        split(path).map(str::to_owned).collect()
    }

    #[test]
    fn literal_and_parameter_segments_match() {
        let session = route(Method::GET, "/api/sessions/{id}");

        let params = session.matches(&path("/api/sessions/abc")).unwrap();
        assert_eq!(params.get("id"), Some("abc"));
        assert!(session.matches(&path("/api/sessions/")).is_none());
        assert!(session.matches(&path("/api/sessions")).is_none());
        assert!(session.matches(&path("/api/sessions/abc/x")).is_none());
        assert!(session.matches(&path("/api/users/abc")).is_none());
    }

    #[test]
    fn trailing_slash_is_another_path() {
        let health = route(Method::GET, "/healthz");
        assert!(health.matches(&path("/healthz")).is_some());
        assert!(health.matches(&path("/healthz/")).is_none());
    }

    #[test]
    fn allow_lists_each_method_once_with_head_for_get() {
        let get = route(Method::GET, "/x");
        let post = route(Method::POST, "/x");
        let matching = vec![
            (&get, PathParams::default()),
            (&post, PathParams::default()),
        ];

        assert_eq!(
            allowed(&matching),
            vec![Method::GET, Method::HEAD, Method::POST]
        );
        assert!(pick(&matching, &Method::HEAD).is_some());
        assert!(pick(&matching, &Method::DELETE).is_none());
    }
}
