//! `sightline serve`: the HTTPS API, the media engine and the metrics listener in one
//! process, and their orderly shutdown.
//!
//! Start-up order: data directory, certificate, database (migrations run here), media
//! engine, the API's background work, the HTTPS listener, the metrics listener; only then
//! does `/readyz` answer 200. On SIGTERM or SIGINT the daemon drains: `/readyz` answers
//! 503 and the API refuses new sessions and joins, running sessions go on until they end or
//! the drain time passes, then every session left is ended with reason `shutdown`, the
//! listeners close (requests in flight finish) and the store closes. A second signal
//! exits at once.

use std::convert::Infallible;
use std::fs::{File, TryLockError};
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use media_core::{Engine, EngineError};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::sleep;

use crate::api::{self, App, Clock, Metrics};
use crate::config::{read_tls_files, Config, ConfigError, LogFormat, TlsSource};
use crate::http::{load_or_generate, server_config, Server, ServerError, ShutdownSummary};
use crate::store::{Store, StoreError};

/// How often the drain checks whether the live sessions are gone.
const DRAIN_POLL: Duration = Duration::from_millis(200);

/// Concurrent connections the metrics listener serves; more wait in the kernel's queue.
const METRICS_CONNECTIONS: usize = 16;

/// How long a metrics client may take to send its request head.
const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Exit status after a second signal cut the drain short.
const INTERRUPTED_EXIT: i32 = 130;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The tokio runtime or the signal handlers could not be set up.
    #[error("cannot set up the process: {0}")]
    Process(#[source] io::Error),
    /// Another `sightline serve` runs on this data directory.
    #[error("another sightline serve is running on the data directory {}", .0.display())]
    Busy(PathBuf),
    /// The data directory's lock file cannot be used.
    #[error("{}: {source}", .path.display())]
    DataDir {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The certificate could not be loaded or generated.
    #[error("TLS: {0}")]
    Tls(String),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The media engine could not start (relay address, threads).
    #[error("media engine: {0}")]
    Engine(#[from] EngineError),
    /// The HTTPS listener could not start.
    #[error("HTTPS: {0}")]
    Server(#[from] ServerError),
    /// The metrics listener could not bind.
    #[error("metrics: cannot listen on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
}

/// Sets up logging to standard error in the configured format and filter. Called once.
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal());
    // An earlier subscriber (a test harness) wins; that is not an error.
    let _ = match config.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the daemon until a signal, on a runtime of its own; `Ok` after a clean shutdown.
pub fn serve(config: Config) -> Result<(), DaemonError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Process)?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> Result<(), DaemonError> {
    config.create_data_dir()?;
    let _serving = lock_data_dir(&config.data_dir)?;
    let tls = load_tls(&config)?;
    let store = Store::open(&config.database_path()).await?;
    let engine = Engine::start(config.engine.clone())?;
    let app = App::new(store, engine, config.api_config(), Clock::system());
    api::spawn_background(&app);
    let mut signals = Signals::install().map_err(DaemonError::Process)?;
    let listeners = Listeners::start(&config, &app, tls).await?;

    app.readiness.set_ready(true);
    tracing::info!(target: "daemon", https = %listeners.https_addr,
        public_url = %config.public_url, metrics = %config.metrics_summary(), "sightline is ready");

    let first = signals.recv().await;
    tracing::info!(target: "daemon", signal = first, "shutting down: draining sessions");
    tokio::spawn(async move {
        let second = signals.recv().await;
        tracing::warn!(target: "daemon", signal = second, "second signal: exiting at once");
        std::process::exit(INTERRUPTED_EXIT);
    });

    drain(&app, &config).await;
    listeners.stop().await;
    close_store(app).await;
    tracing::info!(target: "daemon", "stopped");
    Ok(())
}

/// Takes the data directory for this process: a second daemon on the same directory would
/// share its database and end its sessions. The lock (`flock` on `serve.lock`) goes with
/// the returned file, when the process ends however it ends.
fn lock_data_dir(data_dir: &Path) -> Result<File, DaemonError> {
    let path = data_dir.join("serve.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| DaemonError::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(DaemonError::Busy(data_dir.to_path_buf())),
        Err(TryLockError::Error(source)) => Err(DaemonError::DataDir { path, source }),
    }
}

/// The HTTPS server's task and the metrics listener.
struct Listeners {
    https_addr: SocketAddr,
    stop_https: oneshot::Sender<()>,
    https: JoinHandle<ShutdownSummary>,
    metrics: Option<MetricsListener>,
}

impl Listeners {
    /// Binds both listeners (a bind failure stops the start) and serves in tasks.
    async fn start(
        config: &Config,
        app: &Arc<App>,
        tls: rustls::ServerConfig,
    ) -> Result<Listeners, DaemonError> {
        let limits = config.limits.clone();
        let server = Server::bind(config.listen, Arc::new(tls), limits, api::handler(app)).await?;
        let https_addr = server.local_addr().map_err(DaemonError::Process)?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(MetricsListener::start(addr, Arc::clone(app)).await?),
            None => None,
        };
        let (stop_https, https_stopped) = oneshot::channel::<()>();
        let https = tokio::spawn(server.run(async {
            let _ = https_stopped.await;
        }));
        Ok(Listeners {
            https_addr,
            stop_https,
            https,
            metrics,
        })
    }

    /// Closes the HTTPS listener (requests in flight finish), then the metrics listener.
    async fn stop(self) {
        let _ = self.stop_https.send(());
        if let Ok(summary) = self.https.await {
            tracing::info!(target: "daemon", aborted = summary.aborted, "HTTPS listener closed");
        }
        if let Some(metrics) = self.metrics {
            metrics.stop().await;
        }
    }
}

