// What the agent console and the customer's page share: calls to the daemon's API, WHIP and
// WHEP negotiation (RFC 9725, without trickle: the offer carries every candidate) and the
// session's events WebSocket. Everything goes to this page's own origin.

/** An API call that failed: the HTTP status and the problem's `error` and `detail`. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${status} ${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** Reads an RFC 9457 problem body into an ApiError (any other body gives a generic one). */
async function problem(response) {
  let code = `http_${response.status}`;
  let detail = response.statusText;
  try {
    const body = await response.json();
    code = body.error ?? code;
    detail = body.detail ?? body.title ?? detail;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, code, detail);
}

/** Calls the API with an optional bearer token and JSON body; resolves to the JSON answer. */
export async function api(method, path, { token, json } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(path, { method, headers, body, cache: "no-store" });
  if (!response.ok) throw await problem(response);
  const type = response.headers.get("Content-Type") ?? "";
  return type.includes("json") ? response.json() : null;
}

/** Resolves once `pc` has gathered every ICE candidate, or after `timeoutMs` at most. */
export function iceGatheringComplete(pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/**
 * Negotiates `pc` with a WHIP or WHEP endpoint: creates the offer, waits for ICE gathering
 * to complete, POSTs the offer and applies the answer. Resolves to the resource's URL.
 */
export async function negotiate(pc, endpoint, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc);
  const response = await fetch(endpoint, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
    cache: "no-store",
  });
  if (response.status !== 201) throw await problem(response);
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  return new URL(response.headers.get("Location") ?? endpoint, location.href).href;
}

/**
 * Opens the session's events socket and authenticates with the first message (a token never
 * goes into a URL). `onEvent` receives each server message as an object.
 */
export function openEvents(sessionId, token, onEvent) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/v1/sessions/${sessionId}/events`);
  socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", token })));
  socket.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    onEvent(event);
  });
  return socket;
}

/** Sets the text of the element that tells the user what is happening. */
export function setStatus(text) {
  document.getElementById("status").textContent = text;
}

/** Shows the elements whose ids are in `visible` and hides the others of `all`. */
export function showOnly(all, visible) {
  for (const id of all) document.getElementById(id).hidden = !visible.includes(id);
}

/** Closes a peer connection and stops what it sent, if there is one. */
export function closePeer(pc) {
  if (!pc) return;
  for (const sender of pc.getSenders()) sender.track?.stop();
  pc.close();
}
