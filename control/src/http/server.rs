//! Accepts TCP connections and serves HTTP/1.1 and HTTP/2 over TLS with hyper.
//!
//! Each accepted connection passes two caps first, connections per source (an IPv4 address
//! or an IPv6 /64) and connections in all; over either it is closed before any TLS. Then the
//! TLS handshake must end within [`Limits::handshake_timeout`], and the protocol follows
//! ALPN (RFC 7301): `h2` is HTTP/2 (RFC 9113), anything else HTTP/1.1 (RFC 9112). The first
//! request must arrive within [`Limits::header_read_timeout`]; on HTTP/1.1 hyper holds every
//! later request head to the same deadline, which also closes idle keep-alive connections.
//! Request heads are at most [`Limits::max_header_bytes`] (431 beyond it, an automatic
//! response without a problem body). Bodies are read whole before the handler runs, within
//! [`Limits::max_body_bytes`] (413 beyond) and [`Limits::header_read_timeout`] (408), so
//! that no answer leaves while the client is still sending (see `body::buffer`).
//!
//! [`Server::run`] stops accepting when its shutdown future completes, asks every connection
//! to finish (HTTP/1.1 closes after the response in flight, HTTP/2 sends GOAWAY) and waits
//! up to [`Limits::drain_timeout`] before dropping whatever is left.
//!
//! Known gap: an HTTP/2 connection that stays idle after its requests is kept for as long as
//! the client answers pings, holding one of its source's slots.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio::time::{sleep, timeout};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::body::{self, BodyLimit, ClientAddr};
use super::source_limit::SourceLimit;
use super::{Request, Response};

/// Smallest header limit: hyper's HTTP/1.1 read buffer cannot be smaller.
pub const MIN_HEADER_BYTES: usize = 8192;

/// Pause after a failed `accept` (out of file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// HTTP/2 keep-alive: a ping after this much silence, and the connection closes when the
/// answer takes longer than the timeout, so dead peers release their slots.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Pending connections the kernel queues before `accept`.
const LISTEN_BACKLOG: u32 = 1024;

/// What the server calls for every request.
pub trait Handler: Send + Sync + 'static {
    /// Answers `request`; errors are responses too (problem details).
    fn handle(&self, request: Request) -> impl Future<Output = Response> + Send;
}

/// Bounds on what one client can make the server hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line and headers, or the HTTP/2 header list), in
    /// bytes; at least [`MIN_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// Largest request body, in bytes, for [`read_body`](super::read_body).
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head once the connection is ready.
    pub header_read_timeout: Duration,
    /// How long the TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Open connections per source address (IPv4 address or IPv6 /64).
    pub max_connections_per_source: usize,
    /// Open connections in all.
    pub max_connections: usize,
    /// Concurrent requests on one HTTP/2 connection.
    pub max_streams_per_connection: u32,
    /// How long a graceful shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_connections_per_source: 64,
            max_connections: 10_000,
            max_streams_per_connection: 100,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    fn check(&self) -> Result<(), ServerError> {
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ServerError::Limits("max_header_bytes is below 8192"));
        }
        if self.max_connections_per_source == 0 || self.max_connections == 0 {
            return Err(ServerError::Limits("a connection cap is zero"));
        }
        if self.max_streams_per_connection == 0 {
            return Err(ServerError::Limits("max_streams_per_connection is zero"));
        }
        Ok(())
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address cannot be listened on (in use, not local, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
    /// The limits are not usable.
    #[error("invalid limits: {0}")]
    Limits(&'static str),
}

/// How a graceful shutdown ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownSummary {
    /// Connections still open at the end of the drain time, and dropped.
    pub aborted: usize,
}

/// A listening HTTPS server; [`Server::run`] serves until shutdown.
pub struct Server<H> {
    listener: TcpListener,
    shared: Arc<Shared<H>>,
}

/// What every connection task needs.
struct Shared<H> {
    acceptor: TlsAcceptor,
    limits: Limits,
    handler: H,
    sources: Arc<SourceLimit>,
    connections: Arc<Semaphore>,
    http1: Builder<TokioExecutor>,
    http2: Builder<TokioExecutor>,
}

impl<H: Handler> Server<H> {
    /// Listens on `addr` and prepares to serve `handler` over `tls` within `limits`.
    pub async fn bind(
        addr: SocketAddr,
        tls: Arc<ServerConfig>,
        limits: Limits,
        handler: H,
    ) -> Result<Self, ServerError> {
        limits.check()?;
        let listener = listen(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let (http1, http2) = protocol_builders(&limits);

        let shared = Shared {
            acceptor: TlsAcceptor::from(tls),
            sources: SourceLimit::new(limits.max_connections_per_source),
            connections: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            handler,
            http1,
            http2,
        };
        Ok(Self {
            listener,
            shared: Arc::new(shared),
        })
    }

    /// The address the server listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains within [`Limits::drain_timeout`].
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> ShutdownSummary {
        let (stop, stopped) = watch::channel(());
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);

        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, peer)) => self.admit(tcp, peer, &mut connections, &stopped),
                    Err(error) => {
                        tracing::debug!(target: "api", %error, "accept failed");
                        sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
                Some(finished) = connections.join_next() => report(finished),
            }
        }

        drop(self.listener);
        stop.send_replace(());
        tracing::debug!(target: "api", open = connections.len(), "draining connections");
        drain(connections, self.shared.limits.drain_timeout).await
    }

    /// Starts serving `tcp` if neither connection cap is reached; otherwise closes it.
    fn admit(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        connections: &mut JoinSet<()>,
        stopped: &watch::Receiver<()>,
    ) {
        let Some(slot) = self.shared.sources.try_admit(peer.ip()) else {
            tracing::debug!(target: "api", "connection refused: its source is at the cap");
            return;
        };
        let Ok(permit) = Arc::clone(&self.shared.connections).try_acquire_owned() else {
            tracing::debug!(target: "api", "connection refused: the server is at its cap");
            return;
        };
        // Responses are written whole; Nagle's algorithm would only delay their last segment.
        let _ = tcp.set_nodelay(true);

        let shared = Arc::clone(&self.shared);
        let stopped = stopped.clone();
        connections.spawn(async move {
            let _held = (slot, permit);
            serve_connection(shared, tcp, peer, stopped).await;
        });
    }
}

