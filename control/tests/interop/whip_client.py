"""An ordinary WHIP or WHEP client (RFC 9725) on aiortc, for the daemon's interop tests.

It does its own signalling over HTTPS with nothing but the standard library: POST the
offer as application/sdp with the bearer token, expect 201 with the answer, a Location and
an ETag, apply the answer, run for a while, then DELETE the resource. Its ICE, DTLS
(OpenSSL) and SRTP (libsrtp) share no code with Sightline.

--publish sends a synthetic camera (VP8, 320x240) and microphone (Opus); --view receives
audio and video and counts RTP packets and decoded frames.

Output, one JSON object per line on stdout:
  {"created": {"status": 201, "location": ..., "etag": ...}}   or
  {"refused": {"status": n, "error": problem_error_member}}     then exit
  {"connected": true}
  {"received": {"kind": k, "packets": n, "frames": n, ...}}     when counters change
  {"done": {"connection": state, "audio": {...}, "video": {...}, "deleted": status}}
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(
    0,
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "..", "..", "..", "media-core", "tests", "interop",
    ),
)

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402

import aiortc_peer  # noqa: E402
from aiortc_peer import COUNTERS, SmallVideoTrack, consume_frames, emit  # noqa: E402

HTTP_TIMEOUT_S = 20.0


def https_request(args, method, url, body=None, content_type=None):
    """Sends one request; returns (status, headers, body) for any status."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {args.token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    context = ssl.create_default_context(cafile=args.cafile)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=context) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def problem_error(body):
    try:
        return json.loads(body).get("error")
    except (ValueError, AttributeError):
        return None


async def negotiate(pc, args):
    """POSTs the offer; returns the resource URL, or None after reporting a refusal."""
    direction = "sendonly" if args.publish else "recvonly"
    if args.publish:
        pc.addTransceiver(AudioStreamTrack(), direction=direction)
        pc.addTransceiver(SmallVideoTrack(), direction=direction)
    else:
        pc.addTransceiver("audio", direction=direction)
        pc.addTransceiver("video", direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp.encode()
    status, headers, body = await asyncio.to_thread(
        https_request, args, "POST", args.endpoint, offer, "application/sdp"
    )
    if status != 201:
        emit({"refused": {"status": status, "error": problem_error(body)}})
        return None
    location = urllib.parse.urljoin(args.endpoint, headers.get("Location", ""))
    emit({"created": {"status": status, "location": location, "etag": headers.get("ETag")}})
    await pc.setRemoteDescription(RTCSessionDescription(body.decode(), "answer"))
    return location


async def run(args):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    stop = asyncio.Event()
    tasks = []
    aiortc_peer.watch_connection(pc, stop)

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(consume_frames(track)))

    location = await negotiate(pc, args)
    if location is None:
        await pc.close()
        return
    tasks.append(asyncio.ensure_future(aiortc_peer.report_progress(stop)))
    try:
        await asyncio.wait_for(stop.wait(), args.duration)
    except asyncio.TimeoutError:
        pass
    stop.set()
    summary = {"connection": pc.connectionState}
    summary.update({kind: c.snapshot() for kind, c in COUNTERS.items()})
    if not args.keep:
        status, _, _ = await asyncio.to_thread(https_request, args, "DELETE", location)
        summary["deleted"] = status
    emit({"done": summary})
    await pc.close()
    for task in tasks:
        task.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    role = parser.add_mutually_exclusive_group(required=True)
    role.add_argument("--publish", action="store_true", help="WHIP: send camera and microphone")
    role.add_argument("--view", action="store_true", help="WHEP: receive audio and video")
    parser.add_argument("--endpoint", required=True, help="the WHIP or WHEP endpoint URL")
    parser.add_argument("--token", required=True, help="the bearer token")
    parser.add_argument("--cafile", required=True, help="PEM certificate to trust")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds after the answer")
    parser.add_argument("--keep", action="store_true", help="do not DELETE the resource")
    args = parser.parse_args()
    aiortc_peer.use_loopback_only()
    aiortc_peer.count_rtp_packets()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
