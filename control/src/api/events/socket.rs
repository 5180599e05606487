//! The session events WebSocket: the upgrade (RFC 6455 section 4.2) and one connection.
//!
//! A request with `Authorization: Bearer` is checked before the upgrade (401, 403, 404
//! as for any route); one without must send `{"type":"auth","token":...}` as its first
//! message within [`SocketLimits::auth_deadline`], since browsers cannot set headers on a
//! WebSocket. A token in the URL is refused (400) because URLs end up in logs.
//!
//! Once authenticated, the connection is one task that waits on three things: frames
//! from the client (chat and annotations are checked, stamped and published on the hub),
//! events of the session from the hub (written as JSON text frames), and the ping timer
//! (a ping, then a pong within [`SocketLimits::pong_timeout`]; the token and the session
//! are checked again at each ping).
//!
//! Known gap: once upgraded, a socket no longer holds one of the server's per-source
//! connection slots; sockets are bounded per session and, before `auth`, in the whole
//! daemon, but one source can hold every pre-`auth` place for the auth deadline.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::header::{
    HeaderMap, HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::upgrade::Upgraded;
use hyper::{StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::limits::{SocketLimits, TokenBucket};
use super::messages::{self, Annotation, ClientMessage, Refusal, ServerMessage, SessionSummary};
use super::{SessionEvent, Who};
use crate::api::access::{parse_session_id, session_for};
use crate::api::caller::{bearer_token, identify, unauthorized, Caller};
use crate::api::{rfc3339, App, Metrics};
use crate::http::router::HandlerResult;
use crate::http::{PathParams, Problem, Request, Response};
use crate::store::{SessionId, SessionState};

type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Query parameters that would carry a token in the URL (`access_token`: RFC 6750 2.3).
const TOKEN_PARAMETERS: &[&str] = &["token", "access_token"];

/// A caller allowed on a session's socket.
struct Member {
    caller: Caller,
    who: Who,
    session: SessionId,
    state: SessionState,
    /// Why the session ended, if it had when the socket opened.
    end_reason: Option<String>,
}

/// Answers the upgrade request with 101 and runs the socket in its own task.
pub(super) async fn upgrade(app: Arc<App>, mut request: Request) -> HandlerResult {
    refuse_token_in_url(request.uri())?;
    let id = request
        .extensions()
        .get::<PathParams>()
        .and_then(|params| params.get("id"))
        .unwrap_or_default();
    let session = parse_session_id(id)?;
    let key = match handshake_key(&request) {
        Ok(key) => key,
        Err(refusal) => return Ok(refusal.into_response()),
    };

    let opening = open(&app, request.headers(), session).await?;
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => accept(app, upgraded, opening).await,
            Err(error) => tracing::debug!(target: "api", %error, "events upgrade failed"),
        }
    });
    Ok(switching_protocols(&key))
}

/// Checks the caller of a request with an `Authorization` header and counts its socket,
/// or counts a socket that will authenticate by message.
async fn open(app: &Arc<App>, headers: &HeaderMap, session: SessionId) -> Result<Opening, Problem> {
    let limits = app.hub.socket_limits();
    let (member, pending) = if headers.contains_key(hyper::header::AUTHORIZATION) {
        let member = member_by_header(app, headers, session).await?;
        let slot = SocketSlot::admit(app, &member, &limits).ok_or_else(too_many)?;
        (Some((member, slot)), None)
    } else {
        let pending = PendingSlot::admit(app, &limits).ok_or_else(too_many_pending)?;
        (None, Some(pending))
    };
    Ok(Opening {
        session,
        member,
        pending,
        limits,
    })
}

/// Speaks WebSocket on the upgraded connection.
async fn accept(app: Arc<App>, upgraded: Upgraded, opening: Opening) {
    let max = opening.limits.max_message_bytes;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let io = TokioIo::new(upgraded);
    let socket = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    Metrics::bump(&app.metrics.event_sockets_opened);
    run(app, socket, opening).await;
}