/// Runs one connection: TLS handshake, then HTTP until the client or a shutdown ends it.
async fn serve_connection<H: Handler>(
    shared: Arc<Shared<H>>,
    tcp: TcpStream,
    peer: SocketAddr,
    mut stopped: watch::Receiver<()>,
) {
    let Some(tls) = handshake(&shared, tcp, &mut stopped).await else {
        return;
    };

    let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let builder = if is_h2 { &shared.http2 } else { &shared.http1 };
    let seen_request = Arc::new(AtomicBool::new(false));
    let service = request_service(Arc::clone(&shared), peer, Arc::clone(&seen_request));
    // With upgrades: the session events WebSocket takes over an HTTP/1.1 connection.
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    tokio::pin!(connection);

    let first_request_deadline = sleep(shared.limits.header_read_timeout);
    tokio::pin!(first_request_deadline);
    let (mut awaiting_first, mut draining) = (true, false);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::trace!(target: "api", %error, "connection ended with an error");
                }
                return;
            }
            _ = stopped.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = &mut first_request_deadline, if awaiting_first => {
                if !seen_request.load(Ordering::Relaxed) {
                    tracing::trace!(target: "api", "no request before the header read timeout");
                    return;
                }
                awaiting_first = false;
            }
        }
    }
}

/// Runs the TLS handshake within [`Limits::handshake_timeout`]; `None` if it fails, times
/// out or the server starts shutting down first.
async fn handshake<H>(
    shared: &Shared<H>,
    tcp: TcpStream,
    stopped: &mut watch::Receiver<()>,
) -> Option<TlsStream<TcpStream>> {
    let handshake = timeout(shared.limits.handshake_timeout, shared.acceptor.accept(tcp));
    tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(error)) => {
                tracing::trace!(target: "api", %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::trace!(target: "api", "TLS handshake timed out");
                None
            }
        },
        _ = stopped.changed() => None,
    }
}

/// The hyper service of one connection: tells the handler who asked and how much body it
/// may read, and notes that a request arrived.
fn request_service<H: Handler>(
    shared: Arc<Shared<H>>,
    peer: SocketAddr,
    seen_request: Arc<AtomicBool>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> + Clone {
    service_fn(move |mut request: hyper::Request<Incoming>| {
        seen_request.store(true, Ordering::Relaxed);
        let extensions = request.extensions_mut();
        extensions.insert(ClientAddr(peer));
        extensions.insert(BodyLimit(shared.limits.max_body_bytes));

        let shared = Arc::clone(&shared);
        async move {
            let limits = &shared.limits;
            let deadline = limits.header_read_timeout;
            match body::buffer(request, limits.max_body_bytes, deadline).await {
                Ok(request) => Ok(shared.handler.handle(request).await),
                Err(problem) => Ok(problem.into_response()),
            }
        }
    })
}

/// Waits for the connections to finish, dropping those still open after `within`.
async fn drain(mut connections: JoinSet<()>, within: Duration) -> ShutdownSummary {
    let deadline = sleep(within);
    tokio::pin!(deadline);

    loop {
        tokio::select! {
            next = connections.join_next() => match next {
                Some(finished) => report(finished),
                None => return ShutdownSummary { aborted: 0 },
            },
            () = &mut deadline => {
                let aborted = connections.len();
                tracing::debug!(target: "api", aborted, "drain time over; dropping connections");
                connections.shutdown().await;
                return ShutdownSummary { aborted };
            }
        }
    }
}

/// Logs a connection task that panicked: a bug in a handler or in the server.
fn report(finished: Result<(), JoinError>) {
    if let Err(error) = finished {
        if error.is_panic() {
            tracing::error!(target: "api", "a connection task panicked");
        }
    }
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// One builder per protocol, chosen by ALPN, so that neither waits to sniff the preface.
fn protocol_builders(limits: &Limits) -> (Builder<TokioExecutor>, Builder<TokioExecutor>) {
    let mut http1 = Builder::new(TokioExecutor::new()).http1_only();
    http1
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);

    let mut http2 = Builder::new(TokioExecutor::new()).http2_only();
    http2
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.max_streams_per_connection)
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    (http1, http2)
}
