// The initiator's read-only copy of a conversation after Transfer Now (a snapshot at the click,
// then the server's copy up to the hand-over), and "Transferred recently", which reopens it.
import { $, el, timeOfDay, toast } from "../core/dom.js";
import { get, toastError } from "../core/http.js";
import { place } from "./banner.js";
import { currentId, state, visitorName } from "./state.js";

const readonly = $("#transfer-readonly");
const recentSection = $("#transfer-recent");

export function snapshot(engagementId) {
  const transcript = $("#transcript");
  if (!transcript) return;
  state.snapshots.set(Number(engagementId), {
    nodes: [...transcript.children].map((node) => node.cloneNode(true)),
    visitor: visitorName(),
  });
}

function fillReadOnly({ transferId, engagementId, visitor, detail, nodes }) {
  $("[data-role=avatar]", readonly).textContent = (visitor || "?").charAt(0).toUpperCase();
  $("[data-role=visitor]", readonly).textContent = visitor;
  $("[data-role=detail]", readonly).textContent = detail;
  const transcript = $("[data-role=transcript]", readonly);
  transcript.replaceChildren(...nodes);
  readonly.dataset.engagementId = engagementId;
  readonly.dataset.transferId = transferId;
  readonly.hidden = false;
  $("#conversation")?.classList.add("showing-readonly");
  transcript.scrollTop = transcript.scrollHeight;
  renderRecent();
}

const copyDetail = (acceptedBy, completedAt) =>
  `Transferred to ${acceptedBy} at ${timeOfDay(completedAt)} · you can no longer write here`;

export function showReadOnly(transfer) {
  const shot = state.snapshots.get(transfer.engagement_id);
  if (!shot && currentId() !== transfer.engagement_id) {
    toast(`${transfer.visitor_name} was transferred to ${transfer.accepted_by_name}.`);
    return;
  }
  const copy = shot || { nodes: [...($("#transcript")?.children || [])].map((n) => n.cloneNode(true)), visitor: transfer.visitor_name };
  fillReadOnly({
    transferId: transfer.id,
    engagementId: transfer.engagement_id,
    visitor: copy.visitor || transfer.visitor_name,
    detail: copyDetail(transfer.accepted_by_name, transfer.completed_at),
    nodes: copy.nodes,
  });
  state.snapshots.delete(transfer.engagement_id);
  // The snapshot is what was on screen at the click; the server's copy has every line up to the hand-over.
  const transcript = $("[data-role=transcript]", readonly);
  get(`/transfers/${transfer.id}/transcript/`)
    .then((data) => {
      if (readonly.hidden || Number(readonly.dataset.transferId) !== transfer.id) return;
      transcript.replaceChildren(...data.messages.map((message) => copyBubble(message, data.visitor_name)));
      transcript.scrollTop = transcript.scrollHeight;
    })
    .catch(() => {});
}

// After a reload (or from the list at any time): the server's copy, up to the hand-over.
async function openRecent(transferId, opener) {
  try {
    const data = await get(`/transfers/${transferId}/transcript/`);
    fillReadOnly({
      transferId: data.id,
      engagementId: data.engagement_id,
      visitor: data.visitor_name,
      detail: copyDetail(data.accepted_by_name, data.completed_at),
      nodes: data.messages.map((message) => copyBubble(message, data.visitor_name)),
    });
    state.readonlyOpener = opener || null;
    $("[data-role=visitor]", readonly).focus();
  } catch (error) {
    toastError(error, "That copy could not be opened.");
    loadRecent();
  }
}

function copyBubble(message, visitor) {
  const kind = message.sender === "system" ? "system" : message.sender === "operator" ? "mine" : "theirs";
  const bubble = el("div", `msg ${kind}`);
  bubble.dataset.seq = message.seq;
  if (message.sender !== "system") {
    const who = message.sender === "visitor" ? visitor : message.sender_name;
    bubble.append(el("span", "meta", `${who} · ${timeOfDay(message.created_at)}`));
  }
  bubble.append(document.createTextNode(message.body));
  return bubble;
}

export function hideReadOnly({ restoreFocus = false } = {}) {
  const wasOpen = !readonly.hidden;
  readonly.hidden = true;
  delete readonly.dataset.transferId;
  $("#conversation")?.classList.remove("showing-readonly");
  renderRecent();
  const opener = state.readonlyOpener && $(`[data-transfer-id="${state.readonlyOpener}"]`, recentSection);
  state.readonlyOpener = null;
  if (wasOpen && restoreFocus && opener) opener.focus();
}
$("[data-act=close-readonly]", readonly).addEventListener("click", () => hideReadOnly({ restoreFocus: true }));
readonly.addEventListener("keydown", (event) => {
  if (event.key === "Escape") hideReadOnly({ restoreFocus: true });
});

// --- "Transferred recently": the initiator's copies survive a reload ---------------------------------

export async function loadRecent() {
  try {
    const data = await get("/transfers/recent/");
    state.recent = data.recent;
    renderRecent();
  } catch {
    // the next hello tries again
  }
}

function renderRecent() {
  place();
  const openId = readonly.hidden ? null : Number(readonly.dataset.transferId);
  const items = state.recent.map((row) => {
    const li = el("li");
    const button = el("button", "list-item transfer-recent-item");
    button.type = "button";
    button.dataset.transferId = row.id;
    if (row.id === openId) button.setAttribute("aria-current", "true");
    button.setAttribute("aria-label", `${row.visitor_name}, transferred to ${row.accepted_by_name} at ${timeOfDay(row.completed_at)}: open the read-only copy`);
    const text = el("span", "grow transfer-recent-text");
    text.append(el("span", "name", row.visitor_name), el("span", "small muted", `→ ${row.accepted_by_name} · ${timeOfDay(row.completed_at)}`));
    button.title = "Open the read-only copy";
    button.append(el("span", "avatar avatar-sm", (row.visitor_name || "?").charAt(0).toUpperCase()), text);
    li.append(button);
    return li;
  });
  $("[data-role=list]", recentSection).replaceChildren(...items);
  $("[data-role=count]", recentSection).textContent = items.length;
  recentSection.hidden = items.length === 0;
}

recentSection.addEventListener("click", (event) => {
  const button = event.target.closest("[data-transfer-id]");
  if (button) openRecent(Number(button.dataset.transferId), Number(button.dataset.transferId));
});
