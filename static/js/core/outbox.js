// The chat outbox: a line the person typed is kept here, not in the input, until the server
// has stored it. A socket that dies (Daphne killed, network gone) takes unanswered frames with it;
// the outbox sends them again on every reconnect, and the server stores a client id once, so a
// line sent twice is stored once (docs/realtime.md, "The outbox").
//
//   const outbox = new Outbox(socket, { storageKey: "outbox:visitor", onChange: (line) => draw(line) });
//   outbox.add("Hello", { engagementId: 12 });   // sent now if the socket is open
//   outbox.receive(frame);                        // every frame of the socket, before drawing it
//   outbox.resend();                              // on every hello (a fresh connection)
//
// A line is {clientId, engagementId, body, state, code, message, seq, createdAt}; state is
// "sending" until its `message.ack` (or its own `message` frame, matched by client_id) arrives,
// then "sent" with its seq (and it leaves the outbox), or "failed" after an error that will not
// go away by itself. onChange(line) is called on every change of state.
//
// The protocol's reference client is tests/reliability/clients.Outbox; keep them in step.

import { el } from "./dom.js";

// Errors that pass: try again after a moment (then give up and show Retry).
const PASSING = new Set(["internal", "unavailable", "rate_limited"]);

function newClientId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context (https or localhost); random bytes do not.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class Outbox {
  constructor(socket, { storageKey = null, onChange = () => {}, retryDelay = 1500, maxRetries = 4 } = {}) {
    this.socket = socket;
    this.storageKey = storageKey;
    this.onChange = onChange;
    this.retryDelay = retryDelay;
    this.maxRetries = maxRetries;
    this.entries = new Map(); // client id -> line, in the order typed
    this.timers = new Map();
    this.restore();
  }

  /** The lines not stored yet (sending or failed), oldest first; of one engagement if given. */
  lines(engagementId = null) {
    const all = [...this.entries.values()];
    return engagementId === null ? all : all.filter((line) => line.engagementId === Number(engagementId));
  }

  add(body, { engagementId = null } = {}) {
    const line = {
      clientId: newClientId(),
      engagementId: engagementId === null ? null : Number(engagementId),
      body,
      state: "sending",
      code: "",
      message: "",
      seq: null,
      createdAt: new Date().toISOString(),
      tries: 0,
    };
    this.entries.set(line.clientId, line);
    this.save();
    this.onChange(line);
    this.send(line);
    return line;
  }

  // Only on an open socket: while it is closed the line waits for the next hello (LiveSocket's own
  // queue would send it a second time on open).
  send(line) {
    if (!this.entries.has(line.clientId) || line.state !== "sending" || !this.socket.isOpen()) return;
    const frame = { type: "message.send", body: line.body, client_id: line.clientId };
    if (line.engagementId !== null) frame.engagement_id = line.engagementId;
    this.socket.send(frame);
  }

  /** A fresh connection (its hello): every line still sending goes again, in the order typed. */
  resend() {
    for (const line of this.entries.values()) {
      clearTimeout(this.timers.get(line.clientId));
      this.send(line);
    }
  }

  /** Send a failed line again (the Retry button). */
  retry(clientId) {
    const line = this.entries.get(clientId);
    if (!line) return;
    Object.assign(line, { state: "sending", code: "", message: "", tries: 0 });
    this.save();
    this.onChange(line);
    this.send(line);
  }

  /** Stop keeping an engagement's lines (it left this screen). */
  forget(engagementId) {
    for (const line of this.lines(engagementId)) this.drop(line);
    this.save();
  }

  /** Mark every line still sending as failed, e.g. when the chat has ended and cannot take them. */
  failAll(code, message) {
    for (const line of this.entries.values()) {
      if (line.state !== "sending") continue;
      clearTimeout(this.timers.get(line.clientId));
      Object.assign(line, { state: "failed", code, message });
      this.onChange(line);
    }
    this.save();
  }

  /** Look at a frame of the socket; returns the line it settled, if any. */
  receive(frame) {
    const line = frame.client_id ? this.entries.get(frame.client_id) : undefined;
    if (!line) return null;
    if (frame.type === "message.ack" || frame.type === "message") {
      this.drop(line);
      this.save();
      line.state = "sent";
      line.seq = frame.seq;
      this.onChange(line);
      return line;
    }
    if (frame.type === "error") {
      if (PASSING.has(frame.code) && line.tries < this.maxRetries) {
        line.tries += 1;
        clearTimeout(this.timers.get(line.clientId));
        this.timers.set(line.clientId, setTimeout(() => this.send(line), this.retryDelay * line.tries));
        return null;
      }
      Object.assign(line, { state: "failed", code: frame.code || "", message: frame.message || "" });
      this.save();
      this.onChange(line);
      return line;
    }
    return null;
  }

  drop(line) {
    clearTimeout(this.timers.get(line.clientId));
    this.timers.delete(line.clientId);
    this.entries.delete(line.clientId);
  }

  // What is not stored yet survives a reload of the tab (sessionStorage is per tab).
  save() {
    if (!this.storageKey) return;
    try {
      const lines = [...this.entries.values()].map(({ tries, ...line }) => line);
      if (lines.length) sessionStorage.setItem(this.storageKey, JSON.stringify(lines));
      else sessionStorage.removeItem(this.storageKey);
    } catch {
      // private mode or full: the lines still live in memory
    }
  }

  restore() {
    if (!this.storageKey) return;
    try {
      for (const line of JSON.parse(sessionStorage.getItem(this.storageKey) || "[]")) {
        if (line && typeof line.clientId === "string" && typeof line.body === "string") {
          this.entries.set(line.clientId, { ...line, tries: 0 });
        }
      }
    } catch {
      // nothing readable kept
    }
  }
}

