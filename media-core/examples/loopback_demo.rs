//! A runnable demonstration of media-core without the control plane: one support session on
//! loopback, a page that publishes the browser's camera and microphone with WHIP, and a page
//! that watches them with WHEP.
//!
//! ```text
//! cargo run --release -p media-core --example loopback_demo
//! ```
//! then open <http://127.0.0.1:8080/> in two browser tabs: "Share camera" in one and "Watch"
//! in the other. The HTTP side is deliberately minimal (plain HTTP, no authentication) and
//! binds only to loopback; the real API is the `sightline` daemon's.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use media_core::{Engine, EngineConfig, ParticipantOptions};
use tiny_http::{Header, Method, Request, Response, Server};

const PAGE: &str = include_str!("demo/index.html");
const MAX_OFFER: usize = 64 * 1024;
/// Requests handled at once; each has its own thread, so one slow upload stalls nobody else.
const MAX_IN_FLIGHT: usize = 32;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,dtls=debug,worker=debug".into()),
        )
        .init();
    let listen = std::env::var("DEMO_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let engine = Arc::new(Engine::start(EngineConfig {
        workers: 1,
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..EngineConfig::default()
    })?);
    let session = engine.create_session()?;
    let server = Server::http(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    println!(
        "loopback demo: open http://{listen}/ (media relay on {})",
        session.relay
    );
    std::thread::spawn({
        let events = engine.events().clone();
        move || {
            for event in events.iter() {
                println!("event: {event:?}");
            }
        }
    });
    let in_flight = Arc::new(AtomicUsize::new(0));
    for request in server.incoming_requests() {
        if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            in_flight.fetch_sub(1, Ordering::SeqCst);
            let busy = Response::from_string("busy, try again\n").with_status_code(503);
            let _ = request.respond(busy);
            continue;
        }
        let (engine, in_flight) = (Arc::clone(&engine), Arc::clone(&in_flight));
        std::thread::spawn(move || {
            handle(&engine, session.id, request);
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

fn handle(engine: &Engine, session: media_core::ids::SessionId, mut request: Request) {
    let response = match (request.method(), request.url()) {
        (Method::Get, "/") => with_type(Response::from_string(PAGE), "text/html"),
        (Method::Post, "/whip") | (Method::Post, "/whep") => {
            let mut offer = String::new();
            let read = request
                .as_reader()
                .take(MAX_OFFER as u64 + 1)
                .read_to_string(&mut offer);
            if read.is_err() || offer.len() > MAX_OFFER {
                Response::from_string("offer unreadable or too large\n").with_status_code(400)
            } else {
                match engine.join(session, &offer, ParticipantOptions::default()) {
                    Ok(answer) => with_type(
                        Response::from_string(answer.sdp).with_status_code(201),
                        "application/sdp",
                    ),
                    Err(e) => Response::from_string(format!("{e}\n")).with_status_code(422),
                }
            }
        }
        (Method::Get, "/stats") => match engine.stats(session) {
            Ok(stats) => Response::from_string(format!("{stats:#?}\n")),
            Err(e) => Response::from_string(format!("{e}\n")).with_status_code(500),
        },
        _ => Response::from_string("not found\n").with_status_code(404),
    };
    let _ = request.respond(response);
}

fn with_type<R: Read>(response: Response<R>, content_type: &str) -> Response<R> {
    match Header::from_bytes("Content-Type", content_type) {
        Ok(header) => response.with_header(header),
        Err(()) => response,
    }
}