/// A token belongs in a header or the first message, never in a URL (which is logged).
fn refuse_token_in_url(uri: &Uri) -> Result<(), Problem> {
    let has_token = uri.query().is_some_and(|query| {
        query.split('&').any(|pair| {
            pair.split('=')
                .next()
                .is_some_and(|name| TOKEN_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()))
        })
    });
    if has_token {
        tracing::warn!(target: "security", "events socket refused: token in the URL");
        return Err(Problem::bad_request("token_in_url").with_detail(
            "Never put a token in the URL: send it in the first message \
             ({\"type\":\"auth\",\"token\":...}) or in an Authorization header.",
        ));
    }
    Ok(())
}

/// Why a request is not a usable WebSocket opening handshake.
enum NotWebSocket {
    /// Not an upgrade to WebSocket over HTTP/1.1, or no valid key: 400.
    Handshake,
    /// Another protocol version than 13: 426.
    Version,
}

impl NotWebSocket {
    fn into_response(self) -> Response {
        match self {
            NotWebSocket::Handshake => Problem::bad_request("websocket_required")
                .with_detail(
                    "This is a WebSocket over HTTP/1.1: send Upgrade: websocket, Connection: \
                     Upgrade and a Sec-WebSocket-Key of 16 bytes in base64.",
                )
                .into_response(),
            NotWebSocket::Version => {
                // RFC 6455 section 4.4: say which version the server speaks.
                let mut response = Problem::new(StatusCode::UPGRADE_REQUIRED, "websocket_version")
                    .with_detail("Only WebSocket version 13 is spoken.")
                    .into_response();
                let version = HeaderValue::from_static("13");
                response
                    .headers_mut()
                    .insert(SEC_WEBSOCKET_VERSION, version);
                response
            }
        }
    }
}

/// The client's `Sec-WebSocket-Key` if the request is a WebSocket opening handshake
/// (RFC 6455 section 4.2.1).
fn handshake_key(request: &Request) -> Result<HeaderValue, NotWebSocket> {
    let headers = request.headers();
    let is_upgrade = request.version() == Version::HTTP_11
        && has_token(headers, UPGRADE, "websocket")
        && has_token(headers, CONNECTION, "upgrade");
    let key = headers.get(SEC_WEBSOCKET_KEY).filter(|key| {
        base64::engine::general_purpose::STANDARD
            .decode(key.as_bytes())
            .is_ok_and(|nonce| nonce.len() == 16)
    });
    let (true, Some(key)) = (is_upgrade, key) else {
        return Err(NotWebSocket::Handshake);
    };
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(NotWebSocket::Version);
    }
    Ok(key.clone())
}

/// Whether the comma-separated header `name` lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: hyper::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

fn switching_protocols(key: &HeaderValue) -> Response {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

fn too_many() -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sockets")
        .with_detail("This session has as many event sockets open as it may.")
}

fn too_many_pending() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_sockets")
        .with_detail("Too many event sockets are waiting for their auth message; try again.")
        .with_retry_after(std::time::Duration::from_secs(1))
}

/// The caller of a request with an `Authorization` header, if it may see `session`.
async fn member_by_header(
    app: &App,
    headers: &HeaderMap,
    session: SessionId,
) -> Result<Member, Problem> {
    let token = bearer_token(headers).ok_or_else(unauthorized)?;
    let caller = identify(app, token).await?;
    member(app, caller, session).await
}

async fn member(app: &App, caller: Caller, session: SessionId) -> Result<Member, Problem> {
    let (found, _access) = session_for(app, &caller, session).await?;
    Ok(Member {
        who: who_of(&caller),
        caller,
        session,
        state: found.state,
        end_reason: found.end_reason,
    })
}

/// How session events name the caller.
fn who_of(caller: &Caller) -> Who {
    match caller {
        Caller::Staff(staff) => Who {
            role: staff.role.as_str(),
            user_id: Some(staff.user.to_string()),
        },
        Caller::Customer(_) => Who {
            role: "customer",
            user_id: None,
        },
    }
}

/// One authenticated socket of a session and person, counted until dropped.
struct SocketSlot {
    app: Arc<App>,
    session: SessionId,
    person: String,
}

