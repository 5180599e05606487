// Chromium through media-core's loopback demo: one page shares its (fake) camera and
// microphone with "Share camera" (POST /whip), a second page watches with "Watch" (POST /whep),
// and the watcher must decode video frames and receive audio packets through the forwarder.
//
// A second scenario has GStreamer's webrtcbin publish (tests/browser/gst_webrtcbin.py publish)
// and Chromium watch it. Both read from getStats which DTLS version and SRTP profile Chromium
// negotiated with the forwarder and print them.
//
// Run by scripts/browser-tests.sh with DEMO_URL set to a fresh demo's page, one scenario per
// demo (CHROMIUM_SCENARIO=browser or gstreamer; unset runs both, which then share one session).
// Chromium is Debian's (/usr/bin/chromium, or CHROMIUM), driven by playwright-core.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS as SHARED_ARGS } from "./chromium_args.mjs";

const DEMO_URL = process.env.DEMO_URL ?? "http://127.0.0.1:8080/";
const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";
const MEDIA_TIMEOUT_MS = 20_000;
const MIN_FRAMES_DECODED = 10;
const SCENARIO = process.env.CHROMIUM_SCENARIO ?? "all";
const GST_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "gst_webrtcbin.py");

const CHROMIUM_ARGS = SHARED_ARGS;

/** A Chromium with a fresh profile; `close()` also removes the profile. */
async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "sightline-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 15_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the demo page in a new tab and clicks one of its buttons. */
async function openAndClick(context, button) {
  const page = await context.newPage();
  page.on("console", (msg) => {
    // The demo serves no favicon; every other console error is worth seeing.
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
      console.error(`[${button}] ${msg.text()}`);
    }
  });
  await page.goto(DEMO_URL);
  await page.click(`#${button}`);
  return page;
}

/** The parts of the page's getStats that the assertions and the report need. */
function pageStats(page) {
  return page.evaluate(async () => {
    const video = document.getElementById("video");
    const out = {
      state: window.demo.state,
      frames: window.demo.frames,
      videoWidth: video.videoWidth,
      inbound: {},
      outbound: {},
      transport: null,
    };
    if (!window.demo.pc) return out;
    const report = await window.demo.pc.getStats();
    for (const s of report.values()) {
      if (s.type === "inbound-rtp") {
        out.inbound[s.kind] = {
          packetsReceived: s.packetsReceived ?? 0,
          framesDecoded: s.framesDecoded ?? 0,
        };
      } else if (s.type === "outbound-rtp") {
        out.outbound[s.kind] = { packetsSent: s.packetsSent ?? 0 };
      } else if (s.type === "transport") {
        out.transport = {
          dtlsState: s.dtlsState,
          dtlsRole: s.dtlsRole,
          tlsVersion: s.tlsVersion,
          dtlsCipher: s.dtlsCipher,
          srtpCipher: s.srtpCipher,
        };
      }
    }
    return out;
  });
}

/** Polls `probe` until `done` holds for its result or the deadline passes; returns the last. */
async function waitFor(probe, done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = await probe();
  while (!done(last) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await probe();
  }
  return last;
}

/** Chromium reports the DTLS version as the record's hex version (RFC 9147 section 5.3). */
function dtlsVersionName(tlsVersion) {
  const names = { FEFD: "DTLS 1.2", FEFC: "DTLS 1.3" };
  return names[String(tlsVersion).toUpperCase()] ?? `unknown (${tlsVersion})`;
}

function describeTransport(role, transport) {
  if (!transport) return `${role}: no transport stats`;
  return (
    `${role}: ${dtlsVersionName(transport.tlsVersion)} (tlsVersion ${transport.tlsVersion}), ` +
    `dtlsCipher ${transport.dtlsCipher}, srtpCipher ${transport.srtpCipher}, ` +
    `dtlsRole ${transport.dtlsRole}`
  );
}

/** Whether the watcher page decodes video and receives audio (the assertions' condition). */
function watching(s) {
  return (
    s.frames > 0 &&
    s.videoWidth > 0 &&
    (s.inbound.audio?.packetsReceived ?? 0) > 0 &&
    (s.inbound.video?.framesDecoded ?? 0) > MIN_FRAMES_DECODED
  );
}

/** Asserts that the watcher decodes media, and that frames keep coming after `seen`. */
async function assertWatching(watcher, seen) {
  assert.equal(seen.transport?.dtlsState, "connected", "watcher DTLS connected");
  assert.ok(seen.frames > 0, `watcher rendered no frame (state ${seen.state})`);
  assert.ok(seen.videoWidth > 0, "watcher video has no size");
  assert.ok((seen.inbound.audio?.packetsReceived ?? 0) > 0, "watcher received no audio");
  assert.ok(
    (seen.inbound.video?.framesDecoded ?? 0) > MIN_FRAMES_DECODED,
    `watcher decoded ${seen.inbound.video?.framesDecoded ?? 0} video frames`,
  );
  const later = await waitFor(() => pageStats(watcher), (s) => s.frames > seen.frames, 2_000);
  assert.ok(later.frames > seen.frames, `frames stopped at ${seen.frames}`);
}

function scenario(name) {
  return SCENARIO === "all" || SCENARIO === name;
}

if (scenario("browser")) {
  test("chromium shares a camera and a second chromium page watches it", async () => {
    const browser = await launch();
    try {
      const publisher = await openAndClick(browser.context, "share");
      const watcher = await openAndClick(browser.context, "watch");
      const seen = await waitFor(() => pageStats(watcher), watching, MEDIA_TIMEOUT_MS);
      const sent = await pageStats(publisher);
      console.log(`chromium publisher: ${JSON.stringify(sent)}`);
      console.log(`chromium watcher: ${JSON.stringify(seen)}`);
      console.log(`negotiated ${describeTransport("chromium publisher", sent.transport)}`);
      console.log(`negotiated ${describeTransport("chromium watcher", seen.transport)}`);
      assert.equal(sent.transport?.dtlsState, "connected", "publisher DTLS connected");
      await assertWatching(watcher, seen);
    } finally {
      await browser.close();
    }
  });
}

if (scenario("gstreamer")) {
  test("chromium watches a GStreamer webrtcbin publisher", async () => {
    const gst = spawn("/usr/bin/python3", [GST_SCRIPT, "publish", DEMO_URL], {
      stdio: ["pipe", "inherit", "inherit"], // it stops when this pipe closes
    });
    const browser = await launch();
    try {
      const watcher = await openAndClick(browser.context, "watch");
      const seen = await waitFor(() => pageStats(watcher), watching, MEDIA_TIMEOUT_MS);
      console.log(`chromium watcher of gstreamer: ${JSON.stringify(seen)}`);
      const transport = describeTransport("chromium watcher of gstreamer", seen.transport);
      console.log(`negotiated ${transport}`);
      assert.equal(gst.exitCode, null, `the GStreamer publisher exited (${gst.exitCode})`);
      await assertWatching(watcher, seen);
    } finally {
      gst.kill("SIGTERM");
      await browser.close();
    }
  });
}
