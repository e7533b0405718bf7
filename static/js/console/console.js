// The operator console: one LiveSocket to /ws/operator/; every frame is handled here, then emitted
// on the page's bus as "frame" (the transfers module listens to those and to "engagement-selected",
// and asks for an engagement with "engagement-select"). Chat lines go through the outbox
// (core/outbox.js) until the server has stored them. User text is only ever set with textContent.
import { emit, on } from "../core/bus.js";
import { $, toast } from "../core/dom.js";
import { Outbox } from "../core/outbox.js";
import { LiveSocket } from "../core/socket.js";
import { alertOperator, askNotificationPermission } from "./alerts.js";
import {
  renderAvailability, renderConversation, renderDetails, renderLine, renderList, renderMessage, renderNotes,
  renderPanels, renderQueues, renderTitle, renderTyping, useOutbox,
} from "./render.js";
import { addEngagement, entry, lastSeqOf, state } from "./state.js";
import { applyWatchersFrame, forgetWatchers, renderWatchers, resyncWatchers } from "./watchers.js";

let signedOut = false;

// --- socket ------------------------------------------------------------------------------------

const socket = new LiveSocket("/ws/operator/", {
  onFrame: (frame) => {
    const settled = outbox.receive(frame);
    if (!(settled && frame.type === "error")) handleFrame(frame); // a refused line says so on its bubble
    emit("frame", frame);
  },
  onStatus: (status) => {
    const conn = $("#conn");
    if (signedOut) return;
    conn.classList.toggle("down", status !== "open");
    $("[data-role=text]", conn).textContent =
      status === "open" ? "Connected" : status === "connecting" ? "Connecting…" : "Offline — reconnecting";
  },
});
// sessionStorage is per tab, and a tab shows one operator: one outbox per tab.
const outbox = new Outbox(socket, { storageKey: "outbox:operator", onChange: renderLine });
useOutbox(outbox);

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
  "engagement.watchers": onWatchers,
  // Accepted a transfer: its history now, shown the moment Transfer Now hands the chat over.
  "transfer.history": (frame) => state.held.set(Number(frame.engagement_id), {
    messages: frame.messages, through: frame.messages.length ? frame.messages[frame.messages.length - 1].seq : 0,
  }),
  "transfer.offer_ended": (frame) => {
    if (frame.outcome !== "accepted") state.held.delete(Number(frame.engagement_id)); // it will not come
  },
  // A supervisor's act on my work: say who did it, so a chat leaving my list is never a mystery.
  "supervision.taken_over": (frame) => toast(`${frame.by_name} took over this conversation.`),
  "supervision.forced_offline": (frame) =>
    toast(`${frame.by_name} set you offline: your chats went back to the queue.`, "error"),
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
  outbox.resend(); // a fresh connection: lines not acked on the last one go again, in order
  resyncWatchers(redrawWatchers); // supervision's part of the state, which hello cannot carry
}

function onWatchers(frame) {
  if (applyWatchersFrame(frame)) redrawWatchers([Number(frame.engagement_id)], { announceEnd: true });
}

function redrawWatchers(ids, { announceEnd = false } = {}) {
  renderList();
  if (!ids.includes(state.current) || !entry(state.current)) return;
  renderWatchers(state.current, { announceEnd });
  renderDetails(entry(state.current));
}

function onMessage(frame) {
  const item = entry(frame.engagement_id);
  if (!item) {
    // Transfer Now's announcing line comes just before its engagement.assigned: held with the history.
    const held = state.held.get(Number(frame.engagement_id));
    if (held && !held.messages.some((message) => message.seq === frame.seq)) held.messages.push(frame);
    return;
  }
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
  const held = state.held.get(item.summary.id);
  if (held) {
    // Transfer Now of a transfer I accepted: drawn now from what accepting brought.
    state.held.delete(item.summary.id);
    held.messages.forEach((message) => item.messages.set(message.seq, message));
    if (held.messages.length) item.preview = held.messages[held.messages.length - 1];
    item.drawnFromHeld = true;
  }
  renderList();
  alertOperator(`New chat: ${frame.engagement.visitor_name}`, true);
  if (frame.detail_follows || held) resyncWatchers(redrawWatchers); // handed over: someone may watch it already
  // The detail: sent on its own after other hand-overs (detail_follows); after Transfer Now only
  // the lines since the history accepting brought are asked for; a routed chat's is asked for whole.
  const afterSeq = held ? held.through : 0;
  const fetch = !frame.detail_follows;
  if (!state.current) selectEngagement(frame.engagement.id, { fetch, afterSeq });
  else if (state.current === item.summary.id && fetch) openEngagement(item.summary.id, afterSeq);
}

function onDetail(frame) {
  const item = addEngagement(frame.engagement, entry(frame.engagement.id)?.unread || 0);
  const onScreen = state.current === Number(frame.engagement.id);
  const added = frame.messages.filter((message) => !item.messages.has(message.seq));
  frame.messages.forEach((message) => item.messages.set(message.seq, message));
  if (frame.messages.length) item.preview = frame.messages[frame.messages.length - 1];
  item.summary.last_seq = Math.max(item.summary.last_seq || 0, lastSeqOf(item));
  item.messages.forEach((_, seq) => socket.noteSeq(frame.engagement.id, seq));
  item.notes = frame.notes;
  item.owners = frame.owners;
  item.queuedAt = frame.queued_at;
  item.answeredAt = frame.answered_at;
  item.loaded = true;
  if (onScreen && item.drawnFromHeld) {
    added.forEach(renderMessage); // the transcript is up already: no redraw of 200 lines
    renderPanels(item);
  } else if (onScreen) renderConversation();
  item.drawnFromHeld = false;
  if (onScreen && !document.hidden) markRead(item);
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
  forgetWatchers(id);
  socket.forget(id);
  outbox.forget(id);
  if (state.current === id) {
    state.current = null;
    renderConversation();
    emit("engagement-selected", { engagementId: null });
  }
  renderList();
}

function onAvailability(frame) {
  if (frame.operator_id === state.operatorId) renderAvailability(frame);
}

// --- acts ------------------------------------------------------------------------------------

function selectEngagement(id, { fetch = true, afterSeq = 0 } = {}) {
  id = Number(id);
  if (!entry(id)) return;
  state.current = id;
  renderList();
  renderConversation();
  if (fetch) openEngagement(id, afterSeq);
  $("#composer-input").focus({ preventScroll: true }); // always in view: no layout to scroll it there
  emit("engagement-selected", { engagementId: id });
}
on("engagement-select", ({ engagementId }) => selectEngagement(engagementId));

// `afterSeq`: the console holds the lines up to it already and asks only for what came since.
function openEngagement(id, afterSeq = 0) {
  socket.send({ type: "engagement.open", engagement_id: Number(id), ...(afterSeq ? { after_seq: afterSeq } : {}) });
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
  outbox.add(body, { engagementId: state.current });
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

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.current && entry(state.current)) markRead(entry(state.current));
});

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
