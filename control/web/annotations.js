// Drawing on the shared video, for both pages: the list of shapes built from the relayed
// `annotation` messages (docs/api-events.md), a canvas overlay that renders them over a
// <video> element, and the agent's drawing tools.
//
// Coordinates are normalised to the video FRAME, not to the element: the element letterboxes
// the frame (object-fit: contain), so every conversion goes through `frameBox`.

/** How many points a sketch or highlight keeps, so a message stays far under 16 KiB. */
const MAX_POINTS = 500;
/** The smallest move (in frame fractions) that adds a point to a sketch. */
const MIN_STEP = 0.003;
/** Stroke widths as fractions of the frame's width. */
const WIDTHS = { sketch: 0.006, arrow: 0.006, rect: 0.005, ellipse: 0.005, highlight: 0.04, text: 0.02 };
/** The alpha a highlighter appends to the chosen `#rrggbb`. */
const HIGHLIGHT_ALPHA = "59";

/** Who sent a shape and its id: ids are unique per sender only. */
function shapeKey(event) {
  const from = event.from ?? {};
  return `${from.role ?? ""}/${from.user_id ?? ""}/${event.id}`;
}

/** The shapes of a session, as the relayed `add`, `undo`, `redo` and `clear` leave them. */
export class AnnotationModel {
  constructor() {
    this.entries = [];
    this.lastSeq = -1;
    this.listeners = [];
  }

  /** Calls `listener` after every change. */
  onChange(listener) {
    this.listeners.push(listener);
  }

  /** Applies one relayed `annotation` message; messages older than the last are ignored. */
  apply(event) {
    if (typeof event.seq === "number") {
      if (event.seq <= this.lastSeq) return;
      this.lastSeq = event.seq;
    }
    const key = shapeKey(event);
    const entry = this.entries.find((e) => e.key === key);
    if (event.op === "add" && event.shape) {
      const added = { key, id: event.id, from: event.from, shape: event.shape, visible: true };
      if (entry) Object.assign(entry, added);
      else this.entries.push(added);
    } else if ((event.op === "undo" || event.op === "redo") && entry) {
      entry.visible = event.op === "redo";
    } else if (event.op === "clear") {
      this.entries = [];
    } else {
      return;
    }
    for (const listener of this.listeners) listener();
  }

  /** The visible shapes in drawing order; arrows carry their number (1, 2, 3, ...). */
  list() {
    let arrows = 0;
    return this.entries
      .filter((entry) => entry.visible)
      .map((entry) => {
        const shape = { id: entry.id, from: entry.from, ...entry.shape };
        if (shape.kind === "arrow") shape.number = ++arrows;
        return shape;
      });
  }

  /** The ids of the visible shapes (of every sender). */
  visibleIds() {
    return this.entries.filter((entry) => entry.visible).map((entry) => entry.id);
  }
}

/**
 * The box, in CSS pixels relative to the element, where `video` shows its frame: the
 * element's box letterboxed to the frame's aspect ratio (object-fit: contain).
 */
export function frameBox(video) {
  const width = video.clientWidth;
  const height = video.clientHeight;
  if (!video.videoWidth || !video.videoHeight || !width || !height) {
    return { x: 0, y: 0, width, height };
  }
  const scale = Math.min(width / video.videoWidth, height / video.videoHeight);
  const frameWidth = video.videoWidth * scale;
  const frameHeight = video.videoHeight * scale;
  return { x: (width - frameWidth) / 2, y: (height - frameHeight) / 2, width: frameWidth, height: frameHeight };
}

/** A canvas over `video` that draws the model's shapes (and a shape being drawn). */
export class Overlay {
  constructor(video, canvas, model) {
    this.video = video;
    this.canvas = canvas;
    this.model = model;
    this.draft = null;
    const redraw = () => this.render();
    model.onChange(redraw);
    video.addEventListener("loadedmetadata", redraw);
    video.addEventListener("resize", redraw);
    new ResizeObserver(redraw).observe(video);
  }

  /** Sets (or with null removes) the shape being drawn, and redraws. */
  setDraft(shape) {
    this.draft = shape;
    this.render();
  }

  /** Redraws everything at the element's current size and the screen's pixel ratio. */
  render() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(this.video.clientWidth * ratio);
    const height = Math.round(this.video.clientHeight * ratio);
    if (this.canvas.width !== width) this.canvas.width = width;
    if (this.canvas.height !== height) this.canvas.height = height;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const box = frameBox(this.video);
    const shapes = this.model.list();
    if (this.draft) shapes.push(this.draft);
    for (const shape of shapes) drawShape(ctx, box, shape);
  }
}

/** Draws one shape in `box` (the frame's box in CSS pixels). */
function drawShape(ctx, box, shape) {
  if (shape.kind === "freeze" || !Array.isArray(shape.points) || shape.points.length === 0) return;
  const points = shape.points.map(([x, y]) => [box.x + x * box.width, box.y + y * box.height]);
  const lineWidth = Math.max(1, (shape.width ?? 0.005) * box.width);
  ctx.save();
  ctx.strokeStyle = shape.color;
  ctx.fillStyle = shape.color;
  ctx.lineWidth = lineWidth;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (shape.kind === "sketch" || shape.kind === "highlight") drawPath(ctx, points);
  else if (shape.kind === "arrow") drawArrow(ctx, points, lineWidth, shape.number);
  else if (shape.kind === "rect") drawRect(ctx, points);
  else if (shape.kind === "ellipse") drawEllipse(ctx, points);
  else if (shape.kind === "text") drawText(ctx, points[0], lineWidth, shape.text ?? "");
  ctx.restore();
}

