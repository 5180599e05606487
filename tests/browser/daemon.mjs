// Chromium through the sightline daemon and its web client: an agent signs in on /agent/ and
// starts a session; a customer in a second browser context opens the join link, reads the
// consent screen (before the page has asked for any device), allows, and the agent must
// decode the customer's camera while the customer receives the agent's microphone; the
// customer ends and the agent sees `ended`. A second test has the customer join by PIN and
// decline: no device is ever requested and the agent receives no video. A third test has the
// agent draw an arrow and a box on the customer's video, undo and clear, and checks that the
// customer's page shows the same shapes at the same normalised places. A fourth reloads the
// customer's page mid-session: it resumes the same session with the kept token, without the
// consent screen, and the agent decodes the camera again; then the agent's console reloads,
// comes back to the session and watches again.
//
// Run by scripts/browser-tests.sh against a fresh daemon: DAEMON_URL (https, self-signed
// trial certificate on loopback), DAEMON_EMAIL and DAEMON_PASSWORD (the tenant's admin).

import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS as SHARED_ARGS } from "./chromium_args.mjs";

const DAEMON_URL = process.env.DAEMON_URL ?? "https://127.0.0.1:8443";
const EMAIL = process.env.DAEMON_EMAIL ?? "admin@example.com";
const PASSWORD = process.env.DAEMON_PASSWORD ?? "";
const EXECUTABLE = process.env.CHROMIUM ?? "/usr/bin/chromium";
const MEDIA_TIMEOUT_MS = 20_000;
const END_TIMEOUT_MS = 5_000;
/** How long the decline test watches for media that must not come. */
const QUIET_MS = 4_000;

/** The shared flags, plus: the daemon's trial certificate is self-signed (loopback only). */
const CHROMIUM_ARGS = [...SHARED_ARGS, "--ignore-certificate-errors"];

/** Counts the page's getUserMedia calls in `window.getUserMediaCalls`, before any script. */
function countGetUserMedia() {
  window.getUserMediaCalls = 0;
  const devices = navigator.mediaDevices;
  if (!devices) return;
  const original = devices.getUserMedia.bind(devices);
  devices.getUserMedia = (...args) => {
    window.getUserMediaCalls += 1;
    return original(...args);
  };
}

async function newContext(browser) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  await context.grantPermissions(["camera", "microphone"], { origin: DAEMON_URL });
  await context.addInitScript(countGetUserMedia);
  return context;
}

async function newPage(context, name) {
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") {
      console.error(`[${name}] ${msg.type()}: ${msg.text()}`);
    }
  });
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
  return page;
}

/** Opens the console at `/`, signs in and starts a session; returns the page and link. */
async function agentStartsSession(browser) {
  const agent = await newPage(await newContext(browser), "agent");
  await agent.goto(`${DAEMON_URL}/`);
  assert.equal(new URL(agent.url()).pathname, "/agent/", "/ redirects to the console");
  await agent.fill("#email", EMAIL);
  await agent.fill("#password", PASSWORD);
  await agent.click("#signin");
  await agent.locator("#start").waitFor({ state: "visible", timeout: 30_000 });
  await agent.click("#start");
  await agent.locator("#join-link").waitFor({ state: "visible" });
  const link = await agent.locator("#join-link").getAttribute("href");
  const pin = await agent.locator("#pin-out").textContent();
  assert.match(pin, /^[0-9]{6}$/, "the console shows a six-digit PIN");
  assert.ok(link.startsWith(`${DAEMON_URL}/join#`), `join link ${link}`);
  return { agent, link, pin };
}

/**
 * Joins in a fresh context, by the join link or (with `pin`) by typing the PIN on `/join`,
 * and waits for the consent screen.
 */