/// The server's TLS configuration: the operator's files, or the trial certificate.
fn load_tls(config: &Config) -> Result<rustls::ServerConfig, DaemonError> {
    match &config.tls {
        TlsSource::Files { cert, key } => read_tls_files(cert, key).map_err(DaemonError::Tls),
        TlsSource::Trial => {
            let trial =
                load_or_generate(&config.data_dir).map_err(|e| DaemonError::Tls(e.to_string()))?;
            server_config(trial.cert_pem.as_bytes(), trial.key_pem.as_bytes())
                .map_err(|e| DaemonError::Tls(e.to_string()))
        }
    }
}

/// Stops taking sessions, waits for the live ones (at least the drain notice, at most the
/// drain time), then ends whatever is left.
async fn drain(app: &Arc<App>, config: &Config) {
    app.start_draining();
    let started = Instant::now();
    let longest = config.drain.max(config.drain_notice);
    loop {
        let waited = started.elapsed();
        if waited >= config.drain_notice && app.live.is_empty() {
            break;
        }
        if waited >= longest {
            tracing::warn!(target: "daemon", live = app.live.len(),
                "drain time over: ending the sessions left");
            break;
        }
        sleep(DRAIN_POLL).await;
    }
    api::end_all_sessions(app, "shutdown").await;
}

/// Closes the store if nothing else holds the application state; otherwise dropping it
/// at exit loses nothing committed.
async fn close_store(app: Arc<App>) {
    match Arc::try_unwrap(app) {
        Ok(app) => app.store.close().await,
        Err(_) => tracing::debug!(target: "daemon", "store still shared: closed at exit"),
    }
}

/// SIGTERM and SIGINT, as one stream.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next signal and names it.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// The plain-HTTP listener of `GET /metrics`.
struct MetricsListener {
    task: JoinHandle<()>,
}

impl MetricsListener {
    /// Listens on `addr` and serves the metrics of `app` until [`MetricsListener::stop`].
    async fn start(addr: SocketAddr, app: Arc<App>) -> Result<MetricsListener, DaemonError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::Metrics { addr, source })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(target: "daemon", %addr,
                "metrics are served without TLS or authentication on a non-loopback address");
        }
        let task = tokio::spawn(accept_metrics(listener, app));
        Ok(MetricsListener { task })
    }

    /// Stops accepting and drops the connections still open (their task owns them).
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn accept_metrics(listener: TcpListener, app: Arc<App>) {
    let permits = Arc::new(Semaphore::new(METRICS_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let app = Arc::clone(&app);
                    connections.spawn(async move {
                        let _permit = permit;
                        serve_metrics(tcp, app).await;
                    });
                }
                Err(error) => {
                    tracing::debug!(target: "daemon", %error, "metrics accept failed");
                    sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next() => {}
        }
    }
}

async fn serve_metrics(tcp: TcpStream, app: Arc<App>) {
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let response = answer_metrics(&app, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(METRICS_HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), service);
    if let Err(error) = connection.await {
        tracing::trace!(target: "daemon", %error, "metrics connection ended with an error");
    }
}

/// `GET /metrics` is the text exposition; any other path is 404, another method 405.
fn answer_metrics(app: &App, method: &Method, path: &str) -> hyper::Response<Full<Bytes>> {
    let (status, body, content_type) = match (path, method) {
        ("/metrics", &Method::GET) => (StatusCode::OK, Metrics::render(app), Metrics::CONTENT_TYPE),
        ("/metrics", _) => (StatusCode::METHOD_NOT_ALLOWED, String::new(), "text/plain"),
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".to_owned(),
            "text/plain",
        ),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        headers.insert(ALLOW, HeaderValue::from_static("GET"));
    }
    response
}
