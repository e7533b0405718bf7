// The transfer history of the engagement on screen, in the side panel.
import { $, afterNextPaint, el, timeOfDay } from "../core/dom.js";
import { get } from "../core/http.js";
import { place, renderBanner } from "./banner.js";
import { currentId, remember, state } from "./state.js";

const historySection = $("#transfer-history-section");

const OUTCOME_CLASS = { completed: "badge-ok", accepted: "badge-ok", declined: "badge-danger", expired: "badge-warn", cancelled: "badge", requested: "badge-warn" };

// One read per burst of frames, after the chat is on screen. A hand-over brings three reasons to
// re-read (the engagement selected, `transfer.updated`, `engagement.detail`) within a few ms; each
// was a request whose server work and answer competed with drawing the new chat (issue 16). Asked
// again while a read is out, it reads once more when that one is back: the panel ends current.
const pending = new Set(); // engagements with a read asked for and not yet sent
const inFlight = new Map(); // engagement → asked again while its read was out

export function refreshHistory(engagementId) {
  const id = Number(engagementId);
  if (!id || id !== currentId() || pending.has(id)) return;
  if (inFlight.has(id)) {
    inFlight.set(id, true);
    return;
  }
  pending.add(id);
  afterNextPaint(() => {
    pending.delete(id);
    readHistory(id);
  });
}

async function readHistory(id) {
  if (id !== currentId()) return;
  inFlight.set(id, false);
  try {
    const data = await get(`/transfers/engagements/${id}/`);
    state.history.set(id, data.history);
    const latest = data.history[data.history.length - 1];
    if (latest) remember(latest);
    renderHistory();
    renderBanner();
  } catch {
    // not ours (anymore): nothing to show
  } finally {
    const again = inFlight.get(id);
    inFlight.delete(id);
    if (again) refreshHistory(id);
  }
}

export function renderHistory() {
  place();
  const id = currentId();
  const rows = (id && state.history.get(id)) || [];
  const items = rows.map((transfer) => {
    const li = el("li", "transfer-history-item");
    li.dataset.state = transfer.state;
    const head = el("div", "row spread");
    const who = el("span", "transfer-history-who");
    who.append(el("strong", "", transfer.initiator_name), document.createTextNode(" → "), el("strong", "", transfer.accepted_by_name && transfer.target_kind === "queue" ? `${transfer.target_name} (${transfer.accepted_by_name})` : transfer.target_name));
    head.append(who, el("span", `badge ${OUTCOME_CLASS[transfer.state] || ""}`, transfer.state_label));
    li.append(head);
    const times = [`asked ${timeOfDay(transfer.requested_at)}`];
    if (transfer.answered_at) times.push(`answered ${timeOfDay(transfer.answered_at)}`);
    if (transfer.completed_at) times.push(`completed ${timeOfDay(transfer.completed_at)}`);
    else if (transfer.ended_at) times.push(`ended ${timeOfDay(transfer.ended_at)}`);
    li.append(el("div", "small muted", times.join(" · ")));
    if (transfer.end_reason && transfer.state !== "completed") {
      li.append(el("div", "small", transfer.reason_text ? `${transfer.end_reason_label}: “${transfer.reason_text}”` : transfer.end_reason_label));
    }
    if (transfer.warm_message) {
      const note = el("div", "note transfer small");
      note.append(el("span", "meta", `Transfer note by ${transfer.initiator_name} · ${timeOfDay(transfer.requested_at)}`), document.createTextNode(transfer.warm_message));
      li.append(note);
    }
    return li;
  });
  $("[data-role=list]", historySection).replaceChildren(...items);
  $("[data-role=empty]", historySection).hidden = items.length > 0;
}
