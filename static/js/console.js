// The operator console: one LiveSocket to /ws/operator/, every frame re-dispatched as a
// "helpdesk:frame" DOM event (other apps — transfers, telephony — listen to those), and
// window.helpdesk for them to reach the console. User text is only ever set with textContent.
import { $, csrfToken, duration, el, timeOfDay as time, toast } from "./dom.js";
import { LiveSocket } from "./socket.js";

const REASONS = {
  visitor_left: "The visitor left the chat.", operator_ended: "You ended this conversation.",
  abandoned: "The visitor left before an answer.", transferred: "Transferred to another operator.",
};

const state = {
  operatorId: JSON.parse($("#operator-id").textContent),
  engagements: new Map(), // id -> {summary, unread, messages: Map(seq -> frame), notes, owners, loaded, ended, typing}
  current: null,
  queues: [],
  served: new Set(),
};

let signedOut = false;

// --- socket ------------------------------------------------------------------------------------

const socket = new LiveSocket("/ws/operator/", {
  onFrame: (frame) => {
    handleFrame(frame);
    document.dispatchEvent(new CustomEvent("helpdesk:frame", { detail: frame }));
  },
  onStatus: (status) => {
    const conn = $("#conn");
    if (signedOut) return;
    conn.classList.toggle("down", status !== "open");
    $("[data-role=text]", conn).textContent =
      status === "open" ? "Connected" : status === "connecting" ? "Connecting…" : "Offline — reconnecting";
  },
});

const handlers = {
  hello: onHello,
  message: onMessage,
  note: onNote,
  typing: onTyping,
  "engagement.assigned": onAssigned,
  "engagement.detail": onDetail,
  "engagement.released": onReleased,
  "engagement.ended": onEnded,
  availability: onAvailability,
  "queues.changed": (frame) => renderQueues(frame.queues),
  error: (frame) => toast(frame.message || "Something went wrong.", "error"),
  "session.ended": () => {
    signedOut = true;
    $("[data-role=text]", $("#conn")).textContent = "Signed out";
    toast("You were signed out. Sign in again to keep working.", "error");
    setTimeout(() => location.assign("/accounts/login/?next=/console/"), 2500);
  },
};

function handleFrame(frame) {
  const handler = handlers[frame.type];
  if (handler) handler(frame);
}

function entry(id) {
  return state.engagements.get(Number(id));
}

function addEngagement(summary, unread = 0) {
  const existing = entry(summary.id);
  if (existing) {
    existing.summary = summary;
    existing.ended = false;
    return existing;
  }
  const item = { summary, unread, messages: new Map(), notes: [], owners: [], loaded: false, ended: false, typing: false };
  state.engagements.set(Number(summary.id), item);
  return item;
}

function onHello(frame) {
  const ids = new Set(frame.engagements.map((e) => e.id));
  for (const [id, item] of state.engagements) {
    if (!ids.has(id) && !item.ended) removeEngagement(id);
  }
  frame.engagements.forEach((summary) => {
    const item = addEngagement(summary, summary.unread);
    item.unread = summary.unread;
    if (item.loaded) socket.noteSeq(summary.id, lastSeqOf(item));
  });
  frame.availability.forEach(renderAvailability);
  state.served = new Set(frame.served_queue_ids);
  renderQueues(frame.queues);
  renderList();
  if (state.current && entry(state.current)) openEngagement(state.current);
  else if (!state.current && state.engagements.size === 1) selectEngagement([...state.engagements.keys()][0]);
}

function lastSeqOf(item) {
  return item.messages.size ? Math.max(...item.messages.keys()) : 0;
}

function onMessage(frame) {
  const item = entry(frame.engagement_id);
  if (!item) return;
  item.messages.set(frame.seq, frame);
  item.summary.last_seq = Math.max(item.summary.last_seq || 0, frame.seq);
  if (!item.preview || frame.seq >= item.preview.seq) item.preview = frame;
  const visible = state.current === Number(frame.engagement_id) && !document.hidden;
  if (frame.sender === "visitor") {
    item.typing = false;
    if (visible) markRead(item);
    else {
      item.unread += 1;
      alertOperator(`${item.summary.visitor_name}: ${frame.body}`, false);
    }
  }
  if (state.current === Number(frame.engagement_id)) {
    renderMessage(frame);
    renderTyping();
    renderDetails(item);
  }
  renderList();
}

function onNote(frame) {
  const item = entry(frame.engagement_id);
  if (!item) return;
  if (!item.notes.some((note) => note.id === frame.id)) item.notes.push(frame);
  if (state.current === Number(frame.engagement_id)) renderNotes(item);
}

