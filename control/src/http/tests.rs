//! The HTTPS server end to end: real sockets on 127.0.0.1, real TLS clients (rustls through
//! tokio-rustls, and `openssl s_client` for offers rustls cannot make), hyper's client for
//! HTTP/1.1 and HTTP/2.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::header::{ALLOW, CONTENT_TYPE, HOST};
use hyper::{Method, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::*;

/// Upper bound on any one step of a test, so that a hang fails instead of stalling CI.
const STEP: Duration = Duration::from_secs(10);

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A server on 127.0.0.1 with a fresh trial certificate and a test router.
struct TestServer {
    addr: SocketAddr,
    root: CertificateDer<'static>,
    readiness: Readiness,
    slow_started: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<ShutdownSummary>,
    dir: PathBuf,
}

fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("sightline-http-{}-{n}", std::process::id());
    std::env::temp_dir().join(name)
}

fn test_router(readiness: Readiness, slow_started: Arc<Notify>, slow: Duration) -> Router {
    Router::new()
        .with_health(readiness)
        .route(Method::POST, "/echo", |request| async move {
            let (_, body) = read_body(request).await?;
            Ok(Response::new(Full::new(body)))
        })
        .route(Method::POST, "/json", |request| async move {
            let (_, value): (_, Vec<u32>) = read_json(request).await?;
            Ok(json_response(StatusCode::OK, &value))
        })
        .route(Method::GET, "/slow", move |_| {
            let started = Arc::clone(&slow_started);
            async move {
                started.notify_one();
                tokio::time::sleep(slow).await;
                Ok(Response::new(Full::new(Bytes::from_static(b"done"))))
            }
        })
}

async fn start_with(limits: Limits, slow: Duration) -> TestServer {
    let dir = temp_dir();
    let trial = load_or_generate(&dir).unwrap();
    let config = server_config(trial.cert_pem.as_bytes(), trial.key_pem.as_bytes()).unwrap();
    let root = CertificateDer::from_pem_slice(trial.cert_pem.as_bytes()).unwrap();

    let readiness = Readiness::new();
    let slow_started = Arc::new(Notify::new());
    let router = test_router(readiness.clone(), Arc::clone(&slow_started), slow);
    let addr = SocketAddr::new(LOOPBACK, 0);
    let server = Server::bind(addr, Arc::new(config), limits, router)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();

    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        root,
        readiness,
        slow_started,
        stop: Some(stop),
        task,
        dir,
    }
}

async fn start(limits: Limits) -> TestServer {
    start_with(limits, Duration::from_millis(300)).await
}

impl TestServer {
    async fn shutdown(mut self) -> ShutdownSummary {
        let _ = self.stop.take().unwrap().send(());
        let summary = timeout(STEP, &mut self.task).await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
        summary
    }

    fn client(&self, versions: &[&'static SupportedProtocolVersion], alpn: &[&[u8]]) -> Client {
        let mut roots = RootCertStore::empty();
        roots.add(self.root.clone()).unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Client {
            addr: self.addr,
            connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// A TLS 1.3 client that offers only HTTP/1.1.
    fn h1_client(&self) -> Client {
        self.client(&[&rustls::version::TLS13], &[b"http/1.1"])
    }
}

struct Client {
    addr: SocketAddr,
    connector: TlsConnector,
}

impl Client {
    async fn connect_as(&self, name: ServerName<'static>) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        timeout(STEP, self.connector.connect(name, tcp)).await?
    }

    async fn connect(&self) -> std::io::Result<TlsStream<TcpStream>> {
        self.connect_as(ServerName::IpAddress(LOOPBACK.into()))
            .await
    }
}

/// A status, the headers and the body of a response, the body read whole.
struct Answer {
    status: StatusCode,
    version: Version,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn assert_problem(&self, status: StatusCode, error: &str) {
        assert_eq!(self.status, status);
        assert_eq!(self.headers[CONTENT_TYPE], "application/problem+json");
        let problem = self.json();
        assert_eq!(problem["status"], status.as_u16());
        assert_eq!(problem["error"], error);
        assert!(problem["title"].is_string());
    }
}

fn request<B>(method: Method, path: &str, body: B) -> hyper::Request<B> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("https://127.0.0.1{path}"))
        .header(HOST, "127.0.0.1")
        .body(body)
        .unwrap()
}

/// Sends one request over HTTP/1.1 on `stream`.
async fn send_h1<B>(stream: TlsStream<TcpStream>, request: hyper::Request<B>) -> Answer
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = timeout(STEP, sender.send_request(request)).await.unwrap();
    read_answer(response.unwrap()).await
}

/// Sends one request over HTTP/2 on `stream`.
async fn send_h2(stream: TlsStream<TcpStream>, request: hyper::Request<Full<Bytes>>) -> Answer {
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let response = timeout(STEP, sender.send_request(request)).await.unwrap();
    read_answer(response.unwrap()).await
}

