// Drawing the operator console from its state (state.js). User text only ever via textContent.
import { $, duration, el, nearEnd, scrollToEnd, timeOfDay as time } from "../core/dom.js";
import { markBubble, placeBefore } from "../core/outbox.js";
import { entry, state } from "./state.js";
import { listBadge, renderWatchers, watchersOf, watchersText } from "./watchers.js";

const REASONS = {
  visitor_left: "The visitor left the chat.", operator_ended: "You ended this conversation.",
  abandoned: "The visitor left before an answer.", transferred: "Transferred to another operator.",
};

// The console's outbox (console.js sets it): its lines are drawn after the stored ones.
let outbox = null;
export function useOutbox(value) {
  outbox = value;
}

function avatarLetter(name) {
  return (name || "?").trim().charAt(0).toUpperCase() || "?";
}

export function renderList() {
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
    link.append(el("span", "avatar", avatarLetter(item.summary.visitor_name)), text);
    const watched = item.ended ? null : listBadge(item.summary.id);
    if (watched) link.append(watched);
    link.append(badge);
    li.append(link);
    return li;
  });
  list.replaceChildren(...rows);
  $("#engagement-count").textContent = state.engagements.size;
  $("#no-engagements").hidden = state.engagements.size > 0;
  renderTitle();
}

export function renderConversation() {
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
  // The whole history in one pass and one layout: bubbles built off-document, scrolled in the frame.
  const transcript = $("#transcript");
  transcript.replaceChildren(...[...item.messages.keys()].sort((a, b) => a - b).map((seq) => messageBubble(item.messages.get(seq))));
  if (outbox) outbox.lines(summary.id).forEach(renderLine);
  scrollToEnd(transcript);
  renderPanels(item);
}

// Everything of the engagement on screen around its transcript.
export function renderPanels(item) {
  renderNotes(item);
  renderOwners(item);
  renderDetails(item);
  renderWatchers(item.summary.id);
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

// One live message: placed in seq order (a late frame may arrive after a newer one), before the
// lines still in the outbox; it takes the place of the operator's own copy that waited there.
export function renderMessage(frame) {
  const transcript = $("#transcript");
  const own = frame.client_id ? transcript.querySelector(`[data-client-id="${CSS.escape(frame.client_id)}"]`) : null;
  const existing = transcript.querySelector(`[data-seq="${frame.seq}"]`);
  if (own) own.remove();
  if (existing && existing !== own) return;
  const mine = frame.sender === "operator";
  const last = transcript.lastElementChild;
  const after = !last || (!last.dataset.sendState && Number(last.dataset.seq) < frame.seq)
    ? null
    : placeBefore(transcript, frame.seq);
  const atBottom = nearEnd(transcript);
  transcript.insertBefore(messageBubble(frame), after);
  if (atBottom || mine) scrollToEnd(transcript);
}

// A line of the outbox on the engagement on screen: shown at once, marked until stored.
export function renderLine(line) {
  if (line.engagementId !== state.current) return;
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
    bubble.append(el("span", "meta", `You · ${time(line.createdAt)}`), document.createTextNode(line.body));
    transcript.append(bubble);
    scrollToEnd(transcript);
  }
  markBubble(bubble, line, (clientId) => outbox.retry(clientId));
  if (line.state === "failed") scrollToEnd(transcript); // its Retry in view
}

export function renderNotes(item) {
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

export function renderOwners(item) {
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

export function renderDetails(item) {
  const pairs = [
    ["Visitor", item.summary.visitor_name],
    ["Queue", item.summary.queue],
    ["Waited", item.queuedAt && item.answeredAt ? duration((new Date(item.answeredAt) - new Date(item.queuedAt)) / 1000) : "–"],
    ["Messages", String(item.summary.last_seq || 0)],
  ];
  // Left while the queue was closed: the visitor is not on the page, the answer goes by e-mail.
  if (item.summary.kind === "offline_message") pairs.unshift(["Kind", "Offline message: answer by e-mail (address in Notes)"]);
  const watched = watchersText(watchersOf(item.summary.id));
  if (watched) pairs.push(["Supervision", watched]);
  $("#details").replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", "", term), el("dd", "", value)]));
}

export function renderTyping() {
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

export function renderAvailability(availability) {
  const row = document.querySelector(`.availability-row[data-media="${availability.media}"]`);
  if (!row) return;
  $("select", row).value = availability.status;
  $("[data-role=dot]", row).className = `dot ${availability.status}`;
  $("[data-role=load]", row).textContent = `${availability.load}/${availability.capacity}`;
}

export function renderQueues(queues) {
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

export function tickQueues() {
  document.querySelectorAll("#queue-overview tr[data-queue-id]").forEach((row) => {
    const cell = $("[data-role=wait]", row);
    if (row.dataset.oldest === undefined) return;
    cell.textContent = row.dataset.oldest ? duration((Date.now() - new Date(row.dataset.oldest)) / 1000) : "0:00";
  });
}
setInterval(tickQueues, 1000);

export function renderTitle() {
  const unread = [...state.engagements.values()].reduce((sum, item) => sum + item.unread, 0);
  document.title = `${unread ? `(${unread}) ` : ""}Console · Helpdesk`;
}
