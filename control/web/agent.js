// The agent console: sign in (with a second factor when the account has one), start a
// support session, give the customer its PIN or link, watch the customer's camera (WHEP),
// talk through the microphone (WHIP), draw on the customer's video and follow the session's
// events.
//
// The staff token and the current session's id are kept in this tab's sessionStorage, so a
// reload comes back signed in, to the session, and watches the customer again (new WHEP and
// WHIP resources replace the earlier ones). They are cleared when the token stops working;
// the session id also when the session ends.

import { AnnotationModel, Drawing, Overlay } from "./annotations.js";
import { api, ApiError, closePeer, negotiate, openEvents, setStatus, showOnly } from "./client.js";

const $ = (id) => document.getElementById(id);
const SECTIONS = ["signin-form", "idle", "session"];

/** The sign-in, the session and its media; exposed as `window.sightlineTest` for tests. */
const state = { token: null, sessionId: null, viewer: null, mic: null, socket: null };
window.sightlineTest = state;

/** The shapes drawn on the customer's video, from the relayed `annotation` messages. */
const annotations = new AnnotationModel();
state.annotations = () => annotations.list();
const drawing = new Drawing(new Overlay($("remote"), $("remote-overlay"), annotations), send);

/** Where this tab keeps the staff token and the current session's id across reloads. */
const TOKEN_KEY = "sightline.agent.token";
const SESSION_KEY = "sightline.agent.session";

function remember() {
  if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token);
  if (state.sessionId) sessionStorage.setItem(SESSION_KEY, state.sessionId);
  else sessionStorage.removeItem(SESSION_KEY);
}

function forget() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SESSION_KEY);
}

/** Sends a message on the events socket, if it is open. */
function send(message) {
  if (state.socket?.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
}

function chooseTool(button) {
  drawing.tool = button.dataset.tool;
  for (const tool of document.querySelectorAll("#tools .tool")) {
    tool.setAttribute("aria-pressed", String(tool === button));
  }
}

async function signIn(event) {
  event.preventDefault();
  const body = { email: $("email").value, password: $("password").value };
  const totp = $("totp").value.trim();
  if (totp) body.totp = totp;
  setStatus("Signing in…");
  try {
    const signedIn = await api("POST", "/v1/auth/login", { json: body });
    state.token = signedIn.token;
    state.userId = signedIn.user_id;
    $("password").value = "";
    $("totp").value = "";
    if (signedIn.totp_enrolment_required) {
      setStatus("Your organisation requires an authenticator app: enrol one before taking sessions.");
      return;
    }
    remember();
  } catch (error) {
    setStatus(signInFailure(error));
    return;
  }
  showOnly(SECTIONS, ["idle"]);
  setStatus("Signed in. Start a session when a customer calls.");
}

function signInFailure(error) {
  if (error instanceof ApiError && error.code === "totp_required") {
    $("totp-row").hidden = false;
    $("totp").focus();
    return "Enter the code from your authenticator app.";
  }
  if (error instanceof ApiError && error.status === 401) return "Wrong email, password or code.";
  if (error instanceof ApiError && error.status === 423) return "Too many failed attempts: this account is locked for a while.";
  if (error instanceof ApiError && error.status === 429) return "Too many attempts: wait a minute.";
  return `Cannot sign in: ${error.message}`;
}

async function startSession() {
  $("start").disabled = true;
  try {
    const session = await api("POST", "/v1/sessions", { token: state.token, json: {} });
    state.sessionId = session.id;
    remember();
    showSession(session);
  } catch (error) {
    setStatus(`Cannot start a session: ${error.message}`);
    return;
  } finally {
    $("start").disabled = false;
  }
  state.socket = openEvents(state.sessionId, state.token, onEvent);
  await Promise.all([watch(), talk()]);
}

function showSession(session) {
  if (session.join_token) {
    const link = `${location.origin}/join#${session.join_token}`;
    $("pin-out").textContent = session.pin;
    $("join-link").href = link;
    $("join-link").textContent = link;
  } else {
    $("pin-out").textContent = "(already given)";
    $("join-link").removeAttribute("href");
    $("join-link").textContent = "(already given)";
  }
  $("events").replaceChildren();
  annotations.apply({ op: "clear" });
  $("session").classList.remove("over");
  $("end-session").disabled = false;
  showOnly(SECTIONS, ["session"]);
  setStatus("Waiting for the customer to join.");
}

/** Watches the customer: the video fills when the customer publishes. */
async function watch() {
  const pc = new RTCPeerConnection();
  state.viewer = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const remote = new MediaStream();
  $("remote").srcObject = remote;
  pc.addEventListener("track", (event) => remote.addTrack(event.track));
  try {
    await negotiate(pc, `/v1/sessions/${state.sessionId}/whep`, state.token);
  } catch (error) {
    setStatus(`Cannot receive the customer's camera: ${error.message}`);
  }
}

/** Sends the agent's microphone to the customer; the session goes on without it. */
async function talk() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = new RTCPeerConnection();
    state.mic = pc;
    for (const track of stream.getAudioTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    }
    await negotiate(pc, `/v1/sessions/${state.sessionId}/whip`, state.token);
  } catch (error) {
    setStatus(`The customer cannot hear you: ${error.message}`);
  }
}