async fn read_answer(response: hyper::Response<hyper::body::Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = timeout(STEP, body.collect()).await.unwrap().unwrap();
    Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.to_bytes(),
    }
}

async fn get_h1(server: &TestServer, path: &str) -> Answer {
    let stream = server.h1_client().connect().await.unwrap();
    send_h1(stream, request(Method::GET, path, empty())).await
}

/// A body of unknown length, sent chunked on HTTP/1.1.
struct Unsized(Option<Bytes>);

impl hyper::body::Body for Unsized {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }
}

#[tokio::test]
async fn healthz_over_https_with_http1() {
    let server = start(Limits::default()).await;
    let stream = server.h1_client().connect().await.unwrap();
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(b"http/1.1".as_slice())
    );

    let answer = send_h1(stream, request(Method::GET, "/healthz", empty())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.version, Version::HTTP_11);
    assert_eq!(answer.headers[CONTENT_TYPE], "application/json");
    assert_eq!(answer.json(), serde_json::json!({ "status": "ok" }));
    assert_eq!(server.shutdown().await.aborted, 0);
}

#[tokio::test]
async fn healthz_over_https_with_http2_by_alpn() {
    let server = start(Limits::default()).await;
    let client = server.client(&[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
    let stream = client.connect().await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));

    let answer = send_h2(stream, request(Method::GET, "/healthz", empty())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.version, Version::HTTP_2);
    assert_eq!(answer.json()["status"], "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn certificate_covers_127_0_0_1_and_localhost_only() {
    let server = start(Limits::default()).await;
    let client = server.h1_client();

    client.connect().await.unwrap();
    client
        .connect_as(ServerName::try_from("localhost").unwrap())
        .await
        .unwrap();
    let other = ServerName::try_from("example.com").unwrap();
    assert!(
        client.connect_as(other).await.is_err(),
        "the name check is real"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn tls12_client_gets_an_ecdhe_ecdsa_aead_suite() {
    let server = start(Limits::default()).await;
    let client = server.client(&[&rustls::version::TLS12], &[b"http/1.1"]);
    let stream = client.connect().await.unwrap();

    let session = stream.get_ref().1;
    assert_eq!(session.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    let suite = format!("{:?}", session.negotiated_cipher_suite().unwrap().suite());
    assert!(suite.starts_with("TLS_ECDHE_ECDSA_WITH_"), "{suite}");
    assert!(
        suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305"),
        "{suite}"
    );

    let answer = send_h1(stream, request(Method::GET, "/healthz", empty())).await;
    assert_eq!(answer.status, StatusCode::OK);
    server.shutdown().await;
}

/// Runs `openssl s_client` offering TLS 1.2 with only `cipher`; `None` without openssl.
fn openssl_accepts(addr: SocketAddr, cipher: &str) -> Option<bool> {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-tls1_2"])
        .args(["-cipher", cipher])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    Some(output.status.success() && stdout.contains(&format!("Cipher is {cipher}")))
}

/// rustls cannot offer CBC or static RSA suites, so the refusal is tested with OpenSSL's
/// client; the suite list itself is checked in `tls::tests` in any case.
#[tokio::test]
async fn tls12_cbc_and_static_rsa_offers_are_refused() {
    let server = start(Limits::default()).await;
    let addr = server.addr;
    let probe = tokio::task::spawn_blocking(move || {
        let offers = [
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES128-SHA",
            "ECDHE-ECDSA-AES256-SHA384",
            "AES128-GCM-SHA256",
            "AES128-SHA",
        ];
        offers.map(|cipher| openssl_accepts(addr, cipher))
    });
    let results = timeout(STEP, probe).await.unwrap().unwrap();

    assert!(
        results[0].is_some(),
        "openssl is missing: scripts/setup-test-env.sh installs it"
    );
    assert_eq!(results[0], Some(true), "control: an ECDHE AEAD offer works");
    assert!(
        results[1..].iter().all(|r| *r == Some(false)),
        "{results:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_path_and_wrong_method_are_problems() {
    let server = start(Limits::default()).await;

    get_h1(&server, "/nope")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    let stream = server.h1_client().connect().await.unwrap();
    let answer = send_h1(stream, request(Method::DELETE, "/healthz", empty())).await;
    answer.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(answer.headers[ALLOW], "GET, HEAD");
    server.shutdown().await;
}

#[tokio::test]
async fn readyz_follows_the_readiness_flag() {
    let server = start(Limits::default()).await;

    get_h1(&server, "/readyz")
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    server.readiness.set_ready(true);
    let ready = get_h1(&server, "/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn body_over_the_limit_is_413_with_or_without_content_length() {
    let limits = Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    };
    let server = start(limits).await;
    let client = server.h1_client();

    let fits = Full::new(Bytes::from(vec![b'a'; 1024]));
    let answer = send_h1(
        client.connect().await.unwrap(),
        request(Method::POST, "/echo", fits),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body.len(), 1024);

    let declared = Full::new(Bytes::from(vec![b'a'; 1025]));
    let answer = send_h1(
        client.connect().await.unwrap(),
        request(Method::POST, "/echo", declared),
    )
    .await;
    answer.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");

    let chunked = Unsized(Some(Bytes::from(vec![b'a'; 2000])));
    let answer = send_h1(
        client.connect().await.unwrap(),
        request(Method::POST, "/echo", chunked),
    )
    .await;
    answer.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    server.shutdown().await;
}

#[tokio::test]
async fn json_bodies_are_checked_for_type_syntax_and_shape() {
    let server = start(Limits::default()).await;
    let client = server.h1_client();
    let post = |content_type: &str, body: &'static str| {
        let mut request = request(
            Method::POST,
            "/json",
            Full::new(Bytes::from_static(body.as_bytes())),
        );
        request
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.parse().unwrap());
        request
    };

    let ok = send_h1(
        client.connect().await.unwrap(),
        post("application/json", "[1,2]"),
    )
    .await;
    assert_eq!(ok.json(), serde_json::json!([1, 2]));
    let answer = send_h1(client.connect().await.unwrap(), post("text/plain", "[1]")).await;
    answer.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let answer = send_h1(
        client.connect().await.unwrap(),
        post("application/json", "[1,"),
    )
    .await;
    answer.assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    let answer = send_h1(
        client.connect().await.unwrap(),
        post("application/json", "[\"pw\"]"),
    )
    .await;
    answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert!(
        !String::from_utf8_lossy(&answer.body).contains("pw"),
        "no echo of input"
    );
    server.shutdown().await;
}

/// Reads from `stream` until it closes; the bytes read, or `None` if it stayed open.
async fn read_until_closed(stream: &mut TlsStream<TcpStream>, within: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(received),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn oversized_request_head_is_refused() {
    let limits = Limits {
        max_header_bytes: 8192,
        ..Limits::default()
    };
    let server = start(limits).await;
    let mut stream = server.h1_client().connect().await.unwrap();

    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let received = read_until_closed(&mut stream, STEP)
        .await
        .expect("server closes");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 431"), "{text:?}");

    assert_eq!(
        get_h1(&server, "/healthz").await.status,
        StatusCode::OK,
        "a normal head fits"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn slow_request_head_is_dropped_at_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start(limits).await;

    let mut stream = server.h1_client().connect().await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let received = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(received.expect("closed within the timeout").is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250));

    let h2 = server.client(&[&rustls::version::TLS13], &[b"h2"]);
    let mut silent = h2.connect().await.unwrap();
    let received = read_until_closed(&mut silent, Duration::from_secs(3)).await;
    assert!(
        received.is_some(),
        "an HTTP/2 client that sends nothing is dropped too"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn connections_per_source_are_capped() {
    let limits = Limits {
        max_connections_per_source: 2,
        ..Limits::default()
    };
    let server = start(limits).await;
    let client = server.h1_client();

    let first = client.connect().await.unwrap();
    let _second = client.connect().await.unwrap();
    assert!(
        client.connect().await.is_err(),
        "the third is closed before TLS"
    );

    drop(first);
    let deadline = Instant::now() + STEP;
    while client.connect().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "a slot frees when a connection closes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let server = start_with(Limits::default(), Duration::from_millis(400)).await;
    let stream = server.h1_client().connect().await.unwrap();
    let in_flight = tokio::spawn(send_h1(stream, request(Method::GET, "/slow", empty())));
    timeout(STEP, server.slow_started.notified()).await.unwrap();

    let (addr, client) = (server.addr, server.h1_client());
    let summary = server.shutdown().await;
    assert_eq!(summary.aborted, 0);

    let answer = timeout(STEP, in_flight).await.unwrap().unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(&answer.body[..], b"done");
    assert!(TcpStream::connect(addr).await.is_err() || client.connect().await.is_err());
}

#[tokio::test]
async fn drain_time_bounds_a_request_that_does_not_finish() {
    let limits = Limits {
        drain_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start_with(limits, Duration::from_secs(30)).await;
    let stream = server.h1_client().connect().await.unwrap();
    let _in_flight = tokio::spawn(send_h1(stream, request(Method::GET, "/slow", empty())));
    timeout(STEP, server.slow_started.notified()).await.unwrap();

    let started = Instant::now();
    assert_eq!(server.shutdown().await.aborted, 1);
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn empty() -> Full<Bytes> {
    Full::default()
}