// --- how a line not stored yet looks in a transcript ---------------------------------------------

/**
 * Mark a bubble with its line's state: "sending" (a clock, muted), "failed" ("Not sent" and a
 * Retry button), or "sent" (no mark). The bubble keeps data-client-id so that the line's own
 * `message` frame can take its place.
 */
export function markBubble(bubble, line, onRetry) {
  bubble.dataset.clientId = line.clientId;
  bubble.classList.toggle("sending", line.state === "sending");
  bubble.classList.toggle("failed", line.state === "failed");
  bubble.style.opacity = line.state === "sending" ? "0.72" : "";
  let status = bubble.querySelector("[data-role=send-status]");
  if (line.state === "sent") {
    delete bubble.dataset.sendState;
    bubble.dataset.seq = line.seq;
    if (status) status.remove();
    return bubble;
  }
  bubble.dataset.sendState = line.state;
  if (!status) {
    status = el("span", "meta send-status");
    status.dataset.role = "send-status";
    bubble.append(status);
  }
  if (line.state === "sending") {
    status.replaceChildren(clockIcon(), " Sending…");
    status.title = "Not confirmed by the server yet";
  } else {
    const retry = el("button", "btn btn-sm send-retry", "Retry");
    retry.type = "button";
    retry.dataset.role = "retry";
    retry.setAttribute("aria-label", `Retry sending: ${line.body.slice(0, 60)}`);
    retry.addEventListener("click", () => onRetry(line.clientId));
    const why = el("span", "", `Not sent${line.message ? ` — ${line.message}` : ""} `);
    why.setAttribute("role", "alert");
    // A chat that has ended takes no more lines: nothing to retry.
    if (line.code === "ended") status.replaceChildren(why);
    else status.replaceChildren(why, retry);
    status.title = "";
  }
  return bubble;
}

// A small clock drawn in the text's colour (no icon font or image to load).
function clockIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "11");
  svg.setAttribute("height", "11");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.style.verticalAlign = "-1px";
  for (const [tag, attrs] of [["circle", { cx: 8, cy: 8, r: 6.5 }], ["path", { d: "M8 4.5V8l2.5 1.5" }]]) {
    const shape = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs)) shape.setAttribute(name, value);
    shape.setAttribute("fill", "none");
    shape.setAttribute("stroke", "currentColor");
    shape.setAttribute("stroke-width", "1.6");
    shape.setAttribute("stroke-linecap", "round");
    svg.append(shape);
  }
  return svg;
}

/** Where a bubble of message `seq` goes in a transcript: before the first later one or line not stored yet. */
export function placeBefore(transcript, seq) {
  return [...transcript.children].find((node) => node.dataset.sendState || Number(node.dataset.seq) > seq) || null;
}