async function endSession() {
  if (!state.sessionId) return;
  $("end-session").disabled = true;
  try {
    await api("DELETE", `/v1/sessions/${state.sessionId}`, { token: state.token });
  } catch (error) {
    // 410: it had ended already (the customer, or a second click); the event says why.
    if (error.status !== 410) {
      $("end-session").disabled = false;
      setStatus(`Ending failed: ${error.detail ?? error.message}`);
    }
  }
}

function onEvent(event) {
  if (event.type === "annotation") {
    annotations.apply(event);
    return;
  }
  const text = describe(event);
  if (text) {
    const item = document.createElement("li");
    item.dataset.type = event.type;
    item.textContent = text;
    $("events").append(item);
  }
  if (event.type === "joined" && event.who?.role === "customer") setStatus("The customer joined.");
  if (event.type === "consent") setStatus(consentText(event));
  if (event.type === "ended") sessionEnded(event.reason);
}

/** Who an event names, in words (user ids stay out of the page). */
function person(who) {
  if (!who) return "Someone";
  if (who.role === "customer") return "The customer";
  if (who.user_id && who.user_id === state.userId) return "You";
  return who.role === "admin" ? "An administrator" : "An agent";
}

/** One line for the event list, or null for events that only matter to the page. */
function describe(event) {
  switch (event.type) {
    case "joined":
      return `${person(event.who)} connected.`;
    case "left":
      return `${person(event.who)} left (${event.reason}).`;
    case "consent":
      return consentText(event);
    case "hold":
      return `${person(event.by)} put the session on hold.`;
    case "resumed":
      return `${person(event.by)} resumed the session.`;
    case "transferred":
      return "The session was handed to another agent.";
    case "invited":
      return "Another agent was invited to watch.";
    case "chat":
      return `${person(event.from)}: ${event.text}`;
    case "ended":
      return `The session ended (${event.reason}).`;
    default:
      return null;
  }
}

function consentText(event) {
  if (event.camera && event.microphone) return "The customer shares camera and microphone.";
  if (event.camera || event.microphone) return "The customer shares part of the media.";
  return "The customer does not share camera or microphone.";
}

function sessionEnded(reason) {
  closePeer(state.viewer);
  closePeer(state.mic);
  state.viewer = null;
  state.mic = null;
  state.socket?.close();
  state.socket = null;
  state.sessionId = null;
  remember();
  $("idle").hidden = false;
  $("session").classList.add("over");
  setStatus(`The session ended (${reason}).`);
}

/** After a reload: back to the signed-in console and, if one is live, the session. */
async function resume() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    showOnly(SECTIONS, ["signin-form"]);
    setStatus("Sign in to take support sessions.");
    return;
  }
  state.token = token;
  const sessionId = sessionStorage.getItem(SESSION_KEY);
  try {
    await api("GET", "/v1/sessions", { token });
    const session = sessionId ? await resumable(sessionId) : null;
    if (session) {
      await rejoin(session);
      return;
    }
  } catch (error) {
    resumeFailed(error);
    return;
  }
  showOnly(SECTIONS, ["idle"]);
  setStatus("Signed in. Start a session when a customer calls.");
}

/** The kept session if it is still live and visible, else null (and it is forgotten). */
async function resumable(sessionId) {
  try {
    const session = await api("GET", `/v1/sessions/${sessionId}`, { token: state.token });
    if (session.state !== "ended") return session;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw error;
  }
  sessionStorage.removeItem(SESSION_KEY);
  return null;
}

async function rejoin(session) {
  state.sessionId = session.id;
  showSession(session);
  setStatus("Back in the session.");
  state.socket = openEvents(state.sessionId, state.token, onEvent);
  await Promise.all([watch(), talk()]);
}

function resumeFailed(error) {
  state.token = null;
  if (error instanceof ApiError && error.status === 401) {
    forget();
    showOnly(SECTIONS, ["signin-form"]);
    setStatus("Your sign-in has expired: sign in again.");
    return;
  }
  showOnly(SECTIONS, ["signin-form"]);
  setStatus(`Cannot reach the server (${error.message}): reload in a moment.`);
}

function toggleSound() {
  const remote = $("remote");
  remote.muted = !remote.muted;
  $("unmute").textContent = remote.muted ? "Unmute the customer" : "Mute the customer";
}

$("signin-form").addEventListener("submit", signIn);
$("start").addEventListener("click", startSession);
$("end-session").addEventListener("click", endSession);
$("unmute").addEventListener("click", toggleSound);
for (const button of document.querySelectorAll("#tools .tool")) {
  button.addEventListener("click", () => chooseTool(button));
}
$("draw-color").addEventListener("input", (event) => (drawing.color = event.target.value));
$("draw-undo").addEventListener("click", () => drawing.undo());
$("draw-redo").addEventListener("click", () => drawing.redo());
$("draw-clear").addEventListener("click", () => drawing.clear());
resume();
