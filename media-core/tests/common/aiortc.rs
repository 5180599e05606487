//! Drives `tests/interop/aiortc_peer.py`, an aiortc WebRTC peer in a child process, over its
//! JSON-lines protocol (described at the top of the script).
//!
//! aiortc's ICE (aioice), DTLS (OpenSSL through pyOpenSSL) and SRTP (libsrtp through
//! pylibsrtp) share no code with media-core or with rtc. The peer offers, or with
//! [`AiortcOptions::answerer`] answers (for tests between test peers). The child
//! runs from the venv that `scripts/setup-test-env.sh` builds at `.venv` in the repository
//! root (or at `$SIGHTLINE_VENV`); without it, [`AiortcPeer::spawn`] panics saying so. The
//! child is killed when the [`AiortcPeer`] is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use media_core::ids::{Codec, MediaKind};
use media_core::srtp::SrtpProfile;

use super::json::{quote, Json};

/// How much of the child's stderr is kept for failure messages.
const STDERR_KEPT: usize = 16 * 1024;

/// What the aiortc peer offers.
#[derive(Debug, Clone)]
pub struct AiortcOptions {
    /// Send a synthetic 320x240 VP8 (or H.264) video track and a silent Opus track.
    pub send: bool,
    /// Receive audio and video (with `send` too, the m-lines are sendrecv).
    pub recv: bool,
    /// The only SRTP profile the DTLS handshake offers; `None` keeps aiortc's list
    /// (AES-256-GCM, AES-128-GCM, AES-CM-SHA1-80, in that order).
    pub srtp_profile: Option<SrtpProfile>,
    /// Video codec preference: `Codec::Vp8` or `Codec::H264`.
    pub video_codec: Codec,
    /// Answer an offer ([`AiortcPeer::answer_offer`]) instead of making one.
    pub answerer: bool,
    /// How long the peer runs after the answer unless stopped earlier.
    pub duration: Duration,
    /// aiortc's debug logs on the child's stderr (see [`AiortcPeer::stderr`]).
    pub verbose: bool,
}

impl Default for AiortcOptions {
    fn default() -> Self {
        AiortcOptions {
            send: false,
            recv: false,
            srtp_profile: None,
            video_codec: Codec::Vp8,
            answerer: false,
            duration: Duration::from_secs(30),
            verbose: false,
        }
    }
}

impl AiortcOptions {
    /// A publisher: sends audio and video.
    pub fn sender() -> Self {
        AiortcOptions {
            send: true,
            ..Default::default()
        }
    }

    /// A viewer: receives audio and video.
    pub fn receiver() -> Self {
        AiortcOptions {
            recv: true,
            ..Default::default()
        }
    }

    /// The same options restricted to one SRTP profile.
    pub fn with_profile(mut self, profile: SrtpProfile) -> Self {
        self.srtp_profile = Some(profile);
        self
    }

    fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.send {
            args.push("--send".to_owned());
        }
        if self.recv {
            args.push("--recv".to_owned());
        }
        let profile = match self.srtp_profile {
            None => "all",
            Some(SrtpProfile::AeadAes128Gcm) => "gcm",
            Some(SrtpProfile::Aes128CmSha1_80) => "cm",
            Some(SrtpProfile::AeadAes256Gcm) => "gcm256",
        };
        let codec = match self.video_codec {
            Codec::H264 => "h264",
            Codec::Vp8 => "vp8",
            other => panic!("the aiortc peer offers VP8 or H.264, not {other:?}"),
        };
        args.extend(["--profile", profile, "--video-codec", codec].map(str::to_owned));
        args.push(format!("--duration={}", self.duration.as_secs_f64()));
        if self.answerer {
            args.push("--answer".to_owned());
        }
        if self.verbose {
            args.push("--verbose".to_owned());
        }
        args
    }
}

