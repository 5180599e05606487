"""A WebRTC test peer built on aiortc, driven over stdin and stdout with JSON lines.

media-core's interop tests spawn this script (through tests/common/aiortc.rs) to get a peer
whose ICE, DTLS (OpenSSL) and SRTP (libsrtp) share no code with the forwarder. The peer
makes the offer, as a browser publishing or viewing through the forwarder does; with
--answer it answers instead (for tests between two test peers).

Protocol, one JSON object per line:
  out {"offer": sdp}                      once ICE gathering is complete
  in  {"answer": sdp}                     the answer to apply
  (with --answer: in {"offer": sdp}, then out {"answer": sdp})
  out {"connected": true}                 when the connection state becomes "connected"
  out {"failed": state}                   when it becomes "failed" or "closed" before "done"
  out {"received": {"kind": k, ...}}      receive counters of one kind, when they changed
  in  {"stop": true} (or end of input)    ends the session early
  out {"done": {"connection": state, "audio": {...}, "video": {...}}}   last line

Receive counters per kind: packets (RTP packets), bytes (payload bytes), stamped (payloads
carrying an intact test stamp, see below), corrupt (payloads whose stamp failed its check),
frames (frames the aiortc decoder produced) and ssrcs.

The stamp is the format of tests/common/payload.rs: b"SLTP", codec id (1 byte), flags
(1 byte), index (u32 BE), body length (u16 BE), body (xorshift32 bytes seeded by the index),
FNV-1a 32 of all of the above (u32 BE), and nothing after it in the payload.
"""

import argparse
import asyncio
import json
import logging
import struct
import sys
import time

import aioice.ice
import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc import rtcdtlstransport
from aiortc.mediastreams import AudioStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver

STAMP_MAGIC = b"SLTP"
STAMP_HEADER = struct.Struct(">4sBBIH")
ANSWER_TIMEOUT_S = 30.0
PROGRESS_INTERVAL_S = 0.2


def emit(message):
    """Writes one protocol line to stdout."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def use_loopback_only():
    """aioice skips 127.0.0.1 when gathering; the tests run on loopback only."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def restrict_srtp_profiles(choice):
    """Limits the SRTP profiles the DTLS handshake offers (use_srtp, RFC 5764)."""
    wanted = {
        "gcm": [rtcdtlstransport.SRTP_AEAD_AES_128_GCM],
        "gcm256": [rtcdtlstransport.SRTP_AEAD_AES_256_GCM],
        "cm": [rtcdtlstransport.SRTP_AES128_CM_SHA1_80],
        "all": list(rtcdtlstransport.SRTP_PROFILES),
    }[choice]
    # RTCDtlsTransport reads the module-level list when it is constructed.
    rtcdtlstransport.SRTP_PROFILES[:] = [
        p for p in wanted if p in rtcdtlstransport.SRTP_PROFILES
    ]