function onTyping(frame) {
  const item = entry(frame.engagement_id);
  if (!item) return;
  item.typing = frame.typing;
  clearTimeout(item.typingTimer);
  if (frame.typing) item.typingTimer = setTimeout(() => { item.typing = false; renderTyping(); }, 6000);
  renderTyping();
}

function onAssigned(frame) {
  const item = addEngagement(frame.engagement, 0);
  renderList();
  alertOperator(`New chat: ${frame.engagement.visitor_name}`, true);
  // A hand-over's history comes on its own (detail_follows): asking again would only repeat it.
  const fetch = !frame.detail_follows;
  if (!state.current) selectEngagement(frame.engagement.id, { fetch });
  else if (state.current === item.summary.id && fetch) openEngagement(item.summary.id);
}

function onDetail(frame) {
  const item = addEngagement(frame.engagement, entry(frame.engagement.id)?.unread || 0);
  frame.messages.forEach((message) => item.messages.set(message.seq, message));
  if (frame.messages.length) item.preview = frame.messages[frame.messages.length - 1];
  item.summary.last_seq = Math.max(item.summary.last_seq || 0, lastSeqOf(item));
  item.messages.forEach((_, seq) => socket.noteSeq(frame.engagement.id, seq));
  item.notes = frame.notes;
  item.owners = frame.owners;
  item.queuedAt = frame.queued_at;
  item.answeredAt = frame.answered_at;
  item.loaded = true;
  if (state.current === Number(frame.engagement.id)) {
    renderConversation();
    if (!document.hidden) markRead(item);
  }
}

function onReleased(frame) {
  if (frame.reason === "ended") return; // onEnded keeps it on screen until the operator closes it
  const item = entry(frame.engagement_id);
  if (!item) return;
  if (frame.reason === "transferred") toast(`${item.summary.visitor_name} was transferred.`);
  removeEngagement(Number(frame.engagement_id));
}

function onEnded(frame) {
  const item = entry(frame.engagement_id);
  if (!item) return;
  item.ended = true;
  item.endReason = frame.reason;
  item.typing = false;
  renderList();
  if (state.current === Number(frame.engagement_id)) renderConversation();
}

function removeEngagement(id) {
  state.engagements.delete(id);
  socket.forget(id);
  if (state.current === id) {
    state.current = null;
    renderConversation();
    document.dispatchEvent(new CustomEvent("helpdesk:engagement-selected", { detail: { engagementId: null } }));
  }
  renderList();
}

function onAvailability(frame) {
  if (frame.operator_id === state.operatorId) renderAvailability(frame);
}

// --- acts ------------------------------------------------------------------------------------

function selectEngagement(id, { fetch = true } = {}) {
  id = Number(id);
  if (!entry(id)) return;
  state.current = id;
  renderList();
  renderConversation();
  if (fetch) openEngagement(id);
  $("#composer-input").focus();
  document.dispatchEvent(new CustomEvent("helpdesk:engagement-selected", { detail: { engagementId: id } }));
}

function openEngagement(id) {
  socket.send({ type: "engagement.open", engagement_id: Number(id) });
}

function markRead(item) {
  const seq = item.summary.last_seq || lastSeqOf(item);
  if (item.unread || seq > (item.readSeq || 0)) {
    item.unread = 0;
    item.readSeq = seq;
    socket.send({ type: "read", engagement_id: item.summary.id, seq });
    renderList();
  }
}

let typingSentAt = 0;
let typingStopTimer = null;
function sendTyping(typing) {
  if (!state.current) return;
  const now = Date.now();
  clearTimeout(typingStopTimer);
  if (typing) {
    if (now - typingSentAt > 3000) {
      typingSentAt = now;
      socket.send({ type: "typing", engagement_id: state.current, typing: true });
    }
    typingStopTimer = setTimeout(() => sendTyping(false), 4000);
  } else if (typingSentAt) {
    typingSentAt = 0;
    socket.send({ type: "typing", engagement_id: state.current, typing: false });
  }
}

$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#composer-input");
  const body = input.value.trim();
  if (!body || !state.current) return;
  socket.send({ type: "message.send", engagement_id: state.current, body });
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

$("#note-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("#note-input");
  const body = input.value.trim();
  if (!body || !state.current) return;
  socket.send({ type: "note.add", engagement_id: state.current, body });
  input.value = "";
});

$("#end-engagement").addEventListener("click", () => {
  if (!state.current) return;
  if (!confirm("End this conversation? The visitor will see that it has ended.")) return;
  socket.send({ type: "engagement.end", engagement_id: state.current });
});
$("#dismiss-engagement").addEventListener("click", () => {
  if (state.current) removeEngagement(state.current);
});

