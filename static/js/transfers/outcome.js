// How a transfer the operator started turned out: the result popup (declined, not answered,
// stopped) with Back to the dialog, the accepted chime, the read-only copy after Transfer Now.
import { emit } from "../core/bus.js";
import { $, toast } from "../core/dom.js";
import { chime } from "../core/sound.js";
import { renderBanner } from "./banner.js";
import { dialog, openDialog } from "./dialog.js";
import { refreshHistory } from "./history.js";
import { loadRecent, showReadOnly } from "./readonly.js";
import { currentId, minutes, OPEN, remember, saveDraft, state } from "./state.js";

const resultDialog = $("#transfer-result");

function showResult(transfer) {
  const name = transfer.offered_to_name || transfer.target_name;
  const titles = { declined: "Transfer declined", expired: "Transfer not answered", cancelled: "Transfer stopped" };
  let text;
  let title = titles[transfer.state] || "Transfer stopped";
  if (transfer.end_reason === "not_handed_over") {
    title = "Transfer cancelled";
    const within = transfer.hand_over_timeout_seconds >= 1 ? ` within ${minutes(transfer.hand_over_timeout_seconds)}` : " in time";
    text = `Transfer Now was not clicked${within}, so the transfer to ${transfer.accepted_by_name || name} was cancelled. You still have the chat.`;
  } else if (transfer.end_reason === "all_declined") text = `Everyone in ${transfer.target_name} declined the transfer.`;
  else if (transfer.state === "declined") text = `${name} declined the transfer.`;
  else if (transfer.state === "expired") text = `${name} did not answer within ${transfer.accept_timeout_seconds} seconds.`;
  else if (transfer.end_reason === "at_capacity") text = `${name} has reached their capacity and cannot take it now.`;
  else text = `${transfer.end_reason_label || "The transfer was stopped"}.`.replace("Operator", name);
  $("#transfer-result-title").textContent = title;
  $("#transfer-result-text").textContent = text;
  const reason = $("[data-role=reason]", resultDialog);
  reason.textContent = transfer.reason_text ? `“${transfer.reason_text}”` : "";
  reason.hidden = !transfer.reason_text;
  resultDialog.dataset.engagementId = transfer.engagement_id;
  resultDialog.dataset.state = transfer.state;
  resultDialog.dataset.reason = transfer.end_reason;
  if (dialog.open) dialog.close();
  if (!resultDialog.open) resultDialog.showModal();
  $("[data-act=back]", resultDialog).focus();
}

resultDialog.addEventListener("click", (event) => {
  const act = event.target.closest("[data-act]")?.dataset.act;
  if (!act) return;
  resultDialog.close();
  if (act === "back") {
    const engagementId = Number(resultDialog.dataset.engagementId);
    if (currentId() !== engagementId) emit("engagement-select", { engagementId });
    openDialog();
  }
});

// --- frames for the initiator ----------------------------------------------------------------------

export function onInitiatorUpdate(transfer, { quiet = false } = {}) {
  // News is a state this console has not handled yet, whatever it already knows: the history
  // panel's refresh may have read the ended transfer before its frame came, and the popup must
  // still open (it did not, once, in CI). A frame repeating a handled state announces nothing.
  const key = `${transfer.id}:${transfer.state}`;
  const news = !state.handled.has(key);
  const current = remember(transfer);
  if (current !== transfer) return;
  state.handled.add(key);
  if (transfer.state === "completed") {
    saveDraft(transfer.engagement_id, "");
    if (news) {
      showReadOnly(transfer);
      loadRecent();
    }
  } else if (!OPEN.has(transfer.state) && news) {
    const byMe = transfer.end_reason === "initiator_cancelled";
    const ended = transfer.end_reason === "visitor_left" || transfer.end_reason === "engagement_ended";
    if (byMe) {
      if (!quiet) toast("Transfer cancelled.");
    } else if (ended) {
      toast(`Transfer stopped: ${transfer.end_reason_label.toLowerCase()}.`);
    } else {
      showResult(transfer);
    }
  } else if (transfer.state === "accepted" && news && !quiet) {
    notifyAccepted(transfer);
  }
  renderBanner();
  refreshHistory(transfer.engagement_id);
}

function notifyAccepted(transfer) {
  chime([660, 880]);
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    new Notification("Transfer accepted", { body: `${transfer.accepted_by_name} accepted ${transfer.visitor_name}. Click Transfer Now when ready.`, tag: `transfer-${transfer.id}` });
  }
}