/// Receive counters of one media kind, as the aiortc peer last reported them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindCounters {
    /// RTP packets received.
    pub packets: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Packets whose payload carried an intact stamp (see `payload.rs`).
    pub stamped: u64,
    /// Packets whose stamp failed its check.
    pub corrupt: u64,
    /// Frames aiortc's decoder produced (stamped payloads do not decode).
    pub frames: u64,
    /// The SSRCs seen.
    pub ssrcs: Vec<u32>,
}

/// What the aiortc peer has reported so far.
#[derive(Debug, Clone, Default)]
pub struct AiortcStatus {
    /// It reported the connection state `connected`.
    pub connected: bool,
    /// It reported `failed` or `closed` (with that state) before finishing.
    pub failed: Option<String>,
    /// Audio receive counters.
    pub audio: KindCounters,
    /// Video receive counters.
    pub video: KindCounters,
    /// It printed its last line; `final_state` is its connection state then.
    pub done: bool,
    /// The connection state in the `done` line.
    pub final_state: Option<String>,
}

impl AiortcStatus {
    /// The counters of `kind`.
    pub fn counters(&self, kind: MediaKind) -> &KindCounters {
        match kind {
            MediaKind::Audio => &self.audio,
            MediaKind::Video => &self.video,
        }
    }
}

/// A running aiortc peer.
pub struct AiortcPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    offer: Option<String>,
    answer: Option<String>,
    status: AiortcStatus,
    exited: bool,
}