$("#engagement-list").addEventListener("click", (event) => {
  const link = event.target.closest("[data-engagement-id]");
  if (!link) return;
  event.preventDefault();
  selectEngagement(link.dataset.engagementId);
});

document.querySelectorAll("#availability select").forEach((select) => {
  select.addEventListener("change", () => {
    socket.send({ type: "availability.set", media: select.dataset.media, status: select.value });
    askNotificationPermission();
  });
});

// --- alerts: sound, browser notification, tab title --------------------------------------------

let audio = null;
function beep() {
  try {
    audio = audio || new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.4);
    window.helpdeskAlerts = (window.helpdeskAlerts || 0) + 1;
  } catch {
    // no audio device: the title and the notification still tell
  }
}

function alertOperator(text, isNewEngagement) {
  if (!document.hidden && !isNewEngagement) return;
  beep();
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    const notification = new Notification(isNewEngagement ? "New engagement" : "New message", { body: text, tag: "helpdesk" });
    notification.onclick = () => { window.focus(); notification.close(); };
    window.helpdeskNotifications = (window.helpdeskNotifications || 0) + 1;
  }
}

function askNotificationPermission() {
  if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().then(renderNotificationButton);
}
function renderNotificationButton() {
  $("#enable-notifications").hidden = !("Notification" in window) || Notification.permission !== "default";
}
$("#enable-notifications").addEventListener("click", askNotificationPermission);
renderNotificationButton();

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.current && entry(state.current)) markRead(entry(state.current));
});

function renderTitle() {
  const unread = [...state.engagements.values()].reduce((sum, item) => sum + item.unread, 0);
  document.title = `${unread ? `(${unread}) ` : ""}Console · Helpdesk`;
}

// --- rendering -----------------------------------------------------------------------------------

