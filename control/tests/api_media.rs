//! WHIP and WHEP over real HTTPS with real WebRTC clients (the webrtc-rs `rtc` crate) and
//! the real forwarder: stamped RTP payloads are checked end to end, and consent, hold,
//! transfer, invitations, the grace period and the resource rules are observed in the
//! media that arrives or stops.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/support.rs"]
mod support;
#[path = "common/webrtc.rs"]
mod webrtc;

use std::sync::Arc;
use std::time::Duration;

use common::{Reply, TestDaemon};
use hyper::header::{HeaderMap, HeaderValue, IF_MATCH};
use hyper::Method;
use serde_json::{json, Value};
use sightline_control::api::events::SessionEvent;
use sightline_control::store::SessionId;
use support::{act, consent, detail, join, open_session, Team};
use tokio::sync::broadcast::Receiver;
use webrtc::{connect, drive, drive_for, offer, publisher, send_sdp, viewer, MediaKind, RtcPeer};

/// Generous time for media to show up on a loaded machine.
const FLOW: Duration = Duration::from_secs(20);
/// Time for packets already in flight to land after a gate closes.
const SETTLE: Duration = Duration::from_millis(400);
/// How long media must stay away to count as stopped.
const QUIET: Duration = Duration::from_millis(1500);

/// A daemon, a team, and a session its first agent opened and a customer joined.
struct Scene {
    daemon: TestDaemon,
    team: Team,
    id: String,
    customer: String,
}

async fn scene() -> Scene {
    scene_on(TestDaemon::start().await).await
}

async fn scene_on(daemon: TestDaemon) -> Scene {
    let team = Team::new(&daemon, "acme").await;
    let session = open_session(&daemon, &team.agent_token).await;
    let customer = join(&daemon, &session).await;
    let id = session["id"].as_str().unwrap().to_owned();
    Scene {
        daemon,
        team,
        id,
        customer,
    }
}

impl Scene {
    async fn offer(&self, endpoint: &str, token: &str, peer: &mut RtcPeer) -> Reply {
        offer(&self.daemon, &self.id, endpoint, token, peer).await
    }

    /// Offers and expects a 201.
    async fn must(&self, endpoint: &str, token: &str, peer: &mut RtcPeer) -> Reply {
        let reply = self.offer(endpoint, token, peer).await;
        assert_eq!(reply.status, 201, "{endpoint}: {:?}", reply.json);
        reply
    }

    fn engine_participants(&self) -> usize {
        let id = SessionId::parse(&self.id).unwrap();
        let engine = self.daemon.app.live.with(id, |s| s.engine).unwrap();
        self.daemon.app.engine.stats(engine).unwrap().len()
    }
}

/// Received packets of each kind: (audio, video).
fn counts(peer: &RtcPeer) -> (usize, usize) {
    (
        peer.verified(MediaKind::Audio),
        peer.verified(MediaKind::Video),
    )
}

/// Drives `peers` until the peer at `index` received `more` packets of `kind` beyond
/// what it had.
fn gains(peers: &mut [&mut RtcPeer], index: usize, kind: MediaKind, more: usize) -> bool {
    let start = peers[index].verified(kind);
    drive(peers, FLOW, |p| p[index].verified(kind) >= start + more)
}