function drawPath(ctx, points) {
  ctx.beginPath();
  ctx.moveTo(...points[0]);
  for (const point of points.slice(1)) ctx.lineTo(...point);
  if (points.length === 1) ctx.lineTo(points[0][0] + 0.01, points[0][1]);
  ctx.stroke();
}

function drawArrow(ctx, points, lineWidth, number) {
  const [[x1, y1], [x2, y2]] = [points[0], points[points.length - 1]];
  const angle = Math.atan2(y2 - y1, x2 - x1);
  const head = Math.max(10, lineWidth * 4);
  drawPath(ctx, [[x1, y1], [x2, y2]]);
  ctx.beginPath();
  ctx.moveTo(x2, y2);
  ctx.lineTo(x2 - head * Math.cos(angle - 0.45), y2 - head * Math.sin(angle - 0.45));
  ctx.lineTo(x2 - head * Math.cos(angle + 0.45), y2 - head * Math.sin(angle + 0.45));
  ctx.closePath();
  ctx.fill();
  if (number === undefined) return;
  const radius = Math.max(9, lineWidth * 2.5);
  ctx.beginPath();
  ctx.arc(x1, y1, radius, 0, 2 * Math.PI);
  ctx.fill();
  ctx.fillStyle = "#ffffff";
  ctx.font = `bold ${Math.round(radius * 1.2)}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(String(number), x1, y1);
}

function drawRect(ctx, [[x1, y1], [x2, y2]]) {
  ctx.strokeRect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
}

function drawEllipse(ctx, [[x1, y1], [x2, y2]]) {
  ctx.beginPath();
  ctx.ellipse((x1 + x2) / 2, (y1 + y2) / 2, Math.abs(x2 - x1) / 2, Math.abs(y2 - y1) / 2, 0, 0, 2 * Math.PI);
  ctx.stroke();
}

function drawText(ctx, [x, y], lineWidth, text) {
  ctx.font = `bold ${Math.max(12, Math.round(lineWidth * 2))}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
  ctx.strokeText(text, x, y);
  ctx.fillText(text, x, y);
}

/** A pointer position as frame fractions, clamped to the frame and rounded to 4 decimals. */
function normalise(overlay, event) {
  const rect = overlay.video.getBoundingClientRect();
  const box = frameBox(overlay.video);
  const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
  return [
    clamp((event.clientX - rect.left - box.x) / box.width),
    clamp((event.clientY - rect.top - box.y) / box.height),
  ];
}

/**
 * The agent's tools on an overlay: draws with the pointer and hands each finished shape,
 * and each undo, redo and clear, to `send` as a client `annotation` message. Shapes appear
 * from the server's echo, so every page shows the same list.
 */
export class Drawing {
  constructor(overlay, send) {
    this.overlay = overlay;
    this.send = send;
    this.tool = "sketch";
    this.color = "#ff3b30";
    this.prefix = `s${crypto.randomUUID().slice(0, 8)}`;
    this.count = 0;
    this.mine = [];
    this.undone = [];
    const canvas = overlay.canvas;
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.up(event));
    canvas.addEventListener("pointercancel", () => this.overlay.setDraft(null));
  }

  down(event) {
    if (event.button !== 0) return;
    const point = normalise(this.overlay, event);
    if (this.tool === "text") {
      const text = (window.prompt("Text to show on the video") ?? "").trim().slice(0, 500);
      if (text) this.finish({ kind: "text", points: [point], text });
      return;
    }
    this.overlay.canvas.setPointerCapture(event.pointerId);
    const twoPoints = ["arrow", "rect", "ellipse"].includes(this.tool);
    this.overlay.setDraft({ kind: this.tool, points: twoPoints ? [point, point] : [point] });
  }

  move(event) {
    const draft = this.overlay.draft;
    if (!draft) return;
    const point = normalise(this.overlay, event);
    if (draft.kind === "sketch" || draft.kind === "highlight") {
      const last = draft.points[draft.points.length - 1];
      const far = Math.hypot(point[0] - last[0], point[1] - last[1]) >= MIN_STEP;
      if (far && draft.points.length < MAX_POINTS) draft.points.push(point);
    } else {
      draft.points[1] = point;
    }
    this.overlay.render();
  }

  up(event) {
    const draft = this.overlay.draft;
    if (!draft) return;
    this.move(event);
    this.overlay.setDraft(null);
    const [a, b] = [draft.points[0], draft.points[draft.points.length - 1]];
    const tiny = draft.points.length === 2 && Math.hypot(b[0] - a[0], b[1] - a[1]) < 0.005;
    if (!tiny) this.finish({ kind: draft.kind, points: draft.points });
  }

  /** Sends a finished shape with the current colour and the tool's width. */
  finish(shape) {
    const color = shape.kind === "highlight" ? `${this.color}${HIGHLIGHT_ALPHA}` : this.color;
    const id = `${this.prefix}-${++this.count}`;
    this.mine.push(id);
    this.undone = [];
    this.send({ type: "annotation", op: "add", id, shape: { ...shape, color, width: WIDTHS[shape.kind] } });
  }

  /** Takes back this page's last shape that is still shown. */
  undo() {
    const visible = this.overlay.model.visibleIds();
    const id = [...this.mine].reverse().find((mine) => visible.includes(mine));
    if (!id) return;
    this.undone.push(id);
    this.send({ type: "annotation", op: "undo", id });
  }

  /** Shows again the shape the last undo took back. */
  redo() {
    const id = this.undone.pop();
    if (id) this.send({ type: "annotation", op: "redo", id });
  }

  /** Removes every shape, on every page. */
  clear() {
    this.undone = [];
    this.send({ type: "annotation", op: "clear" });
  }
}