function avatarLetter(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

function renderList() {
  const list = $("#engagement-list");
  const rows = [...state.engagements.values()].map((item) => {
    const li = el("li");
    const link = el("a", "list-item engagement-item");
    link.href = `#e${item.summary.id}`;
    link.dataset.engagementId = item.summary.id;
    if (state.current === item.summary.id) link.setAttribute("aria-current", "true");
    if (item.ended) link.classList.add("ended");
    const text = el("span", "grow");
    text.append(el("span", "name", item.summary.visitor_name));
    text.append(el("span", `small muted queue-name${item.typing && !item.ended ? " typing-now" : ""}`, secondLine(item)));
    const badge = el("span", "badge badge-count unread", item.unread);
    badge.hidden = !item.unread;
    link.append(el("span", "avatar", avatarLetter(item.summary.visitor_name)), text, badge);
    li.append(link);
    return li;
  });
  list.replaceChildren(...rows);
  $("#engagement-count").textContent = state.engagements.size;
  $("#no-engagements").hidden = state.engagements.size > 0;
  renderTitle();
}

function renderConversation() {
  const item = state.current ? entry(state.current) : null;
  $("#no-selection").hidden = !!item;
  $("#conversation-body").hidden = !item;
  $("#sidepanel").hidden = !item;
  if (!item) return;
  const { summary } = item;
  $("#visitor-name").textContent = summary.visitor_name;
  $("#visitor-avatar").textContent = avatarLetter(summary.visitor_name);
  $("#engagement-queue").textContent = summary.queue;
  $("#engagement-ref").textContent = `#${summary.id}`;
  $("#ended-banner").hidden = !item.ended;
  $("#ended-text").textContent = REASONS[item.endReason] || "This conversation has ended.";
  $("#composer").hidden = item.ended;
  $("#end-engagement").hidden = item.ended;
  // The whole history in one pass and one layout: bubbles built off-document, scrolled once.
  const transcript = $("#transcript");
  transcript.replaceChildren(...[...item.messages.keys()].sort((a, b) => a - b).map((seq) => messageBubble(item.messages.get(seq))));
  transcript.scrollTop = transcript.scrollHeight;
  renderNotes(item);
  renderOwners(item);
  renderDetails(item);
  renderTyping();
}

function messageBubble(frame) {
  const mine = frame.sender === "operator";
  const bubble = el("div", `msg ${frame.sender === "system" ? "system" : mine ? "mine" : "theirs"}`);
  bubble.dataset.seq = frame.seq;
  const who = frame.sender === "visitor" ? entry(frame.engagement_id)?.summary.visitor_name : frame.sender_name;
  if (frame.sender !== "system") bubble.append(el("span", "meta", `${who || ""} · ${time(frame.created_at)}`));
  bubble.append(document.createTextNode(frame.body));
  return bubble;
}

// One live message: appended in seq order (a late frame may arrive after a newer one).
function renderMessage(frame) {
  const transcript = $("#transcript");
  if (transcript.querySelector(`[data-seq="${frame.seq}"]`)) return;
  const mine = frame.sender === "operator";
  const last = transcript.lastElementChild;
  const after = !last || Number(last.dataset.seq) < frame.seq
    ? null
    : [...transcript.children].find((node) => Number(node.dataset.seq) > frame.seq);
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
  transcript.insertBefore(messageBubble(frame), after || null);
  if (atBottom || mine) transcript.scrollTop = transcript.scrollHeight;
}

function renderNotes(item) {
  const notes = item.notes.map((note) => {
    const node = el("div", `note ${note.source === "transfer" ? "transfer" : ""}`);
    const label = note.source === "transfer" ? `Transfer message from ${note.author_name || "a colleague"}`
      : note.source === "system" ? "System" : note.author_name;
    node.append(el("span", "meta", `${label} · ${time(note.created_at)}`), document.createTextNode(note.body));
    return node;
  });
  if (!notes.length) notes.push(el("p", "muted small", "No notes yet."));
  $("#notes").replaceChildren(...notes);
}

function renderOwners(item) {
  const rows = item.owners.map((owner) => {
    const li = el("li");
    li.append(el("strong", "", owner.operator_name));
    const why = owner.started_because === "transferred" ? "by transfer" : "routed";
    const because = (owner.ended_because_label || owner.ended_because).toLowerCase();
    const until = owner.ended_at ? `${time(owner.ended_at)} (${because})` : "now";
    li.append(el("span", "small muted", ` ${why} · ${time(owner.started_at)} – ${until}`));
    return li;
  });
  $("#owners").replaceChildren(...rows);
}

function renderDetails(item) {
  const pairs = [
    ["Visitor", item.summary.visitor_name],
    ["Queue", item.summary.queue],
    ["Waited", item.queuedAt && item.answeredAt ? duration((new Date(item.answeredAt) - new Date(item.queuedAt)) / 1000) : "–"],
    ["Messages", String(item.summary.last_seq || 0)],
  ];
  $("#details").replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", "", term), el("dd", "", value)]));
}

function renderTyping() {
  const item = state.current ? entry(state.current) : null;
  $("#typing").textContent = item && item.typing && !item.ended ? `${item.summary.visitor_name} is typing…` : "";
  renderListTypingOnly();
}

function secondLine(item) {
  if (item.ended) return "Ended";
  if (item.typing) return "typing…";
  if (item.preview) return `${item.preview.sender === "operator" ? "You: " : ""}${item.preview.body}`;
  return item.summary.queue;
}

function renderListTypingOnly() {
  for (const item of state.engagements.values()) {
    const label = document.querySelector(`[data-engagement-id="${item.summary.id}"] .queue-name`);
    if (label) {
      label.textContent = secondLine(item);
      label.classList.toggle("typing-now", !!item.typing && !item.ended);
    }
  }
}

function renderAvailability(availability) {
  const row = document.querySelector(`.availability-row[data-media="${availability.media}"]`);
  if (!row) return;
  $("select", row).value = availability.status;
  $("[data-role=dot]", row).className = `dot ${availability.status}`;
  $("[data-role=load]", row).textContent = `${availability.load}/${availability.capacity}`;
}

function renderQueues(queues) {
  state.queues = queues || [];
  for (const queue of state.queues) {
    const row = document.querySelector(`#queue-overview tr[data-queue-id="${queue.id}"]`);
    if (!row) continue;
    $("[data-role=waiting]", row).textContent = queue.waiting;
    row.dataset.oldest = queue.oldest_queued_at || "";
    row.classList.toggle("has-waiting", queue.waiting > 0);
  }
  tickQueues();
}

function tickQueues() {
  document.querySelectorAll("#queue-overview tr[data-queue-id]").forEach((row) => {
    const cell = $("[data-role=wait]", row);
    if (row.dataset.oldest === undefined) return;
    cell.textContent = row.dataset.oldest ? duration((Date.now() - new Date(row.dataset.oldest)) / 1000) : "0:00";
  });
}
setInterval(tickQueues, 1000);

// --- what other apps use -------------------------------------------------------------------------

window.helpdesk = {
  csrfToken,
  currentEngagementId: () => state.current,
  send: (frame) => socket.send(frame),
  selectEngagement,
  socket,
  toast,
};

// Engagements rendered by the server before the socket's hello arrives.
document.querySelectorAll("#engagement-list [data-engagement-id]").forEach((link) => {
  addEngagement({
    id: Number(link.dataset.engagementId),
    visitor_name: $(".name", link).textContent,
    queue: $(".queue-name", link).textContent,
    last_seq: 0,
  }, Number($(".unread", link).textContent) || 0);
});
renderTitle();