/// Drives `peers` and checks that the peer at `index` receives nothing more.
fn stays_quiet(peers: &mut [&mut RtcPeer], index: usize) -> bool {
    drive_for(peers, SETTLE);
    let before = counts(peers[index]);
    drive_for(peers, QUIET);
    counts(peers[index]) == before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_to_whep_round_trip_through_the_forwarder() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let mut camera = publisher(true, true);
    let reply = s.must("whip", &s.customer, &mut camera).await;
    assert_eq!(reply.header("content-type"), Some("application/sdp"));
    let location = reply.header("location").unwrap();
    let rid = location
        .strip_prefix(&format!("/v1/sessions/{}/resources/", s.id))
        .unwrap();
    assert_eq!(rid.len(), 22, "128 bits in base64url");
    let etag = reply.header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2);

    let mut agent_view = viewer(true, true);
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    let mut agent_mic = publisher(true, false);
    s.must("whip", &s.team.agent_token, &mut agent_mic).await;
    let mut customer_ear = viewer(true, false);
    s.must("whep", &s.customer, &mut customer_ear).await;

    let mut peers = [
        &mut camera,
        &mut agent_view,
        &mut agent_mic,
        &mut customer_ear,
    ];
    connect(&mut peers);
    peers[0].start_streaming();
    peers[2].start_streaming();
    let flowing = drive(&mut peers, FLOW, |p| {
        p[1].verified(MediaKind::Video) >= 30
            && p[1].verified(MediaKind::Audio) >= 30
            && p[3].verified(MediaKind::Audio) >= 30
    });
    assert!(
        flowing,
        "agent got {:?}, customer got {:?}",
        counts(peers[1]),
        counts(peers[3])
    );
    assert_eq!(peers[1].corrupt() + peers[3].corrupt(), 0);

    let shown = detail(&s.daemon, &s.id, &s.team.agent_token).await;
    let participants = shown["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    assert!(participants.iter().all(|p| p["connected"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_came_first_gets_the_publisher_when_it_arrives() {
    let s = scene().await;
    let mut agent_view = viewer(true, true);
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    connect(&mut [&mut agent_view]);

    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let mut camera = publisher(true, true);
    s.must("whip", &s.customer, &mut camera).await;
    let mut peers = [&mut agent_view, &mut camera];
    connect(&mut peers);
    peers[1].start_streaming();
    assert!(gains(&mut peers, 0, MediaKind::Video, 20));
    assert!(gains(&mut peers, 0, MediaKind::Audio, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_gates_each_kind_and_revoking_stops_forwarding() {
    let s = scene().await;
    let mut camera = publisher(true, true);
    let refused = s
        .offer("whip", &s.customer, &mut publisher(true, true))
        .await;
    assert_eq!(
        (refused.status.as_u16(), refused.error()),
        (403, "consent_required")
    );

    consent(&s.daemon, &s.id, &s.customer, true, false).await;
    s.must("whip", &s.customer, &mut camera).await;
    let mut agent_view = viewer(true, true);
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    let mut peers = [&mut camera, &mut agent_view];
    connect(&mut peers);
    peers[0].start_streaming();
    assert!(gains(&mut peers, 1, MediaKind::Video, 30));
    assert_eq!(
        peers[1].verified(MediaKind::Audio),
        0,
        "no microphone consent"
    );

    let path = format!("/v1/sessions/{}/consent", s.id);
    let revoke = s
        .daemon
        .call(Method::DELETE, &path, Some(&s.customer), Value::Null)
        .await;
    assert_eq!(revoke.status, 204);
    let sent = peers[0].sent(MediaKind::Video);
    assert!(
        stays_quiet(&mut peers, 1),
        "media went on after consent was revoked"
    );
    assert!(
        peers[0].sent(MediaKind::Video) > sent + 10,
        "the camera kept sending"
    );

    consent(&s.daemon, &s.id, &s.customer, false, true).await;
    let video = peers[1].verified(MediaKind::Video);
    assert!(gains(&mut peers, 1, MediaKind::Audio, 20));
    assert_eq!(
        peers[1].verified(MediaKind::Video),
        video,
        "no camera consent any more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_stops_media_both_ways_and_resume_restores_it() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let (mut camera, mut customer_ear) = (publisher(true, true), viewer(true, false));
    let (mut agent_mic, mut agent_view) = (publisher(true, false), viewer(true, true));
    s.must("whip", &s.customer, &mut camera).await;
    s.must("whep", &s.customer, &mut customer_ear).await;
    s.must("whip", &s.team.agent_token, &mut agent_mic).await;
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    let mut peers = [
        &mut camera,
        &mut customer_ear,
        &mut agent_mic,
        &mut agent_view,
    ];
    connect(&mut peers);
    peers[0].start_streaming();
    peers[2].start_streaming();
    assert!(gains(&mut peers, 3, MediaKind::Video, 20));
    assert!(gains(&mut peers, 1, MediaKind::Audio, 20));

    assert_eq!(
        act(&s.daemon, &s.id, "hold", &s.team.agent_token, Value::Null).await,
        204
    );
    drive_for(&mut peers, SETTLE);
    let (ear, view) = (counts(peers[1]), counts(peers[3]));
    drive_for(&mut peers, QUIET);
    assert_eq!(
        counts(peers[1]),
        ear,
        "the customer heard the agent while held"
    );
    assert_eq!(counts(peers[3]), view, "the agent got media while held");

    assert_eq!(
        act(&s.daemon, &s.id, "resume", &s.team.agent_token, Value::Null).await,
        204
    );
    assert!(gains(&mut peers, 3, MediaKind::Video, 20));
    assert!(gains(&mut peers, 3, MediaKind::Audio, 20));
    assert!(gains(&mut peers, 1, MediaKind::Audio, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_closes_the_previous_agent_and_the_new_one_watches() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let (mut camera, mut old_view) = (publisher(true, true), viewer(true, true));
    s.must("whip", &s.customer, &mut camera).await;
    let old = s.must("whep", &s.team.agent_token, &mut old_view).await;
    let old_resource = old.header("location").unwrap().to_owned();
    let mut peers = [&mut camera, &mut old_view];
    connect(&mut peers);
    peers[0].start_streaming();
    assert!(gains(&mut peers, 1, MediaKind::Video, 20));

    let to = json!({ "agent_id": s.team.other.to_string() });
    assert_eq!(
        act(&s.daemon, &s.id, "transfer", &s.team.agent_token, to).await,
        204
    );
    assert!(
        stays_quiet(&mut peers, 1),
        "the previous agent still receives"
    );
    let gone = s
        .daemon
        .call(
            Method::DELETE,
            &old_resource,
            Some(&s.team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(
        gone.status, 403,
        "no longer the agent's session: {:?}",
        gone.json
    );
    let again = s
        .offer("whep", &s.team.agent_token, &mut viewer(true, true))
        .await;
    assert_eq!(again.status, 403);

    let mut new_view = viewer(true, true);
    s.must("whep", &s.team.other_token, &mut new_view).await;
    let mut peers = [&mut camera, &mut new_view];
    connect(&mut peers[1..]);
    assert!(gains(&mut peers, 1, MediaKind::Video, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_agent_may_watch_and_talk() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let refused = s
        .offer("whep", &s.team.other_token, &mut viewer(true, true))
        .await;
    assert_eq!(refused.status, 403);
    let invite = json!({ "agent_id": s.team.other.to_string() });
    assert_eq!(
        act(&s.daemon, &s.id, "invite", &s.team.agent_token, invite).await,
        204
    );

    let (mut camera, mut customer_ear) = (publisher(true, true), viewer(true, false));
    let (mut guest_view, mut guest_mic) = (viewer(true, true), publisher(true, false));
    s.must("whip", &s.customer, &mut camera).await;
    s.must("whep", &s.customer, &mut customer_ear).await;
    s.must("whep", &s.team.other_token, &mut guest_view).await;
    s.must("whip", &s.team.other_token, &mut guest_mic).await;
    let mut peers = [
        &mut camera,
        &mut customer_ear,
        &mut guest_view,
        &mut guest_mic,
    ];
    connect(&mut peers);
    peers[0].start_streaming();
    peers[3].start_streaming();
    assert!(gains(&mut peers, 2, MediaKind::Video, 20));
    assert!(gains(&mut peers, 1, MediaKind::Audio, 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_camera_goes_nowhere() {
    let s = scene().await;
    let mut agent_cam = publisher(true, true);
    let reply = s.must("whip", &s.team.agent_token, &mut agent_cam).await;
    let answer = std::str::from_utf8(&reply.body).unwrap();
    let video = answer.split("m=video").nth(1).unwrap();
    assert!(video.contains("a=inactive"), "{answer}");

    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let mut customer_eyes = viewer(true, true);
    s.must("whep", &s.customer, &mut customer_eyes).await;
    let mut peers = [&mut agent_cam, &mut customer_eyes];
    connect(&mut peers);
    peers[0].start_streaming();
    assert!(gains(&mut peers, 1, MediaKind::Audio, 20));
    assert_eq!(peers[1].verified(MediaKind::Video), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_customer_resumes_within_the_grace_period_then_is_lost() {
    let daemon = TestDaemon::start_with_engine(
        |c| c.grace_period = Duration::from_secs(4),
        |e| e.session.consent_timeout = Duration::from_secs(5),
    )
    .await;
    let s = scene_on(daemon).await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let mut camera = publisher(true, true);
    s.must("whip", &s.customer, &mut camera).await;
    let mut agent_view = viewer(true, true);
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    let mut peers = [&mut camera, &mut agent_view];
    connect(&mut peers);
    peers[0].start_streaming();
    assert!(gains(&mut peers, 1, MediaKind::Video, 20));

    // The customer's tab dies: no DELETE, its socket goes silent.
    drop(camera);
    wait_customer_dropped(&s, &mut agent_view).await;
    assert_eq!(
        detail(&s.daemon, &s.id, &s.team.agent_token).await["state"],
        "active"
    );

    let mut again = publisher(true, true);
    s.must("whip", &s.customer, &mut again).await;
    let mut peers = [&mut again, &mut agent_view];
    connect(&mut peers[..1]);
    peers[0].start_streaming();
    assert!(
        gains(&mut peers, 1, MediaKind::Video, 20),
        "media after the resume"
    );
    assert_eq!(
        detail(&s.daemon, &s.id, &s.customer).await["consent"]["camera"],
        true
    );

    drop(again);
    wait_customer_dropped(&s, &mut agent_view).await;
    s.daemon.clock.skip_ahead(Duration::from_secs(5));
    let ended = wait_for(&s, Duration::from_secs(10), |d| d["state"] == "ended").await;
    assert_eq!(ended["end_reason"], "customer_lost");
}

/// Waits (driving `peer`) until the customer no longer publishes.
async fn wait_customer_dropped(s: &Scene, peer: &mut RtcPeer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        drive_for(&mut [&mut *peer], Duration::from_millis(200));
        let shown = detail(&s.daemon, &s.id, &s.team.agent_token).await;
        let customer = shown["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["role"] == "customer")
            .cloned()
            .unwrap_or(Value::Null);
        if customer["publishing"] == false {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drop was never noticed"
        );
    }
}

/// Polls the session's detail (as the administrator) until `pred` holds.
async fn wait_for(s: &Scene, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let shown = detail(&s.daemon, &s.id, &s.team.admin_token).await;
        if pred(&shown) || std::time::Instant::now() >= deadline {
            return shown;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn patch(s: &Scene, path: &str, token: &str, body: &str, if_match: Option<&str>) -> Reply {
    let mut headers = HeaderMap::new();
    if let Some(tag) = if_match {
        headers.insert(IF_MATCH, HeaderValue::from_str(tag).unwrap());
    }
    let kind = Some("application/trickle-ice-sdpfrag");
    s.daemon
        .send(
            Method::PATCH,
            path,
            Some(token),
            kind,
            body.as_bytes().to_vec(),
            headers,
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_follows_the_trickle_and_etag_rules() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let mut camera = publisher(true, true);
    let offer_sdp = camera.create_offer();
    let path = format!("/v1/sessions/{}/whip", s.id);
    let reply = send_sdp(&s.daemon, &path, &s.customer, offer_sdp.clone()).await;
    assert_eq!(reply.status, 201);
    let location = reply.header("location").unwrap().to_owned();
    let etag = reply.header("etag").unwrap().to_owned();
    let ufrag = offer_sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap();

    let trickle = format!(
        "a=ice-ufrag:{ufrag}\r\na=ice-pwd:unchangedpasswordxxxxxx\r\n\
         m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
         a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
    );
    assert_eq!(
        patch(&s, &location, &s.customer, &trickle, None)
            .await
            .status,
        204
    );
    assert_eq!(
        patch(&s, &location, &s.customer, &trickle, Some(&etag))
            .await
            .status,
        204
    );
    let stale = patch(&s, &location, &s.customer, &trickle, Some("\"nope\"")).await;
    assert_eq!(
        (stale.status.as_u16(), stale.error()),
        (412, "precondition_failed")
    );

    let restart = "a=ice-ufrag:fresh\r\na=ice-pwd:freshpasswordfreshpassword\r\n";
    let bare = patch(&s, &location, &s.customer, restart, None).await;
    assert_eq!(bare.status, 428);
    let stale = patch(&s, &location, &s.customer, restart, Some("\"nope\"")).await;
    assert_eq!(stale.status, 412);
    let restarted = patch(&s, &location, &s.customer, restart, Some(&etag)).await;
    assert_eq!(restarted.status, 200, "{:?}", restarted.json);
    assert_eq!(
        restarted.header("content-type"),
        Some("application/trickle-ice-sdpfrag")
    );
    let answer = std::str::from_utf8(&restarted.body).unwrap();
    let new_ufrag = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap();
    let new_pwd = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=ice-pwd:"))
        .unwrap();
    assert!(new_ufrag.len() >= 4 && new_pwd.len() >= 22, "{answer}");
    let new_etag = restarted.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let stale = patch(&s, &location, &s.customer, &trickle, Some(&etag)).await;
    assert_eq!(stale.status, 412, "the old ETag is stale after a restart");
    let again = "a=ice-ufrag:again\r\na=ice-pwd:againpasswordagainpassword\r\n";
    let restarted = patch(&s, &location, &s.customer, again, Some("*")).await;
    assert_eq!(restarted.status, 200);
    let bad = "a=ice-ufrag:no spaces\r\na=ice-pwd:againpasswordagainpassword\r\n";
    let refused = patch(&s, &location, &s.customer, bad, Some("*")).await;
    assert_eq!(refused.status, 400);

    let headers = HeaderMap::new();
    let wrong = s
        .daemon
        .send(
            Method::PATCH,
            &location,
            Some(&s.customer),
            Some("text/plain"),
            vec![],
            headers,
        )
        .await;
    assert_eq!(wrong.status, 415);
    let garbage = patch(&s, &location, &s.customer, "v=0\r\n", None).await;
    assert_eq!(garbage.status, 400);
    let not_theirs = patch(&s, &location, &s.team.agent_token, &trickle, None).await;
    assert_eq!(not_theirs.status, 404);
    let delete = s
        .daemon
        .call(
            Method::DELETE,
            &location,
            Some(&s.team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(delete.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_leaves_and_a_reload_replaces_the_old_resource() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let (mut camera, mut agent_view) = (publisher(true, true), viewer(true, true));
    s.must("whip", &s.customer, &mut camera).await;
    let first = s.must("whep", &s.team.agent_token, &mut agent_view).await;
    assert_eq!(s.engine_participants(), 2);

    // A reload: a second WHEP of the same agent replaces the first.
    let mut reloaded = viewer(true, true);
    let second = s.must("whep", &s.team.agent_token, &mut reloaded).await;
    assert_eq!(s.engine_participants(), 2);
    let first = first.header("location").unwrap().to_owned();
    let gone = s
        .daemon
        .call(
            Method::DELETE,
            &first,
            Some(&s.team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(gone.status, 404);

    let mut peers = [&mut camera, &mut reloaded];
    connect(&mut peers);
    peers[0].start_streaming();
    assert!(gains(&mut peers, 1, MediaKind::Video, 20));
    let second = second.header("location").unwrap().to_owned();
    let left = s
        .daemon
        .call(
            Method::DELETE,
            &second,
            Some(&s.team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(left.status, 200);
    assert_eq!(s.engine_participants(), 1);
    assert!(stays_quiet(&mut peers, 1));
    let again = s
        .daemon
        .call(
            Method::DELETE,
            &second,
            Some(&s.team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(again.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_refused_and_change_nothing() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let whip = format!("/v1/sessions/{}/whip", s.id);
    let whep = format!("/v1/sessions/{}/whep", s.id);

    let reply = send_sdp(&s.daemon, &whip, &s.customer, "hello".to_owned()).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (400, "malformed_offer")
    );
    let sending = publisher(true, true).create_offer();
    let reply = send_sdp(&s.daemon, &whep, &s.team.agent_token, sending).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (422, "unusable_offer")
    );
    let receiving = viewer(true, true).create_offer();
    let reply = send_sdp(&s.daemon, &whip, &s.customer, receiving).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (422, "unusable_offer")
    );
    // Valid SDP but no WebRTC offer: no m-lines, no ICE credentials, no fingerprint.
    let no_media = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned();
    let reply = send_sdp(&s.daemon, &whip, &s.customer, no_media).await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (400, "malformed_offer")
    );
    let reply = s
        .daemon
        .send(
            Method::POST,
            &whip,
            Some(&s.customer),
            Some("text/plain"),
            b"v=0".to_vec(),
            HeaderMap::new(),
        )
        .await;
    assert_eq!(reply.status, 415);

    assert_eq!(s.engine_participants(), 0);
    let shown = detail(&s.daemon, &s.id, &s.team.agent_token).await;
    assert_eq!(shown["participants"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_takes_no_media() {
    let s = scene().await;
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let mut camera = publisher(true, true);
    s.must("whip", &s.customer, &mut camera).await;
    let path = format!("/v1/sessions/{}", s.id);
    let end = s
        .daemon
        .call(
            Method::DELETE,
            &path,
            Some(&s.team.agent_token),
            Value::Null,
        )
        .await;
    assert_eq!(end.status, 204);

    let reply = s
        .offer("whep", &s.team.agent_token, &mut viewer(true, true))
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.error()),
        (410, "session_ended")
    );
    let reply = s
        .offer("whip", &s.customer, &mut publisher(true, true))
        .await;
    assert_eq!(
        reply.status, 401,
        "the customer's token died with the session"
    );
}

/// Every event published so far on `events`, as JSON.
fn drain(events: &mut Receiver<Arc<SessionEvent>>) -> Vec<Value> {
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(serde_json::to_value(&*event).unwrap());
    }
    seen
}

/// Waits until an event that `pred` accepts arrives on `events`; returns every event
/// read meanwhile, that one last.
async fn wait_event(
    events: &mut Receiver<Arc<SessionEvent>>,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let event = serde_json::to_value(&*events.recv().await.unwrap()).unwrap();
            let done = pred(&event);
            seen.push(event);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "the event never came: {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_events_tell_what_happened() {
    let s = scene().await;
    let mut events = s.daemon.app.hub.subscribe(SessionId::parse(&s.id).unwrap());
    consent(&s.daemon, &s.id, &s.customer, true, true).await;
    let (mut camera, mut agent_view) = (publisher(true, true), viewer(true, true));
    s.must("whip", &s.customer, &mut camera).await;
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    connect(&mut [&mut camera, &mut agent_view]);
    let agent = json!({ "role": "agent", "user_id": s.team.agent.to_string() });
    let filled = |e: &Value| e["type"] == "slot_filled" && e["kind"] == "video";
    let mut seen = wait_event(&mut events, filled).await;
    assert_eq!(
        act(&s.daemon, &s.id, "hold", &s.team.agent_token, Value::Null).await,
        204
    );
    assert_eq!(
        act(&s.daemon, &s.id, "resume", &s.team.agent_token, Value::Null).await,
        204
    );
    let other = json!({ "agent_id": s.team.other.to_string() });
    assert_eq!(
        act(
            &s.daemon,
            &s.id,
            "invite",
            &s.team.agent_token,
            other.clone()
        )
        .await,
        204
    );
    assert_eq!(
        act(&s.daemon, &s.id, "transfer", &s.team.agent_token, other).await,
        204
    );

    seen.extend(drain(&mut events));
    let has = |wanted: Value| seen.contains(&wanted);
    assert!(
        has(json!({ "type": "consent", "camera": true, "microphone": true })),
        "{seen:?}"
    );
    assert!(
        has(json!({ "type": "joined", "who": { "role": "customer" } })),
        "{seen:?}"
    );
    assert!(has(json!({ "type": "joined", "who": agent })), "{seen:?}");
    assert!(seen
        .iter()
        .any(|e| e["type"] == "slot_filled" && e["who"] == agent && e["kind"] == "audio"));
    assert!(has(json!({ "type": "hold", "by": agent })), "{seen:?}");
    assert!(has(json!({ "type": "resumed", "by": agent })), "{seen:?}");
    let (from, to) = (s.team.agent.to_string(), s.team.other.to_string());
    assert!(
        has(json!({ "type": "invited", "agent_id": to })),
        "{seen:?}"
    );
    assert!(
        has(json!({ "type": "left", "who": agent, "reason": "transferred" })),
        "{seen:?}"
    );
    assert!(has(
        json!({ "type": "transferred", "from_agent": from, "to_agent": to })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_agent_loses_its_place_after_the_grace_period() {
    let daemon = TestDaemon::start_with_engine(
        |c| c.grace_period = Duration::from_secs(4),
        |e| e.session.consent_timeout = Duration::from_secs(5),
    )
    .await;
    let s = scene_on(daemon).await;
    let mut events = s.daemon.app.hub.subscribe(SessionId::parse(&s.id).unwrap());
    let mut agent_view = viewer(true, true);
    s.must("whep", &s.team.agent_token, &mut agent_view).await;
    connect(&mut [&mut agent_view]);
    drop(agent_view);

    let agent = json!({ "role": "agent", "user_id": s.team.agent.to_string() });
    let lost = json!({ "type": "left", "who": agent, "reason": "connection_lost" });
    wait_event(&mut events, |e| *e == lost).await;
    s.daemon.clock.skip_ahead(Duration::from_secs(5));
    let expired = json!({ "type": "left", "who": agent, "reason": "grace_expired" });
    wait_event(&mut events, |e| *e == expired).await;
    let shown = detail(&s.daemon, &s.id, &s.team.agent_token).await;
    assert_eq!(shown["participants"], json!([]));
    assert_eq!(
        shown["state"], "active",
        "staff leaving does not end the session"
    );
}