async function customerOpens(browser, { link, pin }) {
  const customer = await newPage(await newContext(browser), "customer");
  if (pin) {
    await customer.goto(`${DAEMON_URL}/join`);
    await customer.fill("#pin", pin);
    await customer.click("#join");
  } else {
    await customer.goto(link);
  }
  await customer.locator("#consent").waitFor({ state: "visible", timeout: 15_000 });
  const text = (await customer.locator("#consent").textContent()).replace(/\s+/g, " ");
  for (const words of ["camera", "microphone", "only to the support team helping you", "until you press"]) {
    assert.ok(text.includes(words), `the consent screen says "${words}": ${text}`);
  }
  assert.equal(await getUserMediaCalls(customer), 0, "no device asked for before consent");
  assert.equal(new URL(customer.url()).hash, "", "the join token left the address bar");
  return customer;
}

function getUserMediaCalls(page) {
  return page.evaluate(() => window.getUserMediaCalls);
}

/** Inbound RTP of one kind on `window.sightlineTest[pcName]`, and the `#remote` video. */
function mediaStats(page, pcName, kind) {
  return page.evaluate(
    async ({ pcName, kind }) => {
      const out = { packetsReceived: 0, framesDecoded: 0, connection: null };
      const video = document.getElementById("remote");
      if (video) {
        out.videoWidth = video.videoWidth;
        out.totalVideoFrames = video.getVideoPlaybackQuality().totalVideoFrames;
      }
      const pc = window.sightlineTest?.[pcName];
      if (!pc) return out;
      out.connection = pc.connectionState;
      for (const s of (await pc.getStats()).values()) {
        if (s.type === "inbound-rtp" && s.kind === kind) {
          out.packetsReceived += s.packetsReceived ?? 0;
          out.framesDecoded += s.framesDecoded ?? 0;
        }
      }
      return out;
    },
    { pcName, kind },
  );
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

/** The customer ends; the agent's event list must show `ended` within 5 s. */
/** Debian's Chromium, headless, with the test flags. */
function launch() {
  return chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 15_000,
  });
}

async function customerEnds(customer, agent) {
  await customer.click("#end");
  const ended = agent.locator('#events li[data-type="ended"]');
  await ended.waitFor({ state: "attached", timeout: END_TIMEOUT_MS });
  assert.match(await ended.textContent(), /ended_by_customer/);
  assert.match(await customer.locator("#status").textContent(), /ended/);
}

test("a customer shares the camera with an agent through the daemon", async () => {
  const browser = await launch();
  try {
    const { agent, link } = await agentStartsSession(browser);
    const customer = await customerOpens(browser, { link });
    await customer.click("#allow");

    const seen = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.framesDecoded > 10 && s.videoWidth > 0 && s.totalVideoFrames > 0,
      MEDIA_TIMEOUT_MS,
    );
    console.log(`agent viewer: ${JSON.stringify(seen)}`);
    assert.ok(seen.videoWidth > 0, `the agent's video has no size: ${JSON.stringify(seen)}`);
    assert.ok(seen.framesDecoded > 10, `the agent decoded ${seen.framesDecoded} frames`);
    const later = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.totalVideoFrames > seen.totalVideoFrames,
      3_000,
    );
    assert.ok(later.totalVideoFrames > seen.totalVideoFrames, "the agent's video stopped");

    const heard = await waitFor(
      () => mediaStats(customer, "receive", "audio"),
      (s) => s.packetsReceived > 0,
      MEDIA_TIMEOUT_MS,
    );
    console.log(`customer receiving the agent: ${JSON.stringify(heard)}`);
    assert.ok(heard.packetsReceived > 0, "the customer received no audio from the agent");
    assert.equal(await getUserMediaCalls(customer), 1, "one getUserMedia after allow");

    await customerEnds(customer, agent);
  } finally {
    await browser.close();
  }
});