impl AiortcPeer {
    /// Starts the script with the venv's Python. Panics, naming the setup script, when the
    /// venv is missing.
    pub fn spawn(opts: &AiortcOptions) -> Self {
        let python = venv_python();
        let script = manifest_dir().join("tests/interop/aiortc_peer.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .args(opts.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || keep_tail(stderr_pipe, &sink));
        AiortcPeer {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            offer: None,
            answer: None,
            status: AiortcStatus::default(),
            exited: false,
        }
    }

    /// Waits for the peer's offer (it comes once ICE gathering is complete).
    pub fn offer(&mut self, timeout: Duration) -> String {
        self.wait(timeout, |peer| peer.offer.is_some());
        match self.offer.clone() {
            Some(offer) => offer,
            None => panic!(
                "aiortc peer gave no offer within {timeout:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Hands an offer to an [`AiortcOptions::answerer`] peer and waits for its answer.
    pub fn answer_offer(&mut self, offer: &str, timeout: Duration) -> String {
        self.send_line(&format!("{{\"offer\": {}}}", quote(offer)));
        self.wait(timeout, |peer| peer.answer.is_some());
        match self.answer.clone() {
            Some(answer) => answer,
            None => panic!(
                "aiortc peer gave no answer within {timeout:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Sends the answer to the peer's offer.
    pub fn answer(&mut self, sdp: &str) {
        self.send_line(&format!("{{\"answer\": {}}}", quote(sdp)));
    }

    /// Reads every line the peer has printed so far, without blocking; returns whether
    /// there was any.
    pub fn pump(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    self.apply(&line);
                    any = true;
                }
                Err(mpsc::TryRecvError::Empty) => return any,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.exited = true;
                    return any;
                }
            }
        }
    }

    /// Blocks on the peer's output until `pred` holds, the peer exits, or `timeout` passes;
    /// returns whether `pred` held.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&AiortcStatus) -> bool,
    ) -> bool {
        self.wait(timeout, |peer| pred(&peer.status))
    }

    fn wait(&mut self, timeout: Duration, mut pred: impl FnMut(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if pred(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.exited || left.is_zero() {
                return false;
            }
            match self.lines.recv_timeout(left) {
                Ok(line) => self.apply(&line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.exited = true,
            }
        }
    }

    /// What the peer has reported so far (call [`AiortcPeer::pump`] to bring it up to date).
    pub fn status(&self) -> &AiortcStatus {
        &self.status
    }

    /// Asks the peer to finish, waits up to `timeout` for its last line and its exit, and
    /// returns the final status.
    pub fn stop(&mut self, timeout: Duration) -> AiortcStatus {
        self.send_line("{\"stop\": true}");
        self.stdin = None;
        self.wait_until(timeout, |s| s.done);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.status.clone()
    }

    /// The last 16 KiB the child wrote to stderr (Python warnings, tracebacks, debug logs).
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn send_line(&mut self, line: &str) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        let written = stdin
            .write_all(line.as_bytes())
            .and_then(|_| stdin.write_all(b"\n"));
        if let Err(e) = written.and_then(|_| stdin.flush()) {
            panic!(
                "aiortc peer's stdin closed ({e}); stderr:\n{}",
                self.stderr()
            );
        }
    }

    fn apply(&mut self, line: &str) {
        let Ok(message) = Json::parse(line) else {
            self.note_stderr(&format!("[stdout, not JSON] {line}\n"));
            return;
        };
        if let Some(sdp) = message.get("offer").and_then(Json::as_str) {
            self.offer = Some(sdp.to_owned());
        }
        if let Some(sdp) = message.get("answer").and_then(Json::as_str) {
            self.answer = Some(sdp.to_owned());
        }
        if message.get("connected").and_then(Json::as_bool) == Some(true) {
            self.status.connected = true;
        }
        if let Some(state) = message.get("failed").and_then(Json::as_str) {
            self.status.failed = Some(state.to_owned());
        }
        if let Some(counters) = message.get("received") {
            self.update_counters(counters);
        }
        if let Some(done) = message.get("done") {
            self.status.done = true;
            self.status.final_state = done
                .get("connection")
                .and_then(Json::as_str)
                .map(Into::into);
            for kind in ["audio", "video"] {
                if let Some(counters) = done.get(kind) {
                    self.update_counters(counters);
                }
            }
        }
    }

    fn update_counters(&mut self, value: &Json) {
        let target = match value.get("kind").and_then(Json::as_str) {
            Some("audio") => &mut self.status.audio,
            Some("video") => &mut self.status.video,
            _ => return,
        };
        let number = |key: &str| value.get(key).and_then(Json::as_u64).unwrap_or(0);
        *target = KindCounters {
            packets: number("packets"),
            bytes: number("bytes"),
            stamped: number("stamped"),
            corrupt: number("corrupt"),
            frames: number("frames"),
            ssrcs: match value.get("ssrcs") {
                Some(Json::Array(items)) => items
                    .iter()
                    .filter_map(Json::as_u64)
                    .map(|s| s as u32)
                    .collect(),
                _ => Vec::new(),
            },
        };
    }

    fn note_stderr(&self, text: &str) {
        if let Ok(mut kept) = self.stderr.lock() {
            kept.push_str(text);
        }
    }
}

impl Drop for AiortcPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's interpreter, or a panic that says how to create the venv.
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SIGHTLINE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../.venv"));
    let python = venv.join("bin/python");
    // setup-test-env.sh writes this stamp only after pip installed the requirements.
    let stamp = venv.join(".requirements.sha256");
    if !python.exists() || !stamp.exists() {
        panic!(
            "the aiortc test peer needs the Python venv at {}; create it with \
             scripts/setup-test-env.sh (run from the repository root, as root on a fresh \
             Debian 12), or point SIGHTLINE_VENV at one",
            venv.display()
        );
    }
    python
}

/// Copies a pipe into `sink`, keeping only the last [`STDERR_KEPT`] bytes.
fn keep_tail(mut pipe: impl Read, sink: &Mutex<String>) {
    let mut chunk = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut chunk) {
        if n == 0 {
            return;
        }
        let Ok(mut kept) = sink.lock() else { return };
        kept.push_str(&String::from_utf8_lossy(&chunk[..n]));
        if kept.len() > STDERR_KEPT {
            let mut cut = kept.len() - STDERR_KEPT;
            while !kept.is_char_boundary(cut) {
                cut += 1;
            }
            kept.drain(..cut);
        }
    }
}
