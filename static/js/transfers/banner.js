// The initiator's side in the conversation: the Transfer button, the banner while a transfer is
// waiting or accepted (countdowns, Cancel, Transfer Now), and where the module's pieces sit.
import { $, duration } from "../core/dom.js";
import { post, toastError } from "../core/http.js";
import { onInitiatorUpdate } from "./outcome.js";
import { snapshot } from "./readonly.js";
import { currentId, openTransferOf, state } from "./state.js";

export const banner = $("#transfer-banner");
const readonly = $("#transfer-readonly");
const historySection = $("#transfer-history-section");
const recentSection = $("#transfer-recent");
const openButton = $("#transfer-open");

export function place() {
  const header = $("#conversation-body .pane-header");
  if (header && banner.parentElement !== header.parentElement) header.after(banner);
  const pane = $("#conversation");
  if (pane && readonly.parentElement !== pane) pane.append(readonly);
  const mine = $(".sidebar .engagements-section");
  if (mine && recentSection.parentElement !== mine.parentElement) mine.after(recentSection);
  const side = $("#sidepanel");
  if (side && historySection.parentElement !== side) {
    const owners = $("#owners", side)?.closest("section");
    if (owners) owners.after(historySection);
    else side.append(historySection);
  }
}

function engagementEnded() {
  const endedBanner = $("#ended-banner");
  return endedBanner ? !endedBanner.hidden : false;
}

export function renderButton() {
  const id = currentId();
  const open = id ? openTransferOf(id) : null;
  openButton.disabled = !id || engagementEnded() || !!open;
  openButton.title = open ? "A transfer is in progress" : "Transfer this engagement to another operator or a queue";
}

export function renderBanner() {
  place();
  const id = currentId();
  const transfer = id ? openTransferOf(id) : null;
  banner.hidden = !transfer;
  renderButton();
  if (!transfer) return;
  banner.dataset.state = transfer.state;
  banner.dataset.transferId = transfer.id;
  const title = $("[data-role=title]", banner);
  const detail = $("[data-role=detail]", banner);
  const nowButton = $("[data-act=now]", banner);
  nowButton.hidden = transfer.state !== "accepted";
  $("[data-act=cancel]", banner).hidden = false;
  if (transfer.state === "accepted") {
    banner.className = "transfer-banner accepted";
    title.textContent = `${transfer.accepted_by_name} accepted the transfer`;
    detail.textContent = "Let the visitor know and say goodbye, then click Transfer Now before the time runs out.";
  } else if (transfer.waiting_in_queue) {
    banner.className = "transfer-banner waiting";
    title.textContent = `Waiting in ${transfer.target_name}`;
    detail.textContent = `Nobody is free yet · position ${transfer.queue_position} · you can keep chatting with the visitor.`;
  } else {
    banner.className = "transfer-banner waiting";
    title.textContent =
      transfer.target_kind === "queue"
        ? `Offered to ${transfer.offered_to_name} (${transfer.target_name})`
        : `Waiting for ${transfer.offered_to_name} to answer`;
    detail.textContent = "You can keep chatting with the visitor meanwhile.";
  }
  tick();
}

export function tick() {
  const transferId = Number(banner.dataset.transferId);
  const countdown = $("[data-role=countdown]", banner);
  if (!banner.hidden && banner.dataset.state === "requested") {
    const deadline = state.deadlines.get(transferId);
    const since = state.waitingSince.get(transferId);
    if (deadline) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      countdown.textContent = duration(Math.ceil(left));
      countdown.classList.toggle("urgent", left <= 10);
      countdown.setAttribute("aria-label", "Time left to answer");
    } else if (since) {
      countdown.textContent = duration((Date.now() - since) / 1000);
      countdown.classList.remove("urgent");
      countdown.setAttribute("aria-label", "Time waiting in the queue");
    }
  } else if (!banner.hidden && banner.dataset.state === "accepted" && state.handOverDeadlines.has(transferId)) {
    const left = Math.max(0, (state.handOverDeadlines.get(transferId) - Date.now()) / 1000);
    countdown.textContent = duration(Math.ceil(left));
    countdown.classList.toggle("urgent", left <= 30);
    countdown.setAttribute("aria-label", "Time left to click Transfer Now");
  } else {
    countdown.textContent = "";
  }
  for (const [transferId, prompt] of state.prompts) {
    const deadline = state.deadlines.get(transferId);
    if (!deadline) continue;
    const left = Math.max(0, (deadline - Date.now()) / 1000);
    $("[data-role=countdown]", prompt).textContent = duration(Math.ceil(left));
    const total = Number(prompt.dataset.timeout) || 30;
    $("[data-role=meter]", prompt).style.width = `${Math.min(100, (left / total) * 100)}%`;
    prompt.classList.toggle("urgent", left <= 10);
  }
}
setInterval(tick, 250);

banner.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-act]");
  if (!button) return;
  const transferId = banner.dataset.transferId;
  button.disabled = true;
  try {
    if (button.dataset.act === "cancel") {
      const data = await post(`/transfers/${transferId}/cancel/`);
      onInitiatorUpdate(data.transfer, { quiet: true });
    } else if (button.dataset.act === "now") {
      snapshot(currentId());
      const data = await post(`/transfers/${transferId}/now/`);
      onInitiatorUpdate(data.transfer);
    }
  } catch (error) {
    toastError(error, "That did not work.");
  } finally {
    button.disabled = false;
  }
});