impl SocketSlot {
    fn admit(app: &Arc<App>, member: &Member, limits: &SocketLimits) -> Option<Self> {
        let person = member
            .who
            .user_id
            .clone()
            .unwrap_or_else(|| "customer".to_owned());
        app.hub
            .admit_socket(member.session, &person, limits)
            .then(|| SocketSlot {
                app: Arc::clone(app),
                session: member.session,
                person,
            })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.app.hub.release_socket(self.session, &self.person);
    }
}

/// One socket waiting for its `auth` message, counted until dropped.
struct PendingSlot {
    app: Arc<App>,
}

impl PendingSlot {
    fn admit(app: &Arc<App>, limits: &SocketLimits) -> Option<Self> {
        app.hub.admit_pending(limits.pending).then(|| PendingSlot {
            app: Arc::clone(app),
        })
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        self.app.hub.release_pending();
    }
}

/// What the upgrade handler hands to the socket task.
struct Opening {
    session: SessionId,
    /// The caller already checked from the header, with its slot.
    member: Option<(Member, SocketSlot)>,
    /// The pending slot of a socket that must still authenticate.
    pending: Option<PendingSlot>,
    limits: SocketLimits,
}

/// Runs a socket from the upgrade to its close.
async fn run(app: Arc<App>, mut socket: Socket, opening: Opening) {
    let Opening {
        session,
        member,
        pending,
        limits,
    } = opening;
    let admitted = match member {
        Some(admitted) => Ok(admitted),
        None => authenticate(&app, &mut socket, session, &limits).await,
    };
    drop(pending);
    let (member, slot) = match admitted {
        Ok(admitted) => admitted,
        Err(close) => return finish(&mut socket, close, &limits).await,
    };

    let mut connection = Connection::new(Arc::clone(&app), socket, member, limits);
    let close = connection.serve().await;
    let Connection {
        mut socket,
        events,
        limits,
        ..
    } = connection;
    // The listener goes before the slot, so that the slot can forget an unused channel.
    drop(events);
    drop(slot);
    finish(&mut socket, close, &limits).await;
}

/// How a socket ends: with a close frame of ours, or none (the peer closed or vanished).
type Close = Option<CloseFrame>;

fn close(code: CloseCode, reason: &'static str) -> Close {
    Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    })
}

/// Waits for the `auth` message and checks it; the close to send otherwise.
async fn authenticate(
    app: &Arc<App>,
    socket: &mut Socket,
    session: SessionId,
    limits: &SocketLimits,
) -> Result<(Member, SocketSlot), Close> {
    let text = match timeout(limits.auth_deadline, next_text(socket)).await {
        Ok(text) => text?,
        Err(_) => return Err(close(CloseCode::Policy, "auth_timeout")),
    };
    let Ok(ClientMessage::Auth { token }) = messages::parse(&text) else {
        return Err(close(CloseCode::Policy, "auth_required"));
    };
    let Ok(caller) = identify(app, &token).await else {
        tracing::warn!(target: "security", "events socket refused: unknown or expired token");
        return Err(close(CloseCode::Policy, "unauthorized"));
    };
    let member = member(app, caller, session).await.map_err(|problem| {
        let reason = match problem.status() {
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            _ => "internal_error",
        };
        close(CloseCode::Policy, reason)
    })?;
    let slot = SocketSlot::admit(app, &member, limits)
        .ok_or_else(|| close(CloseCode::Again, "too_many_sockets"))?;
    Ok((member, slot))
}

/// The next text message before authentication; pings and pongs are skipped.
async fn next_text(socket: &mut Socket) -> Result<String, Close> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Binary(_))) => return Err(close(CloseCode::Unsupported, "text_only")),
            Some(Err(WsError::Capacity(_))) => {
                return Err(close(CloseCode::Size, "message_too_big"))
            }
            Some(Ok(_)) | Some(Err(_)) | None => return Err(None),
        }
    }
}

/// Sends our close frame (if any), then reads until the peer closes too, for at most the
/// send timeout.
async fn finish(socket: &mut Socket, close: Close, limits: &SocketLimits) {
    let closing = async {
        match close {
            Some(frame) => {
                let _ = socket.close(Some(frame)).await;
            }
            None => {
                let _ = socket.flush().await;
            }
        }
        while let Some(Ok(_)) = socket.next().await {}
    };
    let _ = timeout(limits.send_timeout, closing).await;
}

