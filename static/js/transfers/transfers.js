// Chat transfer in the operator console: the dialog (dialog.js), the initiator's banner with
// Transfer Now (banner.js), the result popup (outcome.js), the target's prompt (prompts.js), the
// read-only copy after hand-over and "Transferred recently" (readonly.js), and the history
// (history.js). Acts go over HTTP POST (core/http.js); results come back as frames, which the
// console emits on the bus. User text is only ever set with textContent.
import { on } from "../core/bus.js";
import { $, toast } from "../core/dom.js";
import { get } from "../core/http.js";
import { place, renderBanner, renderButton } from "./banner.js";
import { closeDialog, dialog, refreshTargetsSoon } from "./dialog.js";
import { refreshHistory, renderHistory } from "./history.js";
import { onInitiatorUpdate } from "./outcome.js";
import { closePrompt, onOffered, onOfferEnded } from "./prompts.js";
import { hideReadOnly, loadRecent } from "./readonly.js";
import { myId, remember, state } from "./state.js";

on("frame", (frame) => {
  switch (frame.type) {
    case "transfer.updated":
      if (frame.transfer.initiator_id === myId()) onInitiatorUpdate(frame.transfer);
      else if (frame.transfer.state === "completed") {
        state.byEngagement.set(frame.transfer.engagement_id, frame.transfer);
        renderBanner();
        toast(`${frame.transfer.initiator_name} transferred ${frame.transfer.visitor_name} to you.`);
        refreshHistory(frame.transfer.engagement_id);
      }
      break;
    case "transfer.offered":
      onOffered(frame.transfer);
      break;
    case "transfer.offer_ended":
      onOfferEnded(frame);
      break;
    case "hello":
      place();
      resync();
      break;
    case "availability":
    case "queues.changed":
      // Keep the open dialog's dots, marks and queue counts live, and a waiting transfer's place.
      refreshTargetsSoon();
      if (waitingInQueue()) refreshWaiting();
      break;
    case "engagement.detail":
    case "engagement.ended":
      place();
      renderBanner();
      if (frame.type === "engagement.detail") refreshHistory(frame.engagement.id);
      break;
    default:
  }
});

on("engagement-selected", ({ engagementId: id }) => {
  state.currentEngagement = id;
  if (id) hideReadOnly();
  place();
  renderBanner();
  renderHistory();
  if (id) refreshHistory(id);
  if (dialog.open && state.dialogEngagement !== id) closeDialog();
});

// A queue transfer waiting for someone: its place moves as the queue does (visitors ahead answered or
// gone, transfers ahead offered). The server says the queue moved (queues.changed, availability
// frames); the initiator then re-reads position and wait, at most once per 300 ms. A slow poll
// covers a queue of another site, whose frames this console does not get.
const WAITING_POLL_MS = 15000;
let waitingTimer = null;

function waitingInQueue() {
  for (const transfer of state.byEngagement.values()) {
    if (transfer.state === "requested" && transfer.waiting_in_queue) return true;
  }
  return false;
}

function refreshWaiting() {
  clearTimeout(waitingTimer);
  waitingTimer = setTimeout(async () => {
    try {
      const data = await get("/transfers/mine/");
      data.outgoing.forEach((transfer) => remember(transfer));
      renderBanner();
    } catch {
      // the next frame or poll tries again
    }
  }, 300);
}
setInterval(() => {
  if (waitingInQueue()) refreshWaiting();
}, WAITING_POLL_MS);

async function resync() {
  loadRecent();
  try {
    const data = await get("/transfers/mine/");
    const offered = new Set(data.offers.map((t) => t.id));
    for (const transferId of [...state.prompts.keys()]) if (!offered.has(transferId)) closePrompt(transferId);
    data.offers.forEach(onOffered);
    data.outgoing.forEach((transfer) => remember(transfer));
    renderBanner();
  } catch {
    // the next hello tries again
  }
}

// Engagement selection changes the header; keep the button in step even without our events.
new MutationObserver(() => renderButton()).observe($("#conversation") || document.body, { subtree: true, attributes: true, attributeFilter: ["hidden"] });

place();
resync();
renderButton();
