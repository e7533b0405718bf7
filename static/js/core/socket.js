// A WebSocket that stays up: it reconnects by itself (exponential back-off with full jitter)
// and, on every (re)connect, tells the server the last message seq it saw per engagement, so
// the server sends exactly the messages after it. Frames are JSON objects with a "type".
//
//   import { LiveSocket } from "./socket.js";
//   const socket = new LiveSocket("/ws/operator/", { onFrame, onStatus });
//   socket.send({ type: "message.send", engagement_id: 12, body: "Hi" });
//
// onStatus receives "connecting", "open" or "closed" (for good after close code 4401/4403). Message frames ({type: "message",
// engagement_id, seq}) already seen are dropped here too, so a frame never reaches onFrame twice.

export class LiveSocket {
  constructor(path, { onFrame = () => {}, onStatus = () => {}, resumeQuery = null, minDelay = 500,
    maxDelay = 15000, heartbeat = 25000, WebSocketImpl = globalThis.WebSocket } = {}) {
    this.path = path;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.resumeQuery = resumeQuery || LiveSocket.operatorResumeQuery;
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.heartbeat = heartbeat;
    this.WebSocketImpl = WebSocketImpl;
    this.lastSeq = new Map();
    this.outbox = [];
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.status = "closed";
    this.connect();
  }

  // "?resume=12:5,13:0": engagement 12 seen up to seq 5, engagement 13 up to 0.
  static operatorResumeQuery(lastSeq) {
    const pairs = [...lastSeq].map(([id, seq]) => `${id}:${seq}`);
    return pairs.length ? `resume=${pairs.join(",")}` : "";
  }

  // The visitor socket has one engagement: "?last_seq=5".
  static singleResumeQuery(lastSeq) {
    const seqs = [...lastSeq.values()];
    return seqs.length ? `last_seq=${Math.max(...seqs)}` : "";
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = this.resumeQuery(this.lastSeq);
    return `${scheme}//${location.host}${this.path}${query ? `?${query}` : ""}`;
  }

  // Record that messages of an engagement up to `seq` are on screen (e.g. rendered by the server).
  noteSeq(engagementId, seq) {
    const id = Number(engagementId);
    if (seq > (this.lastSeq.get(id) || 0)) this.lastSeq.set(id, seq);
  }

  forget(engagementId) {
    this.lastSeq.delete(Number(engagementId));
  }

  setStatus(status) {
    this.status = status;
    this.onStatus(status);
  }

  connect() {
    if (this.stopped) return;
    this.setStatus("connecting");
    const ws = new this.WebSocketImpl(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.setStatus("open");
      this.beat();
      const pending = this.outbox.splice(0);
      pending.forEach((frame) => ws.send(JSON.stringify(frame)));
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      // 4401/4403: the server closed an accepted socket because the session ended (logout):
      // retrying cannot help, so stop; the page tells the person to sign in again.
      if (event && (event.code === 4401 || event.code === 4403)) this.stopped = true;
      clearTimeout(this.beatTimer);
      clearTimeout(this.pongTimer);
      this.ws = null;
      this.setStatus("closed");
      this.scheduleReconnect();
    };
    ws.onerror = () => {}; // onclose follows and reconnects
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
    this.attempt += 1;
    const delay = Math.max(100, Math.random() * ceiling); // full jitter: reconnect storms spread out
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  // A ping every `heartbeat` ms; no pong within 10 s means the connection is dead: reconnect.
  beat() {
    clearTimeout(this.beatTimer);
    if (!this.heartbeat) return;
    this.beatTimer = setTimeout(() => {
      if (!this.isOpen()) return;
      this.ws.send(JSON.stringify({ type: "ping" }));
      this.pongTimer = setTimeout(() => this.drop(), 10000);
    }, this.heartbeat);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "pong") {
      clearTimeout(this.pongTimer);
      this.beat();
    }
    if (frame.type === "message" && frame.engagement_id != null) {
      const id = Number(frame.engagement_id);
      if (frame.seq <= (this.lastSeq.get(id) || 0)) return;
      this.lastSeq.set(id, frame.seq);
    }
    this.onFrame(frame);
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === 1;
  }

  // Send a frame now, or as soon as the socket is open again (typing frames are not worth keeping).
  send(frame) {
    if (this.isOpen()) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    if (frame.type !== "typing" && this.outbox.length < 100) this.outbox.push(frame);
    return false;
  }

  // Close the current connection as if the network dropped it; the socket reconnects by itself.
  drop() {
    if (this.ws) this.ws.close();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.beatTimer);
    clearTimeout(this.pongTimer);
    if (this.ws) this.ws.close();
    this.setStatus("closed");
  }
}