/// What woke the connection up.
enum Input {
    Frame(Option<Result<Message, WsError>>),
    Event(Result<Arc<SessionEvent>, RecvError>),
    Timer,
}

/// An authenticated socket.
struct Connection {
    app: Arc<App>,
    socket: Socket,
    member: Member,
    events: Receiver<Arc<SessionEvent>>,
    limits: SocketLimits,
    rate: TokenBucket,
    abuse: TokenBucket,
    ping_due: Instant,
    pong_deadline: Option<Instant>,
}

impl Connection {
    fn new(app: Arc<App>, socket: Socket, member: Member, limits: SocketLimits) -> Self {
        let events = app.hub.subscribe(member.session);
        let now = Instant::now();
        Self {
            rate: TokenBucket::new(limits.rate_burst, limits.rate_per_second, now),
            abuse: TokenBucket::new(limits.abuse_burst, 1, now),
            ping_due: now + limits.ping_interval,
            pong_deadline: None,
            app,
            socket,
            member,
            events,
            limits,
        }
    }

    /// Serves the socket until it must close; returns how.
    async fn serve(&mut self) -> Close {
        match self.serve_until_closed().await {
            Ok(never) => match never {},
            Err(close) => close,
        }
    }

    async fn serve_until_closed(&mut self) -> Result<std::convert::Infallible, Close> {
        self.welcome().await?;
        loop {
            let wake = self
                .pong_deadline
                .map_or(self.ping_due, |d| d.min(self.ping_due));
            let input = tokio::select! {
                frame = self.socket.next() => Input::Frame(frame),
                event = self.events.recv() => Input::Event(event),
                () = sleep_until(wake) => Input::Timer,
            };
            match input {
                Input::Frame(frame) => self.on_frame(frame).await?,
                Input::Event(event) => self.on_event(event).await?,
                Input::Timer => self.on_timer().await?,
            }
        }
    }

