// The customer's page: join by the link's fragment (#<join token>) or by PIN, ask for
// consent in words before the browser asks for any device, then publish the camera and
// microphone with WHIP and hear the agent with WHEP. What the agent draws shows over the
// camera's preview.
//
// The customer's token and session id are kept in this tab's sessionStorage (never in
// localStorage, a cookie or the address bar) so that a reload resumes the session within the
// daemon's grace period: the consent already given is kept by the server, so the page asks
// for the devices again and posts new WHIP and WHEP resources without showing the consent
// screen. The stored pair is cleared when the session ends or the token stops working.

import { AnnotationModel, Overlay } from "./annotations.js";
import { api, ApiError, closePeer, negotiate, openEvents, setStatus, showOnly } from "./client.js";

const $ = (id) => document.getElementById(id);
const SECTIONS = ["pin-form", "consent", "declined", "live", "controls"];

/** The session, the token and the media; exposed as `window.sightlineTest` for tests. */
const state = {
  sessionId: null,
  token: null,
  stream: null,
  publish: null,
  receive: null,
  socket: null,
  ended: false,
};
window.sightlineTest = state;

/** The shapes drawn on the video, from the relayed `annotation` messages. */
const annotations = new AnnotationModel();
state.annotations = () => annotations.list();
new Overlay($("preview"), $("preview-overlay"), annotations);

function sessionPath(suffix = "") {
  return `/v1/sessions/${state.sessionId}${suffix}`;
}

/** Where this tab keeps its session id and customer token across reloads. */
const STORAGE_KEY = "sightline.customer";

function remember() {
  const saved = { sessionId: state.sessionId, token: state.token };
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
}

function forget() {
  sessionStorage.removeItem(STORAGE_KEY);
}

function remembered() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    if (typeof saved?.sessionId === "string" && typeof saved?.token === "string") return saved;
  } catch {
    // Unreadable: treated as nothing saved.
  }
  forget();
  return null;
}

async function start() {
  const saved = remembered();
  if (saved) {
    await resume(saved);
    return;
  }
  const joinToken = decodeURIComponent(location.hash.slice(1));
  if (!joinToken) {
    showOnly(SECTIONS, ["pin-form"]);
    setStatus("Enter the code your support agent reads out.");
    return;
  }
  // The token works once: take it out of the address bar and the history.
  history.replaceState(null, "", location.pathname);
  await join({ join_token: joinToken });
}

async function join(body) {
  setStatus("Joining…");
  try {
    const joined = await api("POST", "/v1/join", { json: body });
    state.sessionId = joined.session_id;
    state.token = joined.token;
    remember();
  } catch (error) {
    showOnly(SECTIONS, ["pin-form"]);
    setStatus(joinFailure(error));
    return;
  }
  state.socket = openEvents(state.sessionId, state.token, onEvent);
  showOnly(SECTIONS, ["consent", "controls"]);
  setStatus("Connected to your support agent. Nothing is shared yet.");
}

/** Comes back to a session after a reload, with the token this tab kept. */
async function resume(saved) {
  state.sessionId = saved.sessionId;
  state.token = saved.token;
  setStatus("Reconnecting to your support agent…");
  let session;
  try {
    session = await api("GET", sessionPath(), { token: state.token });
  } catch (error) {
    resumeFailed(error);
    return;
  }
  if (session.state === "ended") {
    forget();
    state.ended = true;
    showOnly(SECTIONS, []);
    setStatus("The session has ended. Thank you.");
    return;
  }
  state.socket = openEvents(state.sessionId, state.token, onEvent);
  if (session.consent?.camera || session.consent?.microphone) {
    await share();
    return;
  }
  showOnly(SECTIONS, ["consent", "controls"]);
  setStatus("Connected to your support agent. Nothing is shared yet.");
}

function resumeFailed(error) {
  if (error instanceof ApiError && [401, 403, 404, 410].includes(error.status)) {
    forget();
    state.sessionId = null;
    state.token = null;
    showOnly(SECTIONS, ["pin-form"]);
    setStatus("Your earlier session can no longer be resumed. Ask your agent for a new code and enter it here.");
    return;
  }
  showOnly(SECTIONS, ["controls"]);
  setStatus(`Cannot reconnect right now (${error.message}). Reload the page in a moment.`);
}

