// The target's side: an incoming transfer prompt (who asks, the visitor, the warm message, a
// countdown) with Accept and Decline (with a reason), a chime and, in a background tab, a notification.
import { $, $$, toast } from "../core/dom.js";
import { post, toastError } from "../core/http.js";
import { chime } from "../core/sound.js";
import { tick } from "./banner.js";
import { remember, state } from "./state.js";

export function onOffered(transfer) {
  remember(transfer, { asInitiator: false });
  let prompt = state.prompts.get(transfer.id);
  const fresh = !prompt;
  if (fresh) {
    prompt = $("#transfer-prompt-template").content.firstElementChild.cloneNode(true);
    prompt.dataset.transferId = transfer.id;
    state.prompts.set(transfer.id, prompt);
    $("#transfer-prompts").append(prompt);
  }
  prompt.dataset.timeout = transfer.accept_timeout_seconds;
  prompt.setAttribute("aria-label", `Incoming transfer from ${transfer.initiator_name}`);
  $("[data-role=initiator]", prompt).textContent = transfer.initiator_name;
  $("[data-role=visitor]", prompt).textContent = transfer.visitor_name;
  $("[data-role=via]", prompt).textContent = transfer.target_kind === "queue" ? ` (queue ${transfer.target_name})` : "";
  $("[data-role=why]", prompt).textContent = transfer.reason_name || "";
  $("[data-role=why-line]", prompt).hidden = !transfer.reason_name;
  const warm = $("[data-role=warm]", prompt);
  warm.textContent = transfer.warm_message;
  warm.hidden = !transfer.warm_message;
  tick();
  if (fresh) {
    chime([880, 660, 880]);
    if (document.hidden && "Notification" in window && Notification.permission === "granted") {
      const body = `${transfer.initiator_name} wants to transfer ${transfer.visitor_name} to you.${transfer.warm_message ? `\n“${transfer.warm_message}”` : ""}`;
      const notification = new Notification("Incoming transfer", { body, tag: `transfer-${transfer.id}`, requireInteraction: true });
      notification.onclick = () => {
        window.focus();
        $("[data-act=accept]", prompt)?.focus();
        notification.close();
      };
    }
  }
}

export function closePrompt(transferId) {
  const prompt = state.prompts.get(Number(transferId));
  if (!prompt) return;
  state.prompts.delete(Number(transferId));
  prompt.classList.add("leaving");
  setTimeout(() => prompt.remove(), 200);
}

const OFFER_ENDED_TEXT = {
  expired: "The transfer expired before you answered.",
  withdrawn: "The transfer was withdrawn.",
};

export function onOfferEnded(frame) {
  const open = state.prompts.has(Number(frame.transfer_id));
  closePrompt(frame.transfer_id);
  if (frame.outcome === "accepted") return;
  if (open && OFFER_ENDED_TEXT[frame.outcome]) toast(OFFER_ENDED_TEXT[frame.outcome]);
  if (frame.outcome === "withdrawn" && !open && frame.reason === "initiator_cancelled") toast("The initiator cancelled the transfer you accepted.");
  if (frame.outcome === "withdrawn" && !open && frame.reason === "not_handed_over") {
    const who = frame.initiator_name || "The other operator";
    toast(`The transfer${frame.visitor_name ? ` of ${frame.visitor_name}` : ""} you accepted was cancelled: ${who} did not click Transfer Now in time.`);
  }
}

$("#transfer-prompts").addEventListener("click", async (event) => {
  const button = event.target.closest("[data-act]");
  if (!button) return;
  const prompt = button.closest(".transfer-prompt");
  const transferId = prompt.dataset.transferId;
  const box = $("[data-role=decline-box]", prompt);
  if (button.dataset.act === "decline" && box.hidden) {
    box.hidden = false;
    button.textContent = "Send decline";
    $("[data-role=reason]", prompt).focus();
    return;
  }
  $$("button", prompt).forEach((b) => (b.disabled = true));
  try {
    if (button.dataset.act === "accept") {
      await post(`/transfers/${transferId}/accept/`);
      closePrompt(transferId);
      toast("Transfer accepted — the engagement arrives when the other operator clicks Transfer Now.");
    } else {
      await post(`/transfers/${transferId}/decline/`, { reason: $("[data-role=reason]", prompt).value });
      closePrompt(transferId);
    }
  } catch (error) {
    toastError(error, "That did not work.");
    if (["already_taken", "no_longer_open", "not_offered"].includes(error.code)) closePrompt(transferId);
    else $$("button", prompt).forEach((b) => (b.disabled = false));
  }
});
$("#transfer-prompts").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.matches("[data-role=reason]")) {
    event.preventDefault();
    event.target.closest(".transfer-prompt").querySelector("[data-act=decline]").click();
  }
});