test("a customer who joins by PIN and declines shares nothing and can still end", async () => {
  const browser = await launch();
  try {
    const { agent, pin } = await agentStartsSession(browser);
    const customer = await customerOpens(browser, { pin });
    await customer.click("#decline");
    await customer.locator("#declined").waitFor({ state: "visible" });
    assert.match(await customer.locator("#declined").textContent(), /will not see or hear/);
    await customer.locator("#allow-later").waitFor({ state: "visible" });

    // Once both media paths are up, watch for a while: nothing of the customer may arrive.
    const connected = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.connection === "connected",
      MEDIA_TIMEOUT_MS,
    );
    assert.equal(connected.connection, "connected", "the agent's viewer connected");
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const quiet = await mediaStats(agent, "viewer", "video");
    console.log(`agent viewer after decline: ${JSON.stringify(quiet)}`);
    assert.equal(quiet.packetsReceived, 0, "the agent received video packets");
    assert.equal(quiet.videoWidth, 0, "the agent's video has a picture");
    assert.equal(await getUserMediaCalls(customer), 0, "getUserMedia was called");

    await customerEnds(customer, agent);
  } finally {
    await browser.close();
  }
});

/** Where the fractions `[x, y]` of `#remote`'s video frame are on the agent's page. */
function framePoint(agent, [x, y]) {
  return agent.evaluate(
    ([x, y]) => {
      const video = document.getElementById("remote");
      const rect = video.getBoundingClientRect();
      const scale = Math.min(rect.width / video.videoWidth, rect.height / video.videoHeight);
      const width = video.videoWidth * scale;
      const height = video.videoHeight * scale;
      const left = rect.left + (rect.width - width) / 2;
      const top = rect.top + (rect.height - height) / 2;
      return { x: left + x * width, y: top + y * height };
    },
    [x, y],
  );
}

/** The agent picks `tool` and drags the mouse from `from` to `to` (frame fractions). */
async function agentDraws(agent, tool, from, to) {
  await agent.click(`#tools [data-tool="${tool}"]`);
  await agent.locator("#remote").scrollIntoViewIfNeeded();
  const start = await framePoint(agent, from);
  const end = await framePoint(agent, to);
  await agent.mouse.move(start.x, start.y);
  await agent.mouse.down();
  await agent.mouse.move((start.x + end.x) / 2, (start.y + end.y) / 2, { steps: 4 });
  await agent.mouse.move(end.x, end.y, { steps: 4 });
  await agent.mouse.up();
}

function annotations(page) {
  return page.evaluate(() => window.sightlineTest.annotations());
}

/** How many pixels of the customer's overlay canvas are not fully transparent. */
function overlayInk(customer) {
  return customer.evaluate(() => {
    const canvas = document.getElementById("preview-overlay");
    const copy = document.createElement("canvas");
    copy.width = canvas.width;
    copy.height = canvas.height;
    const context = copy.getContext("2d", { willReadFrequently: true });
    context.drawImage(canvas, 0, 0);
    const data = context.getImageData(0, 0, copy.width, copy.height).data;
    let ink = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) ink += 1;
    return ink;
  });
}