function joinFailure(error) {
  if (error instanceof ApiError && error.status === 429) {
    return "Too many attempts. Wait a minute, then try again.";
  }
  if (error instanceof ApiError && error.status < 500) {
    return "This code or link does not work (wrong, used or expired). Ask your agent for a new code and enter it here.";
  }
  return `Cannot join right now (${error.message}). Try again in a moment.`;
}

async function allow() {
  try {
    await api("POST", sessionPath("/consent"), {
      token: state.token,
      json: { camera: true, microphone: true },
    });
  } catch (error) {
    showOnly(SECTIONS, ["declined", "controls"]);
    setStatus(`Nothing is shared: ${error.message}`);
    return;
  }
  await share();
}

/** Acquires the camera and microphone (consent is given) and publishes them. */
async function share() {
  showOnly(SECTIONS, ["live", "controls"]);
  setStatus("Your browser now asks for the camera and the microphone…");
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: true,
    });
  } catch (error) {
    await revokeConsent();
    showOnly(SECTIONS, ["declined", "controls"]);
    setStatus(`Nothing is shared: ${deviceFailure(error)}`);
    return;
  }
  $("preview").srcObject = state.stream;
  await Promise.all([publish(), receive()]);
}

function deviceFailure(error) {
  if (error?.name === "NotAllowedError") return "the browser was not allowed to use the camera.";
  if (error?.name === "NotFoundError") return "no camera or microphone was found.";
  return error?.message ?? String(error);
}

async function publish() {
  const pc = new RTCPeerConnection();
  state.publish = pc;
  for (const track of state.stream.getTracks()) {
    pc.addTransceiver(track, { direction: "sendonly", streams: [state.stream] });
  }
  try {
    await negotiate(pc, sessionPath("/whip"), state.token);
    setStatus("Your support agent sees your camera and hears your microphone.");
  } catch (error) {
    setStatus(`Sharing failed: ${error.message}`);
  }
}

/** Receives the agent's voice; best effort, the session goes on without it. */
async function receive() {
  if (state.receive) return;
  const pc = new RTCPeerConnection();
  state.receive = pc;
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addEventListener("track", (event) => {
    $("agent-audio").srcObject = event.streams[0] ?? new MediaStream([event.track]);
  });
  try {
    await negotiate(pc, sessionPath("/whep"), state.token);
  } catch (error) {
    console.warn(`cannot receive the agent's audio: ${error.message}`);
  }
}

async function decline() {
  showOnly(SECTIONS, ["declined", "controls"]);
  setStatus("Nothing is shared. Your support agent will not see or hear you.");
  await receive();
}

async function revokeConsent() {
  try {
    await api("DELETE", sessionPath("/consent"), { token: state.token });
  } catch {
    // The session may have ended meanwhile; nothing is shared either way.
  }
}

async function stopSharing() {
  closePeer(state.publish);
  state.publish = null;
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  $("preview").srcObject = null;
  await revokeConsent();
  showOnly(SECTIONS, ["declined", "controls"]);
  setStatus("You stopped sharing. Your support agent no longer sees or hears you.");
}

async function end() {
  if (state.ending || state.ended) return;
  state.ending = true;
  $("end").disabled = true;
  try {
    await api("DELETE", sessionPath(), { token: state.token });
  } catch {
    // Already ended: the clean-up below is all that is left.
  }
  finish("You ended the session. Thank you.");
}

function finish(message) {
  if (state.ended) return;
  state.ended = true;
  forget();
  closePeer(state.publish);
  closePeer(state.receive);
  state.stream?.getTracks().forEach((track) => track.stop());
  state.socket?.close();
  state.token = null;
  showOnly(SECTIONS, []);
  setStatus(message);
}

function onEvent(event) {
  if (event.type === "annotation") annotations.apply(event);
  if (event.type === "ended" && !state.ending) finish("The session has ended. Thank you.");
  if (event.type === "hold") setStatus("Your support agent put the session on hold.");
  if (event.type === "resumed") setStatus("Your support agent is back.");
}

$("pin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  join({ pin: $("pin").value.replace(/\s+/g, "") });
});
$("allow").addEventListener("click", allow);
$("allow-later").addEventListener("click", allow);
$("decline").addEventListener("click", decline);
$("revoke").addEventListener("click", stopSharing);
$("end").addEventListener("click", end);
// A join link opened in a tab that already shows this page changes only the fragment.
window.addEventListener("hashchange", () => {
  if (!state.token && location.hash.length > 1) location.reload();
});
start();
