#!/usr/bin/python3
"""GStreamer's webrtcbin through media-core's loopback demo.

A publishing webrtcbin sends videotestsrc (VP8) and audiotestsrc (Opus) with POST /whip, a
watching webrtcbin receives them with POST /whep, decodes them, and must see video frames and
audio buffers within the deadline. webrtcbin shares no DTLS or SRTP code with media-core
(GStreamer's dtls elements use OpenSSL, its srtp elements libsrtp), and Debian's GStreamer 1.22
offers only AES_CM_128_HMAC_SHA1_80 (RFC 5764 section 4.1.2), so this proves that profile.

Usage: gst_webrtcbin.py [media|rsa-refused|publish] [DEMO_URL]  (default "media" and
http://127.0.0.1:8080/; DEMO_URL in the environment also works). "media" exits 0 when media
arrived; "rsa-refused" exits 0 when webrtcbin with its default RSA certificate is refused (a
known gap, see Certificate); "publish" only publishes, for tests/browser/chromium.mjs to
watch, until killed or a minute passed. Exits 1 otherwise. Needs Debian's python3-gi
and GStreamer packages, so run it with /usr/bin/python3.
"""

import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

MEDIA_TIMEOUT_S = 20.0
MIN_VIDEO_FRAMES = 30
MIN_AUDIO_BUFFERS = 30
REFUSAL_TIMEOUT_S = 15.0
PUBLISH_LIMIT_S = 60.0

VP8_CAPS = "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
OPUS_CAPS = (
    "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,"
    "encoding-params=(string)2"
)

PUBLISHER = f"""
webrtcbin name=pc bundle-policy=max-bundle
videotestsrc is-live=true pattern=ball
  ! video/x-raw,width=320,height=240,framerate=30/1
  ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay picture-id-mode=15-bit
  ! {VP8_CAPS} ! pc.
audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc
  ! rtpopuspay ! {OPUS_CAPS} ! pc.
"""

WATCHER = "webrtcbin name=pc bundle-policy=max-bundle"


class Certificate:
    """A fresh self-signed ECDSA P-256 certificate with its key, and its SHA-256 fingerprint.

    GStreamer 1.22's DTLS elements generate an RSA-2048 certificate, and media-core's DTLS
    server (dimpl 0.9) accepts only ECDSA client certificates: its DTLS 1.2 CertificateRequest
    lists only ecdsa_sign, so OpenSSL sends an empty Certificate and the handshake fails. The
    webrtcbins therefore use this certificate, of the kind browsers use.
    """

    def __init__(self):
        with tempfile.TemporaryDirectory() as directory:
            cert = os.path.join(directory, "cert.pem")
            key = os.path.join(directory, "key.pem")
            openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-days", "1", "-subj", "/CN=gst-webrtcbin-test",
                     "-keyout", key, "-out", cert])
            # "sha256 Fingerprint=AB:CD:..." (the label differs between OpenSSL versions)
            printed = openssl(["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"])
            self.fingerprint = printed.strip().split("=", 1)[1]
            with open(cert, encoding="ascii") as c, open(key, encoding="ascii") as k:
                self.pem = c.read() + k.read()

    def rewrite_offer(self, sdp):
        """webrtcbin 1.22 puts the fingerprint of the certificate it generated into its offer
        before its DTLS elements exist, so the offer is given this certificate's fingerprint
        (RFC 8122 section 5), the one the handshake will present."""
        lines = [
            f"a=fingerprint:sha-256 {self.fingerprint}" if line.startswith("a=fingerprint:")
            else line
            for line in sdp.split("\r\n")
        ]
        return "\r\n".join(lines)


def openssl(arguments):
    return subprocess.run(
        ["openssl", *arguments], check=True, capture_output=True, text=True
    ).stdout


def log(message):
    print(f"gst_webrtcbin: {message}", flush=True)