function assertNear(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: ${JSON.stringify(actual)}`);
  actual.forEach(([x, y], i) => {
    const [ex, ey] = expected[i];
    assert.ok(
      Math.abs(x - ex) <= 0.02 && Math.abs(y - ey) <= 0.02,
      `${what}: point ${i} is ${JSON.stringify([x, y])}, expected ${JSON.stringify([ex, ey])}`,
    );
  });
}

test("the agent draws on the customer's video and both pages show the same shapes", async () => {
  const browser = await launch();
  try {
    const { agent, link } = await agentStartsSession(browser);
    const customer = await customerOpens(browser, { link });
    await customer.click("#allow");
    const seen = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.framesDecoded > 0 && s.videoWidth > 0,
      MEDIA_TIMEOUT_MS,
    );
    assert.ok(seen.videoWidth > 0, `the agent's video has no size: ${JSON.stringify(seen)}`);

    const tail = [0.2, 0.3];
    const head = [0.6, 0.7];
    await agentDraws(agent, "arrow", tail, head);
    await agentDraws(agent, "rect", [0.1, 0.1], [0.4, 0.5]);
    const both = await waitFor(() => annotations(agent), (list) => list.length === 2, END_TIMEOUT_MS);
    assert.deepEqual(both.map((s) => s.kind), ["arrow", "rect"], "the agent's echoed shapes");
    await agent.click("#draw-undo");

    const shown = await waitFor(
      () => annotations(customer),
      (list) => list.length === 1 && list[0].kind === "arrow",
      END_TIMEOUT_MS,
    );
    console.log(`customer annotations: ${JSON.stringify(shown)}`);
    assert.equal(shown.length, 1, `the customer shows ${JSON.stringify(shown)}`);
    const [arrow] = shown;
    assert.equal(arrow.kind, "arrow");
    assert.equal(arrow.number, 1, "the first arrow is number 1");
    assertNear(arrow.points, [tail, head], "the customer's arrow against the mouse");
    const [agentArrow] = await waitFor(() => annotations(agent), (l) => l.length === 1, END_TIMEOUT_MS);
    assertNear(arrow.points, agentArrow.points, "the customer's arrow against the agent's");
    assert.ok((await overlayInk(customer)) > 0, "the customer's overlay shows nothing");

    await agent.click("#draw-clear");
    const cleared = await waitFor(
      async () => [await annotations(agent), await annotations(customer)],
      ([a, c]) => a.length === 0 && c.length === 0,
      END_TIMEOUT_MS,
    );
    assert.deepEqual(cleared, [[], []], "clear empties both pages");
    assert.equal(await overlayInk(customer), 0, "the customer's overlay still shows ink");

    await customerEnds(customer, agent);
  } finally {
    await browser.close();
  }
});

/** Records in `window.consentShown` whether the consent screen was ever shown on this load. */
function watchConsentScreen() {
  window.consentShown = false;
  document.addEventListener("DOMContentLoaded", () => {
    const consent = document.getElementById("consent");
    if (!consent) return;
    const check = () => (window.consentShown ||= !consent.hidden);
    check();
    new MutationObserver(check).observe(consent, { attributes: true });
  });
}

test("a reload of the customer's page resumes the session without a new key", async () => {
  const browser = await launch();
  try {
    const { agent, link } = await agentStartsSession(browser);
    const customer = await customerOpens(browser, { link });
    await customer.click("#allow");
    const before = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.framesDecoded > 10,
      MEDIA_TIMEOUT_MS,
    );
    assert.ok(before.framesDecoded > 10, `before the reload the agent decoded ${before.framesDecoded}`);
    const sessionId = await customer.evaluate(() => window.sightlineTest.sessionId);

    await customer.addInitScript(watchConsentScreen);
    await customer.reload();
    const reloadedAt = (await mediaStats(agent, "viewer", "video")).framesDecoded;
    const after = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.framesDecoded > reloadedAt + 30,
      MEDIA_TIMEOUT_MS,
    );
    console.log(`agent viewer after the reload: ${JSON.stringify(after)} (from ${reloadedAt})`);
    assert.ok(
      after.framesDecoded > reloadedAt + 30,
      `after the reload the agent decoded ${after.framesDecoded - reloadedAt} new frames`,
    );
    assert.equal(await getUserMediaCalls(customer), 1, "one getUserMedia after the reload");
    assert.equal(await customer.evaluate(() => window.consentShown), false, "consent screen shown again");
    assert.equal(await customer.evaluate(() => window.sightlineTest.sessionId), sessionId);
    assert.ok(await customer.locator("#live").isVisible(), "the customer's preview is not shown");

    // The agent reloads too: the console comes back signed in, to the session, and watches.
    await agent.reload();
    const watching = await waitFor(
      () => mediaStats(agent, "viewer", "video"),
      (s) => s.framesDecoded > 10,
      MEDIA_TIMEOUT_MS,
    );
    assert.ok(watching.framesDecoded > 10, `after its reload the agent decoded ${watching.framesDecoded}`);
    assert.equal(await agent.evaluate(() => window.sightlineTest.sessionId), sessionId);

    await customerEnds(customer, agent);
    assert.equal(
      await customer.evaluate(() => sessionStorage.length),
      0,
      "the customer's token stayed in sessionStorage after the end",
    );
  } finally {
    await browser.close();
  }
});