class SmallVideoTrack(VideoStreamTrack):
    """A synthetic 320x240 video source at 30 frames per second, cheap to encode."""

    def __init__(self):
        super().__init__()
        self.count = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(width=320, height=240)
        shade = (self.count * 4) % 256
        for plane in frame.planes:
            plane.update(bytes([shade]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = time_base
        self.count += 1
        return frame


def xorshift_body(index, length):
    state = (index * 0x9E3779B9) & 0xFFFFFFFF | 1
    body = bytearray(length)
    for i in range(length):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        body[i] = state & 0xFF
    return bytes(body)


def fnv1a32(data):
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def check_stamp(payload):
    """Returns None when there is no stamp, True when it is intact, False when corrupt."""
    at = payload.find(STAMP_MAGIC)
    if at < 0:
        return None
    stamped = payload[at:]
    if len(stamped) < STAMP_HEADER.size + 4:
        return False
    _, _, _, index, body_len = STAMP_HEADER.unpack_from(stamped)
    end = STAMP_HEADER.size + body_len
    if len(stamped) != end + 4:
        return False
    if stamped[STAMP_HEADER.size : end] != xorshift_body(index, body_len):
        return False
    (checksum,) = struct.unpack_from(">I", stamped, end)
    return checksum == fnv1a32(stamped[:end])


class Counters:
    """Receive counters of one media kind."""

    def __init__(self, kind):
        self.kind = kind
        self.packets = 0
        self.bytes = 0
        self.stamped = 0
        self.corrupt = 0
        self.frames = 0
        self.ssrcs = set()

    def snapshot(self):
        return {
            "kind": self.kind,
            "packets": self.packets,
            "bytes": self.bytes,
            "stamped": self.stamped,
            "corrupt": self.corrupt,
            "frames": self.frames,
            "ssrcs": sorted(self.ssrcs),
        }


COUNTERS = {"audio": Counters("audio"), "video": Counters("video")}


def count_rtp_packets():
    """Wraps aiortc's receiver so that every RTP packet is counted before decoding."""
    original = RTCRtpReceiver._handle_rtp_packet

    async def handle(self, packet, arrival_time_ms):
        counters = COUNTERS[self._RTCRtpReceiver__kind]
        counters.packets += 1
        counters.bytes += len(packet.payload)
        counters.ssrcs.add(packet.ssrc)
        stamp = check_stamp(packet.payload)
        if stamp is True:
            counters.stamped += 1
        elif stamp is False:
            counters.corrupt += 1
        await original(self, packet, arrival_time_ms)

    RTCRtpReceiver._handle_rtp_packet = handle


def prefer_video_codec(transceiver, name):
    codecs = RTCRtpSender.getCapabilities("video").codecs
    preferred = [c for c in codecs if c.mimeType.lower() == f"video/{name}"]
    repair = [c for c in codecs if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(preferred + repair)


def add_transceivers(pc, args):
    direction = {
        (True, True): "sendrecv",
        (True, False): "sendonly",
        (False, True): "recvonly",
    }[(args.send, args.recv)]
    for kind in ("audio", "video"):
        if args.send:
            track = AudioStreamTrack() if kind == "audio" else SmallVideoTrack()
            transceiver = pc.addTransceiver(track, direction=direction)
        else:
            transceiver = pc.addTransceiver(kind, direction=direction)
        if kind == "video":
            prefer_video_codec(transceiver, args.video_codec)


async def consume_frames(track):
    counters = COUNTERS[track.kind]
    try:
        while True:
            await track.recv()
            counters.frames += 1
    except Exception:  # MediaStreamError when the track ends
        return


async def stdin_lines():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader


async def read_message(reader, timeout):
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        return None
    return json.loads(line)


async def watch_stop(reader, stop):
    while not stop.is_set():
        message = await read_message(reader, None)
        if message is None or message.get("stop"):
            stop.set()


async def report_progress(stop):
    last = {}
    while not stop.is_set():
        for kind, counters in COUNTERS.items():
            snapshot = counters.snapshot()
            if snapshot != last.get(kind) and snapshot["packets"] > 0:
                emit({"received": snapshot})
                last[kind] = snapshot
        await asyncio.sleep(PROGRESS_INTERVAL_S)


def watch_connection(pc, stop):
    @pc.on("connectionstatechange")
    def on_state():
        state = pc.connectionState
        if state == "connected":
            emit({"connected": True})
        elif state in ("failed", "closed") and not stop.is_set():
            emit({"failed": state})
            stop.set()


async def answer_offer(pc, reader, args):
    message = await read_message(reader, ANSWER_TIMEOUT_S)
    if message is None or "offer" not in message:
        raise SystemExit(f"expected an offer, got {message!r}")
    await pc.setRemoteDescription(RTCSessionDescription(message["offer"], "offer"))
    if args.send:
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(SmallVideoTrack())
    await pc.setLocalDescription(await pc.createAnswer())
    emit({"answer": pc.localDescription.sdp})


async def make_offer(pc, reader, args):
    add_transceivers(pc, args)
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    emit({"offer": pc.localDescription.sdp})
    message = await read_message(reader, ANSWER_TIMEOUT_S)
    if message is None or "answer" not in message:
        raise SystemExit(f"expected an answer, got {message!r}")
    await pc.setRemoteDescription(RTCSessionDescription(message["answer"], "answer"))


async def run(args):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    stop = asyncio.Event()
    tasks = []
    watch_connection(pc, stop)

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(consume_frames(track)))

    reader = await stdin_lines()
    negotiate = answer_offer if args.answer else make_offer
    await negotiate(pc, reader, args)
    tasks.append(asyncio.ensure_future(watch_stop(reader, stop)))
    tasks.append(asyncio.ensure_future(report_progress(stop)))
    deadline = time.monotonic() + args.duration
    try:
        await asyncio.wait_for(stop.wait(), max(0.0, deadline - time.monotonic()))
    except asyncio.TimeoutError:
        pass
    stop.set()
    summary = {"connection": pc.connectionState}
    summary.update({kind: c.snapshot() for kind, c in COUNTERS.items()})
    emit({"done": summary})
    await pc.close()
    for task in tasks:
        task.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--send", action="store_true", help="send audio and video")
    parser.add_argument("--recv", action="store_true", help="receive audio and video")
    parser.add_argument("--answer", action="store_true", help="answer an offer instead")
    parser.add_argument("--profile", choices=["gcm", "gcm256", "cm", "all"], default="all")
    parser.add_argument("--video-codec", choices=["vp8", "h264"], default="vp8")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds after the answer")
    parser.add_argument("--verbose", action="store_true", help="debug logs on stderr")
    args = parser.parse_args()
    if not (args.send or args.recv):
        parser.error("give --send, --recv or both")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    use_loopback_only()
    restrict_srtp_profiles(args.profile)
    count_rtp_packets()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