class Peer:
    """One webrtcbin that negotiates with the demo over plain HTTP, WHIP/WHEP style."""

    def __init__(self, name, description, endpoint, loop, certificate):
        self.name = name
        self.certificate = certificate
        self.endpoint = endpoint
        self.loop = loop
        self.error = None
        self.answered = False
        self.counts = {"video": 0, "audio": 0}
        parsed = Gst.parse_launch(description)
        if isinstance(parsed, Gst.Pipeline):
            self.pipeline = parsed
        else:  # a description of one element parses to that element alone
            self.pipeline = Gst.Pipeline.new(name)
            self.pipeline.add(parsed)
        self.pc = self.pipeline.get_by_name("pc")
        # Gather on loopback only, where the demo listens; libnice skips loopback otherwise.
        # The reference is kept: webrtcbin 1.22 hands out its ICE object still floating, so
        # dropping the Python wrapper would release webrtcbin's own reference.
        self.ice = self.pc.get_property("ice-agent")
        self.ice.emit("add-local-ip-address", "127.0.0.1")
        self.ice.set_property("ice-tcp", False)
        self.pc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.pc.connect("pad-added", self._on_pad_added)
        self.pc.connect("deep-element-added", self._on_element_added)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)

    def start(self):
        self.pipeline.set_state(Gst.State.PLAYING)

    def stop(self):
        self.pipeline.set_state(Gst.State.NULL)

    def set_direction(self, direction):
        """Makes every transceiver one-way (a WHIP publisher sends, a WHEP viewer receives)."""
        for pad in self.pc.sinkpads:
            pad.get_property("transceiver").set_property("direction", direction)

    def fail(self, message):
        self.error = f"{self.name}: {message}"
        log(self.error)
        self.loop.quit()

    def _on_element_added(self, _bin, _sub_bin, element):
        """Gives each DTLS decoder our certificate as it is added, before the handshake."""
        factory = element.get_factory()
        if self.certificate and factory is not None and factory.get_name() == "dtlsdec":
            element.set_property("pem", self.certificate.pem)

    def _on_error(self, _bus, message):
        error, debug = message.parse_error()
        self.fail(f"pipeline error: {error.message} ({debug})")

    def _on_negotiation_needed(self, _element):
        promise = Gst.Promise.new_with_change_func(self._on_offer_created, None)
        self.pc.emit("create-offer", None, promise)

    def _on_offer_created(self, promise, _data):
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None and reply.has_field("offer") else None
        if offer is None:
            detail = reply.to_string() if reply is not None else "no reply"
            GLib.idle_add(self.fail, f"create-offer failed: {detail}")
            return
        self.pc.emit("set-local-description", offer, None)
        # The demo is ICE-lite: it needs only our ufrag, password and fingerprint, not our
        # candidates, so the offer goes out before gathering completes.
        text = offer.sdp.as_text()
        if self.certificate:
            text = self.certificate.rewrite_offer(text)
        threading.Thread(target=self._exchange, args=(text,), daemon=True).start()

    def _exchange(self, offer):
        request = urllib.request.Request(
            self.endpoint,
            data=offer.encode(),
            headers={"Content-Type": "application/sdp"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer = response.read().decode()
                status = response.status
        except OSError as error:
            GLib.idle_add(self.fail, f"POST {self.endpoint} failed: {error}")
            return
        if status != 201:
            GLib.idle_add(self.fail, f"POST {self.endpoint} answered {status}")
            return
        GLib.idle_add(self._apply_answer, answer)

    def _apply_answer(self, answer):
        result, sdp = GstSdp.SDPMessage.new_from_text(answer)
        if result != GstSdp.SDPResult.OK:
            self.fail("answer is not SDP")
            return False
        description = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        # webrtcbin takes the relay's candidate from the answer and sends its checks there.
        self.pc.emit("set-remote-description", description, None)
        self.answered = True
        log(f"{self.name}: answer applied")
        return False

    def _on_pad_added(self, _element, pad):
        if pad.direction != Gst.PadDirection.SRC:
            return
        decode = Gst.ElementFactory.make("decodebin")
        decode.connect("pad-added", self._on_decoded_pad)
        self.pipeline.add(decode)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))

    def _on_decoded_pad(self, _decodebin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = "video" if caps.to_string().startswith("video/") else "audio"
        sink = Gst.ElementFactory.make("fakesink")
        sink.set_property("sync", False)
        sink.set_property("async", False)
        self.pipeline.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad("sink"))
        pad.add_probe(Gst.PadProbeType.BUFFER, self._count, kind)
        log(f"{self.name}: decoding {kind} ({caps.to_string().split(',')[0]})")

    def _count(self, _pad, _info, kind):
        self.counts[kind] += 1
        return Gst.PadProbeReturn.OK

    def srtp_profiles(self):
        """The ciphers GStreamer's srtpenc elements were keyed with, as `cipher/auth`."""
        found = []
        iterator = self.pc.iterate_recurse()
        while True:
            result, element = iterator.next()
            if result != Gst.IteratorResult.OK:
                break
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "srtpenc":
                cipher = element.get_property("rtp-cipher").value_nick
                auth = element.get_property("rtp-auth").value_nick
                found.append(f"{cipher}/{auth}")
        return sorted(set(found))


def connection_state(peer):
    return peer.pc.get_property("connection-state").value_nick