    /// Sends the welcome; a session that already ended gets `ended` and a normal close.
    async fn welcome(&mut self) -> Result<(), Close> {
        let welcome = ServerMessage::Welcome {
            who: &self.member.who,
            session: SessionSummary {
                id: self.member.session.to_string(),
                state: self.member.state.as_str(),
            },
        };
        let json = to_json(&welcome);
        self.send(json).await?;
        if self.member.state == SessionState::Ended {
            let reason = self.member.end_reason.take();
            return self.end_now(reason).await;
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>) -> Result<(), Close> {
        let message = match frame {
            Some(Ok(message)) => message,
            Some(Err(WsError::Capacity(_))) => {
                return Err(close(CloseCode::Size, "message_too_big"))
            }
            Some(Err(_)) | None => return Err(None),
        };
        match message {
            Message::Pong(_) => {
                self.pong_deadline = None;
                Ok(())
            }
            Message::Close(_) => Err(None),
            Message::Binary(_) => Err(close(CloseCode::Unsupported, "text_only")),
            // tungstenite answers pings itself; they still count against the rate.
            Message::Ping(_) | Message::Frame(_) => self.admit_message().await.map(|_| ()),
            Message::Text(text) => {
                if self.admit_message().await? {
                    self.on_text(text.as_str()).await?;
                }
                Ok(())
            }
        }
    }

    /// Takes a message from the rate limit: `false` (after telling the client) when it is
    /// dropped, a close when the client keeps sending regardless.
    async fn admit_message(&mut self) -> Result<bool, Close> {
        let now = Instant::now();
        if self.rate.take(now) {
            return Ok(true);
        }
        if !self.abuse.take(now) {
            tracing::warn!(target: "security", "events socket closed: messages over the rate");
            return Err(close(CloseCode::Policy, "rate_limited"));
        }
        let refusal = Refusal {
            error: "rate_limited",
            detail: "Too many messages: this one was dropped; slow down.",
        };
        self.send(to_json(&ServerMessage::from(refusal))).await?;
        Ok(false)
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Close> {
        let event = match messages::parse(text).and_then(|message| self.stamp(message)) {
            Ok(event) => event,
            Err(refusal) => return self.send(to_json(&ServerMessage::from(refusal))).await,
        };
        self.app.hub.publish(self.member.session, event);
        Ok(())
    }

    /// The event to relay for a client's message, stamped with its sender and the time.
    fn stamp(&self, message: ClientMessage) -> Result<SessionEvent, Refusal> {
        let (seq, from) = (self.app.hub.next_seq(), self.member.who.clone());
        let at = rfc3339(self.app.clock.unix_now());
        match message {
            ClientMessage::Chat { text } => {
                messages::check_chat(&text)?;
                Ok(SessionEvent::Chat {
                    seq,
                    from,
                    at,
                    text,
                })
            }
            ClientMessage::Annotation { op, id, shape } => {
                let annotation = Annotation { op, id, shape };
                annotation.check()?;
                Ok(SessionEvent::Annotation {
                    seq,
                    from,
                    at,
                    annotation,
                })
            }
            ClientMessage::Auth { .. } => Err(Refusal {
                error: "unexpected_message",
                detail: "The socket is already authenticated.",
            }),
        }
    }

    async fn on_event(&mut self, event: Result<Arc<SessionEvent>, RecvError>) -> Result<(), Close> {
        match event {
            Ok(event) => {
                self.send(to_json(&*event)).await?;
                if matches!(*event, SessionEvent::Ended { .. }) {
                    return Err(close(CloseCode::Normal, "ended"));
                }
                Ok(())
            }
            Err(RecvError::Lagged(missed)) => {
                self.send(to_json(&ServerMessage::Lagged { missed })).await
            }
            Err(RecvError::Closed) => Err(close(CloseCode::Normal, "ended")),
        }
    }

    /// Closes after a pong that did not come, or pings and checks the token and session.
    async fn on_timer(&mut self) -> Result<(), Close> {
        let now = Instant::now();
        if self.pong_deadline.is_some_and(|deadline| deadline <= now) {
            return Err(close(CloseCode::Away, "pong_timeout"));
        }
        if self.ping_due > now {
            return Ok(());
        }
        self.ping_due = now + self.limits.ping_interval;
        // One ping outstanding at a time: a later one must not move the deadline.
        if self.pong_deadline.is_none() {
            self.pong_deadline = Some(now + self.limits.pong_timeout);
        }
        self.write(Message::Ping(Bytes::new())).await?;
        self.recheck().await
    }

    /// Closes when the token stopped working or the session ended meanwhile.
    async fn recheck(&mut self) -> Result<(), Close> {
        if !still_valid(&self.app, &self.member.caller).await {
            return Err(close(CloseCode::Policy, "token_expired"));
        }
        let sessions = self.app.store.tenant(self.member.caller.tenant());
        match sessions.sessions().get(self.member.session).await {
            Ok(found) if found.state == SessionState::Ended => self.end_now(found.end_reason).await,
            _ => Ok(()),
        }
    }

    /// Sends `ended` for a session found ended without its event, then closes normally.
    async fn end_now(&mut self, reason: Option<String>) -> Result<(), Close> {
        let ended = SessionEvent::Ended {
            reason: reason.unwrap_or_else(|| "ended".to_owned()),
        };
        self.send(to_json(&ended)).await?;
        Err(close(CloseCode::Normal, "ended"))
    }

    async fn send(&mut self, json: String) -> Result<(), Close> {
        self.write(Message::text(json)).await
    }

    async fn write(&mut self, message: Message) -> Result<(), Close> {
        match timeout(self.limits.send_timeout, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(None),
        }
    }
}

/// Whether the caller's token still works (a database failure does not drop sockets).
async fn still_valid(app: &App, caller: &Caller) -> bool {
    let now = app.clock.unix_now();
    let found = match caller {
        Caller::Staff(staff) => app
            .store
            .find_token(&staff.token, now)
            .await
            .map(|t| t.is_some()),
        Caller::Customer(customer) => app
            .store
            .find_customer_token(&customer.token, now)
            .await
            .map(|t| t.is_some()),
    };
    found.unwrap_or(true)
}

fn to_json(message: &impl Serialize) -> String {
    // Our own message types always serialize.
    serde_json::to_string(message).unwrap_or_default()
}
