// The visitor's chat page: the server renders the conversation so far; the socket carries
// everything after it (resuming from the last seq on screen). What the visitor types goes through
// the outbox (core/outbox.js) until the server has stored it. User text only via textContent.
import { $, el } from "../core/dom.js";
import { markBubble, Outbox, placeBefore } from "../core/outbox.js";
import { LiveSocket } from "../core/socket.js";

const root = $("#visitor-chat");
const token = root.dataset.token;
const view = {
  state: root.dataset.state,
  engagementId: null,
  queuedAt: new Date(root.dataset.queuedAt),
  operatorName: "",
};

// What the server rendered counts as seen; the engagement id is learnt from the hello frame.
const renderedSeq = Number(root.dataset.lastSeq) || 0;
const socket = new LiveSocket(`/ws/visitor/${encodeURIComponent(token)}/`, {
  resumeQuery: (lastSeq) => (lastSeq.size ? LiveSocket.singleResumeQuery(lastSeq) : `last_seq=${renderedSeq}`),
  onFrame: handleFrame,
  onStatus: (status) => {
    const conn = $("#conn");
    conn.hidden = view.state === "ended";
    conn.classList.toggle("down", status !== "open");
    $("[data-role=text]", conn).textContent = status === "open" ? "Connected" : "Reconnecting…";
  },
});
const outbox = new Outbox(socket, { storageKey: `outbox:visitor:${token}`, onChange: renderLine });

function handleFrame(frame) {
  const settled = outbox.receive(frame);
  if (settled && frame.type === "error") return; // a refused line says so on its own bubble
  switch (frame.type) {
    case "hello":
      view.engagementId = frame.engagement_id;
      socket.noteSeq(frame.engagement_id, renderedSeq);
      view.queuedAt = new Date(frame.queued_at);
      setState(frame.state, { operatorName: frame.operator_name, position: frame.position, reason: frame.reason });
      if (view.state === "queued") setEstimate(frame.estimated_wait_minutes);
      if (view.state === "active") setTransferring(frame.transferring_to || null); // survives a reconnect
      if (view.state !== "ended") outbox.resend();
      break;
    case "message":
      renderMessage(frame);
      if (frame.sender === "operator") setTyping(false);
      break;
    case "engagement.state":
      setState(frame.state, { operatorName: frame.operator_name, reason: frame.reason });
      break;
    case "queue.position":
      if (view.state === "queued") {
        $("#position") && ($("#position").textContent = frame.position);
        setEstimate(frame.estimated_wait_minutes);
      }
      break;
    case "engagement.transferring":
      setTransferring(frame.to_name);
      break;
    case "typing":
      setTyping(frame.typing, frame.name);
      break;
    case "error":
      showError(frame.message);
      break;
    default:
      break;
  }
}

function setState(newState, { operatorName, position, reason } = {}) {
  view.state = newState;
  root.dataset.state = newState;
  const title = $("#status-title");
  const line = $("#status-line");
  if (newState === "queued") {
    title.textContent = "Connecting you to someone…";
    const estimate = el("span", "wait-estimate");
    estimate.id = "estimate";
    estimate.dataset.testid = "estimate";
    estimate.hidden = true;
    line.replaceChildren("You are number ", el("strong", "", position || "–"), " in line · waiting ", el("span", "", ""), estimate);
    line.children[0].id = "position";
    line.children[1].id = "wait";
    tickWait();
  } else if (newState === "active") {
    setTransferring(null);
    if (operatorName && operatorName !== view.operatorName) {
      if (view.operatorName) renderSystem(`${operatorName} has joined the chat.`);
      view.operatorName = operatorName;
    }
    title.textContent = view.operatorName;
    $("#agent-avatar").textContent = view.operatorName.charAt(0).toUpperCase();
    line.textContent = "is chatting with you";
  } else if (newState === "ended") {
    title.textContent = "Conversation ended";
    line.textContent = reason === "operator_ended" ? "The operator ended the chat. Thanks for chatting with us." : "Thanks for chatting with us.";
    $("#composer").hidden = true;
    $("#end-chat").hidden = true;
    $("#ended-panel").hidden = false;
    $("#conn").hidden = true;
    setTyping(false);
    socket.close();
    outbox.failAll("ended", "the chat has ended");
  }
}