def run(loop, done, timeout_s, on_timeout):
    """Runs the main loop until `done()` holds, a peer fails, or `timeout_s` passes."""
    started = time.monotonic()

    def check():
        if done():
            loop.quit()
            return False
        if time.monotonic() - started > timeout_s:
            on_timeout()
            return False
        return True

    GLib.timeout_add(100, check)
    loop.run()
    return time.monotonic() - started


def media_flows(demo, loop):
    """A webrtcbin publishes VP8 and Opus, another watches; both must arrive decoded."""
    certificate = Certificate()
    publisher = Peer("publisher", PUBLISHER, f"{demo}/whip", loop, certificate)
    publisher.set_direction(GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
    watcher = Peer("watcher", WATCHER, f"{demo}/whep", loop, certificate)
    recvonly = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
    for caps in (VP8_CAPS, OPUS_CAPS):
        watcher.pc.emit("add-transceiver", recvonly, Gst.Caps.from_string(caps))

    def enough():
        counts = watcher.counts
        return counts["video"] >= MIN_VIDEO_FRAMES and counts["audio"] >= MIN_AUDIO_BUFFERS

    publisher.start()
    watcher.start()
    elapsed = run(
        loop,
        enough,
        MEDIA_TIMEOUT_S,
        lambda: watcher.fail(f"too little media after {MEDIA_TIMEOUT_S:.0f} s: {watcher.counts}"),
    )
    log(f"watcher decoded {watcher.counts} in {elapsed:.1f} s")
    for peer in (publisher, watcher):
        log(f"negotiated {peer.name} srtp {peer.srtp_profiles() or 'unknown'}")
        log(f"{peer.name} connection {connection_state(peer)}")
    watcher.stop()
    publisher.stop()
    return publisher.error or watcher.error


def demo_has_participants(demo):
    """Whether the demo's session still lists a participant (its /stats is a Debug dump)."""
    with urllib.request.urlopen(f"{demo}/stats", timeout=2) as response:
        return response.read().decode().strip() != "[]"


def rsa_certificate_refused(demo, loop):
    """Pins a known gap: webrtcbin with its own RSA certificate cannot connect (dimpl 0.9
    requests and verifies only ECDSA client certificates), and the demo drops it at once.
    When this starts to fail, the gap is closed and the ECDSA workaround can go."""
    publisher = Peer("rsa-publisher", PUBLISHER, f"{demo}/whip", loop, None)
    publisher.set_direction(GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)

    def settled():
        if connection_state(publisher) == "connected":
            return True
        return publisher.answered and not demo_has_participants(demo)

    publisher.start()
    elapsed = run(
        loop,
        settled,
        REFUSAL_TIMEOUT_S,
        lambda: publisher.fail(f"still joined after {REFUSAL_TIMEOUT_S:.0f} s"),
    )
    state = connection_state(publisher)
    log(f"rsa-publisher: {state}, dropped by the demo after {elapsed:.1f} s")
    publisher.stop()
    if publisher.error:
        return publisher.error
    if state == "connected":
        return "rsa-publisher connected: RSA client certificates work now, drop the workaround"
    return None


def publish_only(demo, loop):
    """Publishes until killed, until its stdin pipe closes (the test that started it is gone),
    or until PUBLISH_LIMIT_S passes, for a browser test to watch."""
    publisher = Peer("publisher", PUBLISHER, f"{demo}/whip", loop, Certificate())
    publisher.set_direction(GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
    if stat.S_ISFIFO(os.fstat(0).st_mode):
        closed = GLib.IO_IN | GLib.IO_HUP
        GLib.io_add_watch(0, GLib.PRIORITY_DEFAULT, closed, lambda *_: loop.quit())
    publisher.start()
    run(loop, lambda: False, PUBLISH_LIMIT_S, loop.quit)
    publisher.stop()
    return publisher.error


SCENARIOS = {
    "media": media_flows,
    "rsa-refused": rsa_certificate_refused,
    "publish": publish_only,
}


def main():
    scenario = sys.argv[1] if len(sys.argv) > 1 else "media"
    demo = (sys.argv[2] if len(sys.argv) > 2 else os.environ.get("DEMO_URL", "")) or (
        "http://127.0.0.1:8080/"
    )
    if scenario not in SCENARIOS:
        log(f"unknown scenario {scenario}; one of {', '.join(SCENARIOS)}")
        return 2
    Gst.init(None)
    error = SCENARIOS[scenario](demo.rstrip("/"), GLib.MainLoop())
    if error:
        log(f"FAILED: {error}")
        return 1
    log(f"{scenario}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
