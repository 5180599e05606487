//! A daemon in the test process, served over real HTTPS on 127.0.0.1 with a real SQLite
//! file and a running media engine, and a small client for its API.
//!
//! The daemon's clock ([`Clock`]) can be moved forward, so lockouts and expiries are
//! crossed without waiting. Password hashing uses cheap Argon2 parameters.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses part of this

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use media_core::{Engine, EngineConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use sightline_control::api::{self, ApiConfig, App, Clock};
use sightline_control::auth::password::{hash_password, Params};
use sightline_control::auth::token::BearerToken;
use sightline_control::http::{load_or_generate, server_config, Limits, Server};
use sightline_control::store::{Role, Store, TenantId, UserId};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

/// A password that passes the policy, for tests.
pub const PASSWORD: &str = "Harbour-Lantern-42";

/// Cheap Argon2id parameters: tests hash many passwords.
pub fn cheap_params() -> Params {
    Params::new(256, 1, 1).unwrap()
}

/// A running daemon; dropped, it stops.
pub struct TestDaemon {
    /// The shared state, for checks the API does not expose.
    pub app: Arc<App>,
    /// Where the HTTPS API listens.
    pub addr: SocketAddr,
    /// The daemon's clock; [`Clock::skip_ahead`] moves it.
    pub clock: Clock,
    /// The data directory (database, trial certificate).
    pub dir: tempfile::TempDir,
    tls: Arc<ClientConfig>,
    stop: Option<oneshot::Sender<()>>,
}

impl TestDaemon {
    /// Starts a daemon with the default API settings (cheap hashing).
    pub async fn start() -> TestDaemon {
        Self::start_with(|_| {}).await
    }

    /// Starts a daemon after `configure` changed the API settings.
    pub async fn start_with(configure: impl FnOnce(&mut ApiConfig)) -> TestDaemon {
        Self::start_with_engine(configure, |_| {}).await
    }

    /// Starts a daemon after `configure` changed the API settings and `engine` the media
    /// engine's (a short consent timeout, say).
    pub async fn start_with_engine(
        configure: impl FnOnce(&mut ApiConfig),
        engine: impl FnOnce(&mut EngineConfig),
    ) -> TestDaemon {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sightline.db")).await.unwrap();
        let mut engine_config = EngineConfig {
            workers: 1,
            pin_workers: false,
            ..EngineConfig::default()
        };
        engine(&mut engine_config);
        let engine = Engine::start(engine_config).unwrap();
        let mut config = ApiConfig {
            password_params: cheap_params(),
            ..ApiConfig::default()
        };
        configure(&mut config);
        let clock = Clock::system();
        let app = App::new(store, engine, config, clock.clone());
        api::spawn_background(&app);

        let trial = load_or_generate(dir.path()).unwrap();
        let tls = server_config(trial.cert_pem.as_bytes(), trial.key_pem.as_bytes()).unwrap();
        let localhost = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let server = Server::bind(
            localhost,
            Arc::new(tls),
            Limits::default(),
            api::handler(&app),
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        app.readiness.set_ready(true);

        TestDaemon {
            app,
            addr,
            clock,
            dir,
            tls: client_config(&trial.cert_pem),
            stop: Some(stop),
        }
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("sightline.db")
    }

    /// Creates a tenant and its administrator (password [`PASSWORD`]) through the store.
    pub async fn tenant(&self, name: &str, admin_email: &str) -> (TenantId, UserId) {
        let hash = hash_password(PASSWORD, &cheap_params()).unwrap();
        self.app
            .store
            .create_tenant_with_admin(name, admin_email, &hash)
            .await
            .unwrap()
    }

    /// Creates a user of `tenant` (password [`PASSWORD`]) through the store.
    pub async fn user(&self, tenant: TenantId, email: &str, role: Role) -> UserId {
        let hash = hash_password(PASSWORD, &cheap_params()).unwrap();
        self.app
            .store
            .tenant(tenant)
            .users()
            .create(email, role, &hash)
            .await
            .unwrap()
    }

    /// A bearer token for `user`, minted through the store (no sign-in).
    pub async fn token_for(&self, tenant: TenantId, user: UserId) -> String {
        let token = BearerToken::generate();
        let expires = self.clock.unix_now() + 3600;
        self.app
            .store
            .tenant(tenant)
            .tokens()
            .insert(&token.hash(), user, expires)
            .await
            .unwrap();
        token.as_str().to_owned()
    }

    /// Sends a request: `body` is JSON when it is a JSON value, nothing when `Null`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Reply {
        let (bytes, content_type) = match body {
            Value::Null => (Vec::new(), None),
            json => (serde_json::to_vec(&json).unwrap(), Some("application/json")),
        };
        self.send(method, path, token, content_type, bytes, HeaderMap::new())
            .await
    }

    /// Sends a request with any body, content type and extra headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
        headers: HeaderMap,
    ) -> Reply {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("https://127.0.0.1:{}{path}", self.addr.port()))
            .header("host", format!("127.0.0.1:{}", self.addr.port()))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        if let Some(content_type) = content_type {
            let value = HeaderValue::from_str(content_type).unwrap();
            request.headers_mut().insert(CONTENT_TYPE, value);
        }
        request.headers_mut().extend(headers);

        let tls = self.connect().await;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
            .await
            .expect("the daemon answers within 30 s")
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            json,
        }
    }

    /// A TLS connection to the daemon that trusts its trial certificate.
    pub async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await
            .unwrap()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// Its body as JSON, `Null` when it is not JSON.
    pub json: Value,
}

impl Reply {
    /// The problem's `error` member, or "" when the body has none.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn client_config(cert_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        // An explicit provider: test peers (the `rtc` crate) also link rustls with ring,
        // and with two providers linked rustls picks no process default.
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}