// "Estimated wait: about N min" from the server's estimate (docs/metrics.md); nothing when it cannot say.
function setEstimate(minutes) {
  const estimate = $("#estimate");
  if (!estimate) return;
  const known = Number.isInteger(minutes) && minutes > 0;
  estimate.hidden = !known;
  if (known) estimate.replaceChildren("Estimated wait: about ", el("strong", "", String(minutes)), " min");
}

// An accepted transfer: who the visitor is being handed to; null when it fell through or completed.
function setTransferring(name) {
  const notice = $("#transferring");
  notice.hidden = !name;
  notice.textContent = name ? `Transferring you to ${name}…` : "";
}

function tickWait() {
  const wait = $("#wait");
  if (!wait || view.state !== "queued") return;
  const seconds = Math.max(0, Math.floor((Date.now() - view.queuedAt) / 1000));
  wait.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
setInterval(tickWait, 1000);
tickWait();

// A stored line, in seq order; it takes the place of the visitor's own copy that waited in the outbox.
function renderMessage(frame) {
  const transcript = $("#transcript");
  const own = frame.client_id ? transcript.querySelector(`[data-client-id="${CSS.escape(frame.client_id)}"]`) : null;
  const existing = transcript.querySelector(`[data-seq="${frame.seq}"]`);
  if (own) own.remove();
  if (existing && existing !== own) return;
  const kind = frame.sender === "visitor" ? "mine" : frame.sender === "system" ? "system" : "theirs";
  const bubble = el("div", `msg ${kind}`);
  bubble.dataset.seq = frame.seq;
  if (frame.sender === "operator") bubble.append(el("span", "meta", frame.sender_name));
  bubble.append(document.createTextNode(frame.body));
  transcript.insertBefore(bubble, placeBefore(transcript, frame.seq));
  transcript.scrollTop = transcript.scrollHeight;
}

// A line of the outbox: shown at once, marked until stored; once acked it moves to its seq's place
// (unless the server's copy is already on screen, e.g. after a reload).
function renderLine(line) {
  const transcript = $("#transcript");
  let bubble = transcript.querySelector(`[data-client-id="${CSS.escape(line.clientId)}"]`);
  if (line.state === "sent") {
    if (!bubble) return;
    const stored = transcript.querySelector(`[data-seq="${line.seq}"]`);
    if (stored && stored !== bubble) {
      bubble.remove();
      return;
    }
    markBubble(bubble, line);
    transcript.insertBefore(bubble, placeBefore(transcript, line.seq));
    return;
  }
  if (!bubble) {
    bubble = el("div", "msg mine");
    bubble.append(document.createTextNode(line.body));
    transcript.append(bubble);
    transcript.scrollTop = transcript.scrollHeight;
  }
  markBubble(bubble, line, (clientId) => outbox.retry(clientId));
  if (line.state === "failed") transcript.scrollTop = transcript.scrollHeight; // its Retry in view
}

function renderSystem(text) {
  $("#transcript").append(el("div", "msg system", text));
}

let typingTimer = null;
function setTyping(typing, name) {
  clearTimeout(typingTimer);
  $("#typing").textContent = typing ? `${name || view.operatorName || "The operator"} is typing…` : "";
  if (typing) typingTimer = setTimeout(() => setTyping(false), 6000);
}

function showError(text) {
  const node = el("div", "toast error", text);
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 5000);
}

let typingSentAt = 0;
let typingStopTimer = null;
function sendTyping(typing) {
  clearTimeout(typingStopTimer);
  if (typing) {
    if (Date.now() - typingSentAt > 3000) {
      typingSentAt = Date.now();
      socket.send({ type: "typing", typing: true });
    }
    typingStopTimer = setTimeout(() => sendTyping(false), 4000);
  } else if (typingSentAt) {
    typingSentAt = 0;
    socket.send({ type: "typing", typing: false });
  }
}

$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#composer-input");
  const body = input.value.trim();
  if (!body) return;
  outbox.add(body);
  input.value = "";
  sendTyping(false);
});
$("#composer-input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("#composer").requestSubmit();
  }
});
$("#composer-input").addEventListener("input", () => sendTyping(true));
$("#end-chat").addEventListener("click", () => {
  if (confirm("End this chat?")) socket.send({ type: "engagement.end" });
});
outbox.lines().forEach(renderLine); // kept from before a reload: sent again on hello
if (view.state === "ended") {
  socket.close();
  outbox.failAll("ended", "the chat has ended");
}
